// Weighted Maglev (Eisenbud et al., NSDI 2016, section 3.4).
//
// Each server with weight > 0 gets a permutation of the M slots (M prime):
//   offset = stableHash(name, kOffsetSeed) % M
//   skip   = stableHash(name, kSkipSeed) % (M - 1) + 1
//   permutation[j] = (offset + j * skip) % M
// Servers then take turns; on its turn a server claims the next slot of its
// permutation that is still empty, until all M slots are claimed.
//
// Weights: the turn order is a virtual clock. A server's t-th turn (t = 0, 1,
// ...) happens at time t / weight, so over the build each server gets
// weight / sum(weights) of the turns (+-1), i.e. of the slots. Equal times go
// to the server whose name sorts first. With equal weights this is exactly the
// paper's round robin. The clock is compared by cross-multiplying integers
// (turns <= M < 2^17, weight < 2^32) and kept in a heap: O(M log N) for the
// turns plus the paper's O(M log M) expected permutation walking.
//
// Order independence: servers are processed sorted by (name, weight), so a
// config listing the same servers in another order builds the same table
// (modulo the index each name maps to).
#include "routing/pool_balancer.h"
#include "routing/stable_hash.h"

#include <algorithm>
#include <queue>

namespace routing {
namespace {

constexpr uint64_t kOffsetSeed = 0x6d61676c65762d6fULL; // "maglev-o"
constexpr uint64_t kSkipSeed = 0x6d61676c65762d73ULL;   // "maglev-s"

bool isPrime(uint32_t n) {
  if (n < 2) return false;
  for (uint32_t d = 2; static_cast<uint64_t>(d) * d <= n; ++d)
    if (n % d == 0) return false;
  return true;
}

// A non-prime size would let short skips cycle through part of the table
// only; round up instead of failing.
uint32_t primeAtLeast(uint32_t n) {
  n = std::max<uint32_t>(n, 2);
  while (!isPrime(n))
    ++n;
  return n;
}

struct Builder {
  int32_t index;   // position in the caller's server list
  uint32_t weight; // > 0
  uint32_t rank;   // position in (name, weight) order: the tie breaker
  uint32_t next;   // next permutation slot to try
  uint32_t skip;
  uint64_t turns = 0;
};

// Priority-queue "less": true when `a` plays after `b`.
struct LaterTurn {
  bool operator()(const Builder* a, const Builder* b) const {
    uint64_t ta = a->turns * b->weight; // a's time turns_a / w_a, scaled by w_a * w_b
    uint64_t tb = b->turns * a->weight;
    if (ta != tb) return ta > tb;
    return a->rank > b->rank;
  }
};

} // namespace

MaglevTable::MaglevTable(const std::vector<ServerInfo>& servers, uint32_t size) {
  std::vector<int32_t> order;
  for (size_t i = 0; i < servers.size(); ++i)
    if (servers[i].weight > 0) order.push_back(static_cast<int32_t>(i));
  has_entries_.assign(servers.size(), 0);
  if (order.empty()) return;
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    const ServerInfo& sa = servers[static_cast<size_t>(a)];
    const ServerInfo& sb = servers[static_cast<size_t>(b)];
    if (sa.name != sb.name) return sa.name < sb.name;
    if (sa.weight != sb.weight) return sa.weight < sb.weight;
    return a < b;
  });

  const uint32_t m = primeAtLeast(size);
  std::vector<Builder> builders;
  builders.reserve(order.size());
  for (size_t r = 0; r < order.size(); ++r) {
    const ServerInfo& s = servers[static_cast<size_t>(order[r])];
    uint32_t offset = static_cast<uint32_t>(stableHash(s.name, kOffsetSeed) % m);
    uint32_t skip = static_cast<uint32_t>(stableHash(s.name, kSkipSeed) % (m - 1) + 1);
    builders.push_back({order[r], s.weight, static_cast<uint32_t>(r), offset, skip});
  }
  std::priority_queue<Builder*, std::vector<Builder*>, LaterTurn> turns;
  for (Builder& b : builders)
    turns.push(&b);

  table_.assign(m, -1);
  for (uint32_t filled = 0; filled < m; ++filled) {
    Builder* b = turns.top();
    turns.pop();
    while (table_[b->next] >= 0) {
      b->next += b->skip;
      if (b->next >= m) b->next -= m;
    }
    table_[b->next] = b->index;
    has_entries_[static_cast<size_t>(b->index)] = 1;
    ++b->turns;
    turns.push(b);
  }
}

int MaglevTable::lookup(uint64_t key, std::span<const uint8_t> excluded) const {
  if (table_.empty()) return -1;
  auto eligible = [&](int32_t i) {
    return static_cast<size_t>(i) >= excluded.size() || excluded[static_cast<size_t>(i)] == 0;
  };
  size_t slot = static_cast<size_t>(key % table_.size());
  if (eligible(table_[slot])) return table_[slot];
  // Fallback: the next eligible entry. Check first that one exists, so an
  // all-excluded pool costs O(N), not a walk of the whole table.
  bool any = false;
  for (size_t i = 0; i < has_entries_.size() && !any; ++i)
    any = has_entries_[i] && eligible(static_cast<int32_t>(i));
  if (!any) return -1;
  for (;;) {
    if (++slot == table_.size()) slot = 0;
    if (eligible(table_[slot])) return table_[slot];
  }
}

} // namespace routing
