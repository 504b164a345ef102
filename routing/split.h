// A/B split: deterministic assignment of a user key to a variant.
// Assignment is a function of (experiment, key) only: the same on every
// request, restart and instance. Each variant owns a contiguous range of
// [0, 1) proportional to its weight, in config order, so changing weights
// (90/10 -> 80/20) moves only the users whose point left their range.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace routing {

struct SplitVariant {
  std::string name;
  uint32_t weight = 0;
};

class SplitAssigner {
 public:
  SplitAssigner(std::string experiment, std::vector<SplitVariant> variants);
  // Index of the variant for `key`.
  size_t assign(std::string_view key) const noexcept;
  // Index of the variant called `name`, or -1.
  int find(std::string_view name) const noexcept;
  const std::vector<SplitVariant>& variants() const { return variants_; }
  // Configured share of each variant (sums to 1).
  std::vector<double> expectedShares() const;

 private:
  std::string experiment_;
  std::vector<SplitVariant> variants_;
  std::vector<uint64_t> upper_;  // cumulative upper bounds on a 2^32 scale
};

// Sample-ratio-mismatch test: Pearson chi-square of observed counts against
// the expected shares; returns the p-value (1.0 when there is too little data
// or fewer than two variants with a share).
double sampleRatioPValue(std::span<const uint64_t> observed, std::span<const double> shares);

// Upper regularized incomplete gamma Q(a, x): the chi-square survival
// function is Q(k / 2, x / 2).
double regularizedGammaQ(double a, double x);

}  // namespace routing
