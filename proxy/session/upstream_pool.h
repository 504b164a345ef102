// Per-worker upstream state, keyed by pool index of the worker's snapshot:
// the balancer, the active-request counts it reads, the idle keep-alive
// connections of each server and the sticky cookie codec. Owned by one
// worker; never shared between threads.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <vector>

#include "proxy/config/snapshot.h"
#include "routing/pool_balancer.h"
#include "routing/sticky.h"

namespace proxy {

class DownstreamSession;
class UpstreamConnection;

struct ServerState {
  std::vector<UpstreamConnection*> idle; // most recently used last
};

struct PoolState {
  PoolState(const config::Pool& pool, uint64_t seed);
  std::unique_ptr<routing::PoolBalancer> balancer;
  std::vector<ServerState> servers;
  std::vector<uint32_t> active; // per server: connections serving an exchange
  std::vector<uint16_t> ramp;   // slow start scratch: per server weight share (pools with it only)
  std::vector<uint32_t> configured_weights; // per server, from the config
  std::vector<uint32_t> weights; // scratch: per server weight set at run time (admin API)
  uint32_t in_flight = 0;       // exchanges of this worker dispatched to the pool, not yet ended
  uint32_t retrying = 0;        // of those, the ones that were retried (the retry budget's count)
  // Sessions of this worker waiting for a max_connections slot, oldest first.
  std::vector<DownstreamSession*> waiters;
  std::optional<routing::StickyCodec> sticky; // when the pool has `sticky:`
};

class UpstreamPools {
public:
  static constexpr size_t kMaxIdlePerServer = 64;

  // `seed` differs per worker so that random_two choices are independent.
  void init(const config::Snapshot& snapshot, uint64_t seed);
  PoolState& pool(size_t index) { return pools_[index]; }
  size_t size() const { return pools_.size(); }
  // Closes every idle connection (drain, stop).
  void closeIdle();

private:
  std::vector<PoolState> pools_;
};

// HMAC-SHA256 with OpenSSL, for routing::StickyCodec.
void hmacSha256(std::string_view key, std::string_view data, uint8_t out[32]);

} // namespace proxy
