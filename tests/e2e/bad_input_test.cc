// Bad input (issue 2 §7): malformed and smuggling-shaped requests get a
// clear 4xx, the connection is closed, and the upstream never sees a request
// (in particular never a hidden second one). Limits give 414/431/413.
#include <doctest/doctest.h>

#include <cstdio>

#include "tests/support/e2e_checks.h"

using namespace swytest;
using std::chrono::milliseconds;

namespace {

const std::string kSmuggled = "GET /smuggled HTTP/1.1\r\nHost: example.test\r\n\r\n";

std::string hexSize(size_t n) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%zx", n);
  return buf;
}

struct Rig {
  FakeUpstream up{"app", [](const UpstreamRequest& r) { return Reply::ok(r.message.target); }};
  ProxyProcess proxy;
  Rig() {
    ProxyConfig cfg = singleUpstream(up.port());
    cfg.limits =
        "{max_header_bytes: 2048, max_headers: 20, max_uri_bytes: 256, max_body_bytes: 1000}";
    startOrFail(proxy, cfg);
  }

  // Sends `bytes` (in `piece`-sized writes, 0 = one write) and checks the
  // rejection: `status`, error shape, closed connection, log term P<phase>, and
  // that a following good request is the only thing the upstream ever saw.
  // `in_body`: the error is in the body, so a streaming proxy may already have
  // forwarded the head (never a complete request); otherwise nothing at all.
  void expectRejected(const std::string& bytes, int status, size_t piece = 0,
                      bool in_body = false) {
    RawClient c(proxy.port());
    REQUIRE(c.connected());
    if (piece == 0)
      c.send(bytes);
    else
      c.sendInPieces(bytes, piece);
    Response r = c.readResponse();
    checkErrorResponse(c, r, status, true);
    JsonLine log = logLineAt(proxy, 0);
    CHECK(log.num("status") == status);
    CHECK(log.str("term") == (in_body ? "PD" : "PR")); // refused by the proxy, in head/body

    // Sync point: a good request on a fresh connection reaches the upstream
    // after anything the proxy might have forwarded from the bad one.
    CHECK(httpGet(proxy.port(), "/good").body() == "/good");
    REQUIRE(up.waitForRequests(1, milliseconds(2000)));
    std::vector<UpstreamRequest> seen = up.requests();
    CHECK(seen.size() == 1);
    CHECK(seen[0].message.target == "/good");
    CHECK(up.allRawReceived().find("smuggled") == std::string::npos);
    if (in_body) {
      for (const std::string& e : up.parseErrors()) {
        CHECK_MESSAGE(e.find("eof mid-message") != std::string::npos, e);
      }
    } else {
      // Nothing but the good request ever reached the upstream.
      CHECK(up.allRawReceived() == seen[0].message.raw_head);
      CHECK(up.parseErrors().empty());
    }
  }
};

} // namespace

TEST_SUITE_BEGIN("e2e");

TEST_CASE("bad input: Content-Length with Transfer-Encoding is 400, nothing smuggled") {
  Rig().expectRejected("POST / HTTP/1.1\r\nHost: example.test\r\nContent-Length: " +
                           std::to_string(5 + kSmuggled.size()) +
                           "\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + kSmuggled,
                       400);
}

TEST_CASE("bad input: Transfer-Encoding before Content-Length is 400, nothing smuggled") {
  Rig().expectRejected("POST / HTTP/1.1\r\nHost: example.test\r\nTransfer-Encoding: chunked\r\n"
                       "Content-Length: 4\r\n\r\n" +
                           hexSize(kSmuggled.size()) + "\r\n" + kSmuggled + "\r\n0\r\n\r\n",
                       400);
}

TEST_CASE("bad input: CL+TE sent one byte at a time is still 400") {
  Rig().expectRejected("POST / HTTP/1.1\r\nHost: example.test\r\nContent-Length: 5\r\n"
                       "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" +
                           kSmuggled,
                       400, 1);
}

TEST_CASE("bad input: two different Content-Length headers are 400") {
  Rig().expectRejected("POST / HTTP/1.1\r\nHost: example.test\r\nContent-Length: 5\r\n"
                       "Content-Length: " +
                           std::to_string(5 + kSmuggled.size()) + "\r\n\r\nhello" + kSmuggled,
                       400);
}

TEST_CASE("bad input: a Content-Length list with different values is 400") {
  Rig().expectRejected("POST / HTTP/1.1\r\nHost: example.test\r\nContent-Length: 5, " +
                           std::to_string(5 + kSmuggled.size()) + "\r\n\r\nhello" + kSmuggled,
                       400);
}

TEST_CASE("bad input: a non-numeric Content-Length is 400") {
  Rig().expectRejected("POST / HTTP/1.1\r\nHost: example.test\r\nContent-Length: 5x\r\n\r\nhello",
                       400);
}

TEST_CASE("bad input: whitespace before the colon is 400") {
  Rig().expectRejected("POST / HTTP/1.1\r\nHost: example.test\r\nContent-Length : " +
                           std::to_string(kSmuggled.size()) + "\r\n\r\n" + kSmuggled,
                       400);
}

TEST_CASE("bad input: an invalid chunk size is 400") {
  Rig().expectRejected("POST / HTTP/1.1\r\nHost: example.test\r\nTransfer-Encoding: chunked\r\n"
                       "\r\nzz\r\nhello\r\n0\r\n\r\n",
                       400, 0, true);
}

TEST_CASE("bad input: an overflowing chunk size is 400") {
  Rig().expectRejected("POST / HTTP/1.1\r\nHost: example.test\r\nTransfer-Encoding: chunked\r\n"
                       "\r\nfffffffffffffffffffff\r\nhello\r\n0\r\n\r\n",
                       400, 0, true);
}

TEST_CASE("bad input: chunk data longer than its size is 400") {
  Rig().expectRejected("POST / HTTP/1.1\r\nHost: example.test\r\nTransfer-Encoding: chunked\r\n"
                       "\r\n5\r\nhelloXX\r\n0\r\n\r\n",
                       400, 0, true);
}

TEST_CASE("bad input: a Transfer-Encoding that does not end in chunked is 400") {
  Rig().expectRejected(
      "POST / HTTP/1.1\r\nHost: example.test\r\nTransfer-Encoding: gzip\r\n\r\n" + kSmuggled, 400);
}

TEST_CASE("bad input: obs-fold is 400") {
  Rig().expectRejected("GET / HTTP/1.1\r\nHost: example.test\r\nX-Folded: a\r\n  b\r\n\r\n", 400);
}

TEST_CASE("bad input: a bare CR in a header is 400") {
  Rig().expectRejected("GET / HTTP/1.1\r\nHost: example.test\r\nX-A: a\rb\r\n\r\n", 400);
}

TEST_CASE("bad input: a bare LF line ending in the head is 400") {
  Rig().expectRejected("GET / HTTP/1.1\r\nHost: example.test\nX-A: 1\r\n\r\n", 400);
}

TEST_CASE("bad input: a NUL in a header value is 400") {
  const char raw[] = "GET / HTTP/1.1\r\nHost: example.test\r\nX-A: a\0b\r\n\r\n";
  Rig().expectRejected(std::string(raw, sizeof raw - 1), 400);
}

TEST_CASE("bad input: a missing Host in HTTP/1.1 is 400") {
  Rig().expectRejected("GET / HTTP/1.1\r\nX-A: 1\r\n\r\n", 400);
}

TEST_CASE("bad input: two Host headers are 400") {
  Rig().expectRejected("GET / HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n", 400);
}

TEST_CASE("bad input: an invalid Host or authority is 400") {
  for (const char* host : {"a.test:80x", "a b.test", "a.test:123456", "[::1", "[zz]:80", "a/b",
                           "a.test:8)0", "a\"b"}) {
    CAPTURE(host);
    Rig().expectRejected("GET / HTTP/1.1\r\nHost: " + std::string(host) + "\r\n\r\n", 400);
  }
  Rig().expectRejected("GET http://a.test:09)0/x HTTP/1.1\r\nHost: a\r\n\r\n", 400);
  Rig().expectRejected("GET http://a.test/x HTTP/1.1\r\nHost: a b\r\n\r\n", 400);
}

TEST_CASE("bad input: the HTTP/2 preface method PRI is 400, never forwarded") {
  Rig().expectRejected("PRI http://a.test/x HTTP/1.1\r\nHost: a.test\r\n\r\n", 400);
  Rig().expectRejected("PRI / HTTP/1.1\r\nHost: a.test\r\n\r\n", 400);
}

TEST_CASE("bad input: a valid Host with a port, an IPv6 literal or sub-delims is accepted") {
  Rig rig;
  for (const char* host :
       {"a.test:8080", "[::1]:80", "[2001:db8::1]", "a-b_c.test", "127.0.0.1", ""}) {
    CAPTURE(host);
    RawClient c(rig.proxy.port());
    Response r = c.roundTrip("GET /ok HTTP/1.1\r\nHost: " + std::string(host) + "\r\n\r\n");
    CHECK(r.status() == 200);
  }
}

TEST_CASE("bad input: a garbage request line is 400") {
  Rig().expectRejected("THIS IS NOT HTTP\r\n\r\n", 400);
}

TEST_CASE("bad input: a URI over max_uri_bytes is 414") {
  Rig().expectRejected(makeRequest("GET", "/" + std::string(300, 'u')), 414);
}

TEST_CASE("bad input: headers over max_header_bytes are 431") {
  Rig().expectRejected(
      makeRequest("GET", "/", "example.test", "X-Big: " + std::string(3000, 'h') + "\r\n"), 431);
}

TEST_CASE("bad input: more than max_headers headers is 431") {
  std::string headers;
  for (int i = 0; i < 30; ++i)
    headers += "X-H" + std::to_string(i) + ": v\r\n";
  Rig().expectRejected(makeRequest("GET", "/", "example.test", headers), 431);
}

TEST_CASE("bad input: a Content-Length over max_body_bytes is 413") {
  Rig().expectRejected(makeRequest("POST", "/", "example.test", "", std::string(1001, 'b')), 413);
}

TEST_CASE("bad input: a chunked body growing over max_body_bytes is 413") {
  Rig().expectRejected(
      "POST / HTTP/1.1\r\nHost: example.test\r\nTransfer-Encoding: chunked\r\n\r\n" +
          chunked(std::string(1500, 'b'), 500),
      413, 0, true);
}

TEST_CASE("bad input: requests just within every limit pass") {
  Rig rig;
  std::string headers;
  for (int i = 0; i < 15; ++i)
    headers += "X-H" + std::to_string(i) + ": v\r\n";
  std::string target = "/" + std::string(200, 'u');
  RawClient c(rig.proxy.port());
  Response r =
      c.roundTrip(makeRequest("POST", target, "example.test", headers, std::string(1000, 'b')));
  INFO(r.describe());
  CHECK(r.status() == 200);
  REQUIRE(rig.up.requestCount() == 1);
  CHECK(rig.up.requests()[0].message.body_size == 1000);
  CHECK(rig.up.requests()[0].message.target == target);
}

TEST_SUITE_END();

TEST_CASE("bad input: HTTP/1.0 with Transfer-Encoding is 400 (RFC 9112 6.1), nothing smuggled") {
  Rig rig;
  rig.expectRejected("POST /x HTTP/1.0\r\nHost: example.test\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "0\r\n\r\n" +
                         kSmuggled,
                     400);
}

TEST_CASE("bad input: an empty header name is 400") {
  Rig rig;
  rig.expectRejected("GET /x HTTP/1.1\r\nHost: example.test\r\n: empty\r\n\r\n", 400);
}

TEST_CASE("bad input: chunk extensions are accepted and not forwarded; the body arrives intact") {
  Rig rig;
  RawClient c(rig.proxy.port());
  Response r = c.roundTrip("POST /ext HTTP/1.1\r\nHost: example.test\r\nTransfer-Encoding: "
                           "chunked\r\n\r\n5;name=\"va;lue\"\r\nhello\r\n0;last\r\n\r\n");
  CHECK(r.status() == 200);
  REQUIRE(rig.up.waitForRequests(1, milliseconds(2000)));
  UpstreamRequest seen = rig.up.requests().at(0);
  CHECK(seen.message.body == "hello");
  CHECK(rig.up.allRawReceived().find("name=") == std::string::npos);
}

TEST_CASE("bad input: absolute-form overrides Host; the upstream sees one consistent Host") {
  Rig rig;
  RawClient c(rig.proxy.port());
  Response r = c.roundTrip(
      "GET http://real.example.test/abs?q=1 HTTP/1.1\r\nHost: other.example.test\r\n\r\n");
  CHECK(r.status() == 200);
  REQUIRE(rig.up.waitForRequests(1, milliseconds(2000)));
  UpstreamRequest seen = rig.up.requests().at(0);
  CHECK(seen.message.target == "/abs?q=1"); // origin-form upstream
  CHECK(seen.message.headers.valueOr("Host") == "real.example.test");
  CHECK(seen.message.headers.count("Host") == 1);
}
