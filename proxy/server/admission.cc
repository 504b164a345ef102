#include "proxy/server/admission.h"

#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>
#include <utility>

namespace proxy {

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kLogInterval = std::chrono::seconds(1);

// What each refusal kind is called in the log line.
std::string reasonText(Admission::Refusal kind, const config::Listener& listener) {
  switch (kind) {
  case Admission::Refusal::kDenied: return "from denied addresses";
  case Admission::Refusal::kMaxConnections:
    return "over max_connections=" + std::to_string(listener.max_connections);
  case Admission::Refusal::kMaxPerIp:
    return "over max_connections_per_ip=" + std::to_string(listener.max_connections_per_ip);
  }
  return "";
}

} // namespace

struct Admission::State {
  std::string name;
  std::shared_ptr<const routing::CidrTable> access; // null: everyone may connect
  bool default_allow = true;
  uint32_t max_total = 0;  // 0 = unlimited
  uint32_t max_per_ip = 0; // 0 = unlimited
  bool open = true;        // no list and no limit: nothing to check or count
  std::string reasons[kRefusalKinds];

  std::atomic<uint32_t> total{0};
  std::unique_ptr<Shard[]> shards; // only with max_per_ip
  std::atomic<uint64_t> refused[kRefusalKinds] = {};

  // Rate-limited log: refusals since the last line, per kind.
  std::mutex log_mu;
  uint64_t pending[kRefusalKinds] = {};
  routing::IpAddress last[kRefusalKinds] = {};
  bool last_known[kRefusalKinds] = {};
  Clock::time_point last_line{}; // long ago: the first refusal is logged at once
};

Admission::Slot& Admission::Slot::operator=(Slot&& other) noexcept {
  if (this == &other) return *this;
  reset();
  owner_ = std::exchange(other.owner_, nullptr);
  listener_ = other.listener_;
  counted_total_ = other.counted_total_;
  counted_ip_ = other.counted_ip_;
  ip_ = other.ip_;
  return *this;
}

void Admission::Slot::reset() noexcept {
  if (owner_ == nullptr) return;
  static const routing::IpAddress kNone{};
  std::exchange(owner_, nullptr)
      ->release(listener_, counted_total_, counted_ip_, ip_ != nullptr ? *ip_ : kNone);
}

size_t Admission::IpHash::operator()(const routing::IpAddress& a) const noexcept {
  uint64_t hi = 0;
  uint64_t lo = 0;
  std::memcpy(&hi, a.bytes.data(), 8);
  std::memcpy(&lo, a.bytes.data() + 8, 8);
  uint64_t h = (hi * 0x9e3779b97f4a7c15ULL) ^ lo;
  h ^= h >> 31;
  h *= 0xbf58476d1ce4e5b9ULL;
  return static_cast<size_t>(h ^ (h >> 29));
}

Admission::Admission(const config::Snapshot& snapshot) {
  for (const config::Listener& listener : snapshot.listeners) {
    auto state = std::make_unique<State>();
    state->name = listener.name;
    state->access = listener.access;
    state->default_allow = listener.access_default_allow;
    state->max_total = listener.max_connections;
    state->max_per_ip = listener.max_connections_per_ip;
    state->open = !state->access && state->max_total == 0 && state->max_per_ip == 0;
    if (state->max_per_ip > 0) state->shards = std::make_unique<Shard[]>(kShards);
    for (size_t k = 0; k < kRefusalKinds; ++k)
      state->reasons[k] = reasonText(static_cast<Refusal>(k), listener);
    listeners_.push_back(std::move(state));
  }
}

Admission::~Admission() = default;

bool Admission::admit(size_t listener, const routing::IpAddress* peer, Slot* slot) {
  State& state = *listeners_[listener];
  if (state.open) return true;
  if (state.access) {
    bool allowed = false; // an unknown address is refused by any list
    if (peer != nullptr) {
      std::optional<int> verdict = state.access->lookup(*peer);
      allowed = verdict ? *verdict == 1 : state.default_allow;
    }
    if (!allowed) {
      refuse(state, Refusal::kDenied, peer);
      return false;
    }
  }
  // Per address first: one address over its share must not take (even for
  // a moment) a place in the total that another client needed.
  bool counted_ip = false;
  if (state.max_per_ip > 0 && peer != nullptr) {
    if (!countIp(state, *peer)) {
      refuse(state, Refusal::kMaxPerIp, peer);
      return false;
    }
    counted_ip = true;
  }
  bool counted_total = false;
  if (state.max_total > 0) {
    if (state.total.fetch_add(1, std::memory_order_relaxed) >= state.max_total) {
      state.total.fetch_sub(1, std::memory_order_relaxed);
      if (counted_ip) release(listener, false, true, *peer);
      refuse(state, Refusal::kMaxConnections, peer);
      return false;
    }
    counted_total = true;
  }
  slot->reset();
  slot->owner_ = this;
  slot->listener_ = static_cast<uint32_t>(listener);
  slot->counted_total_ = counted_total;
  slot->counted_ip_ = counted_ip;
  slot->ip_ = counted_ip ? peer : nullptr;
  return true;
}

bool Admission::countIp(State& state, const routing::IpAddress& ip) {
  Shard& shard = state.shards[IpHash{}(ip) % kShards];
  std::lock_guard<std::mutex> lock(shard.mu);
  auto [it, inserted] = shard.counts.try_emplace(ip, 0);
  if (it->second >= state.max_per_ip) return false; // never for a new entry (max >= 1)
  ++it->second;
  return true;
}

void Admission::release(size_t listener, bool total, bool per_ip,
                        const routing::IpAddress& ip) noexcept {
  State& state = *listeners_[listener];
  if (total) state.total.fetch_sub(1, std::memory_order_relaxed);
  if (!per_ip) return;
  Shard& shard = state.shards[IpHash{}(ip) % kShards];
  std::lock_guard<std::mutex> lock(shard.mu);
  auto it = shard.counts.find(ip);
  if (it != shard.counts.end() && --it->second == 0) shard.counts.erase(it);
}

void Admission::refuse(State& state, Refusal kind, const routing::IpAddress* peer) {
  const auto k = static_cast<size_t>(kind);
  state.refused[k].fetch_add(1, std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(state.log_mu);
  ++state.pending[k];
  state.last_known[k] = peer != nullptr;
  if (peer != nullptr) state.last[k] = *peer;
  if (Clock::now() - state.last_line >= kLogInterval) writeLine(state);
}

// switchyard: listener=public refused 3 connections from denied addresses (last 10.1.2.3)
// Several kinds in one second share the line, separated by "; ".
void Admission::writeLine(State& state) {
  std::string line = "switchyard: listener=" + state.name + " refused ";
  bool first = true;
  for (size_t k = 0; k < kRefusalKinds; ++k) {
    if (state.pending[k] == 0) continue;
    if (!first) line += "; ";
    first = false;
    line += std::to_string(state.pending[k]) +
            (state.pending[k] == 1 ? " connection " : " connections ") + state.reasons[k] +
            " (last " + (state.last_known[k] ? routing::formatIp(state.last[k]) : "unknown") + ")";
    state.pending[k] = 0;
  }
  if (first) return;
  state.last_line = Clock::now();
  fprintf(stderr, "%s\n", line.c_str());
}

void Admission::flushLog(bool force) {
  for (const std::unique_ptr<State>& state : listeners_) {
    if (state->open) continue;
    std::lock_guard<std::mutex> lock(state->log_mu);
    if (force || Clock::now() - state->last_line >= kLogInterval) writeLine(*state);
  }
}

bool Admission::open(size_t listener) const { return listeners_[listener]->open; }

bool Admission::anyGuarded() const {
  for (const std::unique_ptr<State>& state : listeners_) {
    if (!state->open) return true;
  }
  return false;
}

uint64_t Admission::refused(size_t listener, Refusal kind) const {
  return listeners_[listener]->refused[static_cast<size_t>(kind)].load(std::memory_order_relaxed);
}

uint32_t Admission::openConnections(size_t listener) const {
  return listeners_[listener]->total.load(std::memory_order_relaxed);
}

} // namespace proxy
