// Hot reload over real sockets (issue 6): SIGHUP re-reads the config file and
// swaps it in on every worker. New requests (also on kept-alive connections)
// use the new config, exchanges in flight finish on theirs, a listener with an
// unchanged address keeps its socket, added listeners open and removed ones
// close, upgraded tunnels are untouched, a config with errors changes nothing,
// and 20 reloads under continuous load fail no request.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <fstream>
#include <thread>

#include "tests/support/e2e_checks.h"
#include "tests/support/load_tally.h"

using namespace swytest;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

namespace {

// Two upstreams and a config that sends everything to one of them.
struct Pair {
  FakeUpstream a{"a"};
  FakeUpstream b{"b"};

  ProxyConfig to(const std::string& which, const std::string& workers = "1") const {
    ProxyConfig cfg;
    cfg.workers = workers;
    cfg.addPool("pa", {{"a", a.port()}});
    cfg.addPool("pb", {{"b", b.port()}});
    cfg.addRoute("{name: all, pool: p" + which + "}");
    return cfg;
  }
};

void rewrite(const ProxyProcess& proxy, const std::string& yaml) {
  std::ofstream out(proxy.configPath(), std::ios::trunc);
  out << yaml;
  out.close();
  REQUIRE(out.good());
}

// Rewrites the config, sends SIGHUP and waits until every worker applied
// generation `n`.
void reloadTo(ProxyProcess& proxy, const std::string& yaml, int n) {
  rewrite(proxy, yaml);
  proxy.signal(SIGHUP);
  INFO(proxy.diagnostics());
  REQUIRE(proxy.waitForStderr("switchyard: reloaded generation=" + std::to_string(n) + " ",
                              milliseconds(5000)));
}

std::string bodyOf(const Response& r) { return r.body(); }

} // namespace

TEST_SUITE_BEGIN("e2e");

TEST_CASE("reload: the next request uses the new routes, on a kept-alive connection too") {
  Pair up;
  ProxyProcess proxy;
  startOrFail(proxy, up.to("a"));
  const uint16_t port = proxy.port();
  RawClient kept(port);
  Response first = kept.roundTrip(makeRequest("GET", "/one"));
  REQUIRE(first.status() == 200);
  CHECK(bodyOf(first) == "a");

  reloadTo(proxy, up.to("b").render(), 2);
  CHECK(proxy.waitForStderr("switchyard: reload: generation 2 from ", milliseconds(0)));
  CHECK(proxy.waitForStderr("(listeners: 1 kept, 0 opened, 0 closed)", milliseconds(0)));
  Response second = kept.roundTrip(makeRequest("GET", "/two"));
  INFO(second.describe());
  REQUIRE(second.status() == 200);
  CHECK(bodyOf(second) == "b"); // same connection, new config
  Response fresh = httpGet(port, "/three");
  CHECK(bodyOf(fresh) == "b");
  CHECK(up.b.requestCount() == 2);
  CHECK(up.a.requestCount() == 1);
}

TEST_CASE("reload: a config with errors changes nothing and says where the errors are") {
  Pair up;
  ProxyProcess proxy;
  startOrFail(proxy, up.to("a"));
  rewrite(proxy, up.to("b").render() + "  - {name: bad, pool: nowhere}\n");
  proxy.signal(SIGHUP);
  REQUIRE(proxy.waitForStderr("switchyard: reload failed: 1 error(s) in ", milliseconds(5000)));
  CHECK(proxy.waitForStderr("still running generation 1", milliseconds(0)));
  CHECK(proxy.waitForStderr("routes[1].pool: unknown pool 'nowhere'", milliseconds(0)));
  CHECK(bodyOf(httpGet(proxy.port(), "/x")) == "a");

  // A port that cannot be bound fails the reload too, before anything changed.
  uint16_t busy_port = 0;
  Fd busy = listenLoopback(&busy_port);
  ProxyConfig taken = up.to("b");
  taken.listeners.push_back("{name: extra, address: 127.0.0.1:" + std::to_string(busy_port) + "}");
  rewrite(proxy, taken.render());
  proxy.signal(SIGHUP);
  REQUIRE(proxy.waitForStderr("switchyard: reload failed: cannot listen on 127.0.0.1:" +
                                  std::to_string(busy_port) + " (listener extra)",
                              milliseconds(5000)));
  CHECK(bodyOf(httpGet(proxy.port(), "/y")) == "a");

  reloadTo(proxy, up.to("b").render(), 2); // fixed: the next reload is generation 2
  CHECK(bodyOf(httpGet(proxy.port(), "/z")) == "b");
}

TEST_CASE("reload: an exchange in flight finishes on the config it started with") {
  FakeUpstream slow("slow", [](const UpstreamRequest&) {
    return Reply::ok("slow-done").holdFor(milliseconds(5000));
  });
  FakeUpstream b("b");
  ProxyConfig before;
  before.addPool("pa", {{"slow", slow.port()}});
  before.addRoute("{name: all, pool: pa}");
  ProxyConfig after;
  after.addPool("pb", {{"b", b.port()}});
  after.addRoute("{name: all, pool: pb}");
  ProxyProcess proxy;
  startOrFail(proxy, before);
  RawClient c(proxy.port());
  REQUIRE(c.send(makeRequest("GET", "/long")));
  REQUIRE(slow.waitForRequests(1, milliseconds(3000)));
  reloadTo(proxy, after.render(), 2); // pool pa no longer exists
  slow.release();
  Response r = c.readResponse(milliseconds(5000));
  INFO(r.describe());
  CHECK(r.status() == 200);
  CHECK(bodyOf(r) == "slow-done");
  Response next = c.roundTrip(makeRequest("GET", "/next"));
  CHECK(bodyOf(next) == "b");
}

TEST_CASE("reload: listeners are opened and closed; an unchanged one keeps its socket") {
  Pair up;
  ProxyProcess proxy;
  startOrFail(proxy, up.to("a", "2"));
  const uint16_t port = proxy.port();
  RawClient idle(port); // an idle keep-alive connection on the kept listener
  REQUIRE(idle.roundTrip(makeRequest("GET", "/")).status() == 200);

  ProxyConfig more = up.to("a", "2");
  more.listeners.push_back("{name: extra, address: 127.0.0.1:0}");
  reloadTo(proxy, more.render(), 2);
  CHECK(proxy.waitForStderr("(listeners: 1 kept, 1 opened, 0 closed)", milliseconds(0)));
  REQUIRE(
      proxy.waitForStderr("switchyard: listening name=extra address=127.0.0.1:", milliseconds(0)));
  std::string extra_line;
  for (const std::string& line : proxy.stderrLines()) {
    if (line.find("listening name=extra address=") != std::string::npos) extra_line = line;
  }
  const uint16_t extra_port =
      static_cast<uint16_t>(std::stoi(extra_line.substr(extra_line.rfind(':') + 1)));
  CHECK(httpGet(extra_port, "/e").status() == 200);
  CHECK(httpGet(port, "/p").status() == 200);
  CHECK(idle.roundTrip(makeRequest("GET", "/still")).status() == 200);

  reloadTo(proxy, up.to("a", "2").render(), 3); // extra removed again
  CHECK(proxy.waitForStderr("(listeners: 1 kept, 0 opened, 1 closed)", milliseconds(0)));
  int err = 0;
  Fd refused = connectLoopback(extra_port, &err);
  CHECK_FALSE(refused.valid());
  CHECK(err == ECONNREFUSED);
  CHECK(httpGet(port, "/p2").status() == 200);
  CHECK(idle.roundTrip(makeRequest("GET", "/still2")).status() == 200);
}

TEST_CASE("reload: an upgraded tunnel is untouched by a reload") {
  Pair up;
  FakeUpstream ws("ws", [](const UpstreamRequest&) {
    Reply reply = Reply::send("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                              "Connection: Upgrade\r\n\r\n");
    reply.takeover = [](UpstreamConn& conn) {
      for (int i = 0; i < 2; ++i) { // echo two messages, then wait for the end
        std::string got;
        if (conn.readAtLeast(5, &got, milliseconds(5000)) != IoStatus::kOk) return false;
        conn.write("echo:" + got.substr(0, 5));
      }
      std::string rest;
      conn.readToEof(&rest, milliseconds(3000));
      return false;
    };
    return reply;
  });
  ProxyConfig cfg;
  cfg.addPool("pw", {{"ws", ws.port()}});
  cfg.addRoute("{name: all, pool: pw}");
  ProxyProcess proxy;
  startOrFail(proxy, cfg);
  RawClient c(proxy.port());
  Response r = c.roundTrip(
      makeRequest("GET", "/ws", "example.test", "Connection: Upgrade\r\nUpgrade: websocket\r\n"));
  REQUIRE(r.status() == 101);
  REQUIRE(c.send("ping1"));
  REQUIRE(c.readAtLeast(10) == IoStatus::kOk);
  CHECK(c.buffer() == "echo:ping1");
  c.buffer().clear();

  reloadTo(proxy, up.to("b").render(), 2); // the tunnel's pool is gone from the config
  REQUIRE(c.send("ping2"));
  REQUIRE(c.readAtLeast(10) == IoStatus::kOk);
  CHECK(c.buffer() == "echo:ping2");
  CHECK(bodyOf(httpGet(proxy.port(), "/after")) == "b");
}

TEST_CASE("reload: a server that is down stays down across a reload") {
  // b serves traffic but fails its health check: only the checks keep it out.
  FakeUpstream a("a");
  FakeUpstream b("b", [](const UpstreamRequest& r) {
    if (r.message.target == "/healthz") {
      return Reply::send("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n");
    }
    return Reply::ok("b");
  });
  // The reloaded config needs 50 failed checks (5 s) to take a server down:
  // only the state carried over keeps b out right after the reload.
  auto config = [&](const std::string& route_name, int fall) {
    ProxyConfig cfg;
    cfg.addPool("app", {{"a", a.port()}, {"b", b.port()}},
                "health_check: {path: /healthz, interval: 100ms, timeout: 100ms, rise: 1, "
                "fall: " +
                    std::to_string(fall) + "}");
    cfg.addRoute("{name: " + route_name + ", pool: app}");
    return cfg;
  };
  ProxyProcess proxy;
  startOrFail(proxy, config("r1", 1));
  REQUIRE(proxy.waitForStderr("pool=app server=b is down", milliseconds(5000)));
  reloadTo(proxy, config("r2", 50).render(), 2);
  for (int i = 0; i < 10; ++i) {
    Response r = httpGet(proxy.port(), "/x" + std::to_string(i));
    INFO(r.describe());
    CHECK(r.status() == 200);
    CHECK(bodyOf(r) == "a");
  }
}

TEST_CASE("reload: 20 reloads under continuous load fail no request") {
  Pair up;
  ProxyProcess proxy;
  startOrFail(proxy, up.to("a", "2"));
  const uint16_t port = proxy.port();
  std::atomic<bool> stop{false};
  LoadTally tally;
  // Keep-alive clients: each sends requests on one connection.
  auto keepAlive = [&] {
    RawClient c(port);
    for (int i = 0; i < 20000 && !stop; ++i) {
      Response r = c.roundTrip(makeRequest("GET", "/k" + std::to_string(i)));
      if (r.status() == 200) {
        tally.ok();
      } else {
        tally.failed("keep-alive: " + r.describe());
        c = RawClient(port);
      }
    }
  };
  // New connection per request.
  auto fresh = [&] {
    for (int i = 0; i < 20000 && !stop; ++i) {
      Response r = httpGet(port, "/n" + std::to_string(i));
      if (r.status() == 200) {
        tally.ok();
      } else {
        tally.failed("new connection: " + r.describe());
      }
    }
  };
  std::vector<std::thread> load;
  load.emplace_back(keepAlive);
  load.emplace_back(keepAlive);
  load.emplace_back(fresh);
  Clock::time_point began = Clock::now();
  for (int n = 2; n <= 21; ++n) {
    // Let some traffic through on the current config first (bounded wait).
    tally.waitOk(tally.oks() + 40, milliseconds(2000));
    reloadTo(proxy, up.to(n % 2 == 0 ? "b" : "a", "2").render(), n);
  }
  stop = true;
  for (std::thread& t : load)
    t.join();
  auto took = std::chrono::duration_cast<milliseconds>(Clock::now() - began).count();
  MESSAGE("20 reloads in " << took << " ms under load: " << tally.oks() << " requests ok, "
                           << tally.failures() << " failed");
  INFO(tally.failureText());
  CHECK(tally.failures() == 0);
  CHECK(tally.oks() >= 800);
  CHECK(up.a.requestCount() > 0);
  CHECK(up.b.requestCount() > 0);
}
