// A 64-bit hash that is the same in every build, process and instance (no
// random seed): consistent hashing, A/B assignment and sticky server ids must
// give the same answer on every Switchyard that runs the same config.
#pragma once

#include <cstdint>
#include <string_view>

namespace routing {

uint64_t stableHash(std::string_view data, uint64_t seed = 0) noexcept;

}  // namespace routing
