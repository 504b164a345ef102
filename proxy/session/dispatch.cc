// From a complete request head to a server: validation the router depends
// on, routing (pure, in routing/), server choice and the upstream request
// head. Part of DownstreamSession (see downstream.h).
#include <llhttp.h>

#include <algorithm>
#include <cstdio>

#include "proxy/http/request_target.h"
#include "proxy/session/downstream.h"

namespace proxy {

namespace {

bool isIdempotent(uint8_t method) {
  switch (method) {
  case HTTP_GET:
  case HTTP_HEAD:
  case HTTP_OPTIONS:
  case HTTP_TRACE:
  case HTTP_PUT:
  case HTTP_DELETE: return true;
  default: return false;
  }
}

} // namespace

// A reload since this connection's last request: the connection moves to
// the new generation when its listener is still there (same name, address
// and kind); otherwise it stays on its own and closes after this exchange.
void DownstreamSession::followGeneration() noexcept {
  const std::shared_ptr<WorkerGeneration>& now = worker_.generation();
  if (gen_ == now || listener_gone_) return;
  const config::Listener& mine = gen_->snapshot().listeners[listener_];
  const std::vector<config::Listener>& next = now->snapshot().listeners;
  for (size_t i = 0; i < next.size(); ++i) {
    if (next[i].name == mine.name && next[i].address.text == mine.address.text &&
        (next[i].tls != nullptr) == (tls_ != nullptr)) {
      gen_ = now;
      listener_ = i;
      return;
    }
  }
  listener_gone_ = true;
}

void DownstreamSession::generationChanged() noexcept {
  if (closing() || phase_ != Phase::kIdle || (ex_ && !ex_->pending.empty())) return;
  followGeneration();
  if (listener_gone_) close(); // idle on a listener the new config removed
}

bool DownstreamSession::prepareRequest(http::MessageHead& head) {
  followGeneration();
  ex_->snapshot = gen_->snapshotPtr();
  ex_->record.method = llhttp_method_name(static_cast<llhttp_method_t>(head.method));
  ex_->record.uri = head.target();
  ex_->record.version_major = head.version_major;
  ex_->record.version_minor = head.version_minor;
  ex_->record.listener = ex_->snapshot->listeners[listener_].name;
  ex_->head_request = head.method == HTTP_HEAD;
  ex_->upgrade_request = head.upgrade;
  ex_->client_closes = !head.keep_alive;
  ex_->close_after = ex_->client_closes || listener_gone_;
  if (const char* why = http::prepareRequestTarget(head, &ex_->request)) {
    ex_->parser.fail(ErrorKind::kBadRequest, why);
    return false;
  }
  const config::Limits& limits = ex_->snapshot->limits;
  if (head.has_content_length && limits.max_body_bytes != 0 &&
      head.content_length > limits.max_body_bytes) {
    ex_->parser.fail(ErrorKind::kPayloadTooLarge, "request body too large");
    return false;
  }
  ex_->request_framing = ex_->request.framing;
  routeRequest(head, ex_->request.path, ex_->request.query);
  return true;
}

void DownstreamSession::routeRequest(const http::MessageHead& head, std::string_view path,
                                     std::string_view query) {
  ex_->header_views.clear();
  for (size_t i = 0; i < head.fieldCount(); ++i)
    ex_->header_views.push_back({head.name(i), head.value(i)});
  routing::RequestView view{ex_->record.method, path, query, ex_->request.host, ex_->header_views};
  view.client = clientAddress();
  ex_->route = ex_->snapshot->routes->match(view, worker_.matchScratch());
  if (ex_->route < 0) return;
  ex_->record.route = ex_->snapshot->routes->route(static_cast<size_t>(ex_->route)).name;
  resolveAction(head, path);
}

void DownstreamSession::dispatch() {
  if (ex_->route < 0) {
    respondLocal(404, "no route matches this request", {'P', 'R'}, !ex_->request_done);
    return;
  }
  const config::RouteAction& action = ex_->snapshot->actions[static_cast<size_t>(ex_->route)];
  if (action.kind == config::RouteAction::Kind::kRedirect) {
    respondRedirect(action);
    return;
  }
  ex_->tried.assign(ex_->snapshot->pools[ex_->pool].servers.size(), kEligible);
  ex_->attempts = 0;
  // Servers that are down (active checks) or ejected (outliers) are never
  // picked; when that leaves none, answer at once rather than hang or queue.
  if (gen_->health().exclude(ex_->pool, worker_.nowMs(), ex_->tried) == 0) {
    respondUnavailable();
    return;
  }
  gen_->upstreams().pool(ex_->pool).in_flight++;
  ex_->in_pool_count = true;
  connectUpstream();
}

void DownstreamSession::respondUnavailable() {
  const config::Pool& pool = ex_->snapshot->pools[ex_->pool];
  // When a server may be back: one rise of checks, or one ejection period.
  uint64_t ms =
      pool.health.enabled ? pool.health.interval_ms * pool.health.rise : pool.outlier.eject_ms;
  char retry_after[48];
  snprintf(retry_after, sizeof retry_after, "Retry-After: %llu\r\n",
           static_cast<unsigned long long>(std::max<uint64_t>(1, (ms + 999) / 1000)));
  respondLocal(503, "no server available: every server of the pool is down", {'U', 'C'},
               !ex_->request_done, retry_after);
}

// Waits in the pool's queue (max_pending) for a slot: false when there is no
// queue or it is full. A waiter already queued goes back to the end of this
// worker's list, keeping its place in the count and its deadline.
bool DownstreamSession::waitForSlot() {
  const config::Pool& pool = ex_->snapshot->pools[ex_->pool];
  if (!ex_->queued) {
    if (pool.max_pending == 0 || !gen_->health().enqueue(ex_->pool)) return false;
    ex_->queued = true;
    armClientTimer(pool.queue_timeout_ms);
  }
  worker_.addWaiter(*gen_, ex_->pool, this);
  return true;
}

void DownstreamSession::leaveQueue() noexcept {
  if (!ex_->queued) return;
  ex_->queued = false;
  gen_->health().dequeue(ex_->pool);
  worker_.removeWaiter(*gen_, ex_->pool, this);
  timer_.disarm();
}

void DownstreamSession::retryQueued() noexcept {
  if (closing() || !ex_->queued) return;
  for (uint8_t& t : ex_->tried) {
    if (t == kFull) t = kEligible; // full last time: may have room now
  }
  connectUpstream();
}

void DownstreamSession::releaseSlot() noexcept {
  if (ex_->slot < 0) return;
  gen_->health().release(ex_->pool, static_cast<size_t>(std::exchange(ex_->slot, -1)));
  worker_.slotFreed(*gen_, ex_->pool);
}

bool DownstreamSession::lostReusedConnection(UpstreamFailure failure) const noexcept {
  return ex_->upstream_reused &&
         (failure == UpstreamFailure::kClosedEarly || failure == UpstreamFailure::kWrite);
}

bool DownstreamSession::retryable(UpstreamFailure failure) const noexcept {
  const config::Retries& policy = ex_->snapshot->pools[ex_->pool].retries;
  switch (failure) {
  case UpstreamFailure::kConnect:
  case UpstreamFailure::kConnectTimeout:
  case UpstreamFailure::kTlsHandshake:
    // Nothing reached the server: any request may go elsewhere.
    if (ex_->request_head_sent || !policy.on_connect_failure) return false;
    break;
  case UpstreamFailure::kClosedEarly:
  case UpstreamFailure::kWrite:
    // The request may have reached the server; repeat it only when no body
    // byte was consumed (it can be sent again) and it is safe to repeat.
    if (ex_->request_body_consumed || ex_->upgrade_request) return false;
    // A reused keep-alive connection the server had closed (the race every
    // keep-alive client has): always resent, on a fresh connection, and not
    // counted as a retry.
    if (lostReusedConnection(failure) && ex_->request_done) return true;
    if (!policy.on_reset_before_response || !isIdempotent(ex_->parser.head().method)) return false;
    break;
  default: return false;
  }
  return retryBudgetAllows();
}

// Envoy's retry budget: retries in flight at most budget% of the pool's
// requests in flight (per worker), but always at least a few, so that a
// quiet pool can still retry; and never more than `attempts` per request.
bool DownstreamSession::retryBudgetAllows() const noexcept {
  constexpr uint32_t kMinRetryConcurrency = 3;
  const config::Retries& policy = ex_->snapshot->pools[ex_->pool].retries;
  if (ex_->retries_used >= policy.attempts) return false;
  if (ex_->retries_used > 0) return true; // this request already holds a budget slot
  const PoolState& state = gen_->upstreams().pool(ex_->pool);
  uint64_t budget = static_cast<uint64_t>(state.in_flight) * policy.budget_percent / 100;
  return state.retrying < std::max<uint64_t>(kMinRetryConcurrency, budget);
}

void DownstreamSession::countRetry() noexcept {
  gen_->stats().worker(worker_.id()).retries.add();
  if (ex_->retries_used++ == 0) gen_->upstreams().pool(ex_->pool).retrying++;
}

void DownstreamSession::leavePool() noexcept {
  leaveQueue();
  releaseSlot();
  if (!ex_->in_pool_count) return;
  ex_->in_pool_count = false;
  PoolState& state = gen_->upstreams().pool(ex_->pool);
  state.in_flight--;
  if (ex_->retries_used > 0) state.retrying--;
}

void DownstreamSession::connectUpstream() {
  phase_ = Phase::kDispatch;
  updateReading();
  releaseSlot(); // a retry: the slot of the server that failed is free again
  const config::Pool& pool = ex_->snapshot->pools[ex_->pool];
  PoolState& state = gen_->upstreams().pool(ex_->pool);
  bool saw_full = false;
  while (ex_->upstream == nullptr) {
    int s = -1;
    bool sticky =
        ex_->sticky_server >= 0 && ex_->tried[static_cast<size_t>(ex_->sticky_server)] == kEligible;
    if (sticky) {
      s = ex_->sticky_server; // a valid sticky cookie names it and it has not failed
    } else {
      // Slow start: servers back from down or ejected get part of their weight.
      std::span<const uint16_t> ramp;
      if (gen_->health().ramp(ex_->pool, worker_.nowMs(), state.ramp)) ramp = state.ramp;
      // Weights the operator set at run time (admin API).
      std::span<const uint32_t> weights;
      if (gen_->health().weights(ex_->pool, state.configured_weights, state.weights))
        weights = state.weights;
      s = state.balancer->pick(
          {ex_->tried, state.active, ex_->has_hash_key, ex_->hash_key, ramp, weights});
    }
    if (s >= 0 && !gen_->health().acquire(ex_->pool, static_cast<size_t>(s))) {
      // The server is at max_connections. A sticky user waits for its own
      // server (HAProxy's habit: the session lives there) when the queue has
      // room; anyone else tries the other servers first.
      if (sticky && waitForSlot()) return;
      ex_->tried[static_cast<size_t>(s)] = kFull;
      saw_full = true;
      continue;
    }
    if (s < 0 && saw_full) {
      if (!waitForSlot())
        respondLocal(503, "every server is at max_connections", {'U', 'Q'}, !ex_->request_done);
      return;
    }
    if (s < 0) {
      if (ex_->attempts == 0) {
        failExchange(ErrorKind::kUnavailable, {'S', 'C'}, "no server available");
      } else if (ex_->last_failure == UpstreamFailure::kConnectTimeout) {
        failExchange(ErrorKind::kGatewayTimeout, {'s', 'C'}, "upstream connect timed out");
      } else if (ex_->last_failure == UpstreamFailure::kTlsHandshake) {
        failExchange(ErrorKind::kBadGateway, {'S', 'C'}, "upstream TLS handshake failed");
      } else {
        failExchange(ErrorKind::kBadGateway, {'S', 'C'}, "upstream refused the connection");
      }
      return;
    }
    auto si = static_cast<size_t>(s);
    ex_->slot = s;
    leaveQueue();
    ex_->tried[si] = kTried;
    if (ex_->attempts++ > 0) ex_->record.retries++;
    ex_->server = s;
    ex_->record.server = pool.servers[si].name;
    ex_->record.upstream = pool.servers[si].address.text;
    if (!ex_->force_fresh) {
      ex_->upstream = UpstreamConnection::takeIdle(worker_, gen_, ex_->pool, si, this);
      if (ex_->upstream != nullptr) {
        ex_->upstream_reused = true;
        sendRequestHead();
        return;
      }
    }
    ex_->upstream_reused = false;
    ex_->upstream = UpstreamConnection::connect(worker_, gen_, ex_->pool, si, this);
    if (ex_->upstream == nullptr) ex_->last_failure = UpstreamFailure::kConnect;
  }
  // Connecting: onUpstreamReady or onUpstreamFailed follows.
}

void DownstreamSession::onUpstreamReady() noexcept {
  if (closing()) return;
  sendRequestHead();
}

void DownstreamSession::sendRequestHead() {
  ex_->upstream_sent_ns = uv_hrtime();
  const http::MessageHead& head = ex_->parser.head();
  http::UpstreamRequest info;
  info.method = ex_->record.method;
  info.target = ex_->request.target;
  info.host = ex_->request.forward_host;
  info.client_ip = ex_->client_ip;
  info.proto = tls_ ? "https" : "http";
  info.framing = ex_->request_framing;
  info.upgrade = ex_->upgrade_request;
  const config::Pool& pool = ex_->snapshot->pools[ex_->pool];
  if (pool.sticky.enabled) info.strip_cookie = pool.sticky.cookie;
  if (ex_->variant >= 0) info.variant = ex_->record.variant;
  std::string identity; // mTLS: who the verified client is (rare: a small allocation is fine)
  const config::Listener& listener = ex_->snapshot->listeners[listener_];
  info.drop_fields[0] = listener.mtls_subject_header;
  info.drop_fields[1] = listener.mtls_fingerprint_header;
  if (tls_ && !listener.mtls_subject_header.empty()) {
    std::string subject = tls_->peerSubject();
    if (!subject.empty()) identity += listener.mtls_subject_header + ": " + subject + "\r\n";
  }
  if (tls_ && !listener.mtls_fingerprint_header.empty()) {
    std::string fingerprint = tls_->peerFingerprint();
    if (!fingerprint.empty()) {
      identity += listener.mtls_fingerprint_header + ": " + fingerprint + "\r\n";
    }
  }
  info.extra_fields = identity;
  ex_->out.clear();
  http::serializeRequest(head, info, &ex_->out);
  uv_buf_t b = uv_buf_init(ex_->out.data(), static_cast<unsigned>(ex_->out.size()));
  phase_ = Phase::kExchange;
  ex_->request_head_sent = true;
  if (!ex_->upstream->send(&b, 1)) {
    UpstreamConnection* u = std::exchange(ex_->upstream, nullptr);
    u->abandon();
    onUpstreamFailed(UpstreamFailure::kWrite);
    return;
  }
  if (ex_->request_done) {
    ex_->upstream->armResponseTimer(ex_->snapshot->timeouts.upstream_response);
    updateReading(); // notice a client that goes away while we wait
    return;
  }
  // Stream the body: first what already arrived, then from the socket.
  ex_->parser_paused = false;
  ex_->parser.resume();
  feedPending();
  if (closing()) return;
  updateReading();
}

// Route action `redirect`: the same host and target under another scheme
// and/or port (typically http -> https), answered by the proxy itself.
void DownstreamSession::respondRedirect(const config::RouteAction& action) {
  std::string fields = "Location: " + action.redirect_scheme + "://";
  std::string_view host = ex_->request.forward_host;
  if (!host.empty() && host.front() == '[') {
    host = host.substr(0, host.find(']') + 1);
  } else {
    host = host.substr(0, host.rfind(':'));
  }
  fields.append(host.empty() ? std::string_view(ex_->request.host) : host);
  if (action.redirect_port != 0) fields.append(":" + std::to_string(action.redirect_port));
  fields.append(ex_->request.target == "*" ? "/" : ex_->request.target);
  fields.append("\r\n");
  respondLocal(action.redirect_status, "redirecting", {'L', 'R'}, !ex_->request_done, fields);
}

} // namespace proxy
