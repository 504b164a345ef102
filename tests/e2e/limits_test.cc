// Upstream concurrency limits over real sockets (issue 5): a server at
// max_connections takes no more exchanges; the excess waits in the pool's
// queue (max_pending) and is served when a slot frees, or gets 503 when the
// queue is full (term UQ) or its wait exceeds queue_timeout (term sQ).
#include <doctest/doctest.h>

#include <chrono>

#include "tests/support/e2e_checks.h"

using namespace swytest;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

namespace {

ProxyConfig limited(const FakeUpstream& up, const std::string& options) {
  ProxyConfig cfg;
  cfg.addPool("app", {{"app1", up.port()}}, options);
  cfg.addRoute("{name: all, pool: app}");
  return cfg;
}

} // namespace

TEST_SUITE_BEGIN("e2e");

TEST_CASE("limits: the excess waits in the queue and is served when a slot frees; a full "
          "queue is 503 at once") {
  FakeUpstream up("app", [](const UpstreamRequest& r) {
    return Reply::ok(r.message.target).holdFor(milliseconds(5000));
  });
  ProxyProcess proxy;
  startOrFail(proxy, limited(up, "max_connections: 2, max_pending: 1, queue_timeout: 5s"));
  std::vector<RawClient> busy;
  for (int i = 0; i < 2; ++i) {
    busy.emplace_back(proxy.port());
    REQUIRE(busy.back().send(makeRequest("GET", "/busy" + std::to_string(i))));
  }
  REQUIRE(up.waitForRequests(2, milliseconds(3000)));
  RawClient third(proxy.port()), fourth(proxy.port());
  REQUIRE(third.send(makeRequest("GET", "/third")));
  REQUIRE(fourth.send(makeRequest("GET", "/fourth")));
  // One of them queues, the other finds the queue full: 503 right away.
  Response refused;
  RawClient* waiting = nullptr;
  for (int i = 0; i < 2 && waiting == nullptr; ++i) {
    RawClient& c = i == 0 ? third : fourth;
    Response r = c.readResponse(milliseconds(1500));
    if (r.status() == 503) {
      refused = r;
      waiting = i == 0 ? &fourth : &third;
    }
  }
  REQUIRE(waiting != nullptr);
  CHECK(refused.headers().valueOr("Content-Type").find("text/plain") == 0);
  CHECK(up.requestCount() == 2); // the queued one has not reached the server
  up.release();
  for (RawClient& c : busy)
    CHECK(c.readResponse(milliseconds(3000)).status() == 200);
  Response served = waiting->readResponse(milliseconds(3000));
  CHECK(served.status() == 200);
  CHECK(up.requestCount() == 3);
  std::vector<JsonLine> logs = proxy.waitForAccessLog(4);
  int uq = 0;
  for (const JsonLine& l : logs)
    uq += l.str("term") == "UQ" ? 1 : 0;
  CHECK(uq == 1);
}

TEST_CASE("limits: a request that waits longer than queue_timeout gets 503, term sQ") {
  FakeUpstream up(
      "app", [](const UpstreamRequest&) { return Reply::ok("slow").holdFor(milliseconds(5000)); });
  ProxyProcess proxy;
  startOrFail(proxy, limited(up, "max_connections: 1, max_pending: 10, queue_timeout: 300ms"));
  RawClient first(proxy.port());
  REQUIRE(first.send(makeRequest("GET", "/first")));
  REQUIRE(up.waitForRequests(1, milliseconds(3000)));
  RawClient second(proxy.port());
  Clock::time_point sent = Clock::now();
  Response r = second.roundTrip(makeRequest("GET", "/second"), milliseconds(3000));
  auto waited = std::chrono::duration_cast<milliseconds>(Clock::now() - sent).count();
  checkErrorResponse(second, r, 503, false);
  CHECK(waited >= 250);
  CHECK(waited < 2500);
  JsonLine log = logLineAt(proxy, 0);
  CHECK(log.str("term") == "sQ");
  CHECK(up.requestCount() == 1);
  up.release();
  CHECK(first.readResponse(milliseconds(3000)).status() == 200);
}

TEST_CASE("limits: without a queue, a request finding every server full is 503 UQ; others "
          "use the servers with room") {
  FakeUpstream held(
      "held", [](const UpstreamRequest&) { return Reply::ok("held").holdFor(milliseconds(5000)); });
  FakeUpstream free_server("free");
  ProxyConfig cfg;
  cfg.addPool("app", {{"held", held.port()}, {"free", free_server.port()}}, "max_connections: 1");
  cfg.addRoute("{name: all, pool: app}");
  ProxyProcess proxy;
  startOrFail(proxy, cfg);
  RawClient first(proxy.port());
  REQUIRE(first.send(makeRequest("GET", "/first"))); // round robin: held
  REQUIRE(held.waitForRequests(1, milliseconds(3000)));
  // held is full: every request goes to the free server while it has room.
  for (int i = 0; i < 4; ++i)
    CHECK(httpGet(proxy.port(), "/other").body() == "free");
  held.release();
  CHECK(first.readResponse(milliseconds(3000)).status() == 200);
  CHECK(held.requestCount() == 1);
}
