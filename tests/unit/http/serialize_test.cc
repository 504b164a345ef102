#include <doctest/doctest.h>

#include <string>

#include "proxy/core/error.h"
#include "proxy/http/parser.h"
#include "proxy/http/serialize.h"

using namespace proxy::http;

namespace {

// Parses one head into `parser`'s MessageHead.
struct HeadOnly : Parser::Handler {
  int onHeadersComplete(MessageHead&) noexcept override { return Parser::kPause; }
  int onBody(const char*, size_t) noexcept override { return Parser::kProceed; }
  int onMessageComplete() noexcept override { return Parser::kProceed; }
};

bool has(const std::string& s, const std::string& needle) {
  return s.find(needle) != std::string::npos;
}

} // namespace

TEST_CASE("upstream request drops hop-by-hop fields and adds X-Forwarded-*") {
  HeadOnly h;
  Parser p(Parser::Type::kRequest, &h, {});
  std::string in =
      "GET /x HTTP/1.1\r\nHost: Example.com:8080\r\nConnection: keep-alive, X-Secret\r\n"
      "X-Secret: 1\r\nKeep-Alive: 5\r\nProxy-Connection: x\r\nTE: trailers\r\nTrailer: a\r\n"
      "Upgrade: websocket\r\nX-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Proto: https\r\n"
      "Cookie: a=1\r\n\r\n";
  REQUIRE(p.execute(in.data(), in.size()).state == Parser::State::kPaused);
  UpstreamRequest info{"GET", "/x", "Example.com:8080", "127.0.0.1", "http", Framing::kNone, false};
  std::string out;
  serializeRequest(p.head(), info, &out);
  CHECK(out.rfind("GET /x HTTP/1.1\r\nHost: Example.com:8080\r\n", 0) == 0);
  for (const char* gone : {"Connection", "X-Secret", "Keep-Alive", "Proxy-Connection",
                           "TE:", "Trailer", "Upgrade", "https"}) {
    CAPTURE(gone);
    CHECK_FALSE(has(out, gone));
  }
  CHECK(has(out, "X-Forwarded-For: 10.0.0.1, 127.0.0.1\r\n"));
  CHECK(has(out, "X-Forwarded-Proto: http\r\n"));
  CHECK(has(out, "X-Forwarded-Host: Example.com:8080\r\n"));
  CHECK(has(out, "Cookie: a=1\r\n"));
  CHECK(out.size() > 4);
  CHECK(out.substr(out.size() - 4) == "\r\n\r\n");
}

TEST_CASE("upgrade keeps Upgrade and says Connection: upgrade; chunked is re-declared") {
  HeadOnly h;
  Parser p(Parser::Type::kRequest, &h, {});
  std::string in =
      "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";
  REQUIRE(p.execute(in.data(), in.size()).state != Parser::State::kError);
  std::string out;
  serializeRequest(p.head(), {"GET", "/ws", "h", "::1", "http", Framing::kChunked, true}, &out);
  CHECK(has(out, "Upgrade: websocket\r\n"));
  CHECK(has(out, "Connection: upgrade\r\n"));
  CHECK(has(out, "Transfer-Encoding: chunked\r\n"));
}

TEST_CASE("downstream response re-frames and marks close") {
  HeadOnly h;
  Parser p(Parser::Type::kResponse, &h, {});
  std::string in = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\nX-App: 1\r\n\r\n";
  REQUIRE(p.execute(in.data(), in.size()).state == Parser::State::kPaused);
  std::string chunked;
  serializeResponse(p.head(), {Framing::kChunked, false, false, false, false}, &chunked);
  CHECK(chunked.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK_FALSE(has(chunked, "Content-Length"));
  CHECK(has(chunked, "Transfer-Encoding: chunked\r\n"));
  CHECK_FALSE(has(chunked, "Connection"));
  CHECK(has(chunked, "X-App: 1\r\n"));
  std::string cl;
  serializeResponse(p.head(), {Framing::kContentLength, true, false, false, false}, &cl);
  CHECK(has(cl, "Content-Length: 3\r\n"));
  CHECK(has(cl, "Connection: close\r\n"));
}

TEST_CASE("local responses carry a short text body and the right reason") {
  std::string out;
  serializeLocalResponse(431, "header section too large", true, false, &out);
  CHECK(out.rfind("HTTP/1.1 431 Request Header Fields Too Large\r\n", 0) == 0);
  CHECK(has(out, "Content-Length: 25\r\n"));
  CHECK(has(out, "Connection: close\r\n"));
  CHECK(out.substr(out.size() - 25) == "header section too large\n");
  std::string head;
  serializeLocalResponse(404, "no route", false, true, &head);
  CHECK(head.substr(head.size() - 4) == "\r\n\r\n");
}

TEST_CASE("chunk header is hex with CRLF; error kinds map to statuses") {
  char buf[24];
  size_t n = chunkHeader(255, buf);
  CHECK(std::string(buf, n) == "ff\r\n");
  CHECK(proxy::statusFor(proxy::ErrorKind::kBadRequest) == 400);
  CHECK(proxy::statusFor(proxy::ErrorKind::kNoRoute) == 404);
  CHECK(proxy::statusFor(proxy::ErrorKind::kPayloadTooLarge) == 413);
  CHECK(proxy::statusFor(proxy::ErrorKind::kUriTooLong) == 414);
  CHECK(proxy::statusFor(proxy::ErrorKind::kHeadersTooLarge) == 431);
  CHECK(proxy::statusFor(proxy::ErrorKind::kBadGateway) == 502);
  CHECK(proxy::statusFor(proxy::ErrorKind::kUnavailable) == 503);
  CHECK(proxy::statusFor(proxy::ErrorKind::kGatewayTimeout) == 504);
}
