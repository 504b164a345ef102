// Worker: one thread, one uv_loop, its own listening sockets (SO_REUSEPORT),
// its own sessions, upstream connection pools and balancer state. The config
// generation is shared and immutable (or thread-safe); everything mutable
// here belongs to this worker's thread. Other threads talk to a worker only
// through drain(), stop() and reload(), which post to it with uv_async_send.
#pragma once

#include <uv.h>

#include <atomic>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "proxy/config/snapshot.h"
#include "proxy/core/intrusive_list.h"
#include "proxy/core/splice_pipe.h"
#include "proxy/health/health_board.h"
#include "proxy/server/generation.h"
#include "proxy/session/access_log.h"
#include "proxy/session/exchange_pool.h"
#include "proxy/session/experiments.h"
#include "proxy/session/upstream_pool.h"
#include "proxy/uv/deadline.h"
#include "proxy/uv/handles.h"
#include "routing/route_table.h"

namespace proxy {

class Admission;
class DownstreamSession;
class Listener;

// What every worker shares with the others for the life of the process:
// owned by the runtime, built before the workers start and destroyed after
// they have joined.
struct WorkerShared {
  AccessLogSink* log = nullptr;
  uv_async_t* reloaded = nullptr; // signalled (any thread) when a worker applied a reload
};

// One generation as this worker sees it: the shared Generation plus this
// worker's upstream state for its pools (balancers, idle connections, queue).
// Pinned by sessions (per connection, moved on at the next request after a
// reload) and by upstream connections (for life), so an exchange finishes
// on the config it started with. Loop thread only.
class WorkerGeneration : public std::enable_shared_from_this<WorkerGeneration> {
public:
  WorkerGeneration(std::shared_ptr<const Generation> shared, uint64_t seed);
  WorkerGeneration(const WorkerGeneration&) = delete;
  WorkerGeneration& operator=(const WorkerGeneration&) = delete;

  uint64_t number() const { return shared_->number; }
  const config::Snapshot& snapshot() const { return *shared_->snapshot; }
  const std::shared_ptr<const config::Snapshot>& snapshotPtr() const { return shared_->snapshot; }
  HealthBoard& health() const { return *shared_->health; }
  Experiments& experiments() const { return *shared_->experiments; }
  Admission& admission() const { return *shared_->admission; }
  TrafficStats& stats() const { return *shared_->stats; }
  UpstreamPools& upstreams() { return upstreams_; }
  // A newer generation is current: connections are closed after their
  // exchange instead of kept idle.
  bool retired() const { return retired_; }
  void retire() {
    retired_ = true;
    upstreams_.closeIdle();
  }

private:
  std::shared_ptr<const Generation> shared_;
  UpstreamPools upstreams_;
  bool retired_ = false;
};

// A reload as one worker applies it: the next generation, and for each of its
// listeners either the index of the running listener that keeps serving it
// (same address: its socket and accept queue are kept) or a new bound socket.
struct ReloadPlan {
  std::shared_ptr<const Generation> generation;
  std::vector<int> reuse;   // per new listener: index of the old listener, or -1
  std::vector<int> new_fds; // per new listener: a bound, listening fd (when reuse < 0), else -1
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
  Worker(unsigned id, std::shared_ptr<const Generation> generation, std::vector<int> listen_fds,
         const WorkerShared& shared, uv_async_t* done);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Opens the cross-thread wake-up handle; call before start().
  void openWake();
  void start();
  // Blocks until the worker's listeners accept (or failed to, which it logs).
  // Once, after start().
  void waitListening();
  void join();
  // Thread-safe: stop accepting, let in-flight exchanges finish, then exit.
  void drain();
  // Thread-safe: close everything now and exit.
  void stop();
  // Thread-safe: switch to the plan's generation (new connections and new
  // requests use it; exchanges in flight finish on theirs). Signals
  // WorkerShared::reloaded once applied. The plan's fds are the worker's.
  void reload(ReloadPlan plan);
  // Thread-safe: the newest generation this worker has applied.
  uint64_t appliedGeneration() const { return applied_.load(); }
  // Thread-safe: the loop has ended (set just before `done` is signalled).
  bool finished() const { return finished_.load(); }

  // ---- loop-thread API, for sessions ----
  unsigned id() const { return id_; }
  uv_loop_t* loop() { return &loop_; }
  // The current generation: new connections and new requests use it.
  const std::shared_ptr<WorkerGeneration>& generation() const { return current_; }
  routing::MatchScratch& matchScratch() { return scratch_; }
  // Buffers lent to the connections that have an exchange in flight.
  ExchangePool& exchanges() { return exchanges_; }
  // Ciphertext scratch for TLS writes: filled and handed to uv::write (which
  // copies what the kernel does not take at once) in one call.
  std::string& tlsScratch() { return tls_scratch_; }
  AccessLogWriter& accessLog() { return log_; }
  // The loop's one timer behind every connection timeout (uv::Deadline).
  uv::TimerQueue& timers() { return timers_; }
  // The loop's cached time in ms (uv_now), the clock HealthBoard is given.
  uint64_t nowMs() { return uv_now(&loop_); }
  // Per-worker generator for ids the proxy hands out (A/B assignment cookies).
  uint64_t nextRandom() noexcept;
  bool draining() const { return draining_; }
  // One read buffer per loop: libuv hands it to exactly one read callback at a time.
  uv_buf_t readBuffer();
  // uv_alloc_cb for every stream of this worker's loop: hands out readBuffer().
  static void onAllocRead(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
  // The loop's pipe for splicing response bodies (proxy/core/splice_pipe.h):
  // empty whenever no callback is running.
  SplicePipe& splicePipe();
  // A connection whose client socket is full keeps the bytes where they are:
  // it takes the pipe holding them (splicePipe() is another one from then on)
  // and gives it back once it is empty.
  std::unique_ptr<SplicePipe> takeSplicePipe();
  void giveSplicePipe(std::unique_ptr<SplicePipe> pipe);

  // Queue of requests waiting for a server slot (pool max_connections): a
  // waiter is retried when a slot of its pool is freed on this worker, and
  // every kQueuePollMs while any waits (slots freed by other workers).
  static constexpr uint64_t kQueuePollMs = 5;
  void addWaiter(WorkerGeneration& gen, size_t pool, DownstreamSession* session);
  void removeWaiter(WorkerGeneration& gen, size_t pool, DownstreamSession* session);
  void slotFreed(WorkerGeneration& gen, size_t pool);

  void adopt(DownstreamSession* session);
  void reap(DownstreamSession* session); // closed: unlisted now, deleted at the next loop check
  void reap(Reapable* object);           // delete it at the next loop check

private:
  void run();
  void wake();
  void onAsync();
  void applyReload();
  // Calls fn(WorkerGeneration&) for the current generation and every retired
  // one still pinned; forgets the retired ones nobody pins any more.
  template <class Fn> void forEachGeneration(Fn&& fn);
  void beginDrain();
  void closeAll();
  void maybeFinish();
  void freeDead(); // what was reaped since the last loop check
  void armQueue(uint64_t ms);
  void onQueueTimer();

  unsigned id_;
  std::shared_ptr<WorkerGeneration> current_;
  std::vector<std::weak_ptr<WorkerGeneration>> retired_; // may still have exchanges or waiters
  std::vector<int> listen_fds_;
  AccessLogWriter log_;
  uint64_t rng_state_ = 0;
  uv_async_t* done_;
  uv_async_t* reloaded_;
  std::mutex reload_mutex_;
  std::vector<ReloadPlan> pending_reloads_; // guarded by reload_mutex_
  std::atomic<uint64_t> applied_{0};
  uv_loop_t loop_{};
  std::mutex wake_mutex_;
  uv::Async wake_;
  uv::Check reaper_;
  uv::Timer queue_timer_;
  uv::TimerQueue timers_; // every Deadline in it is reaped before run() returns
  std::vector<std::unique_ptr<Listener>> listeners_;
  IntrusiveList<DownstreamSession> sessions_; // open ones
  std::vector<DownstreamSession*> dead_sessions_;
  std::vector<Reapable*> graveyard_;
  routing::MatchScratch scratch_;
  ExchangePool exchanges_;
  std::string tls_scratch_;
  std::unique_ptr<char[]> read_buffer_;
  std::unique_ptr<SplicePipe> splice_pipe_;
  std::vector<std::unique_ptr<SplicePipe>> spare_pipes_; // empty, kept for the next take
  std::promise<void> listening_;
  std::atomic<bool> finished_{false};
  std::atomic<int> request_{0}; // 1 = drain, 2 = stop
  bool draining_ = false;
  bool stopping_ = false;
  std::thread thread_;
};

} // namespace proxy
