// The four PoolBalancer algorithms. Servers with weight 0 are never picked;
// `excluded`, `active` and `ramp` may be shorter than the server list (missing
// entries mean "eligible", "0 active" and "full weight"). Weights are compared
// in thousandths of a configured weight, so that a slow-start share scales
// them without rounding a small weight to 0; scaling every weight by the same
// factor picks exactly as the plain weights do.
#include "routing/pool_balancer.h"
#include "routing/balancer.h"

#include <algorithm>
#include <utility>

namespace routing {
namespace {

std::vector<uint32_t> weightsOf(const std::vector<ServerInfo>& servers) {
  std::vector<uint32_t> w;
  w.reserve(servers.size());
  for (const ServerInfo& s : servers)
    w.push_back(s.weight);
  return w;
}

bool isEligible(const PickInput& in, const std::vector<uint32_t>& weights, size_t i) {
  return weights[i] > 0 && (i >= in.excluded.size() || in.excluded[i] == 0);
}

uint64_t activeOf(const PickInput& in, size_t i) { return i < in.active.size() ? in.active[i] : 0; }

// Server i's weight now, in thousandths: weight (<= 1e6, the run-time one
// when set) x ramp (<= 1000).
uint64_t effectiveWeight(const PickInput& in, const std::vector<uint32_t>& w, size_t i) {
  const uint64_t share =
      i < in.ramp.size() ? std::clamp<uint16_t>(in.ramp[i], 1, kFullRamp) : kFullRamp;
  const uint64_t weight =
      i < in.weights.size() ? std::clamp<uint32_t>(in.weights[i], 1, 1000000) : w[i];
  return weight * share;
}

// active[a] / w[a] < active[b] / w[b], exactly: active < 2^32 and an effective
// weight < 2^30, so both products fit in 64 bits.
bool lessLoaded(const PickInput& in, const std::vector<uint32_t>& w, size_t a, size_t b) {
  return activeOf(in, a) * effectiveWeight(in, w, b) < activeOf(in, b) * effectiveWeight(in, w, a);
}

bool sameLoad(const PickInput& in, const std::vector<uint32_t>& w, size_t a, size_t b) {
  return activeOf(in, a) * effectiveWeight(in, w, b) == activeOf(in, b) * effectiveWeight(in, w, a);
}

// Smooth weighted round robin over the eligible servers, by effective weight.
int roundRobin(SmoothWeightedRoundRobin& rr, const PickInput& in, const std::vector<uint32_t>& w) {
  return rr.pick([&](size_t i) { return isEligible(in, w, i); },
                 [&](size_t i) { return static_cast<int64_t>(effectiveWeight(in, w, i)); });
}

class RoundRobinBalancer final : public PoolBalancer {
public:
  explicit RoundRobinBalancer(std::vector<uint32_t> w) : weights_(w), rr_(std::move(w)) {}
  int pick(const PickInput& in) override { return roundRobin(rr_, in, weights_); }

private:
  std::vector<uint32_t> weights_;
  SmoothWeightedRoundRobin rr_;
};

class LeastConnBalancer final : public PoolBalancer {
public:
  explicit LeastConnBalancer(std::vector<uint32_t> w) : weights_(w), rr_(std::move(w)) {}
  int pick(const PickInput& in) override {
    int best = -1;
    for (size_t i = 0; i < weights_.size(); ++i) {
      if (!isEligible(in, weights_, i)) continue;
      if (best < 0 || lessLoaded(in, weights_, i, static_cast<size_t>(best)))
        best = static_cast<int>(i);
    }
    if (best < 0) return -1;
    // Round robin among the equally loaded, so equal load spreads by weight.
    return rr_.pick(
        [&](size_t i) {
          return isEligible(in, weights_, i) &&
                 sameLoad(in, weights_, i, static_cast<size_t>(best));
        },
        [&](size_t i) { return static_cast<int64_t>(effectiveWeight(in, weights_, i)); });
  }

private:
  std::vector<uint32_t> weights_;
  SmoothWeightedRoundRobin rr_;
};

// xoshiro256** (Blackman & Vigna), seeded through splitmix64.
class Xoshiro256 {
public:
  explicit Xoshiro256(uint64_t seed) {
    for (uint64_t& word : s_) {
      seed += 0x9E3779B97F4A7C15ULL;
      uint64_t z = seed;
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
      word = z ^ (z >> 31);
    }
  }
  uint64_t next() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  // Uniform in [0, n), n > 0, without modulo bias (Lemire's multiply-shift
  // with rejection).
  uint64_t below(uint64_t n) {
    __extension__ using u128 = unsigned __int128;
    u128 m = static_cast<u128>(next()) * n;
    uint64_t low = static_cast<uint64_t>(m);
    if (low < n) {
      const uint64_t threshold = (0 - n) % n;
      while (low < threshold) {
        m = static_cast<u128>(next()) * n;
        low = static_cast<uint64_t>(m);
      }
    }
    return static_cast<uint64_t>(m >> 64);
  }

private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

class RandomTwoBalancer final : public PoolBalancer {
public:
  RandomTwoBalancer(std::vector<uint32_t> w, uint64_t seed) : weights_(std::move(w)), rng_(seed) {}
  int pick(const PickInput& in) override {
    uint64_t total = 0;
    for (size_t i = 0; i < weights_.size(); ++i)
      if (isEligible(in, weights_, i)) total += effectiveWeight(in, weights_, i);
    if (total == 0) return -1;
    int first = sample(in, total, -1);
    uint64_t rest = total - effectiveWeight(in, weights_, static_cast<size_t>(first));
    if (rest == 0) return first;
    int second = sample(in, rest, first);
    // On equal load keep the first draw, so equal load spreads exactly by weight.
    return lessLoaded(in, weights_, static_cast<size_t>(second), static_cast<size_t>(first))
               ? second
               : first;
  }

private:
  // Weighted draw among eligible servers other than `skip`; `total` is their weight.
  int sample(const PickInput& in, uint64_t total, int skip) {
    uint64_t r = rng_.below(total);
    int last = -1;
    for (size_t i = 0; i < weights_.size(); ++i) {
      if (static_cast<int>(i) == skip || !isEligible(in, weights_, i)) continue;
      last = static_cast<int>(i);
      const uint64_t w = effectiveWeight(in, weights_, i);
      if (r < w) break;
      r -= w;
    }
    return last;
  }

  std::vector<uint32_t> weights_;
  Xoshiro256 rng_;
};

class HashBalancer final : public PoolBalancer {
public:
  explicit HashBalancer(const std::vector<ServerInfo>& servers)
      : maglev_(servers), weights_(weightsOf(servers)), rr_(weights_) {}
  int pick(const PickInput& in) override {
    if (in.has_key) return maglev_.lookup(in.key, in.excluded);
    return roundRobin(rr_, in, weights_);
  }

private:
  MaglevTable maglev_;
  std::vector<uint32_t> weights_;
  SmoothWeightedRoundRobin rr_;
};

} // namespace

std::unique_ptr<PoolBalancer> makePoolBalancer(BalanceKind kind, std::vector<ServerInfo> servers,
                                               uint64_t seed) {
  switch (kind) {
  case BalanceKind::kRoundRobin: return std::make_unique<RoundRobinBalancer>(weightsOf(servers));
  case BalanceKind::kLeastConn: return std::make_unique<LeastConnBalancer>(weightsOf(servers));
  case BalanceKind::kRandomTwo:
    return std::make_unique<RandomTwoBalancer>(weightsOf(servers), seed);
  case BalanceKind::kHash: return std::make_unique<HashBalancer>(servers);
  }
  return std::make_unique<RoundRobinBalancer>(weightsOf(servers)); // unreachable: enum is closed
}

} // namespace routing
