#include "routing/balancer.h"

#include <utility>

namespace routing {

SmoothWeightedRoundRobin::SmoothWeightedRoundRobin(std::vector<uint32_t> weights)
    : weights_(std::move(weights)), current_(weights_.size(), 0) {}

} // namespace routing
