// fuzz_response: the response path of an exchange, without the loop.
// Upstream bytes -> strict response parser -> the framing decision and head
// rewriting of DownstreamSession::onUpstreamHead (proxy/session/exchange.cc)
// -> the head, re-framed body and 1xx heads the client would receive.
//
// Input: byte 0 describes the request (bit 0: HEAD, else GET; bit 1: the
// client speaks HTTP/1.0; bit 2: it asked to upgrade; bit 3: it asked to
// close), byte 1 picks where the rest is split into two socket reads, and
// the upstream closes the connection after the last byte. Properties:
//  - what the client receives parses with the same strict parser, as the
//    1xx heads plus one final response with the same status and the same
//    body bytes, no hop-by-hop field, and the framing we announced;
//  - a Content-Length body has exactly that length;
//  - the same bytes fed whole or in two reads give the same transcript.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/http/parser.h"
#include "proxy/http/serialize.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

using proxy::http::equalsIgnoreCase;
using proxy::http::Framing;
using proxy::http::MessageHead;
using proxy::http::Parser;

// The upstream parser's limits (proxy/session/upstream.cc).
constexpr proxy::http::HeadLimits kResponseLimits{65536, 1000, 65536};
// Stands for the sticky / A-B cookies the session adds to a final response.
constexpr std::string_view kExtra = "Set-Cookie: SWY_SRV=1.0123456789abcdef.1.x; HttpOnly\r\n";
constexpr std::string_view kAlwaysHopByHop[] = {
    "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding",
};

struct Request {
  bool head = false;
  bool http10 = false;
  bool upgrade = false;
  bool close = false;
};

bool isAlwaysHopByHop(std::string_view name) {
  for (std::string_view h : kAlwaysHopByHop) {
    if (equalsIgnoreCase(name, h)) return true;
  }
  return false;
}

bool listedInConnection(const MessageHead& head, std::string_view name) {
  for (int c = head.find("connection"); c >= 0; c = head.find("connection", c + 1)) {
    if (proxy::http::listHasToken(head.value(static_cast<size_t>(c)), name)) return true;
  }
  return false;
}

// One upstream connection carrying one exchange. Records what the client
// would receive (`down`) and a read-independent transcript.
class ResponseSink final : public Parser::Handler {
public:
  explicit ResponseSink(Request request)
      : request_(request), parser_(Parser::Type::kResponse, this, kResponseLimits) {}

  Parser& parser() { return parser_; }
  std::string down;       // bytes written to the client
  std::string transcript; // heads and decoded body: independent of the reads
  std::string body;       // the final response's body as received
  bool complete = false;
  bool tunnel = false;
  Framing framing = Framing::kNone;
  proxy::http::DownstreamResponse info;
  MessageHead final_head;

  // UpstreamConnection::onHeadersComplete + DownstreamSession::onUpstreamHead.
  int onHeadersComplete(MessageHead& head) noexcept override {
    fuzz::checkHead(head);
    FUZZ_CHECK(head.status >= 100 && head.status <= 599); // RFC 9110 section 15
    interim_ = head.status >= 100 && head.status < 200 && head.status != 101;
    if (interim_) {
      if (request_.http10) return Parser::kProceed; // not forwarded to HTTP/1.0 clients
      size_t mark = down.size();
      proxy::http::serializeResponse(head, proxy::http::DownstreamResponse{}, &down);
      transcript.append(down, mark);
      return Parser::kProceed;
    }
    if (head.status == 101 && !request_.upgrade) return Parser::kFail; // -> 502
    decide(head);
    size_t mark = down.size();
    proxy::http::serializeResponse(head, info, &down);
    transcript.append(down, mark);
    final_head = head;
    head_sent_ = true;
    if (head.status == 101) tunnel = true;
    return framing == Framing::kNone ? Parser::kSkipBody : Parser::kProceed;
  }

  // DownstreamSession::onUpstreamBody: re-chunked, or as is.
  int onBody(const char* data, size_t length) noexcept override {
    if (length == 0) return Parser::kProceed;
    if (head_sent_) body.append(data, length);
    if (framing == Framing::kChunked) {
      char hdr[24];
      down.append(hdr, proxy::http::chunkHeader(length, hdr));
      down.append(data, length);
      down.append(proxy::http::kChunkTrailer);
    } else {
      down.append(data, length);
    }
    return Parser::kProceed;
  }

  int onMessageComplete() noexcept override {
    fuzz::checkHead(parser_.head());
    if (interim_ || parser_.head().status == 101) return Parser::kProceed;
    if (parser_.head().has_content_length && framing != Framing::kNone)
      FUZZ_CHECK(parser_.bodyBytes() == parser_.head().content_length);
    complete = true;
    return Parser::kPause;
  }

  // DownstreamSession::onUpstreamComplete.
  void finishExchange() {
    if (framing == Framing::kChunked) down.append(proxy::http::kLastChunk);
    transcript.append("|body ").append(body).append("|complete|");
  }

private:
  void decide(const MessageHead& head) {
    info = proxy::http::DownstreamResponse{};
    if (head.status == 101) {
      info.upgrade = true;
      framing = Framing::kNone;
    } else if (request_.head || head.status == 204 || head.status == 304) {
      framing = Framing::kNone;
      info.keep_length = request_.head || head.status == 304;
    } else if (head.has_content_length) {
      framing = Framing::kContentLength;
    } else {
      framing = request_.http10 ? Framing::kClose : Framing::kChunked;
    }
    info.framing = framing;
    info.close =
        request_.close || framing == Framing::kClose || (request_.upgrade && head.status != 101);
    info.extra = kExtra;
    info.keep_alive_10 = request_.http10 && !info.close;
  }

  Request request_;
  Parser parser_;
  bool interim_ = false;
  bool head_sent_ = false;
};

// The final head as the client parses it, against the upstream's.
void checkClientHead(const ResponseSink& sink, const MessageHead& client) {
  const MessageHead& up = sink.final_head;
  const proxy::http::DownstreamResponse& info = sink.info;
  FUZZ_CHECK(client.status == up.status);
  FUZZ_CHECK(client.chunked == (sink.framing == Framing::kChunked));
  FUZZ_CHECK(client.count("transfer-encoding") == (sink.framing == Framing::kChunked ? 1u : 0u));
  bool length = sink.framing == Framing::kContentLength ||
                (info.keep_length && up.count("content-length") > 0);
  FUZZ_CHECK(client.has_content_length == length);
  if (length) FUZZ_CHECK(client.content_length == up.content_length);
  FUZZ_CHECK(client.count("connection") ==
             (info.upgrade || info.close || info.keep_alive_10 ? 1u : 0u));
  size_t upstream_cookies = listedInConnection(up, "set-cookie") ? 0 : up.count("set-cookie");
  FUZZ_CHECK(client.count("set-cookie") == upstream_cookies + 1);
  for (size_t i = 0; i < client.fieldCount(); ++i) {
    std::string_view name = client.name(i);
    std::string_view value = client.value(i);
    bool framing = (equalsIgnoreCase(name, "transfer-encoding") && value == "chunked") ||
                   (equalsIgnoreCase(name, "connection") &&
                    (value == "upgrade" || value == "close" || value == "keep-alive"));
    FUZZ_CHECK(framing || !isAlwaysHopByHop(name));
    // The upstream's Connection options name its fields, not those the proxy adds.
    bool ours = framing || equalsIgnoreCase(name, "content-length") ||
                (equalsIgnoreCase(name, "set-cookie") && kExtra.find(value) != kExtra.npos);
    bool upgrade_field = info.upgrade && equalsIgnoreCase(name, "upgrade");
    FUZZ_CHECK(ours || upgrade_field || !listedInConnection(up, name));
    if (!info.upgrade) FUZZ_CHECK(!equalsIgnoreCase(name, "upgrade"));
  }
}

// Parses what the client received, as a client that sent `request` would.
void checkClientView(const ResponseSink& sink, const Request& request) {
  fuzz::Capture capture(request.head);
  Parser client(Parser::Type::kResponse, &capture, {1u << 20, 100000, 1u << 20});
  Parser::Outcome o = client.execute(sink.down.data(), sink.down.size());
  if (o.state == Parser::State::kOk && sink.framing == Framing::kClose) o = client.finish();
  bool parsed = o.state == Parser::State::kPaused || o.state == Parser::State::kUpgrade;
  if (!parsed || (sink.framing != Framing::kClose && o.consumed != sink.down.size())) {
    std::fprintf(stderr, "client parser: %s, consumed %zu\n",
                 parsed ? "stopped early" : client.errorReason(), o.consumed);
    fuzz::dump("sent to the client", sink.down);
    FUZZ_CHECK(!"the client parses exactly what it receives");
  }
  FUZZ_CHECK(capture.completes == 1);
  FUZZ_CHECK(capture.body == sink.body);
  checkClientHead(sink, client.head());
}

// Runs the exchange over `reads` then the upstream's EOF
// (UpstreamConnection::handlePlain / handleEof); returns the transcript.
std::string run(const Request& request, const std::vector<std::string_view>& reads) {
  ResponseSink sink(request);
  Parser::Outcome o{Parser::State::kOk, 0};
  size_t bytes = 0;
  for (std::string_view read : reads) {
    if (read.empty()) continue;
    bytes += read.size();
    o = fuzz::feed(sink.parser(), read, /*stop_on_pause=*/true);
    if (o.state != Parser::State::kOk) break;
  }
  Parser& parser = sink.parser();
  if (o.state == Parser::State::kOk && bytes > 0 && parser.inMessage() &&
      parser.messageNeedsEof()) {
    o = parser.finish(); // completes a close-delimited body
  }
  if (o.state == Parser::State::kPaused && sink.complete) {
    sink.finishExchange();
    checkClientView(sink, request);
  } else if (o.state == Parser::State::kUpgrade && sink.tunnel) {
    sink.transcript.append("|tunnel|");
    checkClientView(sink, request);
  } else if (o.state == Parser::State::kError) {
    sink.transcript.append("|error|"); // 502 whatever the reason
  } else {
    sink.transcript.append("|incomplete|");
  }
  return sink.transcript;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  Request request;
  request.head = (data[0] & 1) != 0;
  request.http10 = (data[0] & 2) != 0;
  request.upgrade = (data[0] & 4) != 0;
  request.close = (data[0] & 8) != 0 || (request.http10 && (data[0] & 16) == 0);
  std::string_view bytes(reinterpret_cast<const char*>(data) + 2, size - 2);
  size_t split = bytes.size() * data[1] / 255;
  std::string whole = run(request, {bytes});
  std::string split_run = run(request, {bytes.substr(0, split), bytes.substr(split)});
  if (whole != split_run) {
    std::fprintf(stderr, "split at %zu changes the outcome\n", split);
    fuzz::dump("whole", whole);
    fuzz::dump("split", split_run);
    FUZZ_CHECK(!"the same bytes give the same result in any split");
  }
  return 0;
}
