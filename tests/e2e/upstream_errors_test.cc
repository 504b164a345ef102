// Upstream failures (issue 2 §7): refused -> 502 "SC", one dead server of two
// never fails a request, reset before response, broken responses -> 502 and
// the connection not reused, timeouts -> 504 "sH", client header timeout "cR".
#include <doctest/doctest.h>

#include <map>

#include "tests/support/e2e_checks.h"

using namespace swytest;
using std::chrono::milliseconds;

TEST_SUITE_BEGIN("e2e");

TEST_CASE("upstream errors: the only server refusing is a 502 with term SC") {
  RefusingPort dead;
  ProxyProcess proxy;
  startOrFail(proxy, singleUpstream(dead.port()));
  RawClient c(proxy.port());
  Response r = c.roundTrip(makeRequest("GET", "/x"));
  checkErrorResponse(c, r, 502, false);
  JsonLine log = logLineAt(proxy, 0);
  CHECK(log.num("status") == 502);
  CHECK(log.str("term") == "SC");
  CHECK(log.str("route") == "all");
  CHECK(log.str("pool") == "app");
  CHECK(log.str("server") == "app1");
}

TEST_CASE("upstream errors: a server that never accepts is a 504 with term sC after connect") {
  BlackholePort hole;
  REQUIRE(hole.ok());
  ProxyConfig cfg = singleUpstream(hole.port());
  cfg.timeouts =
      "{connect: 200ms, client_header: 5s, client_idle: 10s, upstream_response: 5s, drain: 5s}";
  ProxyProcess proxy;
  startOrFail(proxy, cfg);
  RawClient c(proxy.port());
  Response r = c.roundTrip(makeRequest("GET", "/x"));
  checkErrorResponse(c, r, 504, false);
  JsonLine log = logLineAt(proxy, 0);
  CHECK(log.str("term") == "sC");
  CHECK(log.num("total_ms") >= 150);
  CHECK(log.num("total_ms") < 2000);
}

TEST_CASE("upstream errors: one refusing server of two never fails a GET") {
  RefusingPort dead;
  FakeUpstream alive("alive");
  ProxyConfig cfg;
  cfg.addPool("app", {{"dead", dead.port()}, {"alive", alive.port()}});
  cfg.addRoute("{name: all, pool: app}");
  ProxyProcess proxy;
  startOrFail(proxy, cfg);
  for (int i = 0; i < 6; ++i) {
    Response r = httpGet(proxy.port(), "/r" + std::to_string(i));
    INFO("request " << i << ": " << r.describe());
    CHECK(r.status() == 200);
    CHECK(r.body() == "alive");
  }
  CHECK(alive.requestCount() == 6);
  std::vector<JsonLine> logs = proxy.waitForAccessLog(6);
  REQUIRE(logs.size() == 6);
  double retries = 0;
  for (const JsonLine& l : logs) {
    CHECK(l.str("server") == "alive");
    CHECK(l.str("term") == "--");
    retries += l.num("retries");
  }
  CHECK(retries >= 1); // the dead server (listed first) was tried at least once
}

TEST_CASE("upstream errors: a refused connection is skipped even for a POST (nothing was sent)") {
  RefusingPort dead;
  FakeUpstream alive("alive", [](const UpstreamRequest& r) { return Reply::ok(r.message.body); });
  ProxyConfig cfg;
  cfg.addPool("app", {{"dead", dead.port()}, {"alive", alive.port()}});
  cfg.addRoute("{name: all, pool: app}");
  ProxyProcess proxy;
  startOrFail(proxy, cfg);
  for (int i = 0; i < 4; ++i) {
    RawClient c(proxy.port());
    std::string body = "payment " + std::to_string(i);
    Response r = c.roundTrip(makeRequest("POST", "/pay", "example.test", "", body));
    INFO("request " << i << ": " << r.describe());
    CHECK(r.status() == 200);
    CHECK(r.body() == body);
  }
  CHECK(alive.requestCount() == 4);
}

TEST_CASE("upstream errors: a POST the server reset after receiving it is not repeated") {
  FakeUpstream resetting("resetting", [](const UpstreamRequest&) { return Reply::reset(); });
  FakeUpstream alive("alive", [](const UpstreamRequest& r) { return Reply::ok(r.message.target); });
  ProxyConfig cfg;
  cfg.addPool("app", {{"resetting", resetting.port()}, {"alive", alive.port()}});
  cfg.addRoute("{name: all, pool: app}");
  ProxyProcess proxy;
  startOrFail(proxy, cfg);
  std::map<std::string, int> status;
  for (std::string target : {"/pay1", "/pay2"}) {
    RawClient c(proxy.port());
    status[target] = c.roundTrip(makeRequest("POST", target, "example.test", "", "once")).status();
  }
  // Round robin sends one POST to each server; the one that reached the
  // resetting server fails with 502 and never reaches the other server.
  REQUIRE(resetting.requestCount() == 1);
  std::string reset_target = resetting.requests()[0].message.target;
  CHECK(status[reset_target] == 502);
  std::vector<UpstreamRequest> seen = alive.requests();
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].message.target != reset_target);
  CHECK(status[seen[0].message.target] == 200);
}

TEST_CASE("upstream errors: the only server resetting before any response byte is a 502") {
  FakeUpstream up("app", [](const UpstreamRequest&) { return Reply::reset(); });
  ProxyProcess proxy;
  startOrFail(proxy, singleUpstream(up.port()));
  RawClient c(proxy.port());
  Response r = c.roundTrip(makeRequest("GET", "/x"));
  checkErrorResponse(c, r, 502, false);
  JsonLine log = logLineAt(proxy, 0);
  CHECK(log.num("status") == 502);
  CHECK(log.str("term").substr(0, 1) == "S");
}

TEST_CASE("upstream errors: a server resetting before responding is skipped for another") {
  FakeUpstream resetting("resetting", [](const UpstreamRequest&) { return Reply::reset(); });
  FakeUpstream alive("alive");
  ProxyConfig cfg;
  cfg.addPool("app", {{"resetting", resetting.port()}, {"alive", alive.port()}});
  cfg.addRoute("{name: all, pool: app}");
  ProxyProcess proxy;
  startOrFail(proxy, cfg);
  for (int i = 0; i < 4; ++i) {
    Response r = httpGet(proxy.port(), "/");
    INFO("request " << i << ": " << r.describe());
    CHECK(r.status() == 200);
  }
  CHECK(resetting.requestCount() >= 1);
  CHECK(alive.requestCount() == 4);
}

TEST_CASE("upstream errors: broken responses are 502 and the connection is not reused") {
  const char* broken[] = {
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      "HTTP/1.1 2x0 OK\r\nContent-Length: 2\r\n\r\nok",
      "garbage\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
  };
  for (const char* bytes : broken) {
    CAPTURE(bytes);
    std::string raw = bytes;
    FakeUpstream up("app", [raw](const UpstreamRequest& r) {
      if (r.message.target == "/broken") return Reply::send(raw);
      return Reply::ok("fine");
    });
    ProxyProcess proxy;
    startOrFail(proxy, singleUpstream(up.port()));
    RawClient c(proxy.port());
    Response r = c.roundTrip(makeRequest("GET", "/broken"));
    checkErrorResponse(c, r, 502, false);
    CHECK(logLineAt(proxy, 0).str("term").substr(0, 1) == "S");
    // The broken connection must be gone, so the next request opens a new one.
    Response next = httpGet(proxy.port(), "/next");
    CHECK(next.body() == "fine");
    CHECK(up.connectionCount() == 2);
    CHECK(up.waitForPeerClosed(1, milliseconds(2000)));
  }
}

TEST_CASE("upstream errors: a pooled connection the upstream closed is not reused") {
  FakeUpstream up("app", [](const UpstreamRequest& r) {
    return Reply::ok(r.message.target).thenClose(); // no "Connection: close" announced
  });
  ProxyProcess proxy;
  startOrFail(proxy, singleUpstream(up.port()));
  RawClient c(proxy.port());
  CHECK(c.roundTrip(makeRequest("GET", "/1")).body() == "/1");
  Response second = c.roundTrip(makeRequest("GET", "/2"));
  INFO(second.describe());
  CHECK(second.body() == "/2");
  CHECK(up.requestCount() == 2);
  CHECK(up.connectionCount() == 2);
}

TEST_CASE("upstream errors: a truncated response body ends the client connection, term SD") {
  FakeUpstream up("app", [](const UpstreamRequest&) {
    return Reply::send("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly-ten..").thenClose();
  });
  ProxyProcess proxy;
  startOrFail(proxy, singleUpstream(up.port()));
  RawClient c(proxy.port());
  Response r = c.roundTrip(makeRequest("GET", "/"));
  CHECK_FALSE(r.complete);
  CHECK(r.msg.status == 200);
  CHECK(r.msg.body == "only-ten..");
  CHECK(c.waitClosed(milliseconds(2000)) != IoStatus::kTimeout);
  CHECK(logLineAt(proxy, 0).str("term") == "SD");
}

TEST_CASE("upstream errors: a slow upstream is a 504 with term sH") {
  FakeUpstream up("app", [](const UpstreamRequest&) { return Reply::silent(); });
  ProxyConfig cfg = singleUpstream(up.port());
  cfg.timeouts = "{connect: 1s, client_header: 5s, upstream_response: 200ms}";
  ProxyProcess proxy;
  startOrFail(proxy, cfg);
  RawClient c(proxy.port());
  Response r = c.roundTrip(makeRequest("GET", "/slow"), milliseconds(2000));
  checkErrorResponse(c, r, 504, false);
  JsonLine log = logLineAt(proxy, 0);
  CHECK(log.num("status") == 504);
  CHECK(log.str("term") == "sH");
  CHECK(log.num("total_ms") >= 150);
  // The timed-out upstream connection is closed, not returned to the pool.
  CHECK(up.waitForPeerClosed(1, milliseconds(2000)));
}

TEST_CASE("upstream errors: a partial request head times out after client_header, term cR") {
  FakeUpstream up("app");
  ProxyConfig cfg = singleUpstream(up.port());
  cfg.timeouts = "{connect: 1s, client_header: 200ms, upstream_response: 5s}";
  ProxyProcess proxy;
  startOrFail(proxy, cfg);
  RawClient c(proxy.port());
  REQUIRE(c.send("GET /partial HTTP/1.1\r\nHost: example.test\r\n"));
  IoStatus st = c.waitClosed(milliseconds(2000));
  INFO("after client_header: " << ioStatusName(st) << ", got: " << c.buffer());
  CHECK(st != IoStatus::kTimeout);
  if (!c.buffer().empty()) CHECK(c.buffer().rfind("HTTP/1.1 408 ", 0) == 0);
  JsonLine log = logLineAt(proxy, 0);
  CHECK(log.str("term") == "cR");
  CHECK(up.connectionCount() == 0);
}

TEST_SUITE_END();
