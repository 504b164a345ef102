// PoolBalancer: picks a server of one pool with the pool's algorithm. Pure:
// no sockets, no clock; randomness comes from a seeded generator it owns.
// Mutable, so one instance per (worker, pool), never shared between threads.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace routing {

enum class BalanceKind {
  kRoundRobin,  // smooth weighted round robin
  kLeastConn,   // fewest active requests relative to weight; ties by round robin
  kRandomTwo,   // power of two choices (weighted sampling), fewer active/weight wins
  kHash,        // consistent hash (Maglev) of a request key; round robin when no key
};

struct ServerInfo {
  std::string name;  // stable identity: consistent hashing permutes by name, not index
  uint32_t weight = 1;
};

struct PickInput {
  std::span<const uint8_t> excluded;  // per server, nonzero = not eligible (tried, down)
  std::span<const uint32_t> active;   // per server active requests (may be empty)
  bool has_key = false;               // kHash: a key was found in the request
  uint64_t key = 0;                   // kHash: stableHash() of the key
  // Slow start: per server, the share of its weight it gets now, in
  // thousandths (1..kFullRamp); empty or missing entries = full weight. Every
  // algorithm honours it except the Maglev lookup of a keyed hash pick (the
  // key's server stays its server; a ramp would move keys twice).
  std::span<const uint16_t> ramp;
  // Weights set at run time (admin API), 1..1000000 per server, replacing the
  // configured ones; empty = the configured weights. Not for the Maglev
  // lookup, whose table is built once from the configured weights.
  std::span<const uint32_t> weights;
};

inline constexpr uint16_t kFullRamp = 1000;

class PoolBalancer {
 public:
  virtual ~PoolBalancer() = default;
  // Index of the chosen server, or -1 when no server is eligible.
  virtual int pick(const PickInput& in) = 0;
};

// `seed` only feeds kRandomTwo's generator (per worker, so workers differ).
std::unique_ptr<PoolBalancer> makePoolBalancer(BalanceKind kind, std::vector<ServerInfo> servers,
                                               uint64_t seed);

// Maglev consistent hashing (Eisenbud et al., NSDI 2016) with weights:
// lookup table of prime size, built once from the server names. Removing or
// adding one of N servers remaps about 1/N of the keys. Immutable once built.
class MaglevTable {
 public:
  static constexpr uint32_t kDefaultSize = 65537;
  MaglevTable(const std::vector<ServerInfo>& servers, uint32_t size = kDefaultSize);
  // Server for `key`; when that one is excluded, the next eligible entry of
  // the table (so the fallback is also stable). -1 when none is eligible.
  int lookup(uint64_t key, std::span<const uint8_t> excluded) const;
  size_t size() const { return table_.size(); }

 private:
  std::vector<int32_t> table_;
  std::vector<uint8_t> has_entries_;  // per server: owns at least one slot
};

}  // namespace routing
