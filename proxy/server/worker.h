// Worker: one thread, one uv_loop, its own listening sockets (SO_REUSEPORT),
// its own sessions, upstream connection pools and balancer state. The config
// snapshot is shared and immutable; everything mutable here belongs to this
// worker's thread. Other threads talk to a worker only through drain() and
// stop(), which post to it with uv_async_send.
#pragma once

#include <uv.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_set>
#include <vector>

#include "proxy/config/snapshot.h"
#include "proxy/health/health_board.h"
#include "proxy/session/access_log.h"
#include "proxy/session/experiments.h"
#include "proxy/session/upstream_pool.h"
#include "proxy/uv/handles.h"
#include "routing/route_table.h"

namespace proxy {

class Admission;
class DownstreamSession;
class Listener;

// What every worker shares with the others: owned by the runtime, built
// before the workers start and destroyed after they have joined. Each object
// documents its own thread-safety.
struct WorkerShared {
  AccessLogSink* log = nullptr;
  Experiments* experiments = nullptr;
  HealthBoard* health = nullptr;
  Admission* admission = nullptr; // listener access lists and connection limits
};

// Objects that close asynchronously and are deleted by the worker between
// loop phases, never from inside their own callbacks.
class Reapable {
public:
  virtual ~Reapable() = default;
};

class Worker {
public:
  // `listen_fds[i]` is a bound, not yet listening socket for snapshot
  // listener i; the worker takes ownership. `done` is signalled (from this
  // worker's thread) when the loop has ended.
  // Everything in `shared` is shared by all workers and outlives them.
  Worker(unsigned id, std::shared_ptr<const config::Snapshot> snapshot, std::vector<int> listen_fds,
         const WorkerShared& shared, uv_async_t* done);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Opens the cross-thread wake-up handle; call before start().
  void openWake();
  void start();
  void join();
  // Thread-safe: stop accepting, let in-flight exchanges finish, then exit.
  void drain();
  // Thread-safe: close everything now and exit.
  void stop();
  // Thread-safe: the loop has ended (set just before `done` is signalled).
  bool finished() const { return finished_.load(); }

  // ---- loop-thread API, for sessions ----
  unsigned id() const { return id_; }
  uv_loop_t* loop() { return &loop_; }
  const std::shared_ptr<const config::Snapshot>& snapshot() const { return snapshot_; }
  routing::MatchScratch& matchScratch() { return scratch_; }
  UpstreamPools& upstreams() { return upstreams_; }
  AccessLogWriter& accessLog() { return log_; }
  Experiments& experiments() { return *experiments_; }
  HealthBoard& health() { return *health_; }
  Admission& admission() { return *admission_; }
  // The loop's cached time in ms (uv_now), the clock HealthBoard is given.
  uint64_t nowMs() { return uv_now(&loop_); }
  // Per-worker generator for ids the proxy hands out (A/B assignment cookies).
  uint64_t nextRandom() noexcept;
  bool draining() const { return draining_; }
  // One read buffer per loop: libuv hands it to exactly one read callback at a time.
  uv_buf_t readBuffer();
  // uv_alloc_cb for every stream of this worker's loop: hands out readBuffer().
  static void onAllocRead(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);

  // Queue of requests waiting for a server slot (pool max_connections): a
  // waiter is retried when a slot of its pool is freed on this worker, and
  // every kQueuePollMs while any waits (slots freed by other workers).
  static constexpr uint64_t kQueuePollMs = 5;
  void addWaiter(size_t pool, DownstreamSession* session);
  void removeWaiter(size_t pool, DownstreamSession* session);
  void slotFreed(size_t pool);

  void adopt(DownstreamSession* session);
  void forget(DownstreamSession* session); // session closed: stop tracking it
  void reap(Reapable* object);             // delete it at the next loop check

private:
  void run();
  void wake();
  void onAsync();
  void beginDrain();
  void closeAll();
  void maybeFinish();
  void armQueue(uint64_t ms);
  void onQueueTimer();

  unsigned id_;
  std::shared_ptr<const config::Snapshot> snapshot_;
  std::vector<int> listen_fds_;
  AccessLogWriter log_;
  Experiments* experiments_;
  HealthBoard* health_;
  Admission* admission_;
  uint64_t rng_state_ = 0;
  uv_async_t* done_;
  uv_loop_t loop_{};
  std::mutex wake_mutex_;
  uv::Async wake_;
  uv::Check reaper_;
  uv::Timer queue_timer_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::unordered_set<DownstreamSession*> sessions_;
  std::vector<Reapable*> graveyard_;
  UpstreamPools upstreams_;
  routing::MatchScratch scratch_;
  std::unique_ptr<char[]> read_buffer_;
  std::atomic<bool> finished_{false};
  std::atomic<int> request_{0}; // 1 = drain, 2 = stop
  bool draining_ = false;
  bool stopping_ = false;
  std::thread thread_;
};

} // namespace proxy
