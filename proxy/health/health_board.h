// HealthBoard: which servers may receive requests, shared by every worker and
// the active health checker. One object per process for one snapshot, indexed
// like the snapshot (pool index, server index). Two independent verdicts per
// server:
//   - active checks (pool `health_check:`): down after `fall` failed probes,
//     up again after `rise` good ones; written only by the checker;
//   - passive outlier ejection (pool `outlier:`): `consecutive_failures`
//     connect failures, resets or 5xx answers in a row, reported by the
//     workers, eject the server for `eject_for` (longer each time it is
//     ejected again, at most 10x), never more than `max_ejected_percent` of
//     the pool at once.
// A server back from either (pool `slow_start:`) gets a growing share of its
// weight, from 10% to all of it over `slow_start`, so a cold app server is not
// handed a full share at once.
// Everything on the request path is a relaxed atomic load (no lock); the
// ejection decision itself, rare, takes a per-pool mutex so two workers cannot
// eject past the cap together. No libuv: the clock is passed in (ms, any
// monotonic origin shared by all callers: uv_hrtime()/1e6).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "proxy/config/snapshot.h"

namespace proxy {

// What a byte of a request's per-server exclusion vector (PickInput::excluded)
// says: 0 = eligible; anything else keeps the balancer off that server.
enum ServerMark : uint8_t {
  kEligible = 0,
  kTried = 1, // this request already went there
  kDown = 2,  // down by active check, or ejected (HealthBoard::exclude)
  kFull = 3,  // at max_connections when last tried (may have room later)
};

// The operator's choice for a server (admin API): ready takes traffic; drain
// takes no new request (sticky users move at their next one) while exchanges
// in flight finish; maint is drain plus no health checks.
enum class AdminState : uint8_t { kReady = 0, kDrain = 1, kMaint = 2 };

class HealthBoard {
public:
  explicit HealthBoard(const config::Snapshot& snapshot);

  // Reload: takes over from `old` (the board of `old_snapshot`) the state of
  // every server of `snapshot` (this board's) that kept its pool name, name
  // and address: down by checks (when this pool still checks), ejected (when
  // it still ejects) and slow-start ramps. Call before any worker uses this
  // board. Connection-limit slots are not carried: exchanges still running on
  // the old generation hold theirs there.
  void inherit(const HealthBoard& old, const config::Snapshot& old_snapshot,
               const config::Snapshot& snapshot);

  // Marks in `excluded` (one byte per server of `pool`, set to kDown) every
  // server that is down or ejected at `now_ms`; leaves other bytes alone.
  // Returns how many servers are available. Lock-free.
  size_t exclude(size_t pool, uint64_t now_ms, std::span<uint8_t> excluded) const;
  bool available(size_t pool, size_t server, uint64_t now_ms) const;

  // ---- operator (admin API, main thread) ----
  void setAdminState(size_t pool, size_t server, AdminState state) noexcept;
  AdminState adminState(size_t pool, size_t server) const noexcept;
  // A weight that replaces the configured one (1..1000000); 0 restores it.
  void setWeight(size_t pool, size_t server, uint32_t weight) noexcept;
  uint32_t weightOverride(size_t pool, size_t server) const noexcept;
  // Fills `weights` (one per server of `pool`) with each server's weight now
  // and returns true when some server of the pool has an override; false
  // (untouched) otherwise. `configured` is the pool's configured weights.
  bool weights(size_t pool, std::span<const uint32_t> configured,
               std::span<uint32_t> weights) const;
  bool ejected(size_t pool, size_t server, uint64_t now_ms) const;

  // ---- passive (workers) ----
  // A response head with a status below 500 arrived.
  void reportSuccess(size_t pool, size_t server) noexcept;
  // A connect failure, reset/early close, or a 5xx answer. Returns true when
  // this report ejected the server (the caller logs it).
  bool reportFailure(size_t pool, size_t server, uint64_t now_ms);

  // Slow start: fills `ramp` (one entry per server of `pool`) with each
  // server's share of its weight at `now_ms`, in thousandths (100..1000), and
  // returns true; returns false without touching `ramp` when no server of the
  // pool is ramping (the common case, one relaxed load).
  bool ramp(size_t pool, uint64_t now_ms, std::span<uint16_t> ramp) const;

  // ---- active (the checker, one thread) ----
  // Records one probe result at `now_ms`; returns true when the server
  // changed state.
  bool recordCheck(size_t pool, size_t server, bool ok, uint64_t now_ms);
  bool checkUp(size_t pool, size_t server) const;

  // ---- concurrency limits (pool max_connections / max_pending) ----
  // Takes one of the server's max_connections slots (always succeeds when the
  // pool has no limit); false when the server is full.
  bool acquire(size_t pool, size_t server) noexcept;
  void release(size_t pool, size_t server) noexcept;
  // A place in the pool's queue of requests waiting for a slot (max_pending).
  bool enqueue(size_t pool) noexcept;
  void dequeue(size_t pool) noexcept;
  uint32_t busy(size_t pool, size_t server) const noexcept;

  // For logs: the current ejection length of a server, in ms.
  uint64_t ejectionMs(size_t pool, size_t server) const;

private:
  struct Server {
    std::atomic<bool> check_up{true};
    std::atomic<uint64_t> ejected_until{0}; // ms; 0 = not ejected
    std::atomic<uint32_t> failures{0};      // consecutive, passive
    std::atomic<uint32_t> ejections{0};     // times ejected so far
    std::atomic<uint32_t> busy{0};          // exchanges holding a max_connections slot
    std::atomic<uint64_t> up_at{0};         // ms; when checks last marked it up again (0 = never)
    std::atomic<uint8_t> admin{0};          // AdminState
    std::atomic<uint32_t> weight{0};        // operator's weight; 0 = the configured one
    uint32_t streak = 0;                    // checker only: probes in a row against the state
  };
  struct Pool {
    config::HealthCheck check;
    config::Outlier outlier;
    std::unique_ptr<Server[]> servers;
    size_t size = 0;
    uint32_t max_connections = 0; // per server; 0 = no limit
    uint32_t max_pending = 0;
    uint64_t slow_start_ms = 0;             // 0 = off
    std::atomic<uint64_t> ramp_horizon{0};  // ms; every server is at full weight from then on
    std::atomic<uint32_t> pending{0};       // requests waiting in the queue
    std::atomic<uint32_t> checks_down{0};   // servers down by active check
    std::atomic<uint32_t> admin_out{0};     // servers in drain or maint
    std::atomic<uint32_t> weighted{0};      // servers with an operator's weight
    std::atomic<uint64_t> eject_horizon{0}; // latest ejected_until in the pool
    std::mutex eject_mutex;
  };
  static void raise(std::atomic<uint64_t>& horizon, uint64_t to) noexcept;
  std::unique_ptr<Pool[]> pools_;
  size_t pool_count_ = 0;
};

} // namespace proxy
