// Response side of a DownstreamSession and every way an exchange ends:
// streamed response, local (proxy-generated) response, retry, failure,
// tunnel, timeouts, drain and close. See downstream.h.
#include <llhttp.h>

#include <algorithm>
#include <cstdio>

#include "proxy/session/downstream.h"

namespace proxy {

namespace {
constexpr uint64_t kLingerMs = 2000; // read-and-discard after our last byte (lingering close)

uv_buf_t constBuf(std::string_view s) {
  return uv_buf_init(const_cast<char*>(s.data()), static_cast<unsigned>(s.size()));
}
} // namespace

int DownstreamSession::onUpstreamHead(http::MessageHead& head) noexcept {
  if (closing()) return http::Parser::kFail;
  bool client10 = parser_.head().version_major == 1 && parser_.head().version_minor == 0;
  if (head.status >= 100 && head.status < 200 && head.status != 101) {
    // RFC 9110 section 15.2: forward 1xx, except to an HTTP/1.0 client.
    if (client10) return http::Parser::kProceed;
    out_.clear();
    http::serializeResponse(head, http::DownstreamResponse{}, &out_);
    uv_buf_t b = constBuf(out_);
    writeClient(&b, 1);
    return closing() ? http::Parser::kFail : http::Parser::kProceed;
  }
  if (head.status == 101 && !upgrade_request_) return http::Parser::kFail; // -> 502
  if (head.status >= 500) {
    reportServerFailure();
    // retries.on: [503]: the server said it did not take the request. Safe to
    // resend while no body byte was consumed; on another server.
    if (head.status == 503 && snapshot_->pools[pool_].retries.on_503 && !request_body_consumed_ &&
        !upgrade_request_ && retryBudgetAllows()) {
      std::exchange(upstream_, nullptr)->abandon(); // closes once this callback returns
      countRetry();
      request_head_sent_ = false;
      connectUpstream();
      return http::Parser::kFail;
    }
  } else {
    gen_->health().reportSuccess(pool_, static_cast<size_t>(server_));
  }
  record_.status = head.status;
  record_.head_ns = uv_hrtime();
  if (upstream_sent_ns_ != 0 && record_.head_ns > upstream_sent_ns_) {
    gen_->stats()
        .worker(worker_.id())
        .pools[pool_]
        .response.add((record_.head_ns - upstream_sent_ns_) / 1000);
  }
  // From here on the upstream may pause between body bytes, each time at most upstream_idle.
  if (head.status != 101 && upstream_ != nullptr)
    upstream_->armResponseTimer(snapshot_->timeouts.upstream_idle);
  http::DownstreamResponse info;
  if (head.status == 101) {
    info.upgrade = true;
    response_framing_ = http::Framing::kNone;
  } else if (head_request_ || head.status == 204 || head.status == 304) {
    response_framing_ = http::Framing::kNone;
    info.keep_length = head_request_ || head.status == 304;
  } else if (head.has_content_length) {
    response_framing_ = http::Framing::kContentLength;
  } else {
    // Chunked or close-delimited upstream: re-chunk for HTTP/1.1 clients so
    // the client connection survives; HTTP/1.0 clients get close-delimited.
    response_framing_ = client10 ? http::Framing::kClose : http::Framing::kChunked;
  }
  // The client connection cannot carry another request when: it asked to
  // close, we drain, the request is still arriving (an early response), the
  // body is close-delimited, or an upgrade was refused (the parser is spent).
  close_after_ = close_after_ || draining_ || !request_done_ ||
                 response_framing_ == http::Framing::kClose ||
                 (upgrade_request_ && head.status != 101);
  info.framing = response_framing_;
  info.close = close_after_;
  extra_fields_.clear();
  appendSetCookies(&extra_fields_);
  uint64_t hsts = snapshot_->listeners[listener_].hsts_max_age;
  if (tls_ && hsts > 0 && head.find("strict-transport-security") < 0) {
    extra_fields_.append("Strict-Transport-Security: max-age=" + std::to_string(hsts) + "\r\n");
  }
  info.extra = extra_fields_;
  info.keep_alive_10 = client10 && !close_after_;
  out_.clear();
  http::serializeResponse(head, info, &out_);
  response_started_ = true;
  if (head.status == 101) {
    uv_buf_t b = constBuf(out_);
    if (!writeClient(&b, 1)) return http::Parser::kFail;
    enterTunnel();
  } else {
    // Written with the first body bytes of this read (one writev, one TLS
    // record), or by onUpstreamParsed() when the read ends before any.
    head_deferred_ = true;
  }
  // llhttp cannot know the request was HEAD, and it reads a body after a 304
  // that carries Content-Length; neither has one (RFC 9110 sections 9.3.2, 15.4.5).
  return response_framing_ == http::Framing::kNone ? http::Parser::kSkipBody
                                                   : http::Parser::kProceed;
}

void DownstreamSession::onUpstreamBody(const char* data, size_t length) noexcept {
  if (closing() || length == 0) return;
  if (response_framing_ == http::Framing::kChunked) {
    char hdr[24];
    size_t n = http::chunkHeader(length, hdr);
    uv_buf_t b[3] = {uv_buf_init(hdr, static_cast<unsigned>(n)),
                     uv_buf_init(const_cast<char*>(data), static_cast<unsigned>(length)),
                     constBuf(http::kChunkTrailer)};
    writeClient(b, 3);
  } else {
    uv_buf_t b = uv_buf_init(const_cast<char*>(data), static_cast<unsigned>(length));
    writeClient(&b, 1);
  }
}

void DownstreamSession::onUpstreamComplete(bool reusable) noexcept {
  if (closing()) return;
  if (response_framing_ == http::Framing::kChunked) {
    uv_buf_t b = constBuf(http::kLastChunk);
    if (!writeClient(&b, 1)) return;
  } else if (head_deferred_ && !writeClient(nullptr, 0)) {
    return;
  }
  releaseUpstream(reusable && request_done_ && !upgrade_request_);
  finishExchange();
}

void DownstreamSession::onUpstreamParsed() noexcept {
  if (head_deferred_ && !closing()) writeClient(nullptr, 0);
}

void DownstreamSession::onUpstreamFailed(UpstreamFailure failure) noexcept {
  upstream_ = nullptr; // the connection detached itself (or was abandoned)
  if (closing()) return;
  last_failure_ = failure;
  // A reused keep-alive connection the server had already closed says
  // nothing about the server; anything else counts against it.
  bool stale = lostReusedConnection(failure);
  if (!stale && !response_started_) reportServerFailure();
  if (response_started_) {
    abort({failure == UpstreamFailure::kTimeout ? 's' : 'S', 'D'});
    return;
  }
  if (retryable(failure)) {
    bool reused = upstream_reused_;
    if (!stale) countRetry();
    if (reused && server_ >= 0) {
      // A reused connection the server had closed: try the same server again,
      // on a fresh connection this time.
      tried_[static_cast<size_t>(server_)] = kEligible;
      force_fresh_ = true;
    }
    request_head_sent_ = false;
    connectUpstream();
    return;
  }
  switch (failure) {
  case UpstreamFailure::kTlsHandshake:
    failExchange(ErrorKind::kBadGateway, {'S', 'C'}, "upstream TLS handshake failed");
    break;
  case UpstreamFailure::kConnect:
    failExchange(ErrorKind::kBadGateway, {'S', 'C'}, "upstream refused the connection");
    break;
  case UpstreamFailure::kConnectTimeout:
    failExchange(ErrorKind::kGatewayTimeout, {'s', 'C'}, "upstream connect timed out");
    break;
  case UpstreamFailure::kTimeout:
    failExchange(ErrorKind::kGatewayTimeout, {'s', 'H'}, "upstream response timed out");
    break;
  case UpstreamFailure::kBadResponse:
    failExchange(ErrorKind::kBadGateway, {'S', 'H'}, "upstream sent an invalid response");
    break;
  default:
    failExchange(ErrorKind::kBadGateway, {'S', 'H'}, "upstream closed the connection");
    break;
  }
}

void DownstreamSession::reportServerFailure() {
  if (server_ < 0) return;
  auto s = static_cast<size_t>(server_);
  HealthBoard& health = gen_->health();
  if (!health.reportFailure(pool_, s, worker_.nowMs())) return;
  const config::Pool& pool = snapshot_->pools[pool_];
  fprintf(stderr,
          "switchyard: outlier: pool=%s server=%s ejected for %llus after %u consecutive "
          "failures\n",
          pool.name.c_str(), pool.servers[s].name.c_str(),
          static_cast<unsigned long long>(health.ejectionMs(pool_, s) / 1000),
          pool.outlier.consecutive_failures);
}

void DownstreamSession::failExchange(ErrorKind kind, Termination term, const char* text) {
  respondLocal(statusFor(kind), text, term, !request_done_);
}

void DownstreamSession::respondLocal(int status, std::string_view text, Termination term,
                                     bool close, std::string_view extra_fields) {
  if (response_started_) {
    abort(term);
    return;
  }
  releaseUpstream(false);
  record_.status = status;
  record_.head_ns = uv_hrtime();
  record_.term = term;
  close_after_ = close_after_ || close;
  out_.clear();
  http::serializeLocalResponse(status, text, close_after_ || draining_, head_request_, &out_,
                               extra_fields);
  response_started_ = true;
  uv_buf_t b = constBuf(out_);
  if (!writeClient(&b, 1)) return;
  finishExchange();
}

void DownstreamSession::releaseUpstream(bool reusable) noexcept {
  if (upstream_ == nullptr) return;
  UpstreamConnection* u = std::exchange(upstream_, nullptr);
  u->release(reusable);
}

void DownstreamSession::logExchange() {
  leavePool();
  if (record_.start_ns == 0) record_.start_ns = uv_hrtime();
  record_.end_ns = uv_hrtime();
  record_.client = client_;
  const uint64_t latency_us = (record_.end_ns - record_.start_ns) / 1000;
  TrafficStats& stats = gen_->stats();
  if (variant_ >= 0) {
    stats.recordVariant(worker_.id(), split_, static_cast<size_t>(variant_), record_.status,
                        latency_us);
  }
  const bool server_failed =
      record_.status >= 500 || record_.term.who == 'S' || record_.term.who == 's';
  stats.record(worker_.id(), route_, server_ >= 0 ? static_cast<int>(pool_) : -1, server_,
               record_.status, latency_us, server_failed);
  worker_.accessLog().log(record_);
}

void DownstreamSession::finishExchange() {
  logExchange();
  if (close_after_ || draining_) {
    flushAndClose();
    return;
  }
  startNextRequest();
}

void DownstreamSession::startNextRequest() {
  snapshot_.reset();
  route_ = -1;
  server_ = -1;
  request_framing_ = response_framing_ = http::Framing::kNone;
  request_head_sent_ = request_done_ = request_body_consumed_ = false;
  response_started_ = close_after_ = head_request_ = upgrade_request_ = false;
  head_deferred_ = body_timer_ = client_closes_ = false;
  upstream_reused_ = force_fresh_ = false;
  upstream_sent_ns_ = 0;
  attempts_ = retries_used_ = 0;
  variant_ = sticky_server_ = -1;
  set_sticky_cookie_ = has_hash_key_ = false;
  assigned_id_.clear();
  record_ = ExchangeRecord{};
  record_.cid = cid_;
  phase_ = Phase::kIdle;
  served_any_ = true;
  armClientTimer(gen_->snapshot().timeouts.client_idle);
  parser_paused_ = false;
  parser_.resume();
  feedPending(); // a pipelined request may be waiting
  if (closing()) return;
  if (phase_ == Phase::kIdle) giveBuffers();
  updateReading();
}

void DownstreamSession::enterTunnel() {
  phase_ = Phase::kTunnel;
  // An idle tunnel ends after client_idle without a byte either way.
  uint64_t idle = gen_->snapshot().timeouts.client_idle;
  timer_.arm(idle);
  if (upstream_ != nullptr) upstream_->startTunnel();
  if (!pending_.empty() && upstream_ != nullptr) {
    uv_buf_t b = uv_buf_init(pending_.data(), static_cast<unsigned>(pending_.size()));
    record_.bytes_in += pending_.size();
    bool ok = upstream_->send(&b, 1);
    pending_.clear();
    if (!ok) {
      abort({'S', 'T'});
      return;
    }
  }
  pending_.shrink_to_fit();
  updateReading();
}

void DownstreamSession::onUpstreamTunnel(const char* data, size_t length) noexcept {
  if (closing()) return;
  if (timer_.armed()) timer_.rearm();
  uv_buf_t b = uv_buf_init(const_cast<char*>(data), static_cast<unsigned>(length));
  writeClient(&b, 1);
}

void DownstreamSession::onUpstreamTunnelEnd() noexcept {
  if (closing()) return;
  releaseUpstream(false);
  record_.term = {'-', '-'};
  logExchange();
  flushAndClose();
}

void DownstreamSession::onTimer(void* owner) {
  auto* self = static_cast<DownstreamSession*>(owner);
  switch (self->phase_) {
  case Phase::kHead: self->respondLocal(408, "request header timeout", {'c', 'R'}, true); break;
  case Phase::kExchange: self->respondLocal(408, "request body timeout", {'c', 'D'}, true); break;
  case Phase::kTunnel: self->abort({'c', 'T'}); break;
  case Phase::kDispatch:
    if (self->queued_) {
      self->leaveQueue();
      self->respondLocal(503, "timed out waiting for a server slot", {'s', 'Q'},
                         !self->request_done_);
    } else {
      self->close();
    }
    break;
  default: // idle keep-alive or lingering close
    self->close();
    break;
  }
}

void DownstreamSession::flushAndClose() noexcept {
  if (closing() || phase_ == Phase::kFlushing) return;
  releaseUpstream(false);
  phase_ = Phase::kFlushing;
  updateReading();
  if (tls_) { // close_notify goes out before our FIN
    tls_->shutdown();
    bool queued = false;
    flushTls(&queued);
  }
  if (client_closes_ && request_done_ && pending_.empty() &&
      uv_stream_get_write_queue_size(tcp_.stream()) == 0) {
    // The client asked to close, sent nothing after its request and has the
    // whole response in the kernel's hands: close() sends it and our FIN,
    // and no unread byte can turn that into a reset (as nginx's
    // lingering_close "on" does). Saves five syscalls per connection.
    close();
    return;
  }
  // Lingering close: send our FIN once the writes are out, then read and
  // discard what the client still sends, so that a reset does not destroy
  // the response in flight (RFC 9112 section 9.6).
  auto* req = new uv_shutdown_t{};
  int rc = uv_shutdown(req, tcp_.stream(), [](uv_shutdown_t* r, int status) {
    uv_stream_t* s = r->handle;
    delete r;
    auto* self = s != nullptr ? static_cast<DownstreamSession*>(s->data) : nullptr;
    if (self == nullptr) return;
    if (status != 0) {
      self->close();
      return;
    }
    self->drop_client_bytes_ = true;
    self->updateReading();
    self->armClientTimer(kLingerMs);
  });
  if (rc != 0) {
    delete req;
    close();
    return;
  }
  // A client that stops reading must not hold the connection forever.
  armClientTimer(gen_->snapshot().timeouts.client_idle);
}

void DownstreamSession::abort(Termination term) noexcept {
  if (closing()) return;
  record_.term = term;
  if (phase_ != Phase::kIdle && phase_ != Phase::kFlushing) logExchange();
  close();
}

void DownstreamSession::stopNow() noexcept {
  switch (phase_) {
  case Phase::kHead: abort({'D', 'R'}); break;
  case Phase::kDispatch: abort({'D', 'C'}); break;
  case Phase::kExchange: abort({'D', response_started_ ? 'D' : 'H'}); break;
  case Phase::kTunnel: abort({'D', 'T'}); break;
  default: close(); break;
  }
}

void DownstreamSession::drain() noexcept {
  draining_ = true;
  // An idle keep-alive connection closes now: a request that crosses our
  // close is one a client may retry (RFC 9112 §9.3.1). A new connection that
  // has not sent its first request yet was accepted to be served: its request
  // still gets an answer (with Connection: close) if it comes within
  // client_header (the timer armed at accept), so a drain loses none.
  if (phase_ == Phase::kIdle && served_any_) close();
}

void DownstreamSession::close() noexcept {
  if (closing()) return;
  phase_ = Phase::kClosed;
  admission_.reset(); // the listener place frees now, not when the session is reaped
  leavePool();
  if (upstream_ != nullptr) std::exchange(upstream_, nullptr)->abandon();
  tcp_.close();
  timer_.close();
  snapshot_.reset();
  worker_.forget(this);
  worker_.reap(this);
}

} // namespace proxy
