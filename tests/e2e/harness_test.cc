// Self-tests of the e2e harness without the proxy: the raw client talks to
// the fake upstream directly. When a proxy test fails, these tell whether the
// harness or the proxy is wrong.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cerrno>

#include "tests/support/e2e_checks.h"

using namespace swytest;
using std::chrono::milliseconds;

TEST_SUITE_BEGIN("e2e");

TEST_CASE("harness: parser splits pipelined requests and decodes chunked bodies") {
  MessageParser p(MessageParser::Kind::kRequest);
  std::string bytes = makeRequest("POST", "/a", "h", "", "hello") +
                      "POST /b HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" +
                      chunked("hello world", 4);
  for (size_t split = 1; split <= bytes.size(); ++split) {
    // Every split of the same bytes gives the same two messages.
    MessageParser q(MessageParser::Kind::kRequest);
    std::vector<HttpMessage> got;
    std::string pending;
    for (size_t off = 0; off < bytes.size(); off += split) {
      pending += bytes.substr(off, split);
      for (;;) {
        size_t used = q.feed(pending);
        pending.erase(0, used);
        REQUIRE(!q.failed());
        if (!q.done()) break;
        got.push_back(q.message());
        q.reset();
      }
    }
    REQUIRE(got.size() == 2);
    CHECK(got[0].body == "hello");
    CHECK(got[1].body == "hello world");
    CHECK(got[1].chunk_sizes == std::vector<uint64_t>{4, 4, 3});
  }
}

TEST_CASE("harness: a body with LF after the head is not a bare LF in the head") {
  MessageParser p(MessageParser::Kind::kResponse);
  p.feed("HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nx\ny");
  CHECK(p.done());
  CHECK(p.message().body == "x\ny");
}

TEST_CASE("harness: parser rejects bad framing") {
  const char* bad[] = {
      "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\nX: 1\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
  };
  for (const char* b : bad) {
    MessageParser p(MessageParser::Kind::kRequest);
    p.feed(b);
    CHECK_MESSAGE(p.failed(), b);
  }
}

TEST_CASE("harness: fake upstream serves the raw client, keep-alive and pipelining") {
  FakeUpstream up("u1", [](const UpstreamRequest& r) { return Reply::ok(r.message.target); });
  RawClient c(up.port());
  REQUIRE(c.connected());
  REQUIRE(c.send(makeRequest("GET", "/1") + makeRequest("GET", "/2") + makeRequest("GET", "/3")));
  auto rs = c.readResponses(3);
  REQUIRE(rs.size() == 3);
  CHECK(rs[0].body() == "/1");
  CHECK(rs[2].body() == "/3");
  CHECK(up.connectionCount() == 1);
  CHECK(up.requestCount() == 3);
  CHECK(up.requests()[2].sequence == 2);
}

TEST_CASE("harness: client reads chunked, close-delimited, HEAD and interim responses") {
  FakeUpstream up("u", [](const UpstreamRequest& r) {
    const std::string& t = r.message.target;
    if (t == "/chunked") {
      return Reply::send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
                         chunked("abcdefgh", 3));
    }
    if (t == "/head") return Reply::send("HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n");
    if (t == "/interim") {
      return Reply::send("HTTP/1.1 103 Early Hints\r\nLink: <a>\r\n\r\n" +
                         makeResponse(200, "OK", "x"));
    }
    return Reply::send("HTTP/1.1 200 OK\r\n\r\nuntil-close").thenClose();
  });
  RawClient c(up.port());
  Response r = c.roundTrip(makeRequest("GET", "/chunked"));
  CHECK(r.body() == "abcdefgh");
  CHECK(r.msg.framing == Framing::kChunked);
  r = c.roundTrip(makeRequest("HEAD", "/head"));
  CHECK(r.complete);
  CHECK(r.body().empty());
  r = c.roundTrip(makeRequest("GET", "/interim"));
  REQUIRE(r.msg.interim.size() == 1);
  CHECK(r.msg.interim[0].status == 103);
  CHECK(r.body() == "x");
  r = c.roundTrip(makeRequest("GET", "/close"));
  CHECK(r.complete);
  CHECK(r.msg.framing == Framing::kClose);
  CHECK(r.body() == "until-close");
}

TEST_CASE("harness: head hook, hold/release, reset and refusing port") {
  FakeUpstream up("u", [](const UpstreamRequest& r) {
    if (r.message.target == "/reset") return Reply::reset();
    return Reply::ok(r.message.body).holdFor(milliseconds(5000));
  });
  up.setHeadHook([](const HttpMessage& m) {
    return m.headers.has("Expect") ? std::string("HTTP/1.1 100 Continue\r\n\r\n") : std::string();
  });
  RawClient c(up.port());
  REQUIRE(
      c.send("POST /x HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"));
  Response interim = c.readInterim();
  CHECK(interim.status() == 100);
  REQUIRE(c.send("hi"));
  REQUIRE(up.waitForRequests(1, milliseconds(2000)));
  up.release();
  CHECK(c.readResponse().body() == "hi");

  RawClient d(up.port());
  REQUIRE(d.send(makeRequest("GET", "/reset")));
  Response r = d.readResponse();
  CHECK(!r.complete);
  CHECK(r.io == IoStatus::kReset);

  RefusingPort refusing;
  int err = 0;
  Fd fd = connectLoopback(refusing.port(), &err);
  CHECK(!fd.valid());
  CHECK(err == ECONNREFUSED);
}

TEST_CASE("harness: peer closes are counted for silent and takeover replies") {
  FakeUpstream up("u", [](const UpstreamRequest& r) {
    if (r.message.target == "/silent") return Reply::silent();
    Reply reply = Reply::send("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n");
    reply.takeover = [](UpstreamConn& conn) {
      std::string rest;
      conn.readToEof(&rest, milliseconds(3000));
      return false;
    };
    return reply;
  });
  RawClient a(up.port());
  REQUIRE(a.send(makeRequest("GET", "/silent")));
  REQUIRE(up.waitForRequests(1, milliseconds(2000)));
  a.close();
  CHECK(up.waitForPeerClosed(1, milliseconds(2000)));
  RawClient b(up.port());
  CHECK(b.roundTrip(makeRequest("GET", "/tunnel")).status() == 101);
  b.close();
  CHECK(up.waitForPeerClosed(2, milliseconds(2000)));
}

TEST_CASE("harness: payload hash and JSON lines") {
  Fnv64 h;
  h.update(payloadBytes(7, 0, 1000));
  h.update(payloadBytes(7, 1000, 2333));
  CHECK(h.value == payloadHash(7, 3333));
  auto j = JsonLine::parse(R"({"a":"x\"y","n":12.5,"t":"--","z":null})");
  REQUIRE(j.has_value());
  CHECK(j->str("a") == "x\"y");
  CHECK(j->num("n") == 12.5);
  CHECK(!JsonLine::parse("{\"a\":1} trailing").has_value());
}

TEST_CASE("harness: switchyard binary is configured") {
  INFO("SWITCHYARD_BIN=" << switchyardBin());
  CHECK(!switchyardBin().empty());
  CHECK(::access(switchyardBin().c_str(), X_OK) == 0);
}

TEST_SUITE_END();
