// Experiments: the A/B splits of one snapshot, their (immutable) assigners
// and their counters. One object per process, shared by every worker: the
// assigners are const, the counters are relaxed atomics (no lock on the
// request path); the main thread reads them for the sample-ratio-mismatch
// check and the summary.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "proxy/config/snapshot.h"
#include "routing/split.h"

namespace proxy {

struct VariantCounters {
  std::atomic<uint64_t> assigned{0};    // by the hash (what the SRM check compares)
  std::atomic<uint64_t> overridden{0};  // forced by the override header/cookie
  std::atomic<uint64_t> status[5] = {}; // 1xx..5xx responses
  std::atomic<uint64_t> latency_us{0};  // sum of total exchange time
  std::atomic<uint64_t> completed{0};   // exchanges with a status
};

class Experiments {
public:
  explicit Experiments(const config::Snapshot& snapshot);

  const routing::SplitAssigner& assigner(size_t split) const { return *splits_[split].assigner; }
  VariantCounters& counters(size_t split, size_t variant) {
    return splits_[split].counters[variant];
  }
  size_t size() const { return splits_.size(); }

  // One line per experiment: counts, shares, status classes, mean latency
  // and the sample-ratio-mismatch p-value.
  std::string summary() const;
  // Experiments whose assignment counts are off the configured weights
  // (p < 0.001 with at least `min_total` assignments), as warning lines.
  std::vector<std::string> mismatches(uint64_t min_total = 100) const;
  double pValue(size_t split) const;
  // True the first time an unknown override value is seen for `split`.
  bool firstUnknownOverride(size_t split) {
    return !splits_[split].override_warned->exchange(true, std::memory_order_relaxed);
  }

private:
  struct SplitStats {
    std::string experiment;
    std::unique_ptr<routing::SplitAssigner> assigner;
    std::unique_ptr<VariantCounters[]> counters;
    size_t variants = 0;
    std::unique_ptr<std::atomic<bool>> override_warned;
  };
  std::vector<SplitStats> splits_;
};

} // namespace proxy
