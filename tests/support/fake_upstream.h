// FakeUpstream: a scripted HTTP/1.1 origin on 127.0.0.1:<ephemeral> for e2e
// tests. One accept thread plus one thread per connection (so a handler may
// block, e.g. hold a response until the test releases it). Every accepted
// connection, every parsed request and every framing error is recorded so a
// test can assert "the upstream saw exactly one request on one connection".
//
// Threads: the handler and head hook run on connection threads, possibly
// concurrently; they must only touch thread-safe state. stop() (and the
// destructor) wakes every thread, releases held replies and joins them.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/http_message.h"
#include "tests/support/sockets.h"

namespace swytest {

// A connection as seen by a takeover callback (upgrade tunnels, streamed bodies).
class UpstreamConn {
public:
  UpstreamConn(int fd, int wake_fd, std::string* pending)
      : fd_(fd), wake_fd_(wake_fd), pending_(pending) {}
  IoStatus write(std::string_view bytes, milliseconds timeout = milliseconds(10000));
  // Appends bytes to *out until it holds at least n bytes (pending bytes first).
  IoStatus readAtLeast(size_t n, std::string* out, milliseconds timeout);
  // Reads until the peer closes; returns kEof on a clean close.
  IoStatus readToEof(std::string* out, milliseconds timeout);
  int fd() const { return fd_; }
  // A read saw the proxy close or reset the connection, or a write failed for it.
  bool peerClosed() const { return peer_closed_; }

private:
  IoStatus read(std::string* out, const Deadline& deadline);

  int fd_;
  int wake_fd_;
  std::string* pending_; // bytes read past the request; consumed first
  bool peer_closed_ = false;
};

// What the upstream does with a request.
struct Reply {
  enum class Kind { kSend, kClose, kReset, kSilent };
  enum class After { kKeepOpen, kClose, kReset };

  Kind kind = Kind::kSend;
  std::string bytes; // sent verbatim, so tests can send broken framing
  After after = After::kKeepOpen;
  milliseconds hold{0}; // wait up to this long for FakeUpstream::release() first
  // Runs after `bytes` were sent; returns whether to keep serving requests.
  std::function<bool(UpstreamConn&)> takeover;

  static Reply send(std::string bytes);
  static Reply ok(std::string_view body = "ok", std::string_view extra_headers = "");
  static Reply close();  // close (FIN) without responding
  static Reply reset();  // reset (SO_LINGER 0) without responding
  static Reply silent(); // never respond; keep the connection open
  Reply& holdFor(milliseconds max) {
    hold = max;
    return *this;
  }
  Reply& thenClose() {
    after = After::kClose;
    return *this;
  }
  Reply& thenReset() {
    after = After::kReset;
    return *this;
  }
};

struct UpstreamRequest {
  HttpMessage message;
  size_t connection = 0; // 0-based index of the accepted connection
  size_t sequence = 0;   // 0-based index of the request on that connection
};

class FakeUpstream {
public:
  using Handler = std::function<Reply(const UpstreamRequest&)>;
  // Called once the head of a request is parsed, before its body; returns
  // bytes to send right away (e.g. "HTTP/1.1 100 Continue\r\n\r\n") or "".
  using HeadHook = std::function<std::string(const HttpMessage&)>;

  // The default handler answers 200 with body `name` and "X-Upstream: name".
  explicit FakeUpstream(std::string name = "up", Handler handler = {});
  ~FakeUpstream();
  FakeUpstream(const FakeUpstream&) = delete;
  FakeUpstream& operator=(const FakeUpstream&) = delete;

  void setHeadHook(HeadHook hook);
  uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  const std::string& name() const { return name_; }

  // Lets every held reply (Reply::holdFor) go, now and later.
  void release();
  void stop();

  std::vector<UpstreamRequest> requests() const;
  size_t requestCount() const;
  size_t connectionCount() const;
  // Connections the proxy closed or reset (seen as EOF/reset by the upstream).
  size_t peerClosedCount() const;
  std::vector<std::string> parseErrors() const;
  // Raw bytes received on connection i (first 1 MiB).
  std::string rawReceived(size_t connection) const;
  // Raw bytes received on all connections (first 1 MiB each), concatenated.
  std::string allRawReceived() const;

  bool waitForRequests(size_t n, milliseconds timeout) const;
  bool waitForConnections(size_t n, milliseconds timeout) const;
  bool waitForPeerClosed(size_t n, milliseconds timeout) const;

private:
  void acceptLoop();
  void serve(Fd fd, size_t index);
  bool perform(Reply& reply, Fd& fd, std::string* pending, bool* peer_closed);
  bool waitFor(const std::function<bool()>& pred, milliseconds timeout) const;
  void recordRaw(size_t index, std::string_view bytes);
  void recordError(size_t index, const MessageParser& parser);
  void runHeadHook(Fd& fd, const HttpMessage& head);

  std::string name_;
  Handler handler_;
  HeadHook head_hook_;
  Fd listen_fd_;
  Fd wake_read_;
  Fd wake_write_;
  uint16_t port_ = 0;
  std::thread accept_thread_;
  std::vector<std::thread> conn_threads_; // guarded by mu_
  std::atomic<bool> stopping_{false};

  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  bool released_ = false;
  size_t connections_ = 0;
  size_t peer_closed_ = 0;
  std::vector<UpstreamRequest> requests_;
  std::vector<std::string> parse_errors_;
  std::vector<std::string> raw_;
};

} // namespace swytest
