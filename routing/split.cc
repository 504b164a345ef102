// A/B assignment and the sample-ratio-mismatch test.
//
// Point of a key: the top 32 bits of stableHash(key, seed = stableHash(experiment)),
// i.e. XXH64 of the key salted by the experiment name. Different experiments
// use unrelated seeds, so their assignments are independent. Variant i owns
// [upper_[i-1], upper_[i]) of [0, 2^32), upper_[i] = floor(2^32 * cumulative
// weight / total weight), in config order; a weight-0 variant owns an empty
// range. When every weight is 0 (the config layer rejects that) every key
// gets variant 0.
#include "routing/split.h"
#include "routing/stable_hash.h"

#include <cmath>
#include <limits>
#include <utility>

namespace routing {

SplitAssigner::SplitAssigner(std::string experiment, std::vector<SplitVariant> variants)
    : experiment_(std::move(experiment)), variants_(std::move(variants)) {
  uint64_t total = 0;
  for (const SplitVariant& v : variants_)
    total += v.weight;
  uint64_t cumulative = 0;
  upper_.reserve(variants_.size());
  for (const SplitVariant& v : variants_) {
    cumulative += v.weight;
    __extension__ using u128 = unsigned __int128;
    upper_.push_back(
        total == 0 ? 0 : static_cast<uint64_t>((static_cast<u128>(cumulative) << 32) / total));
  }
}

size_t SplitAssigner::assign(std::string_view key) const noexcept {
  const uint64_t point = stableHash(key, stableHash(experiment_)) >> 32;
  for (size_t i = 0; i < upper_.size(); ++i)
    if (point < upper_[i]) return i;
  return 0;
}

int SplitAssigner::find(std::string_view name) const noexcept {
  for (size_t i = 0; i < variants_.size(); ++i)
    if (variants_[i].name == name) return static_cast<int>(i);
  return -1;
}

std::vector<double> SplitAssigner::expectedShares() const {
  uint64_t total = 0;
  for (const SplitVariant& v : variants_)
    total += v.weight;
  std::vector<double> shares;
  shares.reserve(variants_.size());
  for (const SplitVariant& v : variants_)
    shares.push_back(total == 0 ? 0.0 : static_cast<double>(v.weight) / static_cast<double>(total));
  return shares;
}

double sampleRatioPValue(std::span<const uint64_t> observed, std::span<const double> shares) {
  if (observed.size() != shares.size()) return 1.0;
  double total = 0;
  double share_sum = 0;
  size_t k = 0;
  for (size_t i = 0; i < observed.size(); ++i) {
    total += static_cast<double>(observed[i]);
    if (shares[i] > 0) {
      share_sum += shares[i];
      ++k;
    }
  }
  if (total < 1 || k < 2) return 1.0;
  double chi2 = 0;
  for (size_t i = 0; i < observed.size(); ++i) {
    if (!(shares[i] > 0)) {
      if (observed[i] > 0) return 0.0; // traffic in a variant that should get none
      continue;
    }
    const double expected = total * shares[i] / share_sum;
    const double diff = static_cast<double>(observed[i]) - expected;
    chi2 += diff * diff / expected;
  }
  return regularizedGammaQ(static_cast<double>(k - 1) / 2.0, chi2 / 2.0);
}

namespace {

constexpr int kMaxIterations = 1000;
constexpr double kEpsilon = 1e-15;
constexpr double kTiny = 1e-300;

// P(a, x) by its series; converges fast for x < a + 1 (Numerical Recipes 6.2).
double gammaPSeries(double a, double x) {
  double ap = a;
  double term = 1.0 / a;
  double sum = term;
  for (int n = 0; n < kMaxIterations; ++n) {
    ap += 1.0;
    term *= x / ap;
    sum += term;
    if (std::fabs(term) < std::fabs(sum) * kEpsilon) break;
  }
  return sum * std::exp(-x + a * std::log(x) - std::lgamma(a));
}

// Q(a, x) by its continued fraction, modified Lentz; for x >= a + 1.
double gammaQContinuedFraction(double a, double x) {
  double b = x + 1.0 - a;
  double c = 1.0 / kTiny;
  double d = 1.0 / b;
  double h = d;
  for (int i = 1; i <= kMaxIterations; ++i) {
    const double an = -i * (i - a);
    b += 2.0;
    d = an * d + b;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = b + an / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1.0 / d;
    const double delta = d * c;
    h *= delta;
    if (std::fabs(delta - 1.0) < kEpsilon) break;
  }
  return std::exp(-x + a * std::log(x) - std::lgamma(a)) * h;
}

} // namespace

// NaN for a <= 0, x < 0 or NaN arguments (no chi-square test produces them).
double regularizedGammaQ(double a, double x) {
  if (!(a > 0) || !(x >= 0)) return std::numeric_limits<double>::quiet_NaN();
  if (x == 0) return 1.0;
  if (std::isinf(x)) return 0.0;
  if (x < a + 1.0) return 1.0 - gammaPSeries(a, x);
  return gammaQContinuedFraction(a, x);
}

} // namespace routing
