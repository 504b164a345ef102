// RawClient: a raw-bytes HTTP/1.1 client for e2e tests. It sends exactly the
// bytes a test gives it (in any split) and parses the proxy's answers with the
// strict MessageParser, so malformed framing from the proxy fails the test.
// Every read has a deadline. Single-threaded: one test thread owns a client.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "tests/support/http_message.h"
#include "tests/support/sockets.h"

namespace swytest {

struct Response {
  bool complete = false;       // a whole response was parsed
  IoStatus io = IoStatus::kOk; // what ended the read when not complete
  std::string error;           // parser error, if any
  HttpMessage msg;

  int status() const { return complete ? msg.status : 0; }
  const Headers& headers() const { return msg.headers; }
  const std::string& body() const { return msg.body; }
  // One-line summary for failure messages.
  std::string describe() const;
};

class RawClient {
public:
  explicit RawClient(uint16_t port);
  RawClient(RawClient&&) = default;
  RawClient& operator=(RawClient&&) = default;

  bool connected() const { return fd_.valid(); }
  int connectError() const { return connect_errno_; }
  int fd() const { return fd_.get(); }
  uint16_t localPort() const;

  bool send(std::string_view bytes, milliseconds timeout = milliseconds(5000));
  // Sends `bytes` as separate writes of `piece` bytes each (TCP_NODELAY is on).
  bool sendInPieces(std::string_view bytes, size_t piece);
  // Sends `size` bytes of payload stream `seed` (see payloadBytes) in 1 MiB blocks.
  bool sendPayload(uint64_t seed, uint64_t size, milliseconds timeout);

  // Reads one response (interim 1xx are collected in msg.interim).
  Response readResponse(milliseconds timeout = milliseconds(3000), bool head_request = false);
  // Reads only the interim/first head: returns once a 1xx or the final head arrived.
  Response readInterim(milliseconds timeout = milliseconds(3000));
  std::vector<Response> readResponses(size_t n, milliseconds timeout = milliseconds(3000));
  Response roundTrip(std::string_view request, milliseconds timeout = milliseconds(3000));

  // Waits for the peer to close; returns kEof or kReset, kTimeout if it stays
  // open. Bytes that arrive meanwhile are kept in buffer().
  IoStatus waitClosed(milliseconds timeout = milliseconds(3000));
  // Reads until buffer() holds at least n bytes.
  IoStatus readAtLeast(size_t n, milliseconds timeout = milliseconds(3000));
  std::string& buffer() { return buffer_; }
  bool peerClosed() const { return eof_; }

  void shutdownWrite();
  void close() { fd_.reset(); }
  void reset() { resetConnection(fd_); }

private:
  Fd fd_;
  int connect_errno_ = 0;
  std::string buffer_;
  bool eof_ = false;
};

// Connects, sends one GET and reads the response.
Response httpGet(uint16_t port, std::string_view target, std::string_view host = "example.test",
                 std::string_view extra_headers = "");

} // namespace swytest
