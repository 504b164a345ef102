// Parser helpers shared by the HTTP fuzz targets: socket-like feeding of a
// Parser (pause, keep the rest, resume) and a handler that captures one
// re-parsed message. Single-threaded, like the fuzz drivers that use them.
#pragma once

#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/http/parser.h"
#include "tests/fuzz/fuzz_check.h"

namespace fuzz {

// Feeds `input` to `parser` as one socket read. Mirrors the sessions
// (DownstreamSession::handleOutcome, UpstreamConnection::handlePlain): on a
// pause the unconsumed bytes are copied aside and fed again after resume(),
// until the parser has taken them all. `stop_on_pause` (a response parser
// pauses at its final response) returns at the first pause instead.
// Returns the final outcome; kOk means every byte was consumed.
inline proxy::http::Parser::Outcome feed(proxy::http::Parser& parser, std::string_view input,
                                         bool stop_on_pause = false) {
  using State = proxy::http::Parser::State;
  // A heap copy per read, as a socket buffer would be: ASan then sees any
  // read past its end.
  std::vector<char> buffer(input.begin(), input.end());
  size_t pauses = 0;
  for (;;) {
    proxy::http::Parser::Outcome o = parser.execute(buffer.data(), buffer.size());
    FUZZ_CHECK(o.consumed <= buffer.size());
    if (o.state == State::kOk) FUZZ_CHECK(o.consumed == buffer.size());
    if (o.state != State::kPaused || stop_on_pause) return o;
    // Each message pauses at most twice (headers complete, message
    // complete) and takes at least one byte: more pauses means no progress.
    FUZZ_CHECK(++pauses <= 2 * input.size() + 2);
    buffer.erase(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(o.consumed));
    parser.resume();
    if (buffer.empty()) return {State::kOk, 0};
    std::vector<char> rest(buffer.begin(), buffer.end()); // the session's pending_ copy
    buffer.swap(rest);
  }
}

// Prints `bytes` to stderr with control and non-ASCII bytes escaped.
inline void dump(const char* title, std::string_view bytes) {
  std::fprintf(stderr, "--- %s (%zu bytes)\n", title, bytes.size());
  for (char c : bytes) {
    auto u = static_cast<unsigned char>(c);
    if (c == '\n') {
      std::fputs("\\n\n", stderr);
    } else if (u < 0x20 || u >= 0x7f || c == '\\') {
      std::fprintf(stderr, "\\x%02x", u);
    } else {
      std::fputc(c, stderr);
    }
  }
  std::fputs("\n---\n", stderr);
}

// Every field of `head` lies inside its buffer and has a token name: the
// offsets survived everything the parser appended (trailers included).
inline void checkHead(const proxy::http::MessageHead& head) {
  const char* begin = head.target().data();
  const char* end = begin + head.bytes();
  FUZZ_CHECK(head.target().size() <= head.bytes());
  for (size_t i = 0; i < head.fieldCount(); ++i) {
    std::string_view name = head.name(i);
    std::string_view value = head.value(i);
    FUZZ_CHECK(!name.empty() && name.data() >= begin && name.data() + name.size() <= end);
    FUZZ_CHECK(value.empty() || (value.data() >= begin && value.data() + value.size() <= end));
    for (char c : name)
      FUZZ_CHECK(c != ':' && c != ' ' && c != '\r' && c != '\n');
  }
}

// Captures one message parsed from a serialized head (and body): the head as
// parsed, the body bytes, and whether the message completed. Pauses at the
// (final) message's completion, so that bytes after it are not parsed.
class Capture final : public proxy::http::Parser::Handler {
public:
  // `skip_body`: the message answers a HEAD request, so no body follows
  // whatever the head says (nor after a 204 or 304, RFC 9112 section 6.3).
  explicit Capture(bool skip_body = false) : skip_body_(skip_body) {}

  int onMessageBegin() noexcept override {
    ++messages;
    return proxy::http::Parser::kProceed;
  }
  int onHeadersComplete(proxy::http::MessageHead& head) noexcept override {
    ++heads;
    interim_ = head.status >= 100 && head.status < 200 && head.status != 101;
    if (interim_) return proxy::http::Parser::kProceed;
    bool bodiless = skip_body_ || head.status == 204 || head.status == 304;
    return bodiless ? proxy::http::Parser::kSkipBody : proxy::http::Parser::kProceed;
  }
  int onBody(const char* data, size_t length) noexcept override {
    body.append(data, length);
    return proxy::http::Parser::kProceed;
  }
  int onMessageComplete() noexcept override {
    if (interim_) return proxy::http::Parser::kProceed; // 1xx: the final response follows
    ++completes;
    return proxy::http::Parser::kPause;
  }

  int messages = 0;
  int heads = 0;
  int completes = 0;
  std::string body;

private:
  bool skip_body_;
  bool interim_ = false;
};

} // namespace fuzz
