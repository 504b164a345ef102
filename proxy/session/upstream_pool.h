// Per-worker upstream state, keyed by pool index of the worker's snapshot:
// the balancer and the idle keep-alive connections of each server. Owned by
// one worker; never shared between threads.
#pragma once

#include <cstddef>
#include <vector>

#include "proxy/config/snapshot.h"
#include "routing/balancer.h"

namespace proxy {

class UpstreamConnection;

struct ServerState {
  std::vector<UpstreamConnection*> idle; // most recently used last
  unsigned active = 0;                   // connections attached to an exchange
};

struct PoolState {
  explicit PoolState(const config::Pool& pool);
  routing::SmoothWeightedRoundRobin balancer;
  std::vector<ServerState> servers;
};

class UpstreamPools {
public:
  static constexpr size_t kMaxIdlePerServer = 64;

  void init(const config::Snapshot& snapshot);
  PoolState& pool(size_t index) { return pools_[index]; }
  size_t size() const { return pools_.size(); }
  // Closes every idle connection (drain, stop).
  void closeIdle();

private:
  std::vector<PoolState> pools_;
};

} // namespace proxy
