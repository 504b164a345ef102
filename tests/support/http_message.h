// A small, strict, incremental HTTP/1.1 message parser used by both ends of
// the e2e harness: the fake upstream parses what the proxy forwards, the raw
// client parses what the proxy answers. Strict on purpose (RFC 9112): CRLF
// only, no obs-fold, no CL+TE, one Content-Length, "chunked" last; anything
// else is an error so the tests notice when the proxy emits bad framing.
// Bodies are hashed as they stream; only the first `max_stored_body` bytes are
// kept, so 64 MiB transfers do not need 64 MiB of test memory twice.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tests/support/sockets.h"

namespace swytest {

struct Header {
  std::string name;
  std::string value;
};

struct Headers {
  std::vector<Header> list;

  // First value of `name` (case-insensitive), if present.
  std::optional<std::string> get(std::string_view name) const;
  std::string valueOr(std::string_view name, std::string_view fallback = "") const;
  size_t count(std::string_view name) const;
  bool has(std::string_view name) const { return count(name) > 0; }
  // True if any comma-separated element of any `name` header equals `token`
  // (case-insensitive), e.g. hasToken("Connection", "upgrade").
  bool hasToken(std::string_view name, std::string_view token) const;
};

bool equalsIgnoreCase(std::string_view a, std::string_view b);
std::string toLower(std::string_view s);

enum class Framing { kNone, kLength, kChunked, kClose };

struct HttpMessage {
  // Request line (requests only).
  std::string method;
  std::string target;
  // Status line (responses only).
  int status = 0;
  std::string reason;

  std::string version; // "HTTP/1.1"
  Headers headers;
  Headers trailers;
  Framing framing = Framing::kNone;
  std::string raw_head; // head bytes exactly as received, CRLFCRLF included
  std::string body;     // first max_stored_body bytes of the decoded body
  uint64_t body_size = 0;
  uint64_t body_hash = Fnv64{}.value;
  std::vector<uint64_t> chunk_sizes; // chunked bodies: the size of each data chunk
  std::vector<HttpMessage> interim;  // 1xx responses that preceded this one
};

class MessageParser {
public:
  enum class Kind { kRequest, kResponse };
  enum class State { kIncomplete, kDone, kError };

  explicit MessageParser(Kind kind, size_t max_stored_body = 1 << 20);

  // Responses only: the request was HEAD, so the response has no body.
  void setHeadRequest(bool head) { head_request_ = head; }

  // Consumes bytes up to the end of the current message; returns how many were
  // used. Bytes after the end belong to the next message (pipelining).
  size_t feed(std::string_view data);
  // The peer closed: completes a close-delimited body, else an error if mid-message.
  void feedEof();

  State state() const { return state_; }
  bool done() const { return state_ == State::kDone; }
  bool failed() const { return state_ == State::kError; }
  // The final (non-1xx) head has been parsed; the body may still be streaming.
  bool headComplete() const { return head_complete_; }
  const std::string& error() const { return error_; }
  HttpMessage& message() { return msg_; }
  // Ready for the next message on the same connection.
  void reset();

private:
  enum class Phase { kHead, kBody, kChunkSize, kChunkData, kChunkCrlf, kTrailers, kClose };

  size_t feedHead(std::string_view data);
  size_t feedLine(std::string_view data, std::string* line, bool* complete);
  void onLine(const std::string& line);
  bool parseHead();
  bool parseStartLine(std::string_view line);
  bool parseHeaderLine(std::string_view line, Headers* into);
  bool chooseFraming();
  void addBody(std::string_view bytes);
  void fail(std::string why);
  void finish() { state_ = State::kDone; }

  Kind kind_;
  size_t max_stored_body_;
  bool head_request_ = false;
  State state_ = State::kIncomplete;
  Phase phase_ = Phase::kHead;
  bool head_complete_ = false;
  std::string head_;
  std::string line_;
  uint64_t remaining_ = 0;
  Fnv64 hash_;
  std::string error_;
  HttpMessage msg_;
};

// Builders for the common cases.
std::string makeResponse(int status, std::string_view reason, std::string_view body,
                         std::string_view extra_headers = "");
std::string makeRequest(std::string_view method, std::string_view target,
                        std::string_view host = "example.test", std::string_view extra_headers = "",
                        std::string_view body = "");
// Encodes `body` as chunks of at most `chunk` bytes, with the last-chunk.
std::string chunked(std::string_view body, size_t chunk);

} // namespace swytest
