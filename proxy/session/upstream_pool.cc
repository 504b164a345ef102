#include "proxy/session/upstream_pool.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstring>

#include "proxy/session/upstream.h"

namespace proxy {

namespace {

routing::BalanceKind kindOf(config::Balance b) {
  switch (b) {
  case config::Balance::kLeastConn: return routing::BalanceKind::kLeastConn;
  case config::Balance::kRandomTwo: return routing::BalanceKind::kRandomTwo;
  case config::Balance::kHash: return routing::BalanceKind::kHash;
  case config::Balance::kRoundRobin: break;
  }
  return routing::BalanceKind::kRoundRobin;
}

std::vector<routing::ServerInfo> serversOf(const config::Pool& pool) {
  std::vector<routing::ServerInfo> out;
  out.reserve(pool.servers.size());
  for (const config::Server& s : pool.servers)
    out.push_back({s.name, s.weight});
  return out;
}

} // namespace

void hmacSha256(std::string_view key, std::string_view data, uint8_t out[32]) {
  unsigned int len = 32;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), out,
           &len) == nullptr) {
    std::memset(out, 0, 32); // never verifies: an all-zero MAC is not a valid signature input
  }
}

PoolState::PoolState(const config::Pool& pool, uint64_t seed)
    : balancer(routing::makePoolBalancer(kindOf(pool.balance), serversOf(pool), seed)),
      servers(pool.servers.size()), active(pool.servers.size(), 0),
      ramp(pool.slow_start_ms != 0 ? pool.servers.size() : 0, routing::kFullRamp),
      weights(pool.servers.size(), 0) {
  for (const config::Server& s : pool.servers)
    configured_weights.push_back(s.weight);
  if (pool.sticky.enabled)
    sticky.emplace(pool.sticky.secrets, &hmacSha256, pool.sticky.ttl_seconds);
}

void UpstreamPools::init(const config::Snapshot& snapshot, uint64_t seed) {
  pools_.clear();
  pools_.reserve(snapshot.pools.size());
  for (size_t i = 0; i < snapshot.pools.size(); ++i)
    pools_.emplace_back(snapshot.pools[i], seed + i);
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
