#include "proxy/server/worker.h"

#include <sys/random.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "proxy/server/listener.h"
#include "proxy/session/downstream.h"

namespace proxy {

namespace {
constexpr size_t kReadBufferSize = 64 * 1024;
constexpr int kBacklog = 1024;
} // namespace

WorkerGeneration::WorkerGeneration(std::shared_ptr<const Generation> shared, uint64_t seed)
    : shared_(std::move(shared)) {
  upstreams_.init(*shared_->snapshot, seed);
}

Worker::Worker(unsigned id, std::shared_ptr<const Generation> generation,
               std::vector<int> listen_fds, const WorkerShared& shared, uv_async_t* done)
    : id_(id), listen_fds_(std::move(listen_fds)), log_(shared.log), done_(done),
      reloaded_(shared.reloaded), read_buffer_(new char[kReadBufferSize]) {
  uv_loop_init(&loop_);
  loop_.data = this;
  if (getrandom(&rng_state_, sizeof rng_state_, 0) != sizeof rng_state_) {
    rng_state_ = uv_hrtime() ^ (uint64_t{id} << 32);
  }
  applied_.store(generation->number);
  current_ = std::make_shared<WorkerGeneration>(std::move(generation), nextRandom());
}

// splitmix64: a fast, well-distributed generator; seeded from getrandom.
uint64_t Worker::nextRandom() noexcept {
  uint64_t z = (rng_state_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

Worker::~Worker() {
  for (int fd : listen_fds_) {
    if (fd >= 0) ::close(fd);
  }
  for (ReloadPlan& plan : pending_reloads_) { // posted after the loop ended
    for (int fd : plan.new_fds) {
      if (fd >= 0) ::close(fd);
    }
  }
}

uv_buf_t Worker::readBuffer() { return uv_buf_init(read_buffer_.get(), kReadBufferSize); }

SplicePipe& Worker::splicePipe() {
  if (!splice_pipe_) {
    if (spare_pipes_.empty()) {
      splice_pipe_ = std::make_unique<SplicePipe>();
    } else {
      splice_pipe_ = std::move(spare_pipes_.back());
      spare_pipes_.pop_back();
    }
  }
  return *splice_pipe_;
}

std::unique_ptr<SplicePipe> Worker::takeSplicePipe() {
  splicePipe();
  return std::move(splice_pipe_);
}

void Worker::giveSplicePipe(std::unique_ptr<SplicePipe> pipe) {
  constexpr size_t kSparePipes = 16; // two descriptors each; more are closed
  if (pipe == nullptr) return;
  if (pipe->held() > 0) pipe->discard(); // only an empty pipe may serve the next user
  if (spare_pipes_.size() < kSparePipes) spare_pipes_.push_back(std::move(pipe));
}

void Worker::onAllocRead(uv_handle_t* handle, size_t, uv_buf_t* buf) {
  *buf = static_cast<Worker*>(handle->loop->data)->readBuffer();
}

void Worker::start() {
  thread_ = std::thread([this] { run(); });
}

void Worker::waitListening() { listening_.get_future().wait(); }

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::drain() {
  int expected = 0;
  request_.compare_exchange_strong(expected, 1);
  wake();
}

void Worker::stop() {
  request_.store(2);
  wake();
}

void Worker::reload(ReloadPlan plan) {
  {
    std::lock_guard<std::mutex> lock(reload_mutex_);
    pending_reloads_.push_back(std::move(plan));
  }
  wake();
}

// Not on the request path: the lock only orders a command from the main
// thread against this worker closing its wake-up handle at exit.
void Worker::wake() {
  std::lock_guard<std::mutex> lock(wake_mutex_);
  if (wake_) uv_async_send(wake_.get());
}

void Worker::run() {
  // wake_ is opened on this thread before any other thread may send to it:
  // the runtime only calls drain()/stop() after start() returned and the
  // ready line was printed, which happens after every worker signalled.
  for (size_t i = 0; i < listen_fds_.size(); ++i) {
    auto l = std::make_unique<Listener>(*this, i);
    int fd = std::exchange(listen_fds_[i], -1);
    int rc = l->start(fd, kBacklog);
    if (rc != 0) {
      fprintf(stderr, "switchyard: worker %u: cannot listen on %s: %s\n", id_,
              current_->snapshot().listeners[i].address.text.c_str(), uv_strerror(rc));
    }
    listeners_.push_back(std::move(l));
  }
  listening_.set_value();
  reaper_.open(this, [&](uv_check_t* h) { return uv_check_init(&loop_, h); });
  uv_check_start(reaper_.get(), [](uv_check_t* h) {
    auto* self = static_cast<Worker*>(h->data);
    if (self == nullptr) return;
    self->freeDead();
    self->maybeFinish();
  });
  queue_timer_.open(this, [&](uv_timer_t* h) { return uv_timer_init(&loop_, h); });
  timers_.open(&loop_);
  uv_run(&loop_, UV_RUN_DEFAULT);
  // Every handle is closed; free what was reaped last and end the loop.
  freeDead();
  int rc = uv_loop_close(&loop_);
  if (rc != 0) fprintf(stderr, "switchyard: worker %u: loop closed with live handles\n", id_);
  finished_.store(true);
  uv_async_send(done_);
}

void Worker::openWake() {
  wake_.open(this, [&](uv_async_t* h) {
    return uv_async_init(&loop_, h, [](uv_async_t* a) {
      auto* self = static_cast<Worker*>(a->data);
      if (self != nullptr) self->onAsync();
    });
  });
}

void Worker::onAsync() {
  int r = request_.load();
  if (r == 2 && !stopping_) {
    stopping_ = true;
    closeAll();
  } else if (r == 1 && !draining_) {
    beginDrain();
  }
  applyReload();
}

// Between loop phases, so no callback of this worker is running: the new
// generation becomes current, listeners are matched (kept, opened, closed),
// the old generation's idle upstream connections are closed, and idle client
// connections of a listener that is gone are closed.
void Worker::applyReload() {
  std::vector<ReloadPlan> plans;
  {
    std::lock_guard<std::mutex> lock(reload_mutex_);
    plans.swap(pending_reloads_);
  }
  for (ReloadPlan& plan : plans) {
    const uint64_t number = plan.generation->number;
    if (draining_) { // stopping anyway: nothing new is accepted
      for (int fd : plan.new_fds) {
        if (fd >= 0) ::close(fd);
      }
      applied_.store(number);
      uv_async_send(reloaded_);
      continue;
    }
    std::vector<std::unique_ptr<Listener>> old = std::move(listeners_);
    listeners_.clear();
    const config::Snapshot& snap = *plan.generation->snapshot;
    for (size_t i = 0; i < snap.listeners.size(); ++i) {
      const int from = i < plan.reuse.size() ? plan.reuse[i] : -1;
      if (from >= 0 && static_cast<size_t>(from) < old.size() && old[from]) {
        old[from]->setIndex(i);
        listeners_.push_back(std::move(old[from]));
        continue;
      }
      auto l = std::make_unique<Listener>(*this, i);
      const int fd = i < plan.new_fds.size() ? std::exchange(plan.new_fds[i], -1) : -1;
      int rc = fd >= 0 ? l->start(fd, kBacklog) : UV_EBADF;
      if (rc != 0) {
        fprintf(stderr, "switchyard: worker %u: cannot listen on %s: %s\n", id_,
                snap.listeners[i].address.text.c_str(), uv_strerror(rc));
      }
      listeners_.push_back(std::move(l));
    }
    for (auto& l : old) {
      if (l) l->close(); // a listener the new config no longer has
    }
    for (int fd : plan.new_fds) {
      if (fd >= 0) ::close(fd);
    }
    std::shared_ptr<WorkerGeneration> previous = std::exchange(
        current_, std::make_shared<WorkerGeneration>(std::move(plan.generation), nextRandom()));
    previous->retire();
    retired_.push_back(previous);
    std::vector<DownstreamSession*> live = sessions_.items();
    for (DownstreamSession* s : live)
      s->generationChanged();
    applied_.store(number);
    uv_async_send(reloaded_);
  }
}

template <class Fn> void Worker::forEachGeneration(Fn&& fn) {
  fn(*current_);
  size_t kept = 0;
  for (size_t i = 0; i < retired_.size(); ++i) {
    std::shared_ptr<WorkerGeneration> g = retired_[i].lock();
    if (!g) continue;
    fn(*g);
    retired_[kept++] = retired_[i];
  }
  retired_.resize(kept);
}

void Worker::beginDrain() {
  draining_ = true;
  for (auto& l : listeners_)
    l->close();
  forEachGeneration([](WorkerGeneration& g) { g.upstreams().closeIdle(); });
  std::vector<DownstreamSession*> live = sessions_.items();
  for (DownstreamSession* s : live)
    s->drain();
  maybeFinish();
}

void Worker::closeAll() {
  draining_ = true;
  for (auto& l : listeners_)
    l->close();
  std::vector<DownstreamSession*> live = sessions_.items();
  for (DownstreamSession* s : live)
    s->stopNow();
  forEachGeneration([](WorkerGeneration& g) { g.upstreams().closeIdle(); });
  maybeFinish();
}

void Worker::maybeFinish() {
  if (!draining_ || !sessions_.empty()) return;
  forEachGeneration([](WorkerGeneration& g) { g.upstreams().closeIdle(); });
  {
    std::lock_guard<std::mutex> lock(wake_mutex_);
    wake_.close();
  }
  reaper_.close();
  queue_timer_.close();
  timers_.close();
}

void Worker::addWaiter(WorkerGeneration& gen, size_t pool, DownstreamSession* session) {
  std::vector<DownstreamSession*>& w = gen.upstreams().pool(pool).waiters;
  w.push_back(session);
  if (w.size() == 1) armQueue(kQueuePollMs); // cheap to arm again when other pools wait
}

void Worker::removeWaiter(WorkerGeneration& gen, size_t pool, DownstreamSession* session) {
  std::vector<DownstreamSession*>& w = gen.upstreams().pool(pool).waiters;
  auto it = std::find(w.begin(), w.end(), session);
  if (it == w.end()) return;
  w.erase(it);
}

void Worker::slotFreed(WorkerGeneration& gen, size_t pool) {
  if (!gen.upstreams().pool(pool).waiters.empty()) armQueue(0);
}

void Worker::armQueue(uint64_t ms) {
  uv::arm(queue_timer_, ms, [](uv_timer_t* t) {
    if (auto* self = static_cast<Worker*>(t->data)) self->onQueueTimer();
  });
}

// Each waiter tries again, oldest first; the ones that still find every
// server full put themselves back (in the same order).
void Worker::onQueueTimer() {
  // Pinned for the pass: a waiter's retry may drop the last other reference.
  std::vector<std::shared_ptr<WorkerGeneration>> gens{current_};
  forEachGeneration([&](WorkerGeneration& g) {
    if (&g != current_.get()) gens.push_back(g.shared_from_this());
  });
  bool waiting = false;
  for (const auto& g : gens) {
    UpstreamPools& pools = g->upstreams();
    for (size_t p = 0; p < pools.size(); ++p) {
      std::vector<DownstreamSession*> ready;
      ready.swap(pools.pool(p).waiters);
      for (DownstreamSession* s : ready)
        s->retryQueued();
    }
    for (size_t p = 0; p < pools.size(); ++p)
      waiting = waiting || !pools.pool(p).waiters.empty();
  }
  if (waiting) armQueue(kQueuePollMs); // slots freed by other workers wake nobody here
}

void Worker::adopt(DownstreamSession* session) { sessions_.pushBack(session); }

void Worker::reap(DownstreamSession* session) {
  sessions_.remove(session);
  dead_sessions_.push_back(session);
}

void Worker::freeDead() {
  std::vector<DownstreamSession*> sessions;
  sessions.swap(dead_sessions_);
  for (DownstreamSession* s : sessions)
    delete s;
  std::vector<Reapable*> others;
  others.swap(graveyard_);
  for (Reapable* r : others)
    delete r;
}

void Worker::reap(Reapable* object) { graveyard_.push_back(object); }

} // namespace proxy
