// The admin listener over real sockets (issue 6): /metrics read by a strict
// Prometheus text-format parser, the pools API with drain / ready / maint and
// run-time weights, POST /api/reload, the stats page, and clear answers to
// every bad admin request.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
#include <fstream>

#include "tests/support/e2e_checks.h"
#include "tests/support/metrics_text.h"

using namespace swytest;
using std::chrono::milliseconds;

namespace {

ProxyConfig withAdmin(ProxyConfig cfg) {
  cfg.extra_top = "admin: {address: 127.0.0.1:0}\n";
  return cfg;
}

Response call(uint16_t port, std::string_view method, std::string_view target,
              std::string_view body = "", std::string_view type = "application/json") {
  RawClient c(port);
  std::string extra;
  if (!body.empty() || method == "PUT" || method == "POST") {
    extra = "Content-Type: " + std::string(type) + "\r\n";
    if (body.empty()) extra += "Content-Length: 0\r\n"; // makeRequest adds it for a body
  }
  return c.roundTrip(makeRequest(method, target, "127.0.0.1", extra, body), milliseconds(5000));
}

} // namespace

TEST_SUITE_BEGIN("e2e");

TEST_CASE("admin: off unless configured; a config error for a public admin address") {
  FakeUpstream up("app1");
  ProxyProcess proxy;
  startOrFail(proxy, singleUpstream(up.port()));
  CHECK(adminPort(proxy) == 0);
  ProxyConfig open = singleUpstream(up.port());
  open.extra_top = "admin: {address: 0.0.0.0:9901}\n";
  TempDir dir;
  RunResult r = runSwitchyard({"-t", "-c", dir.write("admin.yaml", open.render())});
  INFO(r.err);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("admin.address: the admin listener must be on a loopback address") !=
        std::string::npos);
}

TEST_CASE("admin: /metrics is valid Prometheus text and counts what happened") {
  FakeUpstream up("app1");
  ProxyProcess proxy;
  ProxyConfig cfg;
  cfg.addPool("app", {{"app1", up.port()}});
  cfg.addRoute("{name: api, match: {path_prefix: /api}, pool: app}");
  startOrFail(proxy, withAdmin(cfg));
  const uint16_t admin = adminPort(proxy);
  REQUIRE(admin != 0);
  for (int i = 0; i < 7; ++i)
    CHECK(httpGet(proxy.port(), "/api/x").status() == 200);
  for (int i = 0; i < 3; ++i)
    CHECK(httpGet(proxy.port(), "/nowhere").status() == 404);
  REQUIRE(proxy.waitForAccessLog(10).size() == 10);

  Response r = httpGet(admin, "/metrics", "127.0.0.1");
  REQUIRE(r.status() == 200);
  CHECK(r.headers().valueOr("Content-Type") == "text/plain; version=0.0.4; charset=utf-8");
  Metrics m(r.body());
  INFO(m.problemText());
  CHECK(m.problems.empty());
  CHECK(m.types["switchyard_requests_total"] == "counter");
  CHECK(m.types["switchyard_request_duration_seconds"] == "histogram");
  CHECK(m.at("switchyard_requests_total{route=\"api\",status_class=\"2xx\"}") == 7);
  CHECK(m.at("switchyard_requests_total{route=\"(no route)\",status_class=\"4xx\"}") == 3);
  CHECK(m.at("switchyard_request_duration_seconds_count{route=\"api\"}") == 7);
  CHECK(m.at("switchyard_request_duration_seconds_bucket{route=\"api\",le=\"+Inf\"}") == 7);
  CHECK(m.at("switchyard_upstream_requests_total{pool=\"app\",server=\"app1\",status_class="
             "\"2xx\"}") == 7);
  CHECK(m.at("switchyard_server_up{pool=\"app\",server=\"app1\"}") == 1);
  CHECK(m.at("switchyard_server_health{pool=\"app\",server=\"app1\",health=\"up\"}") == 1);
  CHECK(m.at("switchyard_downstream_connections_total{listener=\"public\"}") >= 10);
  CHECK(m.at("switchyard_config_generation") == 1);
  CHECK(m.at("switchyard_config_reloads_total{result=\"ok\"}") == 0);
  // Upstream side: the 7 requests went over one kept-alive connection (a new
  // client connection each, one upstream connection reused), now idle.
  CHECK(m.types["switchyard_upstream_connect_duration_seconds"] == "histogram");
  CHECK(m.at("switchyard_upstream_connect_duration_seconds_count{pool=\"app\"}") >= 1);
  CHECK(m.at("switchyard_upstream_connect_duration_seconds_count{pool=\"app\"}") <= 7);
  CHECK(m.at("switchyard_upstream_response_duration_seconds_count{pool=\"app\"}") == 7);
  CHECK(m.at("switchyard_upstream_response_duration_seconds_bucket{pool=\"app\",le=\"+Inf\"}") ==
        7);
  CHECK(m.at("switchyard_upstream_connections{pool=\"app\",server=\"app1\",state=\"active\"}") ==
        0);
  CHECK(m.at("switchyard_upstream_connections{pool=\"app\",server=\"app1\",state=\"idle\"}") >= 1);
}

TEST_CASE("admin: each A/B variant's responses and latency, in /metrics and /api/stats") {
  FakeUpstream a("a");
  FakeUpstream b("b", [](const UpstreamRequest& r) {
    Reply oops = Reply::send("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\noops");
    return r.message.target == "/slow" ? oops.holdFor(milliseconds(5000)) : oops;
  });
  ProxyConfig cfg;
  cfg.addPool("pa", {{"a", a.port()}});
  cfg.addPool("pb", {{"b", b.port()}});
  cfg.addRoute("{name: shop, split: {experiment: checkout, key: 'cookie:uid', "
               "override: 'header:X-Variant', variants: [{name: control, pool: pa, weight: 50}, "
               "{name: treat, pool: pb, weight: 50}]}}");
  ProxyProcess proxy;
  startOrFail(proxy, withAdmin(cfg));
  const uint16_t admin = adminPort(proxy);
  REQUIRE(admin != 0);
  RawClient c(proxy.port());
  for (int i = 0; i < 5; ++i) {
    Response r = c.roundTrip(makeRequest("GET", "/", "example.test", "X-Variant: control\r\n"));
    CHECK(r.status() == 200);
  }
  for (int i = 0; i < 3; ++i) {
    Response r = c.roundTrip(makeRequest("GET", "/", "example.test", "X-Variant: treat\r\n"));
    CHECK(r.status() == 500);
  }
  // One more treat request whose client gives up before the answer: no
  // response class, but its time counts in the variant's histogram, as in the
  // route's.
  RawClient gives_up(proxy.port());
  REQUIRE(gives_up.send(makeRequest("GET", "/slow", "example.test", "X-Variant: treat\r\n")));
  REQUIRE(b.waitForRequests(4, milliseconds(3000)));
  gives_up.close();
  const std::vector<JsonLine> log = proxy.waitForAccessLog(9);
  REQUIRE(log.size() == 9);
  CHECK(log.back().str("variant") == "treat");
  CHECK(log.back().str("term").substr(0, 1) == "C"); // the client ended it
  CHECK(log.back().num("status") == 0);
  b.release();

  Metrics m(httpGet(admin, "/metrics", "127.0.0.1").body());
  INFO(m.problemText());
  CHECK(m.problems.empty());
  CHECK(m.types["switchyard_experiment_request_duration_seconds"] == "histogram");
  CHECK(m.types["switchyard_experiment_responses_total"] == "counter");
  const std::string control = R"(experiment="checkout",variant="control")";
  const std::string treat = R"(experiment="checkout",variant="treat")";
  CHECK(m.at("switchyard_experiment_request_duration_seconds_count{" + control + "}") == 5);
  CHECK(m.at("switchyard_experiment_request_duration_seconds_count{" + treat + "}") == 4);
  CHECK(m.at("switchyard_experiment_request_duration_seconds_bucket{" + treat + ",le=\"+Inf\"}") ==
        4);
  CHECK(m.at("switchyard_experiment_request_duration_seconds_sum{" + control + "}") > 0);
  // Every request a variant got, and only those, is in its histogram.
  for (const std::string& v : {control, treat}) {
    CAPTURE(v);
    CHECK(m.at("switchyard_experiment_request_duration_seconds_count{" + v + "}") ==
          m.at("switchyard_experiment_assignments_total{" + v + "}"));
  }
  CHECK(m.at("switchyard_experiment_responses_total{" + control + ",status_class=\"2xx\"}") == 5);
  CHECK(m.at("switchyard_experiment_responses_total{" + control + ",status_class=\"5xx\"}") == 0);
  CHECK(m.at("switchyard_experiment_responses_total{" + treat + ",status_class=\"5xx\"}") == 3);

  Response stats = httpGet(admin, "/api/stats", "127.0.0.1");
  REQUIRE(stats.status() == 200);
  const std::string& body = stats.body();
  INFO(body);
  CHECK(body.find(R"("name":"treat","weight":50,"requests":4,"status":{"1xx":0,"2xx":0,"3xx":0,)"
                  R"("4xx":0,"5xx":3},"latency_ms":{"p50":)") != std::string::npos);
  const size_t at = body.find(R"("name":"control","weight":50,"requests":5,"status":{)");
  REQUIRE(at != std::string::npos);
  const size_t p50 = body.find(R"("p50":)", at);
  REQUIRE(p50 != std::string::npos);
  CHECK(std::strtod(body.c_str() + p50 + 6, nullptr) > 0); // a measured time, not a placeholder
}

TEST_CASE("admin: an exchange in progress shows as an active upstream connection") {
  FakeUpstream slow("app1", [](const UpstreamRequest& r) {
    if (r.message.target == "/slow") return Reply::ok("late").holdFor(milliseconds(5000));
    return Reply::ok("app1");
  });
  ProxyProcess proxy;
  startOrFail(proxy, withAdmin(singleUpstream(slow.port())));
  const uint16_t admin = adminPort(proxy);
  const std::string open = "switchyard_downstream_connections_open{listener=\"public\"}";
  const std::string busy = "switchyard_downstream_connections_busy{listener=\"public\"}";
  // An idle keep-alive connection (served once) holds no request state; one
  // with the first bytes of a head does, like the one waiting for /slow.
  RawClient idle(proxy.port());
  REQUIRE(idle.send(makeRequest("GET", "/")));
  REQUIRE(idle.readResponse(milliseconds(5000)).status() == 200);
  RawClient partial(proxy.port());
  REQUIRE(partial.send("GET /partial HTTP/1.1\r\nHo"));
  RawClient c(proxy.port());
  REQUIRE(c.send(makeRequest("GET", "/slow")));
  REQUIRE(slow.waitForRequests(2, milliseconds(3000)));
  // The worker may still be reading `partial` when the admin answers: ask
  // again (bounded) until the count settles.
  auto metricsUntil = [&](double want) {
    for (int i = 0;; ++i) {
      Metrics m(httpGet(admin, "/metrics", "127.0.0.1").body());
      if (m.at(busy) == want || i == 100) return m;
    }
  };
  Metrics during = metricsUntil(2);
  CHECK(during.at(
            "switchyard_upstream_connections{pool=\"app\",server=\"app1\",state=\"active\"}") == 1);
  CHECK(during.at(open) == 3);
  CHECK(during.at(busy) == 2);
  slow.release();
  CHECK(c.readResponse(milliseconds(5000)).status() == 200);
  partial.close(); // logged as ended by the client in its head ('CR')
  REQUIRE(proxy.waitForAccessLog(3).size() == 3);
  Metrics after = metricsUntil(0);
  CHECK(after.at(busy) == 0); // `c` and `idle` are idle keep-alive connections now
  CHECK(after.at(
            "switchyard_upstream_connections{pool=\"app\",server=\"app1\",state=\"active\"}") == 0);
  CHECK(after.at("switchyard_upstream_connections{pool=\"app\",server=\"app1\",state=\"idle\"}") ==
        1);
  CHECK(after.at("switchyard_upstream_response_duration_seconds_count{pool=\"app\"}") == 2);
  CHECK(after.at("switchyard_upstream_response_duration_seconds_sum{pool=\"app\"}") > 0);
}

TEST_CASE("admin: drain takes a server out for new requests while one in flight finishes") {
  FakeUpstream slow("app1", [](const UpstreamRequest& r) {
    if (r.message.target == "/slow") return Reply::ok("app1-slow").holdFor(milliseconds(5000));
    return Reply::ok("app1");
  });
  FakeUpstream other("app2");
  ProxyProcess proxy;
  ProxyConfig cfg;
  cfg.addPool("web", {{"app1", slow.port()}, {"app2", other.port()}}, "sticky: {}");
  cfg.addRoute("{name: all, pool: web}");
  startOrFail(proxy, withAdmin(cfg));
  const uint16_t admin = adminPort(proxy);
  REQUIRE(admin != 0);

  // A sticky user on app1, and a slow request in flight on app1.
  Response first = httpGet(proxy.port(), "/");
  std::string cookie;
  for (int i = 0; i < 4 && first.body() != "app1"; ++i)
    first = httpGet(proxy.port(), "/");
  REQUIRE(first.body() == "app1");
  cookie = first.headers().valueOr("Set-Cookie");
  cookie = cookie.substr(0, cookie.find(';'));
  RawClient inflight(proxy.port());
  REQUIRE(inflight.send(makeRequest("GET", "/slow", "example.test", "Cookie: " + cookie + "\r\n")));
  REQUIRE(slow.waitForRequests(2, milliseconds(3000)));

  Response put = call(admin, "PUT", "/api/pools/web/servers/app1", R"({"state": "drain"})");
  INFO(put.describe());
  REQUIRE(put.status() == 200);
  CHECK(put.body().find("\"state\":\"drain\"") != std::string::npos);
  CHECK(proxy.waitForStderr("switchyard: admin: pool=web server=app1 state ready -> drain",
                            milliseconds(2000)));
  const size_t app1_before = slow.requestCount();
  for (int i = 0; i < 6; ++i) {
    RawClient c(proxy.port());
    Response r =
        c.roundTrip(makeRequest("GET", "/n", "example.test", "Cookie: " + cookie + "\r\n"));
    CHECK(r.status() == 200);
    CHECK(r.body() == "app2"); // the sticky user moved too
  }
  CHECK(slow.requestCount() == app1_before);
  slow.release();
  Response done = inflight.readResponse(milliseconds(5000));
  CHECK(done.status() == 200);
  CHECK(done.body() == "app1-slow"); // the request in flight finished on the drained server

  Response pools = httpGet(admin, "/api/pools", "127.0.0.1");
  CHECK(pools.body().find(R"("name":"app1","address":"127.0.0.1:)") != std::string::npos);
  CHECK(pools.body().find(R"("state":"drain","health":"up")") != std::string::npos);

  REQUIRE(call(admin, "PUT", "/api/pools/web/servers/app1", R"({"state":"ready"})").status() ==
          200);
  bool back = false;
  for (int i = 0; i < 6 && !back; ++i)
    back = httpGet(proxy.port(), "/again").body() == "app1";
  CHECK(back);
}

TEST_CASE("admin: a run-time weight changes the share; the state survives a reload") {
  FakeUpstream a("a"), b("b");
  ProxyProcess proxy;
  ProxyConfig cfg;
  cfg.addPool("web", {{"a", a.port()}, {"b", b.port()}});
  cfg.addRoute("{name: all, pool: web}");
  startOrFail(proxy, withAdmin(cfg));
  const uint16_t admin = adminPort(proxy);
  REQUIRE(call(admin, "PUT", "/api/pools/web/servers/a", R"({"weight": 3})").status() == 200);
  int to_a = 0;
  for (int i = 0; i < 40; ++i)
    to_a += httpGet(proxy.port(), "/w").body() == "a" ? 1 : 0;
  CHECK(to_a == 30); // round robin, 3 : 1

  REQUIRE(call(admin, "PUT", "/api/pools/web/servers/b", R"({"state": "maint"})").status() == 200);
  Response reload = call(admin, "POST", "/api/reload", "");
  INFO(reload.describe());
  REQUIRE(reload.status() == 200);
  CHECK(reload.body().find(R"("result":"ok","generation":2)") != std::string::npos);
  REQUIRE(proxy.waitForStderr("switchyard: reloaded generation=2 ", milliseconds(5000)));
  for (int i = 0; i < 5; ++i)
    CHECK(httpGet(proxy.port(), "/r").body() == "a"); // b is still in maintenance
  Response pools = httpGet(admin, "/api/pools", "127.0.0.1");
  CHECK(pools.body().find(R"("weight":3,"configured_weight":1,"state":"ready")") !=
        std::string::npos);
  CHECK(pools.body().find(R"("state":"maint")") != std::string::npos);
}

TEST_CASE("admin: POST /api/reload with a broken file answers 422 with the errors") {
  FakeUpstream up("app1");
  ProxyProcess proxy;
  startOrFail(proxy, withAdmin(singleUpstream(up.port())));
  const uint16_t admin = adminPort(proxy);
  {
    std::ofstream out(proxy.configPath(), std::ios::app);
    out << "  - {name: broken, pool: missing}\n";
  }
  Response r = call(admin, "POST", "/api/reload", "");
  INFO(r.describe());
  CHECK(r.status() == 422);
  CHECK(r.body().find(R"("result":"failed","generation":1)") != std::string::npos);
  CHECK(r.body().find("unknown pool 'missing'") != std::string::npos);
  Metrics m(httpGet(admin, "/metrics", "127.0.0.1").body());
  CHECK(m.at("switchyard_config_reloads_total{result=\"failed\"}") == 1);
  CHECK(m.at("switchyard_config_last_reload_successful") == 0);
  CHECK(httpGet(proxy.port(), "/still").status() == 200);
}

TEST_CASE("admin: bad requests get a clear 4xx; the page is served with its policy") {
  FakeUpstream up("app1");
  ProxyProcess proxy;
  startOrFail(proxy, withAdmin(singleUpstream(up.port())));
  const uint16_t admin = adminPort(proxy);
  struct Case {
    const char* method;
    const char* target;
    const char* body;
    const char* type;
    int status;
    const char* says;
  } cases[] = {
      {"GET", "/nope", "", "application/json", 404, "no such admin endpoint"},
      {"GET", "/api/reload", "", "application/json", 405, "use POST"},
      {"DELETE", "/api/pools/app/servers/app1", "", "application/json", 405, "use PUT"},
      {"PUT", "/api/pools/app/servers/ghost", R"({"state":"drain"})", "application/json", 404,
       "no server 'ghost' in pool 'app'"},
      {"PUT", "/api/pools/app/servers/app1", R"({"state":"off"})", "application/json", 400,
       "unknown state"},
      {"PUT", "/api/pools/app/servers/app1", R"({"state":"drain","x":1})", "application/json", 400,
       "unknown field"},
      {"PUT", "/api/pools/app/servers/app1", R"({"weight":-2})", "application/json", 400,
       "whole number from 1 to 1000000"},
      {"PUT", "/api/pools/app/servers/app1", "state=drain", "application/json", 400,
       "expected a JSON object"},
      {"PUT", "/api/pools/app/servers/app1", "{}", "application/json", 400, "nothing to change"},
      {"PUT", "/api/pools/app/servers/app1", R"({"state":"drain"})", "text/plain", 415,
       "application/json"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.method);
    CAPTURE(c.target);
    CAPTURE(c.body);
    Response r = call(admin, c.method, c.target, c.body, c.type);
    INFO(r.describe());
    CHECK(r.status() == c.status);
    CHECK(r.body().find(c.says) != std::string::npos);
    CHECK(r.headers().valueOr("Connection") == "close");
  }
  CHECK(httpGet(proxy.port(), "/").body() == "app1"); // nothing was drained by the bad ones

  Response page = httpGet(admin, "/", "127.0.0.1");
  CHECK(page.status() == 200);
  CHECK(page.headers().valueOr("Content-Type") == "text/html; charset=utf-8");
  CHECK(page.headers().valueOr("Content-Security-Policy").find("default-src 'none'") == 0);
  CHECK(page.body().find("/api/stats") != std::string::npos);
  Response stats = httpGet(admin, "/api/stats", "127.0.0.1");
  CHECK(stats.status() == 200);
  CHECK(stats.body().find(R"("generation":1)") != std::string::npos);
  CHECK(stats.body().find(R"("pools":[{"name":"app","balance":"round_robin")") !=
        std::string::npos);
}

TEST_CASE("admin: /api/explain says which route, variant and server, and why") {
  FakeUpstream a("a"), b("b");
  ProxyConfig cfg;
  cfg.addPool("app", {{"a", a.port()}, {"b", b.port()}}, "sticky: {}");
  cfg.addPool("beta", {{"b", b.port()}});
  cfg.addPool("users", {{"a", a.port()}, {"b", b.port()}},
              "balance: hash, hash_key: 'header:X-User'");
  cfg.addRoute("{name: beta-header, match: {headers: {X-Beta: '1'}}, pool: beta}");
  cfg.addRoute("{name: api, match: {path_prefix: /api, methods: [GET]}, pool: users}");
  cfg.addRoute("{name: shop, match: {path_prefix: /shop}, split: {experiment: exp1, "
               "key: 'cookie:uid', variants: [{name: control, pool: app, weight: 50}, "
               "{name: treat, pool: beta, weight: 50}]}}");
  cfg.addRoute("{name: default, pool: app}");
  ProxyProcess proxy;
  startOrFail(proxy, withAdmin(cfg));
  const uint16_t admin = adminPort(proxy);
  REQUIRE(admin != 0);
  auto explain = [&](const std::string& query) {
    Response r = httpGet(admin, "/api/explain?" + query, "127.0.0.1");
    INFO(r.describe());
    return r;
  };

  Response api = explain("method=GET&path=/api/users&header=X-User:alice");
  REQUIRE(api.status() == 200);
  const std::string& body = api.body();
  CHECK(
      body.find(
          R"("name":"beta-header","matched":false,"conditions":[{"condition":"header X-Beta ~ 1","ok":false,"detail":"no X-Beta header"}])") !=
      std::string::npos);
  CHECK(body.find(R"("result":{"route":"api","action":"pool","pool":"users","server":{"name":")") !=
        std::string::npos);
  CHECK(body.find("consistent hash (Maglev) of header:X-User 'alice'") != std::string::npos);
  // The same request, sent for real, goes to the server explain named.
  const bool to_a = body.find(R"("server":{"name":"a")") != std::string::npos;
  RawClient c(proxy.port());
  Response real =
      c.roundTrip(makeRequest("GET", "/api/users", "example.test", "X-User: alice\r\n"));
  CHECK(real.body() == (to_a ? "a" : "b"));

  Response post = explain("method=POST&path=/api/users");
  CHECK(
      post.body().find(R"({"condition":"method in [GET]","ok":false,"detail":"method is POST"})") !=
      std::string::npos);
  CHECK(post.body().find(R"("result":{"route":"default","action":"pool","pool":"app")") !=
        std::string::npos);

  Response shop = explain("path=/shop/cart&cookie=uid:42");
  CHECK(shop.body().find(R"("action":"split","experiment":"exp1","variant":{"name":")") !=
        std::string::npos);
  CHECK(shop.body().find("hash of cookie:uid '42' in experiment exp1") != std::string::npos);

  Response none = explain("path=/&header=X-Beta:1");
  CHECK(none.body().find(R"("result":{"route":"beta-header","action":"pool","pool":"beta")") !=
        std::string::npos);

  Response bad = explain("path=/x&color=red");
  CHECK(bad.status() == 400);
  CHECK(bad.body().find("unknown parameter 'color'") != std::string::npos);
  CHECK(explain("path=/x&client=not-an-ip").status() == 400);
  CHECK(explain("path=/x&header=NoColon").status() == 400);
}
