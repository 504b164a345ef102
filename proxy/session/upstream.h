// UpstreamConnection: one TCP connection to one server, with a strict
// response parser. Lives in its server's idle list (read armed: any byte or
// EOF there means the server closed it, so it is dropped) or attached to one
// exchange (its User). Owned by the worker: it is reaped after close, never
// deleted inside its own callbacks.
//
// Callbacks to the User may close the session that owns the exchange, or
// release this connection to the pool; this class touches none of its state
// after calling a User callback that may do so.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>

#include "proxy/config/snapshot.h"
#include "proxy/http/parser.h"
#include "proxy/server/worker.h"
#include "proxy/uv/deadline.h"
#include "proxy/uv/handles.h"
#include "tls/engine.h"

namespace proxy {

enum class UpstreamFailure {
  kConnect, // refused, unreachable, or reset during connect
  kConnectTimeout,
  kClosedEarly, // EOF or reset before any response byte
  kClosedMidResponse,
  kBadResponse,  // framing or syntax error in the response
  kTimeout,      // no response byte within upstream_response
  kWrite,        // could not write the request
  kTlsHandshake, // TLS to the server failed (certificate, protocol): nothing was sent
};

class UpstreamConnection final : public uv::StreamOwner,
                                 public http::Parser::Handler,
                                 public Reapable {
public:
  // The user is the client side of the exchange; it is a StreamOwner too
  // (its own client stream), by inheritance here rather than beside, so that
  // a DownstreamSession carries one vtable pointer fewer: 8 bytes in every
  // idle connection.
  class User : public uv::StreamOwner {
  public:
    virtual void onUpstreamReady() noexcept = 0;
    virtual void onUpstreamFailed(UpstreamFailure failure) noexcept = 0;
    // Return Parser::kSkipBody for a response to HEAD, else kProceed.
    virtual int onUpstreamHead(http::MessageHead& head) noexcept = 0;
    virtual void onUpstreamBody(const char* data, size_t length) noexcept = 0;
    virtual void onUpstreamComplete(bool reusable) noexcept = 0;
    // One read's bytes were parsed and the response is not complete yet.
    virtual void onUpstreamParsed() noexcept = 0;
    virtual void onUpstreamTunnel(const char* data, size_t length) noexcept = 0; // after 101
    virtual void onUpstreamTunnelEnd() noexcept = 0;
    virtual void onUpstreamWritable() noexcept = 0; // queue fell below the low-water mark
    // The client socket that response body bytes may be spliced into now
    // (plain text, Content-Length framing, head written, nothing queued), or -1.
    virtual int spliceTarget() noexcept = 0;
    // `length` body bytes reached the client by splice; `error` (a libuv
    // error) when writing to the client failed: the exchange is over.
    virtual void onUpstreamSpliced(size_t length, int error) noexcept = 0;

  protected:
    ~User() = default;
  };

  static constexpr size_t kHighWater = 256 * 1024;
  static constexpr size_t kLowWater = 64 * 1024;
  // A body is spliced only while more than this is still to come: below it
  // the ordinary read path is as cheap, and it ends the body in the parser.
  static constexpr uint64_t kSpliceMin = 64 * 1024;

  // Starts a new connection to `server`; onUpstreamReady or onUpstreamFailed follows.
  static UpstreamConnection* connect(Worker& worker, const std::shared_ptr<WorkerGeneration>& gen,
                                     size_t pool, size_t server, User* user);
  // Takes an idle connection of that server from the pool, or nullptr.
  static UpstreamConnection* takeIdle(Worker& worker, const std::shared_ptr<WorkerGeneration>& gen,
                                      size_t pool, size_t server, User* user);

  // Writes request bytes; false if the connection failed (the caller is told
  // through onUpstreamFailed(kWrite) only if it asks; here it just returns).
  bool send(const uv_buf_t* bufs, unsigned count) noexcept;
  bool congested() const noexcept;
  void armResponseTimer(uint64_t ms) noexcept;
  void pauseReading() noexcept;
  void resumeReading() noexcept;
  // The request upgraded: from now on bytes go straight through.
  void startTunnel() noexcept;
  void shutdownWrite() noexcept;

  // The exchange is over: back to the idle list if `reusable`, else closed.
  void release(bool reusable) noexcept;
  // Detach and close (exchange aborted).
  void abandon() noexcept;

  bool reused() const noexcept { return reused_; }
  bool responseStarted() const noexcept { return response_bytes_ > 0; }
  size_t serverIndex() const noexcept { return server_; }

  void onWriteDone(int status) noexcept override;
  int onHeadersComplete(http::MessageHead& head) noexcept override;
  int onBody(const char* data, size_t length) noexcept override;
  int onMessageComplete() noexcept override;

  ~UpstreamConnection() override;

private:
  enum class State { kConnecting, kHandshake, kActive, kIdle, kTunnel, kClosed };
  UpstreamConnection(Worker& worker, std::shared_ptr<WorkerGeneration> gen, size_t pool,
                     size_t server);

  static void onConnect(uv_connect_t* req, int status);
  TrafficStats::Server& serverStats() noexcept; // this connection's server, this worker
  static void onAlloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
  static void onRead(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);
  static void onTimer(void* owner);

  void handleRead(const char* data, size_t length);
  void handlePlain(const char* data, size_t length);
  // Splicing (plain text both ways, see User::spliceTarget): onAlloc hands
  // libuv an empty buffer when the next bytes can be spliced, and onRead's
  // UV_ENOBUFS then moves them with spliceBody() instead of a read.
  int spliceTarget() noexcept;
  void spliceBody();
  // The client socket is full and the pipe still holds body bytes: this
  // connection keeps that pipe, stops reading from the server and waits
  // until the client socket is writable (a poll on a duplicate of its
  // descriptor: libuv gives a TCP handle no writable event of its own).
  void holdForClient(int to);
  static void onClientWritable(uv_poll_t* handle, int status, int events);
  void flushHeld(int status);
  void stopWatchingClient() noexcept; // end of the exchange: poll and duplicate closed
  // TLS to the server (pool `tls:`): ciphertext in/out through the engine.
  void startTls();
  void handleTlsRead(const char* data, size_t length);
  bool flushTls() noexcept;
  void becomeActive();
  void handleEof(int status);
  void fail(UpstreamFailure failure) noexcept;
  void close() noexcept;
  void updateReading() noexcept;
  ServerState& serverState() noexcept;

  Worker& worker_;
  std::shared_ptr<WorkerGeneration> gen_; // its pool and server are indices into this generation
  size_t pool_;
  size_t server_;
  User* user_ = nullptr;
  uv::Tcp tcp_;
  uv::Deadline timer_;                  // connect, response, body-idle or pooled-idle timeout
  uv_connect_t* connect_req_ = nullptr; // freed in onConnect
  http::Parser parser_;
  std::unique_ptr<tls::Engine> tls_; // null for plain HTTP upstreams
  std::string tls_out_;
  State state_ = State::kConnecting;
  uint64_t response_bytes_ = 0;
  bool reused_ = false;
  uint64_t connect_start_ns_ = 0; // for the connect latency histogram
  bool paused_ = false;
  bool reading_ = false;
  bool complete_ = false;
  bool interim_ = false;
  bool timed_out_ = false;
  std::unique_ptr<SplicePipe> held_; // body bytes waiting for a full client socket
  uv::Poll client_writable_;         // set up at the first wait of an exchange
  int client_fd_ = -1;               // the duplicate it polls, closed with it
};

} // namespace proxy
