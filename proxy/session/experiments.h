// Experiments: the A/B splits of one generation and their (immutable)
// assigners, shared by every worker. The counts (assignments, status
// classes, latency) live in the generation's TrafficStats, in per-worker
// blocks, so the request path takes no lock and no locked instruction; the
// main thread reads them here for the sample-ratio-mismatch check and the
// summary. `stats` below must be built from the same snapshot.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "proxy/config/snapshot.h"
#include "proxy/server/stats.h"
#include "routing/split.h"

namespace proxy {

class Experiments {
public:
  explicit Experiments(const config::Snapshot& snapshot);

  const routing::SplitAssigner& assigner(size_t split) const { return *splits_[split].assigner; }
  size_t size() const { return splits_.size(); }

  // One line per experiment: counts, shares, status classes, mean latency
  // and the sample-ratio-mismatch p-value.
  std::string summary(const TrafficStats& stats) const;
  // Experiments whose assignment counts are off the configured weights
  // (p < 0.001 with at least `min_total` assignments), as warning lines.
  std::vector<std::string> mismatches(const TrafficStats& stats, uint64_t min_total = 100) const;
  double pValue(const TrafficStats& stats, size_t split) const;
  // True the first time an unknown override value is seen for `split`.
  bool firstUnknownOverride(size_t split) {
    return !splits_[split].override_warned->exchange(true, std::memory_order_relaxed);
  }

private:
  struct SplitStats {
    std::string experiment;
    std::unique_ptr<routing::SplitAssigner> assigner;
    size_t variants = 0;
    std::unique_ptr<std::atomic<bool>> override_warned;
  };
  std::vector<SplitStats> splits_;
};

} // namespace proxy
