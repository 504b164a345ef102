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
  if (closing() || phase_ != Phase::kIdle || !pending_.empty()) return;
  followGeneration();
  if (listener_gone_) close(); // idle on a listener the new config removed
}

bool DownstreamSession::prepareRequest(http::MessageHead& head) {
  followGeneration();
  snapshot_ = gen_->snapshotPtr();
  record_.method = llhttp_method_name(static_cast<llhttp_method_t>(head.method));
  record_.uri = head.target();
  record_.version_major = head.version_major;
  record_.version_minor = head.version_minor;
  record_.listener = snapshot_->listeners[listener_].name;
  head_request_ = head.method == HTTP_HEAD;
  upgrade_request_ = head.upgrade;
  client_closes_ = !head.keep_alive;
  close_after_ = client_closes_ || listener_gone_;
  if (const char* why = http::prepareRequestTarget(head, &request_)) {
    parser_.fail(ErrorKind::kBadRequest, why);
    return false;
  }
  const config::Limits& limits = snapshot_->limits;
  if (head.has_content_length && limits.max_body_bytes != 0 &&
      head.content_length > limits.max_body_bytes) {
    parser_.fail(ErrorKind::kPayloadTooLarge, "request body too large");
    return false;
  }
  request_framing_ = request_.framing;
  routeRequest(head, request_.path, request_.query);
  return true;
}

void DownstreamSession::routeRequest(const http::MessageHead& head, std::string_view path,
                                     std::string_view query) {
  header_views_.clear();
  for (size_t i = 0; i < head.fieldCount(); ++i)
    header_views_.push_back({head.name(i), head.value(i)});
  routing::RequestView view{record_.method, path, query, request_.host, header_views_};
  view.client = clientAddress();
  route_ = snapshot_->routes->match(view, worker_.matchScratch());
  if (route_ < 0) return;
  record_.route = snapshot_->routes->route(static_cast<size_t>(route_)).name;
  resolveAction(head, path);
}

void DownstreamSession::dispatch() {
  if (route_ < 0) {
    respondLocal(404, "no route matches this request", {'P', 'R'}, !request_done_);
    return;
  }
  const config::RouteAction& action = snapshot_->actions[static_cast<size_t>(route_)];
  if (action.kind == config::RouteAction::Kind::kRedirect) {
    respondRedirect(action);
    return;
  }
  tried_.assign(snapshot_->pools[pool_].servers.size(), kEligible);
  attempts_ = 0;
  // Servers that are down (active checks) or ejected (outliers) are never
  // picked; when that leaves none, answer at once rather than hang or queue.
  if (gen_->health().exclude(pool_, worker_.nowMs(), tried_) == 0) {
    respondUnavailable();
    return;
  }
  gen_->upstreams().pool(pool_).in_flight++;
  in_pool_count_ = true;
  connectUpstream();
}

void DownstreamSession::respondUnavailable() {
  const config::Pool& pool = snapshot_->pools[pool_];
  // When a server may be back: one rise of checks, or one ejection period.
  uint64_t ms =
      pool.health.enabled ? pool.health.interval_ms * pool.health.rise : pool.outlier.eject_ms;
  char retry_after[48];
  snprintf(retry_after, sizeof retry_after, "Retry-After: %llu\r\n",
           static_cast<unsigned long long>(std::max<uint64_t>(1, (ms + 999) / 1000)));
  respondLocal(503, "no server available: every server of the pool is down", {'U', 'C'},
               !request_done_, retry_after);
}

// Waits in the pool's queue (max_pending) for a slot: false when there is no
// queue or it is full. A waiter already queued goes back to the end of this
// worker's list, keeping its place in the count and its deadline.
bool DownstreamSession::waitForSlot() {
  const config::Pool& pool = snapshot_->pools[pool_];
  if (!queued_) {
    if (pool.max_pending == 0 || !gen_->health().enqueue(pool_)) return false;
    queued_ = true;
    armClientTimer(pool.queue_timeout_ms);
  }
  worker_.addWaiter(*gen_, pool_, this);
  return true;
}

void DownstreamSession::leaveQueue() noexcept {
  if (!queued_) return;
  queued_ = false;
  gen_->health().dequeue(pool_);
  worker_.removeWaiter(*gen_, pool_, this);
  timer_.disarm();
}

void DownstreamSession::retryQueued() noexcept {
  if (closing() || !queued_) return;
  for (uint8_t& t : tried_) {
    if (t == kFull) t = kEligible; // full last time: may have room now
  }
  connectUpstream();
}

void DownstreamSession::releaseSlot() noexcept {
  if (slot_ < 0) return;
  gen_->health().release(pool_, static_cast<size_t>(std::exchange(slot_, -1)));
  worker_.slotFreed(*gen_, pool_);
}

bool DownstreamSession::lostReusedConnection(UpstreamFailure failure) const noexcept {
  return upstream_reused_ &&
         (failure == UpstreamFailure::kClosedEarly || failure == UpstreamFailure::kWrite);
}

bool DownstreamSession::retryable(UpstreamFailure failure) const noexcept {
  const config::Retries& policy = snapshot_->pools[pool_].retries;
  switch (failure) {
  case UpstreamFailure::kConnect:
  case UpstreamFailure::kConnectTimeout:
  case UpstreamFailure::kTlsHandshake:
    // Nothing reached the server: any request may go elsewhere.
    if (request_head_sent_ || !policy.on_connect_failure) return false;
    break;
  case UpstreamFailure::kClosedEarly:
  case UpstreamFailure::kWrite:
    // The request may have reached the server; repeat it only when no body
    // byte was consumed (it can be sent again) and it is safe to repeat.
    if (request_body_consumed_ || upgrade_request_) return false;
    // A reused keep-alive connection the server had closed (the race every
    // keep-alive client has): always resent, on a fresh connection, and not
    // counted as a retry.
    if (lostReusedConnection(failure) && request_done_) return true;
    if (!policy.on_reset_before_response || !isIdempotent(parser_.head().method)) return false;
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
  const config::Retries& policy = snapshot_->pools[pool_].retries;
  if (retries_used_ >= policy.attempts) return false;
  if (retries_used_ > 0) return true; // this request already holds a budget slot
  const PoolState& state = gen_->upstreams().pool(pool_);
  uint64_t budget = static_cast<uint64_t>(state.in_flight) * policy.budget_percent / 100;
  return state.retrying < std::max<uint64_t>(kMinRetryConcurrency, budget);
}

void DownstreamSession::countRetry() noexcept {
  gen_->stats().worker(worker_.id()).retries.add();
  if (retries_used_++ == 0) gen_->upstreams().pool(pool_).retrying++;
}

void DownstreamSession::leavePool() noexcept {
  leaveQueue();
  releaseSlot();
  if (!in_pool_count_) return;
  in_pool_count_ = false;
  PoolState& state = gen_->upstreams().pool(pool_);
  state.in_flight--;
  if (retries_used_ > 0) state.retrying--;
}

void DownstreamSession::connectUpstream() {
  phase_ = Phase::kDispatch;
  updateReading();
  releaseSlot(); // a retry: the slot of the server that failed is free again
  const config::Pool& pool = snapshot_->pools[pool_];
  PoolState& state = gen_->upstreams().pool(pool_);
  bool saw_full = false;
  while (upstream_ == nullptr) {
    int s = -1;
    bool sticky = sticky_server_ >= 0 && tried_[static_cast<size_t>(sticky_server_)] == kEligible;
    if (sticky) {
      s = sticky_server_; // a valid sticky cookie names it and it has not failed
    } else {
      // Slow start: servers back from down or ejected get part of their weight.
      std::span<const uint16_t> ramp;
      if (gen_->health().ramp(pool_, worker_.nowMs(), state.ramp)) ramp = state.ramp;
      // Weights the operator set at run time (admin API).
      std::span<const uint32_t> weights;
      if (gen_->health().weights(pool_, state.configured_weights, state.weights))
        weights = state.weights;
      s = state.balancer->pick({tried_, state.active, has_hash_key_, hash_key_, ramp, weights});
    }
    if (s >= 0 && !gen_->health().acquire(pool_, static_cast<size_t>(s))) {
      // The server is at max_connections. A sticky user waits for its own
      // server (HAProxy's habit: the session lives there) when the queue has
      // room; anyone else tries the other servers first.
      if (sticky && waitForSlot()) return;
      tried_[static_cast<size_t>(s)] = kFull;
      saw_full = true;
      continue;
    }
    if (s < 0 && saw_full) {
      if (!waitForSlot())
        respondLocal(503, "every server is at max_connections", {'U', 'Q'}, !request_done_);
      return;
    }
    if (s < 0) {
      if (attempts_ == 0) {
        failExchange(ErrorKind::kUnavailable, {'S', 'C'}, "no server available");
      } else if (last_failure_ == UpstreamFailure::kConnectTimeout) {
        failExchange(ErrorKind::kGatewayTimeout, {'s', 'C'}, "upstream connect timed out");
      } else if (last_failure_ == UpstreamFailure::kTlsHandshake) {
        failExchange(ErrorKind::kBadGateway, {'S', 'C'}, "upstream TLS handshake failed");
      } else {
        failExchange(ErrorKind::kBadGateway, {'S', 'C'}, "upstream refused the connection");
      }
      return;
    }
    auto si = static_cast<size_t>(s);
    slot_ = s;
    leaveQueue();
    tried_[si] = kTried;
    if (attempts_++ > 0) record_.retries++;
    server_ = s;
    record_.server = pool.servers[si].name;
    record_.upstream = pool.servers[si].address.text;
    if (!force_fresh_) {
      upstream_ = UpstreamConnection::takeIdle(worker_, gen_, pool_, si, this);
      if (upstream_ != nullptr) {
        upstream_reused_ = true;
        sendRequestHead();
        return;
      }
    }
    upstream_reused_ = false;
    upstream_ = UpstreamConnection::connect(worker_, gen_, pool_, si, this);
    if (upstream_ == nullptr) last_failure_ = UpstreamFailure::kConnect;
  }
  // Connecting: onUpstreamReady or onUpstreamFailed follows.
}

void DownstreamSession::onUpstreamReady() noexcept {
  if (closing()) return;
  sendRequestHead();
}

void DownstreamSession::sendRequestHead() {
  upstream_sent_ns_ = uv_hrtime();
  const http::MessageHead& head = parser_.head();
  http::UpstreamRequest info;
  info.method = record_.method;
  info.target = request_.target;
  info.host = request_.forward_host;
  info.client_ip = client_ip_;
  info.proto = tls_ ? "https" : "http";
  info.framing = request_framing_;
  info.upgrade = upgrade_request_;
  const config::Pool& pool = snapshot_->pools[pool_];
  if (pool.sticky.enabled) info.strip_cookie = pool.sticky.cookie;
  if (variant_ >= 0) info.variant = record_.variant;
  std::string identity; // mTLS: who the verified client is (rare: a small allocation is fine)
  const config::Listener& listener = snapshot_->listeners[listener_];
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
  out_.clear();
  http::serializeRequest(head, info, &out_);
  uv_buf_t b = uv_buf_init(out_.data(), static_cast<unsigned>(out_.size()));
  phase_ = Phase::kExchange;
  request_head_sent_ = true;
  if (!upstream_->send(&b, 1)) {
    UpstreamConnection* u = std::exchange(upstream_, nullptr);
    u->abandon();
    onUpstreamFailed(UpstreamFailure::kWrite);
    return;
  }
  if (request_done_) {
    upstream_->armResponseTimer(snapshot_->timeouts.upstream_response);
    updateReading(); // notice a client that goes away while we wait
    return;
  }
  // Stream the body: first what already arrived, then from the socket.
  parser_paused_ = false;
  parser_.resume();
  feedPending();
  if (closing()) return;
  updateReading();
}

// Route action `redirect`: the same host and target under another scheme
// and/or port (typically http -> https), answered by the proxy itself.
void DownstreamSession::respondRedirect(const config::RouteAction& action) {
  std::string fields = "Location: " + action.redirect_scheme + "://";
  std::string_view host = request_.forward_host;
  if (!host.empty() && host.front() == '[') {
    host = host.substr(0, host.find(']') + 1);
  } else {
    host = host.substr(0, host.rfind(':'));
  }
  fields.append(host.empty() ? std::string_view(request_.host) : host);
  if (action.redirect_port != 0) fields.append(":" + std::to_string(action.redirect_port));
  fields.append(request_.target == "*" ? "/" : request_.target);
  fields.append("\r\n");
  respondLocal(action.redirect_status, "redirecting", {'L', 'R'}, !request_done_, fields);
}

} // namespace proxy
