// Upstream health over real sockets (issue 5): active checks mark a failing
// server down within fall*interval and up again after rise*interval, while
// idempotent GETs keep succeeding on the other server; passive outlier
// ejection takes out a server that resets connections or answers 5xx, never
// more than max_ejected_percent of the pool; with every server down the proxy
// answers 503 with Retry-After at once.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>

#include "tests/support/e2e_checks.h"

using namespace swytest;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

namespace {

// An upstream that can be told to fail: kOk answers 200 (body = name),
// kReset resets every connection, k500 answers 500 (health checks included).
struct Switchable {
  enum Mode { kOk, kReset, k500 };
  std::atomic<int> mode{kOk};
  FakeUpstream up;

  explicit Switchable(const std::string& name)
      : up(name, [this, name](const UpstreamRequest&) {
          switch (mode.load()) {
          case kReset: return Reply::reset();
          case k500:
            return Reply::send("HTTP/1.1 500 Internal Server Error\r\n"
                               "Content-Length: 4\r\n\r\nfail");
          default: return Reply::ok(name);
          }
        }) {}

  // Requests other than health checks.
  size_t traffic() const {
    size_t n = 0;
    for (const UpstreamRequest& r : up.requests())
      n += r.message.target == "/healthz" ? 0 : 1;
    return n;
  }
  size_t checks() const { return up.requestCount() - traffic(); }
};

ProxyConfig twoServers(const Switchable& a, const Switchable& b, const std::string& options) {
  ProxyConfig cfg;
  cfg.addPool("app", {{"a", a.up.port()}, {"b", b.up.port()}}, options);
  cfg.addRoute("{name: all, pool: app}");
  return cfg;
}

// Sends GETs (fresh connections, so each is balanced) until `done` or the
// deadline; returns how many did not get a 200.
template <typename Pred> int getUntil(uint16_t port, Pred done, milliseconds budget, int* sent) {
  int failed = 0;
  Clock::time_point end = Clock::now() + budget;
  for (int i = 0; i < 5000 && Clock::now() < end && !done(); ++i) {
    Response r = httpGet(port, "/work" + std::to_string(i));
    failed += r.status() == 200 ? 0 : 1;
    ++*sent;
  }
  return failed;
}

} // namespace

TEST_SUITE_BEGIN("e2e");

TEST_CASE("health: a failing server goes down within fall*interval, back up after rise*interval; "
          "no GET fails") {
  Switchable a("a"), b("b");
  ProxyProcess proxy;
  startOrFail(proxy, twoServers(a, b,
                                "health_check: {path: /healthz, interval: 100ms, timeout: 100ms, "
                                "rise: 2, fall: 2}"));
  REQUIRE(a.up.waitForRequests(1, milliseconds(3000))); // the first check runs at start
  int sent = 0;
  for (int i = 0; i < 10; ++i)
    CHECK(httpGet(proxy.port(), "/before").status() == 200);
  CHECK(a.traffic() > 0);
  CHECK(b.traffic() > 0);

  // a starts resetting every connection: requests that hit it are retried on b.
  a.mode = Switchable::kReset;
  Clock::time_point failed_at = Clock::now();
  auto down = [&] { return proxy.waitForStderr("server=a is down", milliseconds(0)); };
  CHECK(getUntil(proxy.port(), down, milliseconds(5000), &sent) == 0);
  REQUIRE(proxy.waitForStderr("pool=app server=a is down (2 failed checks", milliseconds(5000)));
  auto took = std::chrono::duration_cast<milliseconds>(Clock::now() - failed_at).count();
  INFO("down after " << took << " ms and " << sent << " requests");
  CHECK(took < 2000); // fall * interval = 200 ms, plus a timeout and scheduling

  size_t a_traffic = a.traffic();
  for (int i = 0; i < 20; ++i)
    CHECK(httpGet(proxy.port(), "/while-down").status() == 200);
  CHECK(a.traffic() == a_traffic); // nothing is sent to a server that is down

  a.mode = Switchable::kOk;
  Clock::time_point healed_at = Clock::now();
  REQUIRE(proxy.waitForStderr("pool=app server=a is up (2 good checks", milliseconds(5000)));
  took = std::chrono::duration_cast<milliseconds>(Clock::now() - healed_at).count();
  CHECK(took < 2000);
  for (int i = 0; i < 10; ++i)
    CHECK(httpGet(proxy.port(), "/after").status() == 200);
  CHECK(a.traffic() > a_traffic);
}

TEST_CASE("health: a stopped server is marked down; with every server down, 503 + Retry-After "
          "at once") {
  Switchable a("a"), b("b");
  ProxyProcess proxy;
  startOrFail(proxy, twoServers(a, b,
                                "health_check: {path: /healthz, interval: 100ms, timeout: 100ms, "
                                "rise: 2, fall: 1, expect_status: 200}"));
  a.up.stop(); // refuses connections from now on
  bool a_down =
      proxy.waitForStderr("server=a is down (1 failed checks; last: ", milliseconds(5000));
  INFO(proxy.diagnostics());
  REQUIRE(a_down);
  b.mode = Switchable::k500; // checks get 500, outside expect_status
  REQUIRE(proxy.waitForStderr("server=b is down (1 failed checks; last: status 500)",
                              milliseconds(5000)));
  size_t b_traffic = b.traffic();
  Clock::time_point start = Clock::now();
  RawClient c(proxy.port());
  Response r = c.roundTrip(makeRequest("GET", "/nobody-home", "example.test"));
  CHECK(Clock::now() - start < milliseconds(1000));
  checkErrorResponse(c, r, 503, false);
  CHECK(r.headers().valueOr("Retry-After") == "1"); // rise * interval, rounded up to seconds
  CHECK(b.traffic() == b_traffic);
  JsonLine log = logLineAt(proxy, 0);
  CHECK(log.str("term") == "UC");
  CHECK(log.num("status") == 503);
}

TEST_CASE("outlier: a server that resets every connection is ejected; GETs keep succeeding") {
  Switchable a("a"), b("b");
  a.mode = Switchable::kReset;
  ProxyProcess proxy;
  startOrFail(proxy, twoServers(a, b,
                                "outlier: {consecutive_failures: 3, eject_for: 30s, "
                                "max_ejected_percent: 50}"));
  for (int i = 0; i < 20; ++i)
    CHECK(httpGet(proxy.port(), "/r" + std::to_string(i)).status() == 200);
  REQUIRE(proxy.waitForStderr(
      "switchyard: outlier: pool=app server=a ejected for 30s after 3 consecutive failures",
      milliseconds(3000)));
  size_t a_connections = a.up.connectionCount();
  CHECK(a_connections == 3); // the three failures, then nothing more
  for (int i = 0; i < 20; ++i)
    CHECK(httpGet(proxy.port(), "/after").status() == 200);
  CHECK(a.up.connectionCount() == a_connections);
}

TEST_CASE("outlier: 5xx answers count; max_ejected_percent keeps the last server in") {
  Switchable a("a"), b("b");
  a.mode = b.mode = Switchable::k500;
  ProxyProcess proxy;
  startOrFail(proxy, twoServers(a, b,
                                "outlier: {consecutive_failures: 2, eject_for: 30s, "
                                "max_ejected_percent: 50}"));
  int served_500 = 0;
  for (int i = 0; i < 20; ++i)
    served_500 += httpGet(proxy.port(), "/x").status() == 500 ? 1 : 0;
  CHECK(served_500 == 20); // a 500 is the application's answer: passed on, not retried
  REQUIRE(proxy.waitForStderr("ejected for 30s after 2 consecutive failures", milliseconds(3000)));
  size_t ejections = 0;
  for (const std::string& line : proxy.stderrLines())
    ejections += line.find("switchyard: outlier:") != std::string::npos ? 1 : 0;
  CHECK(ejections == 1); // half the pool at most: the other server keeps serving
  // One server is out; every request now goes to the other one.
  size_t a0 = a.traffic(), b0 = b.traffic();
  for (int i = 0; i < 10; ++i)
    CHECK(httpGet(proxy.port(), "/y").status() == 500);
  CHECK(((a.traffic() == a0 && b.traffic() == b0 + 10) ||
         (b.traffic() == b0 && a.traffic() == a0 + 10)));
}

TEST_CASE("slow start: a server back from down gets a small share first, not half the traffic") {
  Switchable a("a"), b("b");
  ProxyProcess proxy;
  // A ramp far longer than the test: a stays near 10% of its weight.
  startOrFail(proxy, twoServers(a, b,
                                "health_check: {path: /healthz, interval: 100ms, timeout: 100ms, "
                                "rise: 1, fall: 1}, slow_start: 10m"));
  REQUIRE(a.up.waitForRequests(1, milliseconds(3000)));
  for (int i = 0; i < 20; ++i)
    CHECK(httpGet(proxy.port(), "/before").status() == 200);
  CHECK(a.traffic() == 10); // at start nobody ramps: round robin halves
  a.mode = Switchable::k500;
  REQUIRE(proxy.waitForStderr("pool=app server=a is down", milliseconds(5000)));
  a.mode = Switchable::kOk;
  REQUIRE(proxy.waitForStderr("pool=app server=a is up (1 good checks; status 200; slow start "
                              "over 600000ms)",
                              milliseconds(5000)));
  size_t a0 = a.traffic(), b0 = b.traffic();
  const int n = 200;
  for (int i = 0; i < n; ++i)
    CHECK(httpGet(proxy.port(), "/after").status() == 200);
  size_t to_a = a.traffic() - a0;
  INFO("a got " << to_a << " of " << n << ", b " << b.traffic() - b0);
  // Weights 0.1 : 1 -> a gets about 1/11 (18 of 200); half would be 100.
  CHECK(to_a >= 10);
  CHECK(to_a <= 30);
}
