// ExchangeState: everything a client connection needs only while it has a
// request in hand (the request parser and its head, bytes not yet parsed, the
// serialised heads, the router's header views, the balancer's marks, the
// chosen route, pool and server, the access-log record). ExchangePool
// (exchange_pool.h) keeps spare ones per worker.
//
// A DownstreamSession takes one when the client sends its first byte after
// being idle and gives it back when it goes idle again (no request in
// progress, nothing pipelined), so an idle keep-alive connection costs only
// its socket handle and a slim session object, and a busy worker reuses the
// same few states instead of allocating per request. HAProxy frees a
// stream's buffers at idle for the same reason; nginx keeps a 1-byte read
// buffer for an idle keep-alive connection.
//
// Both are used on one worker's loop thread only.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "proxy/config/snapshot.h"
#include "proxy/http/parser.h"
#include "proxy/http/request_target.h"
#include "proxy/http/serialize.h"
#include "proxy/session/access_log.h"
#include "proxy/session/exchange_pool.h"
#include "proxy/session/upstream.h"
#include "routing/request_view.h"

namespace proxy {

struct ExchangeState {
  ExchangeState() noexcept : parser(http::Parser::Type::kRequest, nullptr, {}) {}
  ExchangeState(const ExchangeState&) = delete;
  ExchangeState& operator=(const ExchangeState&) = delete;

  // Ready for the next request on the same connection: every per-request
  // value back to its default; buffers keep their memory; the parser and
  // the bytes not yet parsed are left alone.
  void nextRequest(uint64_t cid) noexcept;
  // Heap bytes held by the buffers (the pool frees a state that grew large).
  size_t heldBytes() const noexcept;

  // ---- kept across the requests of one attachment ----
  http::Parser parser;
  std::string pending; // received, not yet parsed (pipelined requests, early body bytes)
  std::string out;     // scratch for serialising heads; holds a deferred response head
  bool parser_paused = false;
  // The exchange ended inside a request-parser callback: the session goes
  // on with the next request once execute() has returned.
  bool next_deferred = false;
  char client_ip[48] = {}; // the peer's address as text (X-Forwarded-For, hash keys)
  char client[64] = {};    // "ip:port", formatted for the access log when it is on

  // ---- the current exchange ----
  std::shared_ptr<const config::Snapshot> snapshot; // pinned for the exchange
  UpstreamConnection* upstream = nullptr;
  std::vector<routing::Header> header_views;
  http::RequestTarget request; // target, host and framing derived from the head
  int route = -1;
  size_t pool = 0;
  int server = -1;
  std::vector<uint8_t> tried; // per server of the pool: a ServerMark (health_board.h)
  http::Framing request_framing = http::Framing::kNone;
  http::Framing response_framing = http::Framing::kNone;
  bool request_head_sent = false;
  bool request_done = false;
  bool body_timer = false;            // the session's timer runs client_body while the body is read
  bool request_body_consumed = false; // some body byte was read and forwarded
  bool response_started = false;      // a final response head went downstream
  bool head_deferred = false;         // `out` holds that head, not yet written
  bool close_after = false;
  bool client_closes = false; // the request said Connection: close (or was HTTP/1.0)
  bool head_request = false;
  bool upgrade_request = false;
  bool upstream_reused = false;
  bool force_fresh = false; // retrying: do not reuse an idle connection
  bool upstream_congested = false;
  bool tunnel_client_eof = false;
  bool in_pool_count = false;     // counted in PoolState::in_flight
  bool queued = false;            // waiting for a slot (counted in the pool's pending)
  bool set_sticky_cookie = false; // the response must (re)issue the sticky cookie
  bool has_hash_key = false;
  UpstreamFailure last_failure = UpstreamFailure::kConnect;
  uint64_t upstream_sent_ns = 0; // when the request head went upstream (this attempt)
  unsigned attempts = 0;
  unsigned retries_used = 0; // retries that count against the pool's retries policy
  int slot = -1;             // the server whose max_connections slot this exchange holds
  size_t split = 0;
  int variant = -1;       // A/B variant of the split, -1 when not split
  int sticky_server = -1; // server named by a valid sticky cookie
  uint64_t hash_key = 0;
  std::string assigned_id;  // A/B id handed out with this response
  std::string extra_fields; // Set-Cookie lines for the response head
  ExchangeRecord record;
};

} // namespace proxy
