// Forwarding (issue 2 §6): keep-alive and pooling, pipelining, HEAD/1xx/204/
// 304, hop-by-hop removal, X-Forwarded-*, Host, response framing, Upgrade.
#include <doctest/doctest.h>

#include "tests/support/e2e_checks.h"

using namespace swytest;
using std::chrono::milliseconds;

namespace {

// A proxy in front of one upstream driven by `handler`.
struct Rig {
  FakeUpstream up;
  ProxyProcess proxy;
  explicit Rig(FakeUpstream::Handler handler = {}) : up("app", std::move(handler)) {
    startOrFail(proxy, singleUpstream(up.port()));
  }
  RawClient client() { return RawClient(proxy.port()); }
};

Reply echoTarget(const UpstreamRequest& r) { return Reply::ok(r.message.target); }

} // namespace

TEST_SUITE_BEGIN("e2e");

TEST_CASE("forwarding: two requests on one client connection reuse one upstream connection") {
  Rig rig(echoTarget);
  RawClient c = rig.client();
  CHECK(c.roundTrip(makeRequest("GET", "/one")).body() == "/one");
  CHECK(c.roundTrip(makeRequest("GET", "/two")).body() == "/two");
  CHECK(rig.up.requestCount() == 2);
  CHECK(rig.up.connectionCount() == 1);
  CHECK(c.waitClosed(milliseconds(0)) == IoStatus::kTimeout); // client side kept alive
}

TEST_CASE("forwarding: idle upstream connections are pooled across client connections") {
  Rig rig(echoTarget);
  CHECK(httpGet(rig.proxy.port(), "/a").body() == "/a");
  CHECK(httpGet(rig.proxy.port(), "/b").body() == "/b");
  CHECK(httpGet(rig.proxy.port(), "/c").body() == "/c");
  CHECK(rig.up.requestCount() == 3);
  CHECK(rig.up.connectionCount() == 1);
}

TEST_CASE("forwarding: three pipelined requests in one write are answered in order") {
  Rig rig(echoTarget);
  RawClient c = rig.client();
  REQUIRE(c.send(makeRequest("GET", "/p1") +
                 makeRequest("POST", "/p2", "example.test", "", "body") +
                 makeRequest("GET", "/p3")));
  std::vector<Response> rs = c.readResponses(3);
  REQUIRE(rs.size() == 3);
  CHECK(rs[0].body() == "/p1");
  CHECK(rs[1].body() == "/p2");
  CHECK(rs[2].body() == "/p3");
  std::vector<UpstreamRequest> seen = rig.up.requests();
  REQUIRE(seen.size() == 3);
  CHECK(seen[1].message.body == "body");
  CHECK(seen[2].message.target == "/p3");
}

TEST_CASE("forwarding: a HEAD response has no body and the connection stays usable") {
  Rig rig([](const UpstreamRequest& r) {
    if (r.message.method == "HEAD") {
      return Reply::send("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
    }
    return Reply::ok("after " + r.message.target);
  });
  RawClient c = rig.client();
  Response head = c.roundTrip(makeRequest("HEAD", "/h"));
  REQUIRE(head.complete);
  CHECK(head.status() == 200);
  CHECK(head.headers().valueOr("Content-Length") == "1000");
  Response after = c.roundTrip(makeRequest("GET", "/x"));
  INFO("after HEAD: " << after.describe());
  CHECK(after.body() == "after /x");
  CHECK(rig.up.requestCount() == 2);
}

TEST_CASE("forwarding: a 204 response has no body and the connection stays usable") {
  Rig rig([](const UpstreamRequest& r) {
    if (r.message.target == "/204") {
      return Reply::send("HTTP/1.1 204 No Content\r\nX-Was: 204\r\n\r\n");
    }
    return Reply::ok("after " + r.message.target);
  });
  RawClient c = rig.client();
  Response no_content = c.roundTrip(makeRequest("GET", "/204"));
  CHECK(no_content.status() == 204);
  CHECK(no_content.headers().valueOr("X-Was") == "204");
  CHECK_FALSE(no_content.headers().has("Content-Length")); // RFC 9110 §8.6
  CHECK_FALSE(no_content.headers().has("Transfer-Encoding"));
  Response after = c.roundTrip(makeRequest("GET", "/y"));
  INFO("after 204: " << after.describe());
  CHECK(after.body() == "after /y");
  CHECK(rig.up.requestCount() == 2);
}

TEST_CASE("forwarding: a 304 with Content-Length has no body and the connection stays usable") {
  // RFC 9110 §8.6: in a 304, Content-Length is the size the 200 would have had.
  Rig rig([](const UpstreamRequest& r) {
    if (r.message.target == "/304") {
      return Reply::send(
          "HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nContent-Length: 1234\r\n\r\n");
    }
    return Reply::ok("after " + r.message.target);
  });
  RawClient c = rig.client();
  Response not_modified =
      c.roundTrip(makeRequest("GET", "/304", "example.test", "If-None-Match: \"v1\"\r\n"));
  CHECK(not_modified.status() == 304);
  CHECK(not_modified.headers().valueOr("ETag") == "\"v1\"");
  CHECK_FALSE(not_modified.headers().has("Transfer-Encoding"));
  Response after = c.roundTrip(makeRequest("GET", "/z"));
  INFO("after 304: " << after.describe());
  CHECK(after.body() == "after /z");
  CHECK(rig.up.requestCount() == 2);
  CHECK(logLineAt(rig.proxy, 0).str("term") == "--");
}

TEST_CASE("forwarding: Expect: 100-continue gets the upstream's 100 before the body is sent") {
  Rig rig([](const UpstreamRequest& r) { return Reply::ok("got " + r.message.body); });
  rig.up.setHeadHook([](const HttpMessage& m) {
    return m.headers.hasToken("Expect", "100-continue")
               ? std::string("HTTP/1.1 100 Continue\r\n\r\n")
               : std::string();
  });
  RawClient c = rig.client();
  REQUIRE(c.send("POST /upload HTTP/1.1\r\nHost: example.test\r\nExpect: 100-continue\r\n"
                 "Content-Length: 5\r\n\r\n"));
  Response interim = c.readInterim(milliseconds(2000));
  INFO(interim.describe());
  CHECK(interim.status() == 100);
  REQUIRE(c.send("hello"));
  Response r = c.readResponse();
  CHECK(r.status() == 200);
  CHECK(r.body() == "got hello");
  REQUIRE(rig.up.requestCount() == 1);
  CHECK(rig.up.requests()[0].message.body == "hello");
}

TEST_CASE("forwarding: a 103 interim response is forwarded before the final one") {
  Rig rig([](const UpstreamRequest&) {
    return Reply::send("HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n" +
                       makeResponse(200, "OK", "final"));
  });
  RawClient c = rig.client();
  Response r = c.roundTrip(makeRequest("GET", "/"));
  CHECK(r.status() == 200);
  CHECK(r.body() == "final");
  REQUIRE(r.msg.interim.size() == 1);
  CHECK(r.msg.interim[0].status == 103);
  CHECK(r.msg.interim[0].headers.valueOr("Link") == "</s.css>; rel=preload");
}

TEST_CASE("forwarding: hop-by-hop request headers are not forwarded") {
  Rig rig;
  RawClient c = rig.client();
  Response r = c.roundTrip(makeRequest(
      "GET", "/", "example.test",
      "Connection: keep-alive, X-Secret\r\nX-Secret: 1\r\nKeep-Alive: timeout=5\r\n"
      "Proxy-Connection: keep-alive\r\nTE: trailers\r\nTrailer: X-T\r\nUpgrade: foo/1\r\n"
      "X-End-To-End: kept\r\n"));
  REQUIRE(r.status() == 200);
  REQUIRE(rig.up.requestCount() == 1);
  const Headers h = rig.up.requests()[0].message.headers;
  CHECK_FALSE(h.has("X-Secret"));
  CHECK_FALSE(h.has("Keep-Alive"));
  CHECK_FALSE(h.has("Proxy-Connection"));
  CHECK_FALSE(h.has("TE"));
  CHECK_FALSE(h.has("Trailer"));
  CHECK_FALSE(h.has("Upgrade"));
  CHECK_FALSE(h.hasToken("Connection", "X-Secret"));
  CHECK(h.valueOr("X-End-To-End") == "kept");
}

TEST_CASE("forwarding: hop-by-hop response headers are not forwarded") {
  Rig rig([](const UpstreamRequest&) {
    return Reply::ok("ok", "Connection: X-Up-Secret\r\nX-Up-Secret: 1\r\nKeep-Alive: timeout=5\r\n"
                           "Proxy-Connection: keep-alive\r\nX-Up-Kept: yes\r\n");
  });
  RawClient c = rig.client();
  Response r = c.roundTrip(makeRequest("GET", "/"));
  REQUIRE(r.status() == 200);
  CHECK_FALSE(r.headers().has("X-Up-Secret"));
  CHECK_FALSE(r.headers().has("Keep-Alive"));
  CHECK_FALSE(r.headers().has("Proxy-Connection"));
  CHECK_FALSE(r.headers().hasToken("Connection", "X-Up-Secret"));
  CHECK(r.headers().valueOr("X-Up-Kept") == "yes");
}

TEST_CASE("forwarding: X-Forwarded-For/Proto/Host are set, Host and target preserved") {
  Rig rig;
  RawClient c = rig.client();
  REQUIRE(c.roundTrip(makeRequest("GET", "/a/b?c=d&e=%20f", "shop.example.com:8080",
                                  "X-Dup: 1\r\nX-Dup: 2\r\n"))
              .status() == 200);
  REQUIRE(c.roundTrip(makeRequest("GET", "/second", "shop.example.com",
                                  "X-Forwarded-For: 10.1.2.3\r\nX-Forwarded-Proto: https\r\n"))
              .status() == 200);
  std::vector<UpstreamRequest> seen = rig.up.requests();
  REQUIRE(seen.size() == 2);
  const HttpMessage& first = seen[0].message;
  CHECK(first.target == "/a/b?c=d&e=%20f");
  CHECK(first.headers.count("Host") == 1);
  CHECK(first.headers.valueOr("Host") == "shop.example.com:8080");
  CHECK(first.headers.valueOr("X-Forwarded-For") == "127.0.0.1");
  CHECK(first.headers.valueOr("X-Forwarded-Proto") == "http");
  CHECK(first.headers.valueOr("X-Forwarded-Host") == "shop.example.com:8080");
  CHECK(first.headers.count("X-Dup") == 2);

  const HttpMessage& second = seen[1].message;
  CHECK(second.headers.count("X-Forwarded-For") == 1);
  CHECK(second.headers.valueOr("X-Forwarded-For") == "10.1.2.3, 127.0.0.1");
  CHECK(second.headers.count("X-Forwarded-Proto") == 1);
  CHECK(second.headers.valueOr("X-Forwarded-Proto") == "http");
}

TEST_CASE("forwarding: response Content-Length is kept") {
  Rig rig([](const UpstreamRequest&) { return Reply::ok("hello world"); });
  RawClient c = rig.client();
  Response r = c.roundTrip(makeRequest("GET", "/"));
  CHECK(r.msg.framing == Framing::kLength);
  CHECK(r.headers().valueOr("Content-Length") == "11");
  CHECK(r.body() == "hello world");
}

TEST_CASE("forwarding: a chunked response stays chunked to an HTTP/1.1 client") {
  Rig rig([](const UpstreamRequest&) {
    return Reply::send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
                       chunked("hello chunked world", 5));
  });
  RawClient c = rig.client();
  Response r = c.roundTrip(makeRequest("GET", "/"));
  CHECK(r.status() == 200);
  CHECK(r.msg.framing == Framing::kChunked);
  CHECK(r.body() == "hello chunked world");
  CHECK(c.roundTrip(makeRequest("GET", "/again")).body() == "hello chunked world");
  CHECK(rig.up.connectionCount() == 1);
}

TEST_CASE(
    "forwarding: a close-delimited response is sent chunked and that upstream conn not reused") {
  Rig rig([](const UpstreamRequest& r) {
    return Reply::send("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close " +
                       r.message.target)
        .thenClose();
  });
  RawClient c = rig.client();
  Response r = c.roundTrip(makeRequest("GET", "/1"));
  CHECK(r.status() == 200);
  CHECK(r.msg.framing == Framing::kChunked);
  CHECK(r.body() == "until close /1");
  CHECK(httpGet(rig.proxy.port(), "/2").body() == "until close /2");
  CHECK(rig.up.connectionCount() == 2);
}

TEST_CASE("forwarding: a client's Connection: close is honoured after the response") {
  Rig rig(echoTarget);
  RawClient c = rig.client();
  Response r = c.roundTrip(makeRequest("GET", "/last", "example.test", "Connection: close\r\n"));
  CHECK(r.body() == "/last");
  CHECK(r.headers().hasToken("Connection", "close"));
  CHECK(c.waitClosed(milliseconds(2000)) != IoStatus::kTimeout);
  // The upstream side stays pooled: Connection is hop-by-hop.
  CHECK(httpGet(rig.proxy.port(), "/next").body() == "/next");
  CHECK(rig.up.connectionCount() == 1);
}

TEST_CASE("forwarding: an HTTP/1.0 client never gets a chunked response") {
  Rig rig([](const UpstreamRequest&) {
    return Reply::send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
                       chunked("for an old client", 4));
  });
  RawClient c = rig.client();
  Response r = c.roundTrip("GET /old HTTP/1.0\r\nHost: example.test\r\n\r\n");
  INFO(r.describe());
  CHECK(r.status() == 200);
  CHECK(r.body() == "for an old client");
  CHECK(r.msg.framing != Framing::kChunked);
  CHECK(c.waitClosed(milliseconds(2000)) != IoStatus::kTimeout);
}

TEST_CASE("forwarding: an idle keep-alive client connection is closed after client_idle") {
  FakeUpstream up("app");
  ProxyConfig cfg = singleUpstream(up.port());
  cfg.timeouts = "{connect: 1s, client_header: 5s, client_idle: 200ms, upstream_response: 5s}";
  ProxyProcess proxy;
  startOrFail(proxy, cfg);
  RawClient c(proxy.port());
  REQUIRE(c.roundTrip(makeRequest("GET", "/")).status() == 200);
  IoStatus st = c.waitClosed(milliseconds(2000));
  INFO(ioStatusName(st) << " got: " << c.buffer());
  CHECK(st != IoStatus::kTimeout);
  CHECK(c.buffer().empty());
  CHECK(proxy.waitForAccessLog(1).size() == 1); // an idle close is not an exchange
}

TEST_CASE("forwarding: Upgrade is tunnelled both ways after 101") {
  std::atomic<uint64_t> upstream_hash{0};
  Rig rig([&](const UpstreamRequest&) {
    Reply reply = Reply::send("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                              "Connection: Upgrade\r\nSec-WebSocket-Accept: abc\r\n\r\n");
    reply.takeover = [&](UpstreamConn& conn) {
      conn.write("server-hello");
      std::string got;
      if (conn.readAtLeast(11, &got, milliseconds(3000)) != IoStatus::kOk) return false;
      conn.write("echo:" + got.substr(0, 11));
      std::string bulk = got.substr(11);
      if (conn.readAtLeast(256 * 1024, &bulk, milliseconds(3000)) != IoStatus::kOk) return false;
      Fnv64 h;
      h.update(bulk);
      upstream_hash = h.value;
      conn.write("bulk-ok");
      std::string rest;
      conn.readToEof(&rest, milliseconds(3000));
      return false;
    };
    return reply;
  });
  RawClient c = rig.client();
  Response r = c.roundTrip(makeRequest("GET", "/ws", "example.test",
                                       "Connection: Upgrade\r\nUpgrade: websocket\r\n"
                                       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                       "Sec-WebSocket-Version: 13\r\n"));
  INFO(r.describe());
  REQUIRE(r.status() == 101);
  CHECK(r.headers().valueOr("Upgrade") == "websocket");
  CHECK(r.headers().hasToken("Connection", "upgrade"));
  REQUIRE(rig.up.requestCount() == 1);
  const Headers seen = rig.up.requests()[0].message.headers;
  CHECK(seen.valueOr("Upgrade") == "websocket");
  CHECK(seen.hasToken("Connection", "upgrade"));

  CHECK(c.readAtLeast(12) == IoStatus::kOk);
  CHECK(c.buffer() == "server-hello");
  c.buffer().clear();
  REQUIRE(c.send("client-ping"));
  CHECK(c.readAtLeast(16) == IoStatus::kOk);
  CHECK(c.buffer() == "echo:client-ping");
  c.buffer().clear();
  std::string bulk = payloadBytes(3, 0, 256 * 1024);
  REQUIRE(c.send(bulk));
  CHECK(c.readAtLeast(7) == IoStatus::kOk);
  CHECK(c.buffer() == "bulk-ok");
  CHECK(upstream_hash.load() == payloadHash(3, 256 * 1024));
  c.close();
  CHECK(rig.up.waitForPeerClosed(1, milliseconds(2000)));
}

TEST_SUITE_END();
