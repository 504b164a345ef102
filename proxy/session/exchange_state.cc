#include "proxy/session/exchange_state.h"

#include <utility>

namespace proxy {

void ExchangeState::nextRequest(uint64_t cid) noexcept {
  snapshot.reset();
  upstream = nullptr;
  route = -1;
  server = -1;
  request_framing = response_framing = http::Framing::kNone;
  request_head_sent = request_done = body_timer = request_body_consumed = false;
  response_started = head_deferred = close_after = client_closes = false;
  head_request = upgrade_request = upstream_reused = force_fresh = false;
  upstream_congested = tunnel_client_eof = in_pool_count = queued = false;
  set_sticky_cookie = has_hash_key = false;
  last_failure = UpstreamFailure::kConnect;
  upstream_sent_ns = 0;
  attempts = retries_used = 0;
  slot = -1;
  pool = split = 0;
  variant = sticky_server = -1;
  hash_key = 0;
  assigned_id.clear();
  extra_fields.clear();
  record = ExchangeRecord{};
  record.cid = cid;
}

size_t ExchangeState::heldBytes() const noexcept {
  const http::MessageHead& head = parser.head();
  return head.capacityBytes() + pending.capacity() + out.capacity() +
         header_views.capacity() * sizeof(routing::Header) + tried.capacity() +
         request.target.capacity() + request.host.capacity() + request.forward_host.capacity() +
         assigned_id.capacity() + extra_fields.capacity();
}

ExchangePool::ExchangePool() = default;
ExchangePool::~ExchangePool() = default;

std::unique_ptr<ExchangeState> ExchangePool::take(http::Parser::Handler* handler,
                                                  http::HeadLimits limits, uint64_t cid) {
  std::unique_ptr<ExchangeState> state;
  if (spare_.empty()) {
    state = std::make_unique<ExchangeState>();
  } else {
    state = std::move(spare_.back());
    spare_.pop_back();
  }
  // A spare was reset by give() (a new one starts at the defaults): only
  // the parser's owner and this connection's id are new.
  state->parser.bind(handler, limits);
  state->record.cid = cid;
  return state;
}

void ExchangePool::give(std::unique_ptr<ExchangeState> state) noexcept {
  if (!state) return;
  if (spare_.size() >= kMaxSpare || state->heldBytes() > kMaxKeptBytes) return; // freed here
  state->nextRequest(0); // drops the snapshot pin; take() binds the parser
  state->pending.clear();
  state->out.clear();
  state->header_views.clear();
  state->tried.clear();
  state->parser_paused = state->next_deferred = false;
  state->client_ip[0] = state->client[0] = '\0';
  spare_.push_back(std::move(state));
}

} // namespace proxy
