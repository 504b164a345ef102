#include "proxy/session/upstream_pool.h"

#include "proxy/session/upstream.h"

namespace proxy {

namespace {
std::vector<uint32_t> weightsOf(const config::Pool& pool) {
  std::vector<uint32_t> w;
  w.reserve(pool.servers.size());
  for (const config::Server& s : pool.servers)
    w.push_back(s.weight);
  return w;
}
} // namespace

PoolState::PoolState(const config::Pool& pool)
    : balancer(weightsOf(pool)), servers(pool.servers.size()) {}

void UpstreamPools::init(const config::Snapshot& snapshot) {
  pools_.clear();
  pools_.reserve(snapshot.pools.size());
  for (const config::Pool& p : snapshot.pools)
    pools_.emplace_back(p);
}

void UpstreamPools::closeIdle() {
  for (PoolState& p : pools_) {
    for (ServerState& s : p.servers) {
      std::vector<UpstreamConnection*> idle;
      idle.swap(s.idle);
      for (UpstreamConnection* c : idle)
        c->abandon();
    }
  }
}

} // namespace proxy
