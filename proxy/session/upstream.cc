#include "proxy/session/upstream.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace proxy {

namespace {
constexpr uint64_t kIdleTimeoutMs = 15000; // below common app-server keep-alive timeouts
// Responses are not limited by the client-facing limits; this only bounds memory.
constexpr http::HeadLimits kResponseLimits{65536, 1000, 65536};
} // namespace

UpstreamConnection::UpstreamConnection(Worker& worker, std::shared_ptr<WorkerGeneration> gen,
                                       size_t pool, size_t server)
    : worker_(worker), gen_(std::move(gen)), pool_(pool), server_(server),
      parser_(http::Parser::Type::kResponse, this, kResponseLimits) {}

UpstreamConnection::~UpstreamConnection() = default;

ServerState& UpstreamConnection::serverState() noexcept {
  return gen_->upstreams().pool(pool_).servers[server_];
}

UpstreamConnection* UpstreamConnection::connect(Worker& worker,
                                                const std::shared_ptr<WorkerGeneration>& gen,
                                                size_t pool, size_t server, User* user) {
  const config::Snapshot& snap = gen->snapshot();
  const config::Server& target = snap.pools[pool].servers[server];
  auto* c = new UpstreamConnection(worker, gen, pool, server);
  c->user_ = user;
  gen->upstreams().pool(pool).active[server]++;
  c->serverStats().active.add();
  c->connect_start_ns_ = uv_hrtime();
  int rc = c->tcp_.open(c, [&](uv_tcp_t* h) { return uv_tcp_init(worker.loop(), h); });
  c->timer_.open(worker.timers(), c, &onTimer);
  if (rc == 0) {
    uv_tcp_nodelay(c->tcp_.get(), 1);
    c->connect_req_ = new uv_connect_t{};
    c->connect_req_->data = c;
    rc = uv_tcp_connect(c->connect_req_, c->tcp_.get(), target.address.sa(), &onConnect);
    if (rc != 0) {
      delete c->connect_req_;
      c->connect_req_ = nullptr;
    }
  }
  if (rc != 0) {
    c->user_ = nullptr;
    c->close();
    return nullptr;
  }
  c->timer_.arm(snap.timeouts.connect);
  return c;
}

UpstreamConnection* UpstreamConnection::takeIdle(Worker&,
                                                 const std::shared_ptr<WorkerGeneration>& gen,
                                                 size_t pool, size_t server, User* user) {
  PoolState& p = gen->upstreams().pool(pool);
  ServerState& s = p.servers[server];
  if (s.idle.empty()) return nullptr;
  UpstreamConnection* c = s.idle.back();
  s.idle.pop_back();
  p.active[server]++;
  c->serverStats().idle.sub();
  c->serverStats().active.add();
  c->state_ = State::kActive;
  c->user_ = user;
  c->reused_ = true;
  c->timer_.disarm();
  c->updateReading();
  return c;
}

void UpstreamConnection::onConnect(uv_connect_t* req, int status) {
  auto* self = static_cast<UpstreamConnection*>(req->data);
  delete req;
  if (self == nullptr) return; // closed while connecting
  self->connect_req_ = nullptr;
  if (status != 0) {
    self->fail(UpstreamFailure::kConnect);
    return;
  }
  if (self->gen_->snapshot().pools[self->pool_].tls) {
    self->startTls(); // the connect timer keeps running through the handshake
    return;
  }
  self->becomeActive();
}

TrafficStats::Server& UpstreamConnection::serverStats() noexcept {
  TrafficStats& stats = gen_->stats();
  return stats.worker(worker_.id()).servers[stats.serverIndex(pool_, server_)];
}

void UpstreamConnection::becomeActive() {
  if (state_ == State::kConnecting || state_ == State::kHandshake) {
    const uint64_t us = (uv_hrtime() - connect_start_ns_) / 1000;
    gen_->stats().worker(worker_.id()).pools[pool_].connect.add(us);
  }
  state_ = State::kActive;
  timer_.disarm();
  updateReading();
  if (user_ != nullptr) user_->onUpstreamReady();
}

void UpstreamConnection::onAlloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf) {
  auto* self = static_cast<UpstreamConnection*>(handle->data);
  if (self != nullptr && self->spliceTarget() >= 0) {
    *buf = uv_buf_init(nullptr, 0); // libuv answers UV_ENOBUFS without reading
    return;
  }
  Worker::onAllocRead(handle, suggested, buf);
}

void UpstreamConnection::onRead(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  auto* self = static_cast<UpstreamConnection*>(s->data);
  if (self == nullptr || nread == 0) return;
  if (nread == UV_ENOBUFS) { // only onAlloc's empty buffer gives it: splice instead
    self->spliceBody();
    return;
  }
  if (nread < 0) {
    self->handleEof(static_cast<int>(nread));
    return;
  }
  self->handleRead(buf->base, static_cast<size_t>(nread));
}

void UpstreamConnection::onTimer(void* owner) {
  auto* self = static_cast<UpstreamConnection*>(owner);
  switch (self->state_) {
  case State::kConnecting:
  case State::kHandshake: self->fail(UpstreamFailure::kConnectTimeout); break;
  case State::kActive: self->fail(UpstreamFailure::kTimeout); break;
  default: self->close(); break;
  }
}

void UpstreamConnection::handleRead(const char* data, size_t length) {
  if (tls_) {
    handleTlsRead(data, length);
    return;
  }
  handlePlain(data, length);
}

void UpstreamConnection::handlePlain(const char* data, size_t length) {
  if (state_ == State::kTunnel) {
    if (user_ != nullptr) user_->onUpstreamTunnel(data, length);
    return;
  }
  if (state_ != State::kActive || user_ == nullptr) {
    close(); // an idle connection must stay silent; anything else means it is unusable
    return;
  }
  response_bytes_ += length;
  if (timer_.armed()) timer_.rearm();
  http::Parser::Outcome o = parser_.execute(data, length);
  if (user_ == nullptr) { // the exchange was aborted from inside a callback
    close();
    return;
  }
  switch (o.state) {
  case http::Parser::State::kOk: user_->onUpstreamParsed(); return;
  case http::Parser::State::kError: fail(UpstreamFailure::kBadResponse); return;
  case http::Parser::State::kPaused: {
    // A complete final response. Bytes after it (unsolicited) make the
    // connection unusable.
    bool reusable = o.consumed == length && parser_.head().keep_alive;
    User* u = user_;
    u->onUpstreamComplete(reusable); // may release or close this connection
    return;
  }
  case http::Parser::State::kUpgrade: {
    state_ = State::kTunnel;
    timer_.disarm();
    if (o.consumed < length) user_->onUpstreamTunnel(data + o.consumed, length - o.consumed);
    return;
  }
  }
}

int UpstreamConnection::spliceTarget() noexcept {
  if (state_ != State::kActive || tls_ || user_ == nullptr || paused_ ||
      parser_.contentLengthRemaining() <= kSpliceMin) {
    return -1;
  }
  int to = user_->spliceTarget();
  return to >= 0 && worker_.splicePipe().ready() ? to : -1;
}

void UpstreamConnection::spliceBody() {
  int to = spliceTarget(); // the same answer onAlloc had: nothing ran in between
  uv_os_fd_t from = -1;
  if (to < 0 || uv_fileno(tcp_.handle(), &from) != 0) return; // the loop calls again
  SplicePipe& pipe = worker_.splicePipe();
  // Like libuv's reads, a few rounds per readable event while the socket
  // keeps filling the pipe, then the other connections get their turn.
  for (int round = 0; round < 4; ++round) {
    const uint64_t remaining = parser_.contentLengthRemaining();
    // The body's last byte is left to the parser, which ends the response.
    const size_t want =
        static_cast<size_t>(std::min<uint64_t>(remaining - 1, SplicePipe::kCapacity));
    ssize_t in = pipe.fill(from, want);
    if (in == -EAGAIN) return;
    if (in <= 0) {
      handleEof(in == 0 ? UV_EOF : static_cast<int>(in)); // -errno is libuv's error here
      return;
    }
    parser_.skipBody(static_cast<uint64_t>(in));
    response_bytes_ += static_cast<uint64_t>(in);
    if (timer_.armed()) timer_.rearm();
    ssize_t out = pipe.flush(to);
    User* u = user_;
    if (out < 0) {
      pipe.discard();
      u->onUpstreamSpliced(0, static_cast<int>(out)); // aborts the exchange: closes this
      return;
    }
    u->onUpstreamSpliced(static_cast<size_t>(out), 0);
    if (pipe.held() > 0) {
      holdForClient(to);
      return;
    }
    if (static_cast<size_t>(in) < want || spliceTarget() != to) return;
  }
}

void UpstreamConnection::holdForClient(int to) {
  held_ = worker_.takeSplicePipe(); // the bytes stay in the pipe, now this connection's
  if (!client_writable_) {
    client_fd_ = fcntl(to, F_DUPFD_CLOEXEC, 0);
    int rc = client_fd_ < 0 ? UV_EMFILE : client_writable_.open(this, [&](uv_poll_t* h) {
      return uv_poll_init(worker_.loop(), h, client_fd_);
    });
    if (rc != 0) { // out of descriptors: the client cannot be waited for; end it
      stopWatchingClient();
      worker_.giveSplicePipe(std::move(held_));
      fail(UpstreamFailure::kClosedMidResponse);
      return;
    }
  }
  uv_poll_start(client_writable_.get(), UV_WRITABLE, &onClientWritable);
  updateReading(); // nothing more from the server until the pipe is empty
}

void UpstreamConnection::onClientWritable(uv_poll_t* handle, int status, int) {
  auto* self = static_cast<UpstreamConnection*>(handle->data);
  if (self == nullptr) return;
  self->flushHeld(status);
}

void UpstreamConnection::flushHeld(int status) {
  if (!held_ || user_ == nullptr) return;
  ssize_t out = status < 0 ? status : held_->flush(client_fd_);
  User* u = user_;
  if (out < 0) {
    worker_.giveSplicePipe(std::move(held_));       // emptied by give
    u->onUpstreamSpliced(0, static_cast<int>(out)); // aborts the exchange: closes this
    return;
  }
  if (out > 0 && timer_.armed()) timer_.rearm(); // waiting on the client is not the server idling
  u->onUpstreamSpliced(static_cast<size_t>(out), 0);
  if (held_->held() > 0) return; // still full: the next writable event
  worker_.giveSplicePipe(std::move(held_));
  uv_poll_stop(client_writable_.get());
  updateReading(); // read from the server again
}

void UpstreamConnection::stopWatchingClient() noexcept {
  client_writable_.close(); // uv_close takes the descriptor out of epoll at once
  if (client_fd_ >= 0) ::close(client_fd_);
  client_fd_ = -1;
}

void UpstreamConnection::handleEof(int status) {
  (void)status;
  if (state_ == State::kTunnel) {
    User* u = user_;
    if (u != nullptr) u->onUpstreamTunnelEnd();
    return;
  }
  if (state_ != State::kActive || user_ == nullptr) {
    close();
    return;
  }
  if (response_bytes_ > 0 && parser_.inMessage() && parser_.messageNeedsEof() && status == UV_EOF) {
    http::Parser::Outcome o = parser_.finish();
    if (o.state != http::Parser::State::kError && complete_) {
      User* u = user_;
      u->onUpstreamComplete(false);
      return;
    }
  }
  fail(response_bytes_ == 0 ? UpstreamFailure::kClosedEarly : UpstreamFailure::kClosedMidResponse);
}

int UpstreamConnection::onHeadersComplete(http::MessageHead& head) noexcept {
  interim_ = head.status >= 100 && head.status < 200 && head.status != 101;
  return user_ != nullptr ? user_->onUpstreamHead(head) : http::Parser::kFail;
}

int UpstreamConnection::onBody(const char* data, size_t length) noexcept {
  if (user_ != nullptr) user_->onUpstreamBody(data, length);
  return http::Parser::kProceed;
}

int UpstreamConnection::onMessageComplete() noexcept {
  if (interim_ || parser_.head().status == 101) return http::Parser::kProceed;
  complete_ = true;
  return http::Parser::kPause;
}

bool UpstreamConnection::send(const uv_buf_t* bufs, unsigned count) noexcept {
  if (state_ != State::kActive && state_ != State::kTunnel) return false;
  if (tls_) {
    for (unsigned i = 0; i < count; ++i) {
      if (tls_->write(bufs[i].base, bufs[i].len) == tls::Engine::Status::kError) return false;
    }
    return flushTls();
  }
  bool queued = false;
  return uv::write(tcp_.stream(), bufs, count, &queued) == 0;
}

bool UpstreamConnection::congested() const noexcept {
  return tcp_ && uv_stream_get_write_queue_size(tcp_.stream()) > kHighWater;
}

void UpstreamConnection::onWriteDone(int status) noexcept {
  if (status < 0) {
    if (state_ == State::kTunnel) {
      User* u = user_;
      if (u != nullptr) u->onUpstreamTunnelEnd();
      return;
    }
    fail(response_bytes_ == 0 ? UpstreamFailure::kClosedEarly
                              : UpstreamFailure::kClosedMidResponse);
    return;
  }
  if (user_ != nullptr && uv_stream_get_write_queue_size(tcp_.stream()) <= kLowWater) {
    user_->onUpstreamWritable();
  }
}

void UpstreamConnection::armResponseTimer(uint64_t ms) noexcept { timer_.arm(ms); }

void UpstreamConnection::pauseReading() noexcept {
  paused_ = true;
  updateReading();
}

void UpstreamConnection::resumeReading() noexcept {
  paused_ = false;
  updateReading();
}

void UpstreamConnection::startTunnel() noexcept { timer_.disarm(); }

void UpstreamConnection::shutdownWrite() noexcept {
  if (!tcp_) return;
  auto* req = new uv_shutdown_t{};
  if (uv_shutdown(req, tcp_.stream(), [](uv_shutdown_t* r, int) { delete r; }) != 0) delete req;
}

void UpstreamConnection::updateReading() noexcept {
  bool want = state_ == State::kIdle || state_ == State::kHandshake ||
              ((state_ == State::kActive || state_ == State::kTunnel) && !paused_ && !held_);
  if (want == reading_ || !tcp_) return;
  reading_ = want;
  if (want) {
    uv_read_start(tcp_.stream(), &onAlloc, &onRead);
  } else {
    uv_read_stop(tcp_.stream());
  }
}

void UpstreamConnection::release(bool reusable) noexcept {
  user_ = nullptr;
  stopWatchingClient(); // the next exchange may serve another client
  worker_.giveSplicePipe(std::move(held_));
  ServerState& s = serverState();
  if (!reusable || state_ != State::kActive || !complete_ || worker_.draining() ||
      gen_->retired() || s.idle.size() >= UpstreamPools::kMaxIdlePerServer) {
    close();
    return;
  }
  gen_->upstreams().pool(pool_).active[server_]--;
  serverStats().active.sub();
  serverStats().idle.add();
  state_ = State::kIdle;
  parser_.reset();
  complete_ = interim_ = false;
  response_bytes_ = 0;
  paused_ = false;
  s.idle.push_back(this);
  updateReading();
  timer_.arm(kIdleTimeoutMs);
}

void UpstreamConnection::abandon() noexcept {
  user_ = nullptr;
  close();
}

void UpstreamConnection::fail(UpstreamFailure failure) noexcept {
  User* u = user_;
  user_ = nullptr;
  close();
  if (u != nullptr) u->onUpstreamFailed(failure);
}

void UpstreamConnection::close() noexcept {
  if (state_ == State::kClosed) return;
  ServerState& s = serverState();
  if (state_ == State::kIdle) {
    auto it = std::find(s.idle.begin(), s.idle.end(), this);
    if (it != s.idle.end()) s.idle.erase(it);
    serverStats().idle.sub();
  } else {
    gen_->upstreams().pool(pool_).active[server_]--;
    serverStats().active.sub();
  }
  state_ = State::kClosed;
  stopWatchingClient();
  worker_.giveSplicePipe(std::move(held_)); // bytes for a client that is gone: discarded
  if (connect_req_ != nullptr) connect_req_->data = nullptr;
  connect_req_ = nullptr;
  tcp_.close();
  timer_.close();
  worker_.reap(this);
}

} // namespace proxy
