// Admission: who may open a client connection, decided at accept, before a
// byte is read. Per listener: the source-address list (`allow:` / `deny:`,
// longest prefix decides) and the connection limits `max_connections` and
// `max_connections_per_ip`, which count every worker's connections together.
// HAProxy and nginx style: a refused connection is accepted and closed at
// once, without a response, so that it leaves the kernel's accept queue.
//
// Ownership and threads: one Admission per process, built by the runtime from
// the snapshot and outliving the workers. admit() and the Slot's release run
// on worker threads, only at accept and close (never per request): the total
// is one atomic, the per-address counts live in a sharded, mutex-protected
// hash map (a shard's lock is held for one hash lookup). Refusals are counted
// and logged on stderr at most once per second per listener; flushLog(),
// called by the runtime every second and at exit, writes what is pending.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "proxy/config/snapshot.h"
#include "routing/cidr.h"

namespace proxy {

class Admission {
public:
  enum class Refusal : uint8_t { kDenied, kMaxConnections, kMaxPerIp };
  static constexpr size_t kRefusalKinds = 3;

  // Holds one admitted connection's places in the counts; releases them when
  // destroyed (the session's destructor) or reset. Move-only.
  class Slot {
  public:
    Slot() = default;
    Slot(Slot&& other) noexcept { *this = std::move(other); }
    Slot& operator=(Slot&& other) noexcept;
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    ~Slot() { reset(); }
    void reset() noexcept;

  private:
    friend class Admission;
    Admission* owner_ = nullptr;
    const routing::IpAddress* ip_ = nullptr; // admit()'s `peer`, when counted per address
    uint32_t listener_ = 0;
    bool counted_total_ = false;
    bool counted_ip_ = false;
  };

  explicit Admission(const config::Snapshot& snapshot);
  ~Admission();
  Admission(const Admission&) = delete;
  Admission& operator=(const Admission&) = delete;

  // True when a listener has neither an access list nor a limit: admit() is
  // then a no-op that always admits.
  bool open(size_t listener) const;
  // True when some listener is not open (the runtime then flushes the log).
  bool anyGuarded() const;

  // Decides for a new connection on `listener` from `peer` (null: unknown
  // address, refused by an access list, not counted per address). On
  // success fills `slot`; on refusal counts and logs it (rate-limited).
  // `peer` must outlive the slot (it is the session's own copy of its
  // address; the slot keeps the pointer, which keeps an idle connection small).
  bool admit(size_t listener, const routing::IpAddress* peer, Slot* slot);

  // Writes the pending refusal line of every listener whose last line is at
  // least a second old (every listener when `force`). Any thread.
  void flushLog(bool force = false);

  // Refusals so far on `listener` (tests and the exit summary).
  uint64_t refused(size_t listener, Refusal kind) const;
  // Connections currently admitted on `listener` (0 when not counted).
  uint32_t openConnections(size_t listener) const;

private:
  struct IpHash {
    size_t operator()(const routing::IpAddress& a) const noexcept;
  };
  static constexpr size_t kShards = 16;
  struct Shard {
    std::mutex mu;
    std::unordered_map<routing::IpAddress, uint32_t, IpHash> counts;
  };
  struct State;

  bool countIp(State& state, const routing::IpAddress& ip);
  void release(size_t listener, bool total, bool per_ip, const routing::IpAddress& ip) noexcept;
  void refuse(State& state, Refusal kind, const routing::IpAddress* peer);
  static void writeLine(State& state); // with state.log_mu held

  std::vector<std::unique_ptr<State>> listeners_;
};

} // namespace proxy
