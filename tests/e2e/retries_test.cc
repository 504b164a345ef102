// Retries and phase timeouts over real sockets (issue 5): `retries.attempts`
// caps how many servers one request tries, `on:` says which failures are
// retried (503 only when asked), the budget caps retries in flight so they
// cannot multiply an outage, and the client-body and upstream-idle timeouts
// each end a stalled exchange with their own termination code.
#include <doctest/doctest.h>

#include <memory>

#include "tests/support/e2e_checks.h"

using namespace swytest;
using std::chrono::milliseconds;

namespace {

ProxyConfig poolOf(const std::vector<FakeUpstream*>& servers, const std::string& options) {
  ProxyConfig cfg;
  std::vector<ServerSpec> specs;
  for (FakeUpstream* s : servers)
    specs.push_back({s->name(), s->port()});
  cfg.addPool("app", specs, options);
  cfg.addRoute("{name: all, pool: app}");
  return cfg;
}

size_t connections(const std::vector<std::unique_ptr<FakeUpstream>>& servers) {
  size_t n = 0;
  for (const auto& s : servers)
    n += s->connectionCount();
  return n;
}

} // namespace

TEST_SUITE_BEGIN("e2e");

TEST_CASE("retries: attempts caps how many servers one GET tries") {
  for (int attempts : {0, 1, 2}) {
    CAPTURE(attempts);
    std::vector<std::unique_ptr<FakeUpstream>> servers;
    std::vector<FakeUpstream*> raw;
    for (int i = 0; i < 4; ++i) {
      servers.push_back(std::make_unique<FakeUpstream>(
          "s" + std::to_string(i), [](const UpstreamRequest&) { return Reply::reset(); }));
      raw.push_back(servers.back().get());
    }
    ProxyProcess proxy;
    startOrFail(proxy, poolOf(raw, "retries: {attempts: " + std::to_string(attempts) + "}"));
    RawClient c(proxy.port());
    Response r = c.roundTrip(makeRequest("GET", "/x"));
    CHECK(r.status() == 502);
    CHECK(connections(servers) == static_cast<size_t>(attempts + 1));
    JsonLine log = logLineAt(proxy, 0);
    CHECK(log.num("retries") == attempts);
    CHECK(log.str("term") == "SH");
  }
}

TEST_CASE("retries: a 503 is resent to another server only with on: [503]") {
  FakeUpstream busy("busy", [](const UpstreamRequest&) {
    return Reply::send("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy");
  });
  FakeUpstream ok("ok");
  SUBCASE("on: [503]") {
    ProxyProcess proxy;
    startOrFail(proxy, poolOf({&busy, &ok}, "retries: {on: [connect_failure, 503]}"));
    for (int i = 0; i < 6; ++i) {
      Response r = httpGet(proxy.port(), "/g" + std::to_string(i));
      CHECK(r.status() == 200);
      CHECK(r.body() == "ok");
    }
    CHECK(busy.requestCount() == 3); // round robin: every other request tried it first
    CHECK(ok.requestCount() == 6);
    // A POST whose body was consumed is never resent, 503 or not.
    RawClient c(proxy.port());
    int posted_503 = 0;
    for (int i = 0; i < 2; ++i) {
      Response r = c.roundTrip(makeRequest("POST", "/p", "example.test", "", "body"));
      posted_503 += r.status() == 503 ? 1 : 0;
    }
    CHECK(posted_503 == 1);
  }
  SUBCASE("default: the 503 is the answer") {
    ProxyProcess proxy;
    startOrFail(proxy, poolOf({&busy, &ok}, ""));
    int got_503 = 0;
    for (int i = 0; i < 6; ++i)
      got_503 += httpGet(proxy.port(), "/g").status() == 503 ? 1 : 0;
    CHECK(got_503 == 3);
  }
}

TEST_CASE("retries: on: [connect_failure] alone does not retry a reset") {
  FakeUpstream resetting("resetting", [](const UpstreamRequest&) { return Reply::reset(); });
  FakeUpstream ok("ok");
  ProxyProcess proxy;
  startOrFail(proxy, poolOf({&resetting, &ok}, "retries: {on: [connect_failure]}"));
  int failed = 0;
  for (int i = 0; i < 6; ++i)
    failed += httpGet(proxy.port(), "/g").status() == 502 ? 1 : 0;
  CHECK(failed == 3);
  CHECK(ok.requestCount() == 3);
}

TEST_CASE("retries: the budget caps retries in flight (at least 3), the rest fail fast") {
  // Every first try goes to the heavy server, which holds each request and
  // then resets; the retries go to a slow but healthy server. With budget 0%
  // only the minimum of 3 requests may be in a retry at once.
  FakeUpstream heavy(
      "heavy", [](const UpstreamRequest&) { return Reply::reset().holdFor(milliseconds(400)); });
  FakeUpstream slow(
      "slow", [](const UpstreamRequest&) { return Reply::ok("slow").holdFor(milliseconds(600)); });
  ProxyConfig cfg;
  cfg.addPool("app", {{"heavy", heavy.port(), 1000}, {"slow", slow.port(), 1}},
              "retries: {attempts: 2, budget: 0%}");
  cfg.addRoute("{name: all, pool: app}");
  ProxyProcess proxy;
  startOrFail(proxy, cfg);
  std::vector<RawClient> clients;
  for (int i = 0; i < 8; ++i) {
    clients.emplace_back(proxy.port());
    REQUIRE(clients.back().send(makeRequest("GET", "/c" + std::to_string(i))));
  }
  REQUIRE(heavy.waitForRequests(8, milliseconds(3000)));
  int ok = 0, bad_gateway = 0;
  for (RawClient& c : clients) {
    int status = c.readResponse(milliseconds(5000)).status();
    ok += status == 200 ? 1 : 0;
    bad_gateway += status == 502 ? 1 : 0;
  }
  CHECK(ok == 3);
  CHECK(bad_gateway == 5);
  CHECK(slow.requestCount() == 3);
}

TEST_CASE("timeouts: a stalled request body ends after client_body with 408, term cD") {
  FakeUpstream up("app");
  ProxyConfig cfg = singleUpstream(up.port());
  cfg.timeouts = "{connect: 1s, client_header: 5s, client_body: 300ms, client_idle: 10s, "
                 "upstream_response: 5s}";
  ProxyProcess proxy;
  startOrFail(proxy, cfg);
  RawClient c(proxy.port());
  REQUIRE(c.send("POST /upload HTTP/1.1\r\nHost: example.test\r\nContent-Length: 100\r\n\r\n"
                 "ten bytes."));
  Response r = c.readResponse(milliseconds(3000));
  checkErrorResponse(c, r, 408, true);
  JsonLine log = logLineAt(proxy, 0);
  CHECK(log.str("term") == "cD");
  CHECK(log.num("total_ms") >= 250);
  CHECK(up.waitForPeerClosed(1, milliseconds(2000))); // the half-sent request is abandoned
}

TEST_CASE("timeouts: an upstream stalling mid-body is cut off after upstream_idle, term sD") {
  FakeUpstream up("app", [](const UpstreamRequest&) {
    return Reply::send("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nfirst part");
  });
  ProxyConfig cfg = singleUpstream(up.port());
  cfg.timeouts = "{connect: 1s, client_header: 5s, upstream_response: 5s, upstream_idle: 300ms}";
  ProxyProcess proxy;
  startOrFail(proxy, cfg);
  RawClient c(proxy.port());
  Response r = c.roundTrip(makeRequest("GET", "/stall"), milliseconds(3000));
  CHECK_FALSE(r.complete);
  CHECK(r.msg.body == "first part");
  CHECK(c.waitClosed(milliseconds(3000)) != IoStatus::kTimeout);
  JsonLine log = logLineAt(proxy, 0);
  CHECK(log.str("term") == "sD");
  CHECK(log.num("total_ms") >= 250);
  CHECK(log.num("total_ms") < 4000); // not upstream_response
}
