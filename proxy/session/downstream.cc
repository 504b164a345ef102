// Request side of a DownstreamSession: accept, read, parse, validate, route,
// pick a server and stream the request up. The response side and the ways
// an exchange ends are in exchange.cc.
#include "proxy/session/downstream.h"

#include <arpa/inet.h>

#include <algorithm>
#include <atomic>
#include <iterator>
#include <utility>
#include <cstdio>

namespace proxy {

namespace {

std::atomic<uint64_t> g_next_cid{1};

// Bytes of pipelined requests kept while the current one is answered.
constexpr size_t kMaxPendingBytes = 16 * 1024;

http::HeadLimits headLimits(const config::Limits& l) {
  return {l.max_header_bytes, l.max_headers, l.max_uri_bytes};
}

void formatPeer(const sockaddr_storage& ss, char* ip, size_t ip_len, char* both, size_t both_len) {
  uint16_t port = 0;
  if (ss.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &a->sin6_addr, ip, static_cast<socklen_t>(ip_len));
    port = ntohs(a->sin6_port);
    snprintf(both, both_len, "[%s]:%u", ip, port);
  } else {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &a->sin_addr, ip, static_cast<socklen_t>(ip_len));
    port = ntohs(a->sin_port);
    snprintf(both, both_len, "%s:%u", ip, port);
  }
}

} // namespace

DownstreamSession::DownstreamSession(Worker& worker, size_t listener)
    : worker_(worker), gen_(worker.generation()), admitted_by_(gen_), listener_(listener),
      cid_(g_next_cid.fetch_add(1, std::memory_order_relaxed)),
      parser_(http::Parser::Type::kRequest, this, headLimits(gen_->snapshot().limits)) {}

DownstreamSession::~DownstreamSession() {
  if (counted_listener_ >= 0)
    listenerStats(*admitted_by_, static_cast<size_t>(counted_listener_)).closed.add();
}

TrafficStats::Listener& DownstreamSession::listenerStats(WorkerGeneration& gen,
                                                         size_t listener) noexcept {
  return gen.stats().worker(worker_.id()).listeners[listener];
}

bool DownstreamSession::accept(Worker& worker, uv_stream_t* server, size_t listener) {
  auto* s = new DownstreamSession(worker, listener);
  worker.adopt(s);
  if (!s->start(server)) {
    s->close();
    return false;
  }
  return true;
}

bool DownstreamSession::start(uv_stream_t* server) {
  uv_loop_t* loop = worker_.loop();
  if (tcp_.open(this, [&](uv_tcp_t* h) { return uv_tcp_init(loop, h); }) != 0) return false;
  if (uv_accept(server, tcp_.stream()) != 0) return false;
  timer_.open(worker_.timers(), this, &onTimer);
  uv_tcp_nodelay(tcp_.get(), 1);
  sockaddr_storage peer{};
  int len = sizeof peer;
  if (uv_tcp_getpeername(tcp_.get(), reinterpret_cast<sockaddr*>(&peer), &len) != 0) return false;
  if (auto ip = routing::ipFromSockaddr(reinterpret_cast<const sockaddr*>(&peer))) {
    client_addr_ = *ip;
    client_addr_known_ = true;
  }
  // Denied or over a limit: closed before any byte is read, no response.
  if (!admitted_by_->admission().admit(listener_, clientAddress(), &admission_)) {
    listenerStats(*admitted_by_, listener_).refused.add();
    return false;
  }
  listenerStats(*admitted_by_, listener_).accepted.add();
  counted_listener_ = static_cast<int>(listener_);
  formatPeer(peer, client_ip_, sizeof client_ip_, client_, sizeof client_);
  const config::Listener& listener = gen_->snapshot().listeners[listener_];
  if (listener.tls) {
    tls_ = tls::Engine::server(*listener.tls);
    if (!tls_) return false;
  }
  record_ = ExchangeRecord{};
  record_.cid = cid_;
  // A new connection must send its first request within client_header.
  armClientTimer(gen_->snapshot().timeouts.client_header);
  updateReading();
  return true;
}

void DownstreamSession::onRead(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  auto* self = static_cast<DownstreamSession*>(s->data);
  if (self == nullptr || nread == 0) return;
  if (nread < 0) {
    self->handleClientEof();
    return;
  }
  if (self->drop_client_bytes_) return; // lingering close: discard
  if (self->tls_) {
    self->onTlsRead(buf->base, static_cast<size_t>(nread));
    return;
  }
  self->feed(buf->base, static_cast<size_t>(nread));
}

void DownstreamSession::feed(const char* data, size_t length) {
  if (phase_ == Phase::kExchange && !request_done_ && timer_.armed()) timer_.rearm();
  if (phase_ == Phase::kTunnel) {
    if (timer_.armed()) timer_.rearm();
    uv_buf_t b = uv_buf_init(const_cast<char*>(data), static_cast<unsigned>(length));
    record_.bytes_in += length;
    if (upstream_ == nullptr || !upstream_->send(&b, 1)) {
      abort({'S', 'T'});
      return;
    }
    if (upstream_->congested()) {
      upstream_congested_ = true;
      updateReading();
    }
    return;
  }
  if (parser_paused_) {
    // Between requests (pipelining) or waiting for the response: keep the
    // bytes for later. Reading goes on only so that a client that goes away
    // is noticed; updateReading() bounds what is kept.
    pending_.append(data, length);
    updateReading();
    return;
  }
  if (!pending_.empty()) { // keep order behind bytes parsed earlier
    pending_.append(data, length);
    feedPending();
    return;
  }
  handleOutcome(parser_.execute(data, length), data, length, false);
}

void DownstreamSession::feedPending() {
  if (pending_.empty() || parser_paused_) return;
  handleOutcome(parser_.execute(pending_.data(), pending_.size()), pending_.data(), pending_.size(),
                true);
}

void DownstreamSession::handleOutcome(http::Parser::Outcome o, const char* data, size_t length,
                                      bool from_pending) {
  if (closing() || phase_ == Phase::kFlushing) return;
  record_.bytes_in += o.consumed;
  if (o.state == http::Parser::State::kOk) {
    if (from_pending) pending_.clear();
    return;
  }
  if (o.state == http::Parser::State::kError) {
    if (from_pending) pending_.clear();
    ErrorKind kind = parser_.errorKind();
    Termination term{'P', phase_ == Phase::kExchange ? 'D' : 'R'};
    respondLocal(statusFor(kind), parser_.errorReason(), term, true);
    return;
  }
  // Paused (between messages, or to wait for an upstream) or upgraded: keep
  // what was not consumed for later.
  if (from_pending) {
    pending_.erase(0, o.consumed);
  } else {
    pending_.assign(data + o.consumed, length - o.consumed);
  }
  parser_paused_ = true;
  updateReading();
  if (phase_ == Phase::kDispatch && upstream_ == nullptr) dispatch();
}

void DownstreamSession::handleClientEof() {
  switch (phase_) {
  case Phase::kIdle:
  case Phase::kFlushing: close(); return;
  case Phase::kHead: abort({'C', 'R'}); return;
  case Phase::kTunnel:
    // Half-close: pass the client's FIN on; the tunnel ends with the upstream's.
    tunnel_client_eof_ = true;
    if (upstream_ != nullptr) upstream_->shutdownWrite();
    updateReading();
    return;
  default: abort({'C', response_started_ ? 'D' : (request_done_ ? 'H' : 'D')}); return;
  }
}

void DownstreamSession::takeBuffers() noexcept {
  if (holding_buffers_) return;
  holding_buffers_ = true;
  SessionBuffers b = worker_.buffers().take();
  parser_.head().adoptStorage(std::move(b.head));
  out_ = std::move(b.out);
  header_views_ = std::move(b.header_views);
  tried_ = std::move(b.tried);
  if (tls_out_.capacity() == 0) tls_out_ = std::move(b.tls_out); // else the handshake made one
}

void DownstreamSession::giveBuffers() noexcept {
  if (!holding_buffers_) return;
  holding_buffers_ = false;
  worker_.buffers().give({parser_.head().releaseStorage(), std::exchange(out_, {}),
                          std::exchange(header_views_, {}), std::exchange(tried_, {}),
                          std::exchange(tls_out_, {})});
  if (pending_.empty()) std::string().swap(pending_); // what pipelining grew it to
}

int DownstreamSession::onMessageBegin() noexcept {
  takeBuffers();
  if (phase_ == Phase::kIdle) {
    phase_ = Phase::kHead;
    record_.start_ns = uv_hrtime();
    armClientTimer(gen_->snapshot().timeouts.client_header);
  }
  return http::Parser::kProceed;
}

int DownstreamSession::onHeadersComplete(http::MessageHead& head) noexcept {
  phase_ = Phase::kDispatch;
  timer_.disarm();
  if (!prepareRequest(head)) return http::Parser::kFail;
  // Bodiless requests complete right away and pause there; a request with a
  // body pauses here until an upstream connection is ready for it.
  return request_framing_ == http::Framing::kNone ? http::Parser::kProceed : http::Parser::kPause;
}

int DownstreamSession::onBody(const char* data, size_t length) noexcept {
  const config::Limits& limits = snapshot_->limits;
  if (limits.max_body_bytes != 0 && parser_.bodyBytes() > limits.max_body_bytes) {
    parser_.fail(ErrorKind::kPayloadTooLarge, "request body too large");
    return http::Parser::kFail;
  }
  forwardBody(data, length);
  return closing() ? http::Parser::kFail : http::Parser::kProceed;
}

int DownstreamSession::onMessageComplete() noexcept {
  request_done_ = true;
  if (phase_ == Phase::kExchange) timer_.disarm();  // the body is in: client_body is over
  body_timer_ = false;
  if (upgrade_request_) return http::Parser::kProceed; // llhttp then reports the upgrade
  if (phase_ == Phase::kDispatch) return http::Parser::kPause;
  if (upstream_ != nullptr) {
    if (request_framing_ == http::Framing::kChunked) {
      uv_buf_t b = uv_buf_init(const_cast<char*>(http::kLastChunk.data()),
                               static_cast<unsigned>(http::kLastChunk.size()));
      if (!upstream_->send(&b, 1)) {
        UpstreamConnection* u = std::exchange(upstream_, nullptr);
        u->abandon();
        onUpstreamFailed(UpstreamFailure::kWrite);
        return http::Parser::kPause;
      }
    }
    upstream_->armResponseTimer(snapshot_->timeouts.upstream_response);
  }
  return http::Parser::kPause;
}

void DownstreamSession::forwardBody(const char* data, size_t length) {
  if (upstream_ == nullptr) return; // the exchange already failed; the body is dropped
  request_body_consumed_ = true;
  bool ok;
  if (request_framing_ == http::Framing::kChunked) {
    char hdr[24];
    size_t n = http::chunkHeader(length, hdr);
    uv_buf_t b[3] = {uv_buf_init(hdr, static_cast<unsigned>(n)),
                     uv_buf_init(const_cast<char*>(data), static_cast<unsigned>(length)),
                     uv_buf_init(const_cast<char*>(http::kChunkTrailer.data()), 2)};
    ok = upstream_->send(b, 3);
  } else {
    uv_buf_t b = uv_buf_init(const_cast<char*>(data), static_cast<unsigned>(length));
    ok = upstream_->send(&b, 1);
  }
  if (!ok) {
    UpstreamConnection* u = std::exchange(upstream_, nullptr);
    u->abandon();
    onUpstreamFailed(UpstreamFailure::kWrite);
    return;
  }
  if (upstream_->congested() && !upstream_congested_) {
    upstream_congested_ = true;
    updateReading();
  }
}

void DownstreamSession::onUpstreamWritable() noexcept {
  if (!upstream_congested_) return;
  upstream_congested_ = false;
  updateReading();
}

void DownstreamSession::updateReading() noexcept {
  bool want = false;
  // While the parser is paused (choosing a server, waiting for the response,
  // between pipelined requests) reading goes on into pending_, bounded, so a
  // client that goes away is noticed and, above all, the read is not stopped
  // and restarted around every request: each stop/start pair costs two
  // epoll_ctl calls in libuv.
  bool keep_for_later = parser_paused_ && pending_.size() < kMaxPendingBytes;
  switch (phase_) {
  case Phase::kIdle:
  case Phase::kHead: want = !parser_paused_ || keep_for_later; break;
  case Phase::kDispatch: want = keep_for_later; break;
  case Phase::kExchange:
    if (request_done_ || parser_paused_) {
      want = keep_for_later;
    } else {
      want = request_head_sent_ && !upstream_congested_;
    }
    break;
  case Phase::kTunnel: want = !upstream_congested_ && !tunnel_client_eof_; break;
  case Phase::kFlushing: want = drop_client_bytes_; break;
  default: want = false; break;
  }
  if (phase_ == Phase::kExchange && !request_done_ && want != body_timer_) {
    // The request body: at most client_body between two reads (re-armed per
    // read in feed()); not while we hold the client back for the upstream.
    body_timer_ = want;
    if (want) {
      timer_.arm(gen_->snapshot().timeouts.client_body);
    } else {
      timer_.disarm();
    }
  }
  if (want == reading_ || !tcp_) return;
  reading_ = want;
  if (want) {
    uv_read_start(tcp_.stream(), &Worker::onAllocRead, &onRead);
  } else {
    uv_read_stop(tcp_.stream());
  }
}

void DownstreamSession::armClientTimer(uint64_t ms) noexcept { timer_.arm(ms); }

bool DownstreamSession::writeClient(const uv_buf_t* bufs, unsigned count) noexcept {
  uv_buf_t joined[4];
  if (head_deferred_) { // the response head goes first, in the same write
    head_deferred_ = false;
    if (count >= std::size(joined)) { // not from this file's callers; stay correct anyway
      uv_buf_t head = uv_buf_init(out_.data(), static_cast<unsigned>(out_.size()));
      if (!writeClient(&head, 1)) return false;
    } else {
      joined[0] = uv_buf_init(out_.data(), static_cast<unsigned>(out_.size()));
      std::copy(bufs, bufs + count, joined + 1);
      bufs = joined;
      ++count;
    }
  }
  if (count == 0) return true;
  bool queued = false;
  for (unsigned i = 0; i < count; ++i)
    record_.bytes_out += bufs[i].len;
  int rc = tls_ ? writeTls(bufs, count, &queued) : uv::write(tcp_.stream(), bufs, count, &queued);
  if (rc != 0) {
    abort({'C', response_started_ ? 'D' : 'H'});
    return false;
  }
  if (queued && upstream_ != nullptr && !client_congested_ &&
      uv_stream_get_write_queue_size(tcp_.stream()) > UpstreamConnection::kHighWater) {
    client_congested_ = true;
    upstream_->pauseReading();
  }
  return true;
}

void DownstreamSession::onWriteDone(int status) noexcept {
  if (status < 0) {
    if (phase_ == Phase::kFlushing) {
      close();
    } else {
      abort({'C', phase_ == Phase::kTunnel ? 'T' : 'D'});
    }
    return;
  }
  if (client_congested_ &&
      uv_stream_get_write_queue_size(tcp_.stream()) <= UpstreamConnection::kLowWater) {
    client_congested_ = false;
    if (upstream_ != nullptr) upstream_->resumeReading();
  }
}

} // namespace proxy
