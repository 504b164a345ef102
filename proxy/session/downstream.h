// DownstreamSession: one client connection and the exchanges on it, one at a
// time (pipelined requests wait, paused in the parser, until the previous
// response is done). Owns the client TCP handle, its timer, the request
// parser and the bytes not yet parsed; borrows an UpstreamConnection for the
// duration of each exchange.
//
// Lifetime: created by a Listener on accept; dies by close() (idempotent),
// after which the worker reaps it. Every callback starts with
// `if (!self) return;` and every step that may have closed the session checks
// closing() before touching more state.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "proxy/config/snapshot.h"
#include "proxy/core/error.h"
#include "proxy/http/parser.h"
#include "proxy/http/request_target.h"
#include "proxy/http/serialize.h"
#include "proxy/server/admission.h"
#include "proxy/server/worker.h"
#include "proxy/session/access_log.h"
#include "proxy/session/upstream.h"
#include "proxy/uv/deadline.h"
#include "proxy/uv/handles.h"
#include "routing/cidr.h"
#include "routing/request_view.h"
#include "routing/stable_hash.h"
#include "tls/engine.h"

namespace proxy {

class DownstreamSession final : public uv::StreamOwner,
                                public http::Parser::Handler,
                                public UpstreamConnection::User,
                                public Reapable {
public:
  // Takes the accepted connection from `server`; false if accept failed.
  static bool accept(Worker& worker, uv_stream_t* server, size_t listener);

  // Worker-initiated: drain (finish the current exchange, then close; a new
  // connection still gets its first request answered) or stop.
  void drain() noexcept;
  void stopNow() noexcept; // drain deadline or SIGINT: log what is cut off ('D'), close
  // Called by the worker: a slot may have been freed; try the servers again.
  void retryQueued() noexcept;
  // Called by the worker after a reload: an idle connection whose listener
  // is gone is closed; others follow at their next request.
  void generationChanged() noexcept;
  void close() noexcept;
  bool closing() const noexcept { return phase_ == Phase::kClosed; }

  // uv::StreamOwner
  void onWriteDone(int status) noexcept override;
  // http::Parser::Handler (request side)
  int onMessageBegin() noexcept override;
  int onHeadersComplete(http::MessageHead& head) noexcept override;
  int onBody(const char* data, size_t length) noexcept override;
  int onMessageComplete() noexcept override;
  // UpstreamConnection::User
  void onUpstreamReady() noexcept override;
  void onUpstreamFailed(UpstreamFailure failure) noexcept override;
  int onUpstreamHead(http::MessageHead& head) noexcept override;
  void onUpstreamBody(const char* data, size_t length) noexcept override;
  void onUpstreamComplete(bool reusable) noexcept override;
  void onUpstreamParsed() noexcept override;
  void onUpstreamTunnel(const char* data, size_t length) noexcept override;
  void onUpstreamTunnelEnd() noexcept override;
  void onUpstreamWritable() noexcept override;

  ~DownstreamSession() override;

private:
  enum class Phase {
    kIdle,     // keep-alive, waiting for the first byte of a request
    kHead,     // reading a request head
    kDispatch, // head complete, choosing a server / connecting
    kExchange, // request streaming up and/or response streaming down
    kTunnel,   // after 101: bytes both ways
    kFlushing, // last bytes written, then close
    kClosed,
  };

  DownstreamSession(Worker& worker, size_t listener);
  bool start(uv_stream_t* server);

  static void onRead(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);
  static void onTimer(void* owner);

  // Request side (downstream.cc)
  void feed(const char* data, size_t length);
  void feedPending();
  void handleOutcome(http::Parser::Outcome o, const char* data, size_t length, bool from_pending);
  void handleClientEof();
  bool prepareRequest(http::MessageHead& head);
  void followGeneration() noexcept;
  TrafficStats::Listener& listenerStats(WorkerGeneration& gen, size_t listener) noexcept;
  void dispatch();
  void connectUpstream();
  void respondUnavailable();  // 503 + Retry-After: every server is down or ejected
  void reportServerFailure(); // passive health: server_ failed this exchange
  bool retryBudgetAllows() const noexcept;
  // The keep-alive race: a reused connection the server had already closed
  // (closed or write error before any response byte).
  bool lostReusedConnection(UpstreamFailure failure) const noexcept;
  bool waitForSlot();         // queue for a max_connections slot (false: no room)
  void leaveQueue() noexcept; // no longer waiting (got a slot, timed out, closed)
  void releaseSlot() noexcept;
  void countRetry() noexcept; // a retry that counts against attempts and the budget
  void leavePool() noexcept;  // the exchange ended: uncount it from PoolState
  void sendRequestHead();
  void forwardBody(const char* data, size_t length);
  void updateReading() noexcept;
  void armClientTimer(uint64_t ms) noexcept;
  // The exchange buffers (proxy/session/buffer_pool.h): taken when a request
  // starts, given back when the connection goes idle.
  void takeBuffers() noexcept;
  void giveBuffers() noexcept;
  // Writes to the client, preceded by the deferred response head if any (so
  // count may be 0 to write just that); false when the connection failed.
  bool writeClient(const uv_buf_t* bufs, unsigned count) noexcept;

  // Routing and server choice (dispatch.cc)
  void routeRequest(const http::MessageHead& head, std::string_view path, std::string_view query);

  // TLS termination (secure.cc): ciphertext in, plaintext to feed(); our
  // plaintext out through the engine.
  void onTlsRead(const char* data, size_t length);
  int writeTls(const uv_buf_t* bufs, unsigned count, bool* queued) noexcept;
  int flushTls(bool* queued) noexcept;

  // Split, sticky cookie and hash key (affinity.cc)
  void resolveAction(const http::MessageHead& head, std::string_view path);
  size_t resolveSplit(const http::MessageHead& head, std::string_view path, size_t index);
  void readStickyCookie(const http::MessageHead& head, const config::Pool& pool);
  bool lookupKey(const http::MessageHead& head, const config::KeySource& key, std::string_view path,
                 std::string_view* out);
  void appendSetCookies(std::string* out);
  void countVariant();

  // Response side and ending (exchange.cc)
  void respondLocal(int status, std::string_view text, Termination term, bool close,
                    std::string_view extra_fields = {});
  void respondRedirect(const config::RouteAction& action);
  void failExchange(ErrorKind kind, Termination term, const char* text);
  void finishExchange();
  void startNextRequest();
  void logExchange();
  void flushAndClose() noexcept;
  void abort(Termination term) noexcept;
  void enterTunnel();
  void releaseUpstream(bool reusable) noexcept;
  bool retryable(UpstreamFailure failure) const noexcept;

  Worker& worker_;
  // The generation this connection uses (pinned at accept, moved to the
  // current one at each request when its listener is still there) and the one
  // it was admitted by (its Admission slot lives there).
  std::shared_ptr<WorkerGeneration> gen_;
  std::shared_ptr<WorkerGeneration> admitted_by_;
  size_t listener_; // index in gen_'s snapshot
  bool listener_gone_ = false; // a reload removed it: close after the exchange
  int counted_listener_ = -1;  // admitted: counted as open on this listener of admitted_by_
  bool tls_counted_ = false;   // the handshake's outcome is counted
  uint64_t cid_;
  uv::Tcp tcp_;
  uv::Deadline timer_; // the client's current timeout (header, body, idle, tunnel, linger)
  Phase phase_ = Phase::kIdle;
  http::Parser parser_;
  std::string pending_; // received, not yet parsed (pipelined requests, early body bytes)
  std::string out_;     // scratch for serialising heads
  std::unique_ptr<tls::Engine> tls_; // null on a plain listener
  std::string tls_out_;              // ciphertext scratch
  char client_[64] = {};             // "ip:port"
  char client_ip_[48] = {};
  // The peer as an address, converted once per connection: checked by the
  // listener's access list at accept and by route `source` conditions.
  routing::IpAddress client_addr_{};
  bool client_addr_known_ = false;
  Admission::Slot admission_; // our place in the listener's connection counts
  const routing::IpAddress* clientAddress() const noexcept {
    return client_addr_known_ ? &client_addr_ : nullptr;
  }
  bool reading_ = false;
  bool holding_buffers_ = false; // out_, tls_out_, header_views_, tried_ and the head's storage
  bool upstream_congested_ = false;
  bool parser_paused_ = false;
  bool draining_ = false;
  bool served_any_ = false;        // an exchange finished: kIdle now means an idle keep-alive
  bool drop_client_bytes_ = false; // linger after close: read and discard
  bool client_congested_ = false;  // our writes to the client are queued above high water
  bool tunnel_client_eof_ = false;

  // ---- the current exchange ----
  std::shared_ptr<const config::Snapshot> snapshot_; // pinned for the exchange
  UpstreamConnection* upstream_ = nullptr;
  std::vector<routing::Header> header_views_;
  http::RequestTarget request_; // target, host and framing derived from the head
  int route_ = -1;
  size_t pool_ = 0;
  int server_ = -1;
  std::vector<uint8_t> tried_; // per server of the pool: a ServerMark (health_board.h)
  http::Framing request_framing_ = http::Framing::kNone;
  http::Framing response_framing_ = http::Framing::kNone;
  bool request_head_sent_ = false;
  bool request_done_ = false;
  bool body_timer_ = false; // timer_ runs client_body while the request body is read
  bool request_body_consumed_ = false; // some body byte was read and forwarded
  bool response_started_ = false;      // a final response head went downstream
  bool head_deferred_ = false;         // out_ holds that head, not yet written (writeClient)
  bool close_after_ = false;
  bool client_closes_ = false; // the request said Connection: close (or was HTTP/1.0)
  bool head_request_ = false;
  bool upgrade_request_ = false;
  bool upstream_reused_ = false;
  bool force_fresh_ = false; // retrying: do not reuse an idle connection
  UpstreamFailure last_failure_ = UpstreamFailure::kConnect;
  uint64_t upstream_sent_ns_ = 0; // when the request head went upstream (this attempt)
  unsigned attempts_ = 0;
  unsigned retries_used_ = 0;  // retries that count against the pool's retries policy
  bool in_pool_count_ = false; // counted in PoolState::in_flight
  int slot_ = -1;              // the server whose max_connections slot this exchange holds
  bool queued_ = false;        // waiting for a slot (counted in the pool's pending)
  size_t split_ = 0;
  int variant_ = -1;               // A/B variant of the split, -1 when not split
  int sticky_server_ = -1;         // server named by a valid sticky cookie
  bool set_sticky_cookie_ = false; // the response must (re)issue the sticky cookie
  bool has_hash_key_ = false;
  uint64_t hash_key_ = 0;
  std::string assigned_id_;  // A/B id handed out with this response
  std::string extra_fields_; // Set-Cookie lines for the response head
  ExchangeRecord record_;
};

} // namespace proxy
