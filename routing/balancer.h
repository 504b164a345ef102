// Balancing state for one pool. Pure: no sockets, no clock. Mutable, so it is
// owned by one worker thread (keyed by pool), never placed in a config snapshot.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace routing {

// Smooth weighted round robin (the nginx algorithm): over any window of
// sum(weights) picks, server i is picked weight[i] times, interleaved rather
// than in bursts.
class SmoothWeightedRoundRobin {
public:
  explicit SmoothWeightedRoundRobin(std::vector<uint32_t> weights);

  // Picks among servers for which eligible(i) is true, each counted with
  // weightOf(i) (its weight, or a share of it during slow start); servers of
  // weight 0 are never picked. -1 when none is eligible.
  template <class Eligible, class WeightOf> int pick(Eligible&& eligible, WeightOf&& weightOf) {
    int best = -1;
    int64_t total = 0;
    for (size_t i = 0; i < weights_.size(); ++i) {
      if (weights_[i] == 0 || !eligible(i)) continue;
      const int64_t w = weightOf(i);
      current_[i] += w;
      total += w;
      if (best < 0 || current_[i] > current_[static_cast<size_t>(best)]) best = static_cast<int>(i);
    }
    if (best >= 0) current_[static_cast<size_t>(best)] -= total;
    return best;
  }

  template <class Eligible> int pick(Eligible&& eligible) {
    return pick(eligible, [this](size_t i) { return int64_t{weights_[i]}; });
  }

  int pick() {
    return pick([](size_t) { return true; });
  }

  size_t size() const { return weights_.size(); }

private:
  std::vector<uint32_t> weights_;
  std::vector<int64_t> current_;
};

} // namespace routing
