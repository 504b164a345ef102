// Routing (issue 2 §4/§5): host, path exact/prefix/regex, methods, header,
// cookie and query matches, AND of conditions, first match wins, 404 for no
// route, and smooth weighted round robin observed from upstream hit counts.
#include <doctest/doctest.h>

#include "tests/support/e2e_checks.h"

using namespace swytest;
using std::chrono::milliseconds;

namespace {

// One upstream "hit" behind pool "hit" (route under test) and one "miss"
// behind pool "miss" (catch-all). The body names the upstream that answered.
struct RouteRig {
  FakeUpstream hit{"hit"};
  FakeUpstream miss{"miss"};
  ProxyProcess proxy;

  explicit RouteRig(const std::string& match, const std::string& extra_route = "") {
    ProxyConfig cfg;
    cfg.addPool("hit", {{"hit1", hit.port()}});
    cfg.addPool("miss", {{"miss1", miss.port()}});
    if (!extra_route.empty()) cfg.addRoute(extra_route);
    cfg.addRoute("{name: under_test, match: " + match + ", pool: hit}");
    cfg.addRoute("{name: fallback, pool: miss}");
    startOrFail(proxy, cfg);
  }

  // Which upstream answered: "hit", "miss", or "status N" / "incomplete".
  std::string route(const std::string& method, const std::string& target,
                    const std::string& host = "example.test", const std::string& headers = "") {
    RawClient c(proxy.port());
    std::string body = method == "POST" || method == "PUT" ? "x" : "";
    Response r = c.roundTrip(makeRequest(method, target, host, headers, body));
    if (!r.complete) return r.describe();
    if (r.status() != 200) return "status " + std::to_string(r.status());
    return r.body();
  }
  std::string get(const std::string& target, const std::string& host = "example.test",
                  const std::string& headers = "") {
    return route("GET", target, host, headers);
  }
};

} // namespace

TEST_SUITE_BEGIN("e2e");

TEST_CASE("routing: host is an RE2 full match on Host without its port") {
  RouteRig rig(R"({host: '^(www\.)?example\.com$'})");
  CHECK(rig.get("/", "example.com") == "hit");
  CHECK(rig.get("/", "www.example.com:8080") == "hit");
  CHECK(rig.get("/", "api.example.com") == "miss");
  CHECK(rig.get("/", "example.com.evil.test") == "miss");
}

TEST_CASE("routing: path is an exact match on the path (query ignored)") {
  RouteRig rig("{path: /exact}");
  CHECK(rig.get("/exact") == "hit");
  CHECK(rig.get("/exact?x=1") == "hit");
  CHECK(rig.get("/exact/") == "miss");
  CHECK(rig.get("/exactly") == "miss");
  CHECK(rig.get("/") == "miss");
}

TEST_CASE("routing: path_prefix matches the path start") {
  RouteRig rig("{path_prefix: /api}");
  CHECK(rig.get("/api") == "hit");
  CHECK(rig.get("/api/v1/users?id=3") == "hit");
  CHECK(rig.get("/ap") == "miss");
  CHECK(rig.get("/other/api") == "miss");
}

TEST_CASE("routing: path_regex is an RE2 full match on the path") {
  RouteRig rig(R"({path_regex: '^/v[0-9]+/items$'})");
  CHECK(rig.get("/v2/items") == "hit");
  CHECK(rig.get("/v10/items?page=2") == "hit");
  CHECK(rig.get("/v2/items/") == "miss");
  CHECK(rig.get("/vx/items") == "miss");
  CHECK(rig.get("/x/v2/items") == "miss");
}

TEST_CASE("routing: methods restrict the route") {
  RouteRig rig("{methods: [POST, PUT]}");
  CHECK(rig.route("POST", "/m") == "hit");
  CHECK(rig.route("PUT", "/m") == "hit");
  CHECK(rig.route("GET", "/m") == "miss");
  CHECK(rig.route("DELETE", "/m") == "miss");
}

TEST_CASE("routing: header regex, case-insensitive name, absent never matches") {
  RouteRig rig("{headers: {X-Beta: '^(1|true)$'}}");
  CHECK(rig.get("/", "example.test", "X-Beta: true\r\n") == "hit");
  CHECK(rig.get("/", "example.test", "x-beta: 1\r\n") == "hit");
  CHECK(rig.get("/", "example.test", "X-Beta: yes\r\n") == "miss");
  CHECK(rig.get("/", "example.test", "X-Beta: true1\r\n") == "miss");
  CHECK(rig.get("/", "example.test", "X-Other: true\r\n") == "miss");
  CHECK(rig.get("/") == "miss");
}

TEST_CASE("routing: cookie regex on the named cookie's value") {
  RouteRig rig("{cookies: {beta: '^on$'}}");
  CHECK(rig.get("/", "example.test", "Cookie: beta=on\r\n") == "hit");
  CHECK(rig.get("/", "example.test", "Cookie: a=1; beta=on; z=2\r\n") == "hit");
  CHECK(rig.get("/", "example.test", "Cookie: beta=off\r\n") == "miss");
  CHECK(rig.get("/", "example.test", "Cookie: xbeta=on\r\n") == "miss");
  CHECK(rig.get("/", "example.test", "X-Beta: on\r\n") == "miss");
  CHECK(rig.get("/") == "miss");
}

TEST_CASE("routing: query parameter regex") {
  RouteRig rig("{query: {variant: '^b$'}}");
  CHECK(rig.get("/p?variant=b") == "hit");
  CHECK(rig.get("/p?x=1&variant=b&y=2") == "hit");
  CHECK(rig.get("/p?variant=bb") == "miss");
  CHECK(rig.get("/p?variantx=b") == "miss");
  CHECK(rig.get("/p") == "miss");
}

TEST_CASE("routing: all conditions of a match AND together") {
  RouteRig rig(R"({host: '^example\.com$', path_prefix: /api, methods: [GET], )"
               R"(headers: {X-Beta: '^1$'}, cookies: {beta: '^on$'}, query: {v: '^b$'}})");
  const std::string all = "X-Beta: 1\r\nCookie: beta=on\r\n";
  CHECK(rig.get("/api/x?v=b", "example.com", all) == "hit");
  CHECK(rig.get("/api/x?v=b", "other.com", all) == "miss");
  CHECK(rig.get("/web?v=b", "example.com", all) == "miss");
  CHECK(rig.route("DELETE", "/api/x?v=b", "example.com", all) == "miss");
  CHECK(rig.get("/api/x?v=b", "example.com", "Cookie: beta=on\r\n") == "miss");
  CHECK(rig.get("/api/x?v=b", "example.com", "X-Beta: 1\r\n") == "miss");
  CHECK(rig.get("/api/x?v=a", "example.com", all) == "miss");
}

TEST_CASE("routing: first match wins") {
  // An earlier, broader route shadows the route under test.
  RouteRig rig("{path_prefix: /a/b}", "{name: broad, match: {path_prefix: /a}, pool: miss}");
  CHECK(rig.get("/a/b/c") == "miss");
  CHECK(rig.get("/a") == "miss");

  RouteRig narrow_first("{path_prefix: /a}",
                        "{name: narrow, match: {path_prefix: /a/b}, pool: miss}");
  CHECK(narrow_first.get("/a/b/c") == "miss");
  CHECK(narrow_first.get("/a/x") == "hit");
}

TEST_CASE("routing: no matching route is a 404 from the proxy with term PR") {
  FakeUpstream up("app");
  ProxyConfig cfg;
  cfg.addPool("app", {{"app1", up.port()}});
  cfg.addRoute("{name: api, match: {path_prefix: /api}, pool: app}");
  ProxyProcess proxy;
  startOrFail(proxy, cfg);
  RawClient c(proxy.port());
  Response r = c.roundTrip(makeRequest("GET", "/nowhere"));
  checkErrorResponse(c, r, 404, false);
  JsonLine log = logLineAt(proxy, 0);
  CHECK(log.num("status") == 404);
  CHECK(log.str("route") == "-");
  CHECK(log.str("pool") == "-");
  CHECK(log.str("server") == "-");
  CHECK(log.str("term") == "PR");
  CHECK(httpGet(proxy.port(), "/api/ok").status() == 200);
  CHECK(up.requestCount() == 1);
  CHECK(up.requests()[0].message.target == "/api/ok");
}

TEST_CASE("routing: weighted round robin 1:2 splits 3 requests 1/2 and 6 requests 2/4") {
  FakeUpstream light("light"), heavy("heavy");
  ProxyConfig cfg;
  cfg.addPool("app", {{"light", light.port(), 1}, {"heavy", heavy.port(), 2}});
  cfg.addRoute("{name: all, pool: app}");
  ProxyProcess proxy;
  startOrFail(proxy, cfg);
  for (int i = 0; i < 3; ++i)
    REQUIRE(httpGet(proxy.port(), "/").status() == 200);
  CHECK(light.requestCount() == 1);
  CHECK(heavy.requestCount() == 2);
  for (int i = 0; i < 3; ++i)
    REQUIRE(httpGet(proxy.port(), "/").status() == 200);
  CHECK(light.requestCount() == 2);
  CHECK(heavy.requestCount() == 4);
}

TEST_CASE("routing: equal weights alternate per request, also on one client connection") {
  FakeUpstream a("a"), b("b");
  ProxyConfig cfg;
  cfg.addPool("app", {{"a", a.port()}, {"b", b.port()}});
  cfg.addRoute("{name: all, pool: app}");
  ProxyProcess proxy;
  startOrFail(proxy, cfg);
  RawClient c(proxy.port());
  std::string previous;
  for (int i = 0; i < 4; ++i) {
    Response r = c.roundTrip(makeRequest("GET", "/"));
    REQUIRE(r.status() == 200);
    CHECK(r.body() != previous);
    previous = r.body();
  }
  CHECK(a.requestCount() == 2);
  CHECK(b.requestCount() == 2);
}

TEST_SUITE_END();
