// DownstreamSession: one client connection and the exchanges on it, one at a
// time (pipelined requests wait, paused in the parser, until the previous
// response is done). Owns the client TCP handle, its timer and, while a
// request is in progress, an ExchangeState from the worker's pool (the
// request parser, the bytes not yet parsed, the exchange's choices); borrows
// an UpstreamConnection for the duration of each exchange.
//
// Lifetime: created by a Listener on accept and listed by its worker (the
// ListNode base); dies by close() (idempotent), after which the worker reaps
// it. Every callback starts with `if (!self) return;` and every step that may
// have closed the session checks closing() before touching more state; ex_ is
// null while the connection is idle, so code that can run then checks it.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "proxy/config/snapshot.h"
#include "proxy/core/error.h"
#include "proxy/core/intrusive_list.h"
#include "proxy/http/parser.h"
#include "proxy/http/request_target.h"
#include "proxy/http/serialize.h"
#include "proxy/server/admission.h"
#include "proxy/server/worker.h"
#include "proxy/session/access_log.h"
#include "proxy/session/exchange_state.h"
#include "proxy/session/upstream.h"
#include "proxy/uv/deadline.h"
#include "proxy/uv/handles.h"
#include "routing/cidr.h"
#include "routing/request_view.h"
#include "routing/stable_hash.h"
#include "tls/engine.h"

namespace proxy {

class DownstreamSession final : public UpstreamConnection::User,
                                public http::Parser::Handler,
                                public ListNode<DownstreamSession> {
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

  // uv::StreamOwner (through UpstreamConnection::User)
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
  int spliceTarget() noexcept override;
  void onUpstreamSpliced(size_t length, int error) noexcept override;

  ~DownstreamSession();

private:
  enum class Phase : uint8_t {
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
  // The session whose client stream this is, or null once it closed.
  static DownstreamSession* fromStream(uv_stream_t* s) noexcept {
    return s->data != nullptr
               ? static_cast<DownstreamSession*>(static_cast<uv::StreamOwner*>(s->data))
               : nullptr;
  }
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
  // The exchange state (proxy/session/exchange_state.h): taken when a byte
  // arrives on an idle connection, given back when it is idle again.
  void attachExchange() noexcept;
  void detachExchange() noexcept;
  void giveExchange() noexcept; // back to the pool, uncounted from `busy`
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

  // Response side and ending (exchange.cc)
  void respondLocal(int status, std::string_view text, Termination term, bool close,
                    std::string_view extra_fields = {});
  void respondRedirect(const config::RouteAction& action);
  void failExchange(ErrorKind kind, Termination term, const char* text);
  void finishExchange();
  void startNextRequest();
  void parseNext(); // resume the parser on what is pending; idle: give the state back
  void logExchange();
  void flushAndClose() noexcept;
  void abort(Termination term) noexcept;
  void enterTunnel();
  void releaseUpstream(bool reusable) noexcept;
  bool retryable(UpstreamFailure failure) const noexcept;

  // What an idle keep-alive connection holds is only what follows, plus its
  // uv_tcp_t (the bench's scenario 5 measures it: keep it small). Everything
  // about a request in progress is in ex_, taken from the worker's pool when
  // a byte arrives and given back when the connection goes idle.
  Worker& worker_;
  // The generation this connection uses (pinned at accept, moved to the
  // current one at each request when its listener is still there) and the one
  // it was admitted by (its Admission slot lives there).
  std::shared_ptr<WorkerGeneration> gen_;
  std::shared_ptr<WorkerGeneration> admitted_by_;
  std::unique_ptr<ExchangeState> ex_; // null while idle
  std::unique_ptr<tls::Engine> tls_;  // null on a plain listener
  uv::Tcp tcp_;
  uint64_t cid_;
  uv::Deadline timer_;        // the client's current timeout (header, body, idle, tunnel, linger)
  Admission::Slot admission_; // our place in the listener's connection counts
  // The peer, converted once per connection: checked by the listener's access
  // list at accept and by route `source` conditions; formatted as text into
  // the exchange state when a request starts.
  routing::IpAddress client_addr_{};
  Phase phase_ = Phase::kIdle;
  uint16_t client_port_ = 0;
  uint32_t listener_;             // index in gen_'s snapshot
  int32_t counted_listener_ = -1; // admitted: counted as open on this listener of admitted_by_
  bool client_addr_known_ : 1 = false;
  bool listener_gone_ : 1 = false; // a reload removed it: close after the exchange
  bool tls_counted_ : 1 = false;   // the handshake's outcome is counted
  bool reading_ : 1 = false;
  bool draining_ : 1 = false;
  bool served_any_ : 1 = false;        // an exchange finished: kIdle now means an idle keep-alive
  bool drop_client_bytes_ : 1 = false; // linger after close: read and discard
  bool client_congested_ : 1 = false;  // our writes to the client are queued above high water

  const routing::IpAddress* clientAddress() const noexcept {
    return client_addr_known_ ? &client_addr_ : nullptr;
  }
};

} // namespace proxy
