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

UpstreamRequest upstreamRequest(std::string_view method, std::string_view target,
                                std::string_view host, std::string_view client_ip,
                                Framing framing = Framing::kNone, bool upgrade = false) {
  UpstreamRequest r;
  r.method = method;
  r.target = target;
  r.host = host;
  r.client_ip = client_ip;
  r.proto = "http";
  r.framing = framing;
  r.upgrade = upgrade;
  return r;
}

DownstreamResponse downstreamResponse(Framing framing, bool close) {
  DownstreamResponse r;
  r.framing = framing;
  r.close = close;
  return r;
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
  UpstreamRequest info = upstreamRequest("GET", "/x", "Example.com:8080", "127.0.0.1");
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
  serializeRequest(p.head(), upstreamRequest("GET", "/ws", "h", "::1", Framing::kChunked, true),
                   &out);
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
  serializeResponse(p.head(), downstreamResponse(Framing::kChunked, false), &chunked);
  CHECK(chunked.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK_FALSE(has(chunked, "Content-Length"));
  CHECK(has(chunked, "Transfer-Encoding: chunked\r\n"));
  CHECK_FALSE(has(chunked, "Connection"));
  CHECK(has(chunked, "X-App: 1\r\n"));
  std::string cl;
  serializeResponse(p.head(), downstreamResponse(Framing::kContentLength, true), &cl);
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

TEST_CASE("the sticky cookie is removed from Cookie, other cookies keep their order") {
  std::string out;
  CHECK(appendCookiesWithout("a=1; SWY_SRV=xyz; b=2;c=3", "SWY_SRV", &out));
  CHECK(out == "a=1; b=2; c=3");
  out.clear();
  CHECK_FALSE(appendCookiesWithout("SWY_SRV=xyz", "SWY_SRV", &out));
  CHECK(out.empty());
  out.clear();
  CHECK(appendCookiesWithout("XSWY_SRV=1; SWY_SRVX=2", "SWY_SRV", &out));
  CHECK(out == "XSWY_SRV=1; SWY_SRVX=2");
}

TEST_CASE(
    "upstream request: sticky cookie stripped, variant header replaced, extra response fields") {
  HeadOnly h;
  Parser p(Parser::Type::kRequest, &h, {});
  std::string in = "GET / HTTP/1.1\r\nHost: h\r\nCookie: SWY_SRV=v\r\nCookie: a=1; SWY_SRV=v\r\n"
                   "X-Switchyard-Variant: forged\r\n\r\n";
  REQUIRE(p.execute(in.data(), in.size()).state == Parser::State::kPaused);
  UpstreamRequest info = upstreamRequest("GET", "/", "h", "127.0.0.1");
  info.strip_cookie = "SWY_SRV";
  info.variant = "v2";
  std::string out;
  serializeRequest(p.head(), info, &out);
  CHECK_FALSE(has(out, "SWY_SRV"));
  CHECK(has(out, "Cookie: a=1\r\n"));
  CHECK_FALSE(has(out, "forged"));
  CHECK(has(out, "X-Switchyard-Variant: v2\r\n"));

  HeadOnly rh;
  Parser rp(Parser::Type::kResponse, &rh, {});
  std::string resp = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  REQUIRE(rp.execute(resp.data(), resp.size()).state == Parser::State::kPaused);
  DownstreamResponse dr;
  dr.framing = Framing::kContentLength;
  dr.extra = "Set-Cookie: SWY_SRV=abc; Path=/\r\n";
  std::string head;
  serializeResponse(rp.head(), dr, &head);
  CHECK(has(head, "\r\nSet-Cookie: SWY_SRV=abc; Path=/\r\n"));
  CHECK(head.substr(head.size() - 4) == "\r\n\r\n");
}

TEST_CASE("Connection naming Content-Length never strips the framing (fuzzer regression)") {
  HeadOnly h;
  Parser p(Parser::Type::kRequest, &h, {});
  std::string in = "POST /x HTTP/1.1\r\nHost: h\r\nConnection: Content-Length\r\n"
                   "Content-Length: 5\r\n\r\n";
  REQUIRE(p.execute(in.data(), in.size()).state == Parser::State::kPaused);
  UpstreamRequest info = upstreamRequest("POST", "/x", "h", "127.0.0.1", Framing::kContentLength);
  std::string out;
  serializeRequest(p.head(), info, &out);
  CHECK(has(out, "Content-Length: 5\r\n"));
}

TEST_CASE("the sticky cookie is stripped even with a tab before '=' (fuzzer regression)") {
  std::string out;
  bool any = appendCookiesWithout("a=1; SWY_SRV\t=abc; b=2", "SWY_SRV", &out);
  CHECK(any);
  CHECK(out == "a=1; b=2");
}
