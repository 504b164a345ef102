// Request side of a DownstreamSession: accept, read, parse, validate, route,
// pick a server and stream the request up. The response side and the ways
// an exchange ends are in exchange.cc.
#include "proxy/session/downstream.h"

#include <arpa/inet.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <iterator>
#include <utility>

namespace proxy {

namespace {

std::atomic<uint64_t> g_next_cid{1};

// Bytes of pipelined requests kept while the current one is answered.
constexpr size_t kMaxPendingBytes = 16 * 1024;

http::HeadLimits headLimits(const config::Limits& l) {
  return {l.max_header_bytes, l.max_headers, l.max_uri_bytes};
}

uint16_t peerPort(const sockaddr_storage& ss) {
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_port);
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&ss)->sin_port);
  return 0;
}

} // namespace

// An idle keep-alive connection is this object and its uv_tcp_t (248 bytes),
// each a malloc chunk of 8 bytes more rounded up to 16: 224 + 256 bytes here,
// under the 0.5 KiB per idle connection that tests/bench scenario 5 checks.
// Per-request state belongs in ExchangeState, not here.
static_assert(sizeof(void*) != 8 || sizeof(DownstreamSession) <= 216,
              "DownstreamSession outgrew the idle-connection budget");

DownstreamSession::DownstreamSession(Worker& worker, size_t listener)
    : worker_(worker), gen_(worker.generation()), admitted_by_(gen_),
      cid_(g_next_cid.fetch_add(1, std::memory_order_relaxed)),
      listener_(static_cast<uint32_t>(listener)) {}

DownstreamSession::~DownstreamSession() {
  if (counted_listener_ >= 0)
    listenerStats(*admitted_by_, static_cast<size_t>(counted_listener_)).closed.add();
  giveExchange();
}

void DownstreamSession::giveExchange() noexcept {
  if (!ex_) return;
  if (counted_listener_ >= 0)
    listenerStats(*admitted_by_, static_cast<size_t>(counted_listener_)).busy.sub();
  worker_.exchanges().give(std::move(ex_));
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
  // The stream's data is the StreamOwner that uv::write reports to; fromStream() undoes it.
  if (tcp_.open(static_cast<uv::StreamOwner*>(this),
                [&](uv_tcp_t* h) { return uv_tcp_init(loop, h); }) != 0)
    return false;
  if (uv_accept(server, tcp_.stream()) != 0) return false;
  timer_.open(worker_.timers(), this, &onTimer);
  uv_tcp_nodelay(tcp_.get(), 1);
  sockaddr_storage peer{};
  int len = sizeof peer;
  if (uv_tcp_getpeername(tcp_.get(), reinterpret_cast<sockaddr*>(&peer), &len) != 0) return false;
  if (auto ip = routing::ipFromSockaddr(reinterpret_cast<const sockaddr*>(&peer))) {
    client_addr_ = *ip;
    client_addr_known_ = true;
    client_port_ = peerPort(peer);
  }
  // Denied or over a limit: closed before any byte is read, no response.
  if (!admitted_by_->admission().admit(listener_, clientAddress(), &admission_)) {
    listenerStats(*admitted_by_, listener_).refused.add();
    return false;
  }
  listenerStats(*admitted_by_, listener_).accepted.add();
  counted_listener_ = static_cast<int32_t>(listener_);
  const config::Listener& listener = gen_->snapshot().listeners[listener_];
  if (listener.tls) {
    tls_ = tls::Engine::server(*listener.tls);
    if (!tls_) return false;
  }
  // A new connection must send its first request within client_header.
  armClientTimer(gen_->snapshot().timeouts.client_header);
  updateReading();
  return true;
}

void DownstreamSession::onRead(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  DownstreamSession* self = fromStream(s);
  if (self == nullptr || nread == 0) return;
  if (nread < 0) {
    self->handleClientEof();
    return;
  }
  if (self->drop_client_bytes_) return; // lingering close: discard
  self->attachExchange();
  if (self->tls_) {
    self->onTlsRead(buf->base, static_cast<size_t>(nread));
  } else {
    self->feed(buf->base, static_cast<size_t>(nread));
  }
  // Bytes that started no request (TLS handshake records, blank lines
  // between requests) leave the connection idle: give the state back.
  if (!self->closing() && self->phase_ == Phase::kIdle && self->ex_ &&
      !self->ex_->parser.inMessage())
    self->detachExchange();
}

void DownstreamSession::feed(const char* data, size_t length) {
  // Usually attached by onRead(); but a TLS read may hold several records,
  // and a request answered at once from the first may have left us idle.
  attachExchange();
  if (phase_ == Phase::kExchange && !ex_->request_done && timer_.armed()) timer_.rearm();
  if (phase_ == Phase::kTunnel) {
    if (timer_.armed()) timer_.rearm();
    uv_buf_t b = uv_buf_init(const_cast<char*>(data), static_cast<unsigned>(length));
    ex_->record.bytes_in += length;
    if (ex_->upstream == nullptr || !ex_->upstream->send(&b, 1)) {
      abort({'S', 'T'});
      return;
    }
    if (ex_->upstream->congested()) {
      ex_->upstream_congested = true;
      updateReading();
    }
    return;
  }
  if (ex_->parser_paused) {
    // Between requests (pipelining) or waiting for the response: keep the
    // bytes for later. Reading goes on only so that a client that goes away
    // is noticed; updateReading() bounds what is kept.
    ex_->pending.append(data, length);
    updateReading();
    return;
  }
  if (!ex_->pending.empty()) { // keep order behind bytes parsed earlier
    ex_->pending.append(data, length);
    feedPending();
    return;
  }
  handleOutcome(ex_->parser.execute(data, length), data, length, false);
}

void DownstreamSession::feedPending() {
  if (ex_->pending.empty() || ex_->parser_paused) return;
  handleOutcome(ex_->parser.execute(ex_->pending.data(), ex_->pending.size()), ex_->pending.data(),
                ex_->pending.size(), true);
}

void DownstreamSession::handleOutcome(http::Parser::Outcome o, const char* data, size_t length,
                                      bool from_pending) {
  if (closing() || phase_ == Phase::kFlushing) return;
  ex_->record.bytes_in += o.consumed;
  if (o.state == http::Parser::State::kOk) {
    if (from_pending) ex_->pending.clear();
    return;
  }
  if (o.state == http::Parser::State::kError) {
    if (from_pending) ex_->pending.clear();
    ErrorKind kind = ex_->parser.errorKind();
    Termination term{'P', phase_ == Phase::kExchange ? 'D' : 'R'};
    respondLocal(statusFor(kind), ex_->parser.errorReason(), term, true);
    return;
  }
  // Paused (between messages, or to wait for an upstream) or upgraded: keep
  // what was not consumed for later.
  if (from_pending) {
    ex_->pending.erase(0, o.consumed);
  } else {
    ex_->pending.assign(data + o.consumed, length - o.consumed);
  }
  ex_->parser_paused = true;
  if (ex_->next_deferred) { // the request ended inside a callback: on to the next one
    ex_->next_deferred = false;
    parseNext();
    return;
  }
  updateReading();
  if (phase_ == Phase::kDispatch && ex_->upstream == nullptr) dispatch();
}

void DownstreamSession::handleClientEof() {
  switch (phase_) {
  case Phase::kIdle:
  case Phase::kFlushing: close(); return;
  case Phase::kHead: abort({'C', 'R'}); return;
  case Phase::kTunnel:
    // Half-close: pass the client's FIN on; the tunnel ends with the upstream's.
    ex_->tunnel_client_eof = true;
    if (ex_->upstream != nullptr) ex_->upstream->shutdownWrite();
    updateReading();
    return;
  default: abort({'C', ex_->response_started ? 'D' : (ex_->request_done ? 'H' : 'D')}); return;
  }
}

void DownstreamSession::attachExchange() noexcept {
  if (ex_) return;
  ex_ = worker_.exchanges().take(this, headLimits(gen_->snapshot().limits), cid_);
  if (counted_listener_ >= 0)
    listenerStats(*admitted_by_, static_cast<size_t>(counted_listener_)).busy.add();
  if (client_addr_known_) {
    static_assert(sizeof ex_->client_ip > routing::kMaxIpText);
    ex_->client_ip[routing::formatIp(client_addr_, ex_->client_ip)] = '\0';
  }
}

void DownstreamSession::detachExchange() noexcept {
  if (!ex_ || ex_->parser.executing() || !ex_->pending.empty() || ex_->upstream != nullptr) return;
  giveExchange();
}

int DownstreamSession::onMessageBegin() noexcept {
  if (phase_ == Phase::kIdle) {
    phase_ = Phase::kHead;
    ex_->record.start_ns = uv_hrtime();
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
  return ex_->request_framing == http::Framing::kNone ? http::Parser::kProceed
                                                      : http::Parser::kPause;
}

int DownstreamSession::onBody(const char* data, size_t length) noexcept {
  const config::Limits& limits = ex_->snapshot->limits;
  if (limits.max_body_bytes != 0 && ex_->parser.bodyBytes() > limits.max_body_bytes) {
    ex_->parser.fail(ErrorKind::kPayloadTooLarge, "request body too large");
    return http::Parser::kFail;
  }
  forwardBody(data, length);
  return closing() ? http::Parser::kFail : http::Parser::kProceed;
}

int DownstreamSession::onMessageComplete() noexcept {
  ex_->request_done = true;
  if (phase_ == Phase::kExchange) timer_.disarm(); // the body is in: client_body is over
  ex_->body_timer = false;
  if (ex_->upgrade_request) return http::Parser::kProceed; // llhttp then reports the upgrade
  if (phase_ == Phase::kDispatch) return http::Parser::kPause;
  if (ex_->upstream != nullptr) {
    if (ex_->request_framing == http::Framing::kChunked) {
      uv_buf_t b = uv_buf_init(const_cast<char*>(http::kLastChunk.data()),
                               static_cast<unsigned>(http::kLastChunk.size()));
      if (!ex_->upstream->send(&b, 1)) {
        UpstreamConnection* u = std::exchange(ex_->upstream, nullptr);
        u->abandon();
        onUpstreamFailed(UpstreamFailure::kWrite);
        return http::Parser::kPause;
      }
    }
    ex_->upstream->armResponseTimer(ex_->snapshot->timeouts.upstream_response);
  }
  return http::Parser::kPause;
}

void DownstreamSession::forwardBody(const char* data, size_t length) {
  if (ex_->upstream == nullptr) return; // the exchange already failed; the body is dropped
  ex_->request_body_consumed = true;
  bool ok;
  if (ex_->request_framing == http::Framing::kChunked) {
    char hdr[24];
    size_t n = http::chunkHeader(length, hdr);
    uv_buf_t b[3] = {uv_buf_init(hdr, static_cast<unsigned>(n)),
                     uv_buf_init(const_cast<char*>(data), static_cast<unsigned>(length)),
                     uv_buf_init(const_cast<char*>(http::kChunkTrailer.data()), 2)};
    ok = ex_->upstream->send(b, 3);
  } else {
    uv_buf_t b = uv_buf_init(const_cast<char*>(data), static_cast<unsigned>(length));
    ok = ex_->upstream->send(&b, 1);
  }
  if (!ok) {
    UpstreamConnection* u = std::exchange(ex_->upstream, nullptr);
    u->abandon();
    onUpstreamFailed(UpstreamFailure::kWrite);
    return;
  }
  if (ex_->upstream->congested() && !ex_->upstream_congested) {
    ex_->upstream_congested = true;
    updateReading();
  }
}

void DownstreamSession::onUpstreamWritable() noexcept {
  if (!ex_->upstream_congested) return;
  ex_->upstream_congested = false;
  updateReading();
}

void DownstreamSession::updateReading() noexcept {
  bool want = false;
  // While the parser is paused (choosing a server, waiting for the response,
  // between pipelined requests) reading goes on into ex_->pending, bounded, so a
  // client that goes away is noticed and, above all, the read is not stopped
  // and restarted around every request: each stop/start pair costs two
  // epoll_ctl calls in libuv.
  // An idle connection with no exchange state has nothing paused.
  bool paused = ex_ && ex_->parser_paused;
  bool keep_for_later = paused && ex_->pending.size() < kMaxPendingBytes;
  switch (phase_) {
  case Phase::kIdle:
  case Phase::kHead: want = !paused || keep_for_later; break;
  case Phase::kDispatch: want = keep_for_later; break;
  case Phase::kExchange:
    if (ex_->request_done || ex_->parser_paused) {
      want = keep_for_later;
    } else {
      want = ex_->request_head_sent && !ex_->upstream_congested;
    }
    break;
  case Phase::kTunnel: want = !ex_->upstream_congested && !ex_->tunnel_client_eof; break;
  case Phase::kFlushing: want = drop_client_bytes_; break;
  default: want = false; break;
  }
  if (phase_ == Phase::kExchange && !ex_->request_done && want != ex_->body_timer) {
    // The request body: at most client_body between two reads (re-armed per
    // read in feed()); not while we hold the client back for the upstream.
    ex_->body_timer = want;
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
  if (ex_->head_deferred) { // the response head goes first, in the same write
    ex_->head_deferred = false;
    if (count >= std::size(joined)) { // not from this file's callers; stay correct anyway
      uv_buf_t head = uv_buf_init(ex_->out.data(), static_cast<unsigned>(ex_->out.size()));
      if (!writeClient(&head, 1)) return false;
    } else {
      joined[0] = uv_buf_init(ex_->out.data(), static_cast<unsigned>(ex_->out.size()));
      std::copy(bufs, bufs + count, joined + 1);
      bufs = joined;
      ++count;
    }
  }
  if (count == 0) return true;
  bool queued = false;
  for (unsigned i = 0; i < count; ++i)
    ex_->record.bytes_out += bufs[i].len;
  int rc = tls_ ? writeTls(bufs, count, &queued) : uv::write(tcp_.stream(), bufs, count, &queued);
  if (rc != 0) {
    abort({'C', ex_->response_started ? 'D' : 'H'});
    return false;
  }
  if (queued && ex_->upstream != nullptr && !client_congested_ &&
      uv_stream_get_write_queue_size(tcp_.stream()) > UpstreamConnection::kHighWater) {
    client_congested_ = true;
    ex_->upstream->pauseReading();
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
    if (ex_ && ex_->upstream != nullptr) ex_->upstream->resumeReading();
  }
}

} // namespace proxy
