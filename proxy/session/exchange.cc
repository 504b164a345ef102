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
  bool client10 = ex_->parser.head().version_major == 1 && ex_->parser.head().version_minor == 0;
  if (head.status >= 100 && head.status < 200 && head.status != 101) {
    // RFC 9110 section 15.2: forward 1xx, except to an HTTP/1.0 client.
    if (client10) return http::Parser::kProceed;
    ex_->out.clear();
    http::serializeResponse(head, http::DownstreamResponse{}, &ex_->out);
    uv_buf_t b = constBuf(ex_->out);
    writeClient(&b, 1);
    return closing() ? http::Parser::kFail : http::Parser::kProceed;
  }
  if (head.status == 101 && !ex_->upgrade_request) return http::Parser::kFail; // -> 502
  if (head.status >= 500) {
    reportServerFailure();
    // retries.on: [503]: the server said it did not take the request. Safe to
    // resend while no body byte was consumed; on another server.
    if (head.status == 503 && ex_->snapshot->pools[ex_->pool].retries.on_503 &&
        !ex_->request_body_consumed && !ex_->upgrade_request && retryBudgetAllows()) {
      std::exchange(ex_->upstream, nullptr)->abandon(); // closes once this callback returns
      countRetry();
      ex_->request_head_sent = false;
      connectUpstream();
      return http::Parser::kFail;
    }
  } else {
    gen_->health().reportSuccess(ex_->pool, static_cast<size_t>(ex_->server));
  }
  ex_->record.status = head.status;
  ex_->record.head_ns = uv_hrtime();
  if (ex_->upstream_sent_ns != 0 && ex_->record.head_ns > ex_->upstream_sent_ns) {
    gen_->stats()
        .worker(worker_.id())
        .pools[ex_->pool]
        .response.add((ex_->record.head_ns - ex_->upstream_sent_ns) / 1000);
  }
  // From here on the upstream may pause between body bytes, each time at most upstream_idle.
  if (head.status != 101 && ex_->upstream != nullptr)
    ex_->upstream->armResponseTimer(ex_->snapshot->timeouts.upstream_idle);
  http::DownstreamResponse info;
  if (head.status == 101) {
    info.upgrade = true;
    ex_->response_framing = http::Framing::kNone;
  } else if (ex_->head_request || head.status == 204 || head.status == 304) {
    ex_->response_framing = http::Framing::kNone;
    info.keep_length = ex_->head_request || head.status == 304;
  } else if (head.has_content_length) {
    ex_->response_framing = http::Framing::kContentLength;
  } else {
    // Chunked or close-delimited upstream: re-chunk for HTTP/1.1 clients so
    // the client connection survives; HTTP/1.0 clients get close-delimited.
    ex_->response_framing = client10 ? http::Framing::kClose : http::Framing::kChunked;
  }
  // The client connection cannot carry another request when: it asked to
  // close, we drain, the request is still arriving (an early response), the
  // body is close-delimited, or an upgrade was refused (the parser is spent).
  ex_->close_after = ex_->close_after || draining_ || !ex_->request_done ||
                     ex_->response_framing == http::Framing::kClose ||
                     (ex_->upgrade_request && head.status != 101);
  info.framing = ex_->response_framing;
  info.close = ex_->close_after;
  ex_->extra_fields.clear();
  appendSetCookies(&ex_->extra_fields);
  uint64_t hsts = ex_->snapshot->listeners[listener_].hsts_max_age;
  if (tls_ && hsts > 0 && head.find("strict-transport-security") < 0) {
    ex_->extra_fields.append("Strict-Transport-Security: max-age=" + std::to_string(hsts) + "\r\n");
  }
  info.extra = ex_->extra_fields;
  info.keep_alive_10 = client10 && !ex_->close_after;
  ex_->out.clear();
  http::serializeResponse(head, info, &ex_->out);
  ex_->response_started = true;
  if (head.status == 101) {
    uv_buf_t b = constBuf(ex_->out);
    if (!writeClient(&b, 1)) return http::Parser::kFail;
    enterTunnel();
  } else {
    // Written with the first body bytes of this read (one writev, one TLS
    // record), or by onUpstreamParsed() when the read ends before any.
    ex_->head_deferred = true;
  }
  // llhttp cannot know the request was HEAD, and it reads a body after a 304
  // that carries Content-Length; neither has one (RFC 9110 sections 9.3.2, 15.4.5).
  return ex_->response_framing == http::Framing::kNone ? http::Parser::kSkipBody
                                                       : http::Parser::kProceed;
}

void DownstreamSession::onUpstreamBody(const char* data, size_t length) noexcept {
  if (closing() || length == 0) return;
  if (ex_->response_framing == http::Framing::kChunked) {
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

int DownstreamSession::spliceTarget() noexcept {
  // Plain text both ways (the upstream checks its side), the body passed on
  // as it is (Content-Length, not re-chunked), the head already written and
  // nothing queued before the spliced bytes.
  if (tls_ || closing() || !ex_ || phase_ != Phase::kExchange || !ex_->snapshot->splice ||
      ex_->response_framing != http::Framing::kContentLength || ex_->head_deferred ||
      uv_stream_get_write_queue_size(tcp_.stream()) != 0) {
    return -1;
  }
  uv_os_fd_t fd = -1;
  return uv_fileno(tcp_.handle(), &fd) == 0 ? fd : -1;
}

void DownstreamSession::onUpstreamSpliced(size_t length, int error) noexcept {
  if (closing()) return;
  ex_->record.bytes_out += length;
  gen_->stats().worker(worker_.id()).spliced_bytes.add(length);
  if (error != 0) abort({'C', 'D'});
}

void DownstreamSession::onUpstreamComplete(bool reusable) noexcept {
  if (closing()) return;
  if (ex_->response_framing == http::Framing::kChunked) {
    uv_buf_t b = constBuf(http::kLastChunk);
    if (!writeClient(&b, 1)) return;
  } else if (ex_->head_deferred && !writeClient(nullptr, 0)) {
    return;
  }
  releaseUpstream(reusable && ex_->request_done && !ex_->upgrade_request);
  finishExchange();
}

void DownstreamSession::onUpstreamParsed() noexcept {
  if (ex_ && ex_->head_deferred && !closing()) writeClient(nullptr, 0);
}

void DownstreamSession::onUpstreamFailed(UpstreamFailure failure) noexcept {
  ex_->upstream = nullptr; // the connection detached itself (or was abandoned)
  if (closing()) return;
  ex_->last_failure = failure;
  // A reused keep-alive connection the server had already closed says
  // nothing about the server; anything else counts against it.
  bool stale = lostReusedConnection(failure);
  if (!stale && !ex_->response_started) reportServerFailure();
  if (ex_->response_started) {
    abort({failure == UpstreamFailure::kTimeout ? 's' : 'S', 'D'});
    return;
  }
  if (retryable(failure)) {
    bool reused = ex_->upstream_reused;
    if (!stale) countRetry();
    if (reused && ex_->server >= 0) {
      // A reused connection the server had closed: try the same server again,
      // on a fresh connection this time.
      ex_->tried[static_cast<size_t>(ex_->server)] = kEligible;
      ex_->force_fresh = true;
    }
    ex_->request_head_sent = false;
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
  if (ex_->server < 0) return;
  auto s = static_cast<size_t>(ex_->server);
  HealthBoard& health = gen_->health();
  if (!health.reportFailure(ex_->pool, s, worker_.nowMs())) return;
  const config::Pool& pool = ex_->snapshot->pools[ex_->pool];
  fprintf(stderr,
          "switchyard: outlier: pool=%s server=%s ejected for %llus after %u consecutive "
          "failures\n",
          pool.name.c_str(), pool.servers[s].name.c_str(),
          static_cast<unsigned long long>(health.ejectionMs(ex_->pool, s) / 1000),
          pool.outlier.consecutive_failures);
}

void DownstreamSession::failExchange(ErrorKind kind, Termination term, const char* text) {
  respondLocal(statusFor(kind), text, term, !ex_->request_done);
}

void DownstreamSession::respondLocal(int status, std::string_view text, Termination term,
                                     bool close, std::string_view extra_fields) {
  if (ex_->response_started) {
    abort(term);
    return;
  }
  releaseUpstream(false);
  ex_->record.status = status;
  ex_->record.head_ns = uv_hrtime();
  ex_->record.term = term;
  ex_->close_after = ex_->close_after || close;
  ex_->out.clear();
  http::serializeLocalResponse(status, text, ex_->close_after || draining_, ex_->head_request,
                               &ex_->out, extra_fields);
  ex_->response_started = true;
  uv_buf_t b = constBuf(ex_->out);
  if (!writeClient(&b, 1)) return;
  finishExchange();
}

void DownstreamSession::releaseUpstream(bool reusable) noexcept {
  if (ex_->upstream == nullptr) return;
  UpstreamConnection* u = std::exchange(ex_->upstream, nullptr);
  u->release(reusable);
}

void DownstreamSession::logExchange() {
  leavePool();
  if (ex_->record.start_ns == 0) ex_->record.start_ns = uv_hrtime();
  ex_->record.end_ns = uv_hrtime();
  if (worker_.accessLog().enabled()) { // the record's client is read by the log only
    if (ex_->client[0] == '\0' && client_addr_known_) {
      snprintf(ex_->client, sizeof ex_->client, client_addr_.is_v4 ? "%s:%u" : "[%s]:%u",
               ex_->client_ip, static_cast<unsigned>(client_port_));
    }
    ex_->record.client = ex_->client;
  }
  const uint64_t latency_us = (ex_->record.end_ns - ex_->record.start_ns) / 1000;
  TrafficStats& stats = gen_->stats();
  if (ex_->variant >= 0) {
    stats.recordVariant(worker_.id(), ex_->split, static_cast<size_t>(ex_->variant),
                        ex_->record.status, latency_us);
  }
  const bool server_failed =
      ex_->record.status >= 500 || ex_->record.term.who == 'S' || ex_->record.term.who == 's';
  stats.record(worker_.id(), ex_->route, ex_->server >= 0 ? static_cast<int>(ex_->pool) : -1,
               ex_->server, ex_->record.status, latency_us, server_failed);
  worker_.accessLog().log(ex_->record);
}

void DownstreamSession::finishExchange() {
  logExchange();
  if (ex_->close_after || draining_) {
    flushAndClose();
    return;
  }
  startNextRequest();
}

void DownstreamSession::startNextRequest() {
  ex_->nextRequest(cid_);
  phase_ = Phase::kIdle;
  served_any_ = true;
  armClientTimer(gen_->snapshot().timeouts.client_idle);
  if (ex_->parser.executing()) {
    // Ended from inside a parser callback (a failure while the last body
    // bytes went up): the parser pauses at the end of that request, and
    // handleOutcome() calls parseNext() once execute() has returned.
    ex_->next_deferred = true;
    return;
  }
  parseNext();
}

void DownstreamSession::parseNext() {
  ex_->parser_paused = false;
  ex_->parser.resume();
  feedPending(); // a pipelined request may be waiting
  if (closing()) return;
  if (phase_ == Phase::kIdle) detachExchange();
  updateReading();
}

void DownstreamSession::enterTunnel() {
  phase_ = Phase::kTunnel;
  // An idle tunnel ends after client_idle without a byte either way.
  uint64_t idle = gen_->snapshot().timeouts.client_idle;
  timer_.arm(idle);
  if (ex_->upstream != nullptr) ex_->upstream->startTunnel();
  if (!ex_->pending.empty() && ex_->upstream != nullptr) {
    uv_buf_t b = uv_buf_init(ex_->pending.data(), static_cast<unsigned>(ex_->pending.size()));
    ex_->record.bytes_in += ex_->pending.size();
    bool ok = ex_->upstream->send(&b, 1);
    ex_->pending.clear();
    if (!ok) {
      abort({'S', 'T'});
      return;
    }
  }
  ex_->pending.shrink_to_fit();
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
  ex_->record.term = {'-', '-'};
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
    if (self->ex_->queued) {
      self->leaveQueue();
      self->respondLocal(503, "timed out waiting for a server slot", {'s', 'Q'},
                         !self->ex_->request_done);
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
  if (ex_->client_closes && ex_->request_done && ex_->pending.empty() &&
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
    DownstreamSession* self = s != nullptr ? fromStream(s) : nullptr;
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
  if (ex_) ex_->record.term = term; // idle: nothing to log
  if (phase_ != Phase::kIdle && phase_ != Phase::kFlushing) logExchange();
  close();
}

void DownstreamSession::stopNow() noexcept {
  switch (phase_) {
  case Phase::kHead: abort({'D', 'R'}); break;
  case Phase::kDispatch: abort({'D', 'C'}); break;
  case Phase::kExchange: abort({'D', ex_->response_started ? 'D' : 'H'}); break;
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
  if (ex_) {
    leavePool();
    if (ex_->upstream != nullptr) std::exchange(ex_->upstream, nullptr)->abandon();
    ex_->snapshot.reset();
  }
  tcp_.close();
  timer_.close();
  worker_.reap(this); // the exchange state goes back to the pool with the session
}

} // namespace proxy
