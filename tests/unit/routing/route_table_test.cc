#include "routing/route_table.h"

#include <doctest/doctest.h>

#include <initializer_list>
#include <string>
#include <vector>

#include "tests/unit/routing/route_builder.h"

using routing::Header;
using routing::MatchDef;
using routing::MatchScratch;
using routing::PathKind;
using routing::RequestView;
using routing::RouteDef;
using routing::RouteTable;

using routing::testing::mustBuild;
using routing::testing::On;
using routing::testing::route;

namespace {

std::string buildError(std::vector<RouteDef> routes) {
  std::string error;
  auto table = RouteTable::build(std::move(routes), &error);
  CHECK(table == nullptr);
  return error;
}

// A request with owned header storage, so tests read like requests.
struct Req {
  std::string method = "GET";
  std::string path = "/";
  std::string query;
  std::string host = "example.com";
  std::vector<Header> headers;

  Req& header(std::string_view name, std::string_view value) {
    headers.push_back(Header{name, value}); // test literals outlive the request
    return *this;
  }
  RequestView view() const { return RequestView{method, path, query, host, headers}; }
};

// Name of the matched route, or "<none>".
std::string matchName(const RouteTable& table, const Req& req) {
  MatchScratch scratch;
  int index = table.match(req.view(), scratch);
  return index < 0 ? "<none>" : table.route(static_cast<size_t>(index)).name;
}

bool matches(const MatchDef& match, const Req& req) {
  auto table = mustBuild({route("r", match)});
  return matchName(*table, req) == "r";
}

Req get(std::string path) {
  Req req;
  req.path = std::move(path);
  return req;
}

} // namespace

TEST_CASE("a route with no conditions matches everything; an empty table nothing") {
  auto table = mustBuild({route("all")});
  CHECK(matchName(*table, Req{}) == "all");
  CHECK(matchName(*table, Req{"DELETE", "/x/y", "a=1", "", {}}) == "all");
  auto empty = mustBuild({});
  CHECK(empty->size() == 0);
  CHECK(matchName(*empty, Req{}) == "<none>");
  RouteTable moved_from;
  MatchScratch scratch;
  CHECK(moved_from.match(Req{}.view(), scratch) == -1);
}

TEST_CASE("path: exact, prefix and regex") {
  MatchDef exact = On().exact("/api");
  CHECK(matches(exact, get("/api")));
  CHECK_FALSE(matches(exact, get("/api/")));
  CHECK_FALSE(matches(exact, get("/API")));
  MatchDef prefix = On().prefix("/api/");
  CHECK(matches(prefix, get("/api/")));
  CHECK(matches(prefix, get("/api/v1/users")));
  CHECK_FALSE(matches(prefix, get("/api")));
  CHECK_FALSE(matches(prefix, get("/v1/api/")));
  MatchDef regex = On().pathRegex("/users/[0-9]+");
  CHECK(matches(regex, get("/users/42")));
  CHECK_FALSE(matches(regex, get("/users/42/edit")));
  CHECK_FALSE(matches(regex, get("/v1/users/42")));
  CHECK_FALSE(matches(regex, get("/users/")));
}

TEST_CASE("regex conditions are full matches, not searches") {
  MatchDef b = On().pathRegex("b");
  CHECK_FALSE(matches(b, get("abc")));
  CHECK_FALSE(matches(b, get("bc")));
  CHECK_FALSE(matches(b, get("ab")));
  CHECK(matches(b, get("b")));
  MatchDef host = On().host("example\\.com");
  Req req;
  req.host = "www.example.com";
  CHECK_FALSE(matches(host, req));
  req.host = "example.com.evil";
  CHECK_FALSE(matches(host, req));
}

TEST_CASE("full-match semantics hold inside a set of several patterns") {
  // Three patterns on the same key share one RE2::Set.
  auto table =
      mustBuild({route("b", On().pathRegex("b")), route("a", On().pathRegex("a")),
                 route("abc", On().pathRegex("abc")), route("ab", On().pathRegex("ab.*"))});
  CHECK(matchName(*table, get("abc")) == "abc");
  CHECK(matchName(*table, get("abx")) == "ab");
  CHECK(matchName(*table, get("a")) == "a");
  CHECK(matchName(*table, get("ba")) == "<none>");
}

TEST_CASE("host: regex full match, case-insensitive") {
  MatchDef host = On().host("(www\\.)?Example\\.COM");
  Req req;
  CHECK(matches(host, req));
  req.host = "www.example.com";
  CHECK(matches(host, req));
  req.host = "WWW.EXAMPLE.COM";
  CHECK(matches(host, req));
  req.host = "api.example.com";
  CHECK_FALSE(matches(host, req));
  req.host = "";
  CHECK_FALSE(matches(host, req));
}

TEST_CASE("methods: any listed, compared exactly") {
  MatchDef methods = On().method("GET").method("HEAD");
  Req req;
  CHECK(matches(methods, req));
  req.method = "HEAD";
  CHECK(matches(methods, req));
  req.method = "POST";
  CHECK_FALSE(matches(methods, req));
  req.method = "get";
  CHECK_FALSE(matches(methods, req));
}

TEST_CASE("headers: case-insensitive names, full match on the value, absent never matches") {
  MatchDef def = On().header("X-User", "alice|bob");
  CHECK(matches(def, Req{}.header("x-user", "alice")));
  CHECK(matches(def, Req{}.header("X-USER", "bob")));
  CHECK_FALSE(matches(def, Req{}.header("x-user", "Alice")));
  CHECK_FALSE(matches(def, Req{}.header("x-user", "alice2")));
  CHECK_FALSE(matches(def, Req{}.header("x-users", "alice")));
  CHECK_FALSE(matches(def, Req{}));
  // An absent header does not count as an empty value.
  MatchDef empty_ok = On().header("x-flag", ".*");
  CHECK_FALSE(matches(empty_ok, Req{}));
  CHECK(matches(empty_ok, Req{}.header("x-flag", "")));
}

TEST_CASE("headers: a repeated header holds if any occurrence matches") {
  MatchDef def = On().header("x-tag", "beta");
  CHECK(matches(def, Req{}.header("x-tag", "alpha").header("x-tag", "beta")));
  CHECK(matches(def, Req{}.header("x-tag", "beta").header("X-Tag", "gamma")));
  CHECK_FALSE(matches(def, Req{}.header("x-tag", "alpha").header("x-tag", "gamma")));
}

TEST_CASE("headers: two conditions on one header are not satisfied by one occurrence twice") {
  // Each occurrence satisfies only "a.*"; the route also needs ".*z".
  MatchDef def = On().header("x-v", "a.*").header("X-V", ".*z");
  CHECK_FALSE(matches(def, Req{}.header("x-v", "ab").header("x-v", "ac")));
  CHECK(matches(def, Req{}.header("x-v", "ab").header("x-v", "yz")));
  CHECK(matches(def, Req{}.header("x-v", "az")));
}

TEST_CASE("cookies: parsed from one or several Cookie headers") {
  MatchDef def = On().cookie("beta", "1");
  CHECK(matches(def, Req{}.header("Cookie", "a=1; beta=1; c=3")));
  CHECK(matches(def, Req{}.header("cookie", "a=1").header("Cookie", "beta=1")));
  CHECK_FALSE(matches(def, Req{}.header("Cookie", "xbeta=1")));
  CHECK_FALSE(matches(def, Req{}.header("Cookie", "Beta=1")));
  CHECK_FALSE(matches(def, Req{}.header("Cookie", "beta=10")));
  CHECK_FALSE(matches(def, Req{}.header("X-Cookie", "beta=1")));
  CHECK_FALSE(matches(def, Req{}));
  // The first occurrence wins, across headers too.
  CHECK_FALSE(matches(def, Req{}.header("Cookie", "beta=0").header("Cookie", "beta=1")));
}

TEST_CASE("query: found by name, value percent-decoded before matching") {
  MatchDef def = On().query("q", "hello world!");
  Req req;
  req.query = "a=1&q=hello%20world%21";
  CHECK(matches(def, req));
  req.query = "q=hello+world%21&a=1";
  CHECK(matches(def, req));
  req.query = "q=hello%20world%21x";
  CHECK_FALSE(matches(def, req));
  req.query = "xq=hello+world!";
  CHECK_FALSE(matches(def, req));
  req.query = "";
  CHECK_FALSE(matches(def, req));
  MatchDef bare = On().query("debug", "");
  req.query = "a=1&debug";
  CHECK(matches(bare, req));
  req.query = "a=1";
  CHECK_FALSE(matches(bare, req));
}

TEST_CASE("all conditions of a route must hold") {
  MatchDef def = On().host("api\\.example\\.com")
                     .prefix("/v2/")
                     .method("POST")
                     .header("x-tenant", "t[0-9]+")
                     .cookie("session", "[a-f0-9]{8}")
                     .query("dry", "true|false");
  Req good;
  good.method = "POST";
  good.path = "/v2/orders";
  good.host = "api.example.com";
  good.query = "dry=true";
  good.header("X-Tenant", "t7").header("Cookie", "session=deadbeef");
  CHECK(matches(def, good));
  Req r = good;
  r.host = "www.example.com";
  CHECK_FALSE(matches(def, r));
  r = good;
  r.path = "/v1/orders";
  CHECK_FALSE(matches(def, r));
  r = good;
  r.method = "GET";
  CHECK_FALSE(matches(def, r));
  r = good;
  r.headers[0].value = "x7";
  CHECK_FALSE(matches(def, r));
  r = good;
  r.headers[1].value = "session=nothex!!";
  CHECK_FALSE(matches(def, r));
  r = good;
  r.query = "dry=maybe";
  CHECK_FALSE(matches(def, r));
}

TEST_CASE("routes are evaluated in order; the first match wins") {
  auto table = mustBuild({
      route("admin", On().prefix("/admin")),
      route("beta-api", On().prefix("/api").cookie("beta", "1")),
      route("api", On().prefix("/api")),
      route("api-shadowed", On().prefix("/api/v1")),
      route("fallback"),
  });
  CHECK(matchName(*table, get("/admin/x")) == "admin");
  CHECK(matchName(*table, get("/api/v1/x")) == "api");
  CHECK(matchName(*table, get("/api/v1/x").header("Cookie", "beta=1")) == "beta-api");
  CHECK(matchName(*table, get("/other")) == "fallback");
}

TEST_CASE("a scratch reused across requests and tables gives fresh answers") {
  auto small = mustBuild({route("h", On().header("x-a", "1"))});
  auto big = mustBuild({route("c", On().cookie("k", "v")), route("q", On().query("p", "x")),
                        route("h", On().header("x-a", "1")), route("host", On().host("h\\.test"))});
  MatchScratch scratch;
  Req hit = Req{}.header("x-a", "1");
  Req miss;
  CHECK(big->match(hit.view(), scratch) == 2);
  CHECK(big->match(miss.view(), scratch) == -1);
  CHECK(small->match(hit.view(), scratch) == 0);
  CHECK(big->match(miss.view(), scratch) == -1);
  miss.host = "h.test";
  CHECK(big->match(miss.view(), scratch) == 3);
  miss.query = "p=x";
  CHECK(big->match(miss.view(), scratch) == 1);
}

TEST_CASE("200 regex routes: the last one matches, and each one matches its own request") {
  std::vector<RouteDef> routes;
  for (int i = 0; i < 200; ++i) {
    std::string n = std::to_string(i);
    routes.push_back(route("r" + n, On().host("svc" + n + "\\.example\\.(com|net)")
                                        .pathRegex("/v[0-9]+/item" + n + "(/.*)?")
                                        .header("x-shard", n + "|any")));
  }
  routes[199].target = 7;
  auto table = mustBuild(std::move(routes));
  REQUIRE(table->size() == 200);
  Req req;
  req.host = "svc199.example.net";
  req.path = "/v3/item199/detail";
  req.header("X-Shard", "any");
  MatchScratch scratch;
  int last = table->match(req.view(), scratch);
  CHECK(last == 199);
  CHECK(table->route(199).target == 7);
  for (int i : {0, 1, 19, 20, 99, 100, 198}) {
    std::string n = std::to_string(i);
    Req r;
    r.host = "svc" + n + ".example.com";
    r.path = "/v1/item" + n;
    r.header("x-shard", "any");
    CHECK(table->match(r.view(), scratch) == i);
  }
  req.path = "/v3/item19/detail"; // host says 199, path says 19: no route has both
  CHECK(table->match(req.view(), scratch) == -1);
  req.path = "/v3/item199/detail";
  req.headers[0].value = "198";
  CHECK(table->match(req.view(), scratch) == -1);
}

TEST_CASE("build reports the first bad pattern with its field path") {
  CHECK(buildError({route("ok"), route("bad", On().host("(a"))}) ==
        "routes[1].match.host: missing ): (a");
  std::string error = buildError({route("bad", On().pathRegex("[z-a]"))});
  CHECK(error.starts_with("routes[0].match.path: "));
  CHECK(error.size() > std::string("routes[0].match.path: ").size());
  error =
      buildError({route("a"), route("b"), route("c", On().header("X-A", "ok").header("X-B", "*"))});
  CHECK(error.starts_with("routes[2].match.headers.X-B: "));
  error = buildError({route("c", On().cookie("sid", "a{2,1}"))});
  CHECK(error.starts_with("routes[0].match.cookies.sid: "));
  error = buildError({route("q", On().query("p", "\\"))});
  CHECK(error.starts_with("routes[0].match.query.p: "));
  error = buildError({route("q", On().header("", "x"))});
  CHECK(error == "routes[0].match.headers: empty name");
  // A null error pointer is allowed.
  CHECK(RouteTable::build({route("bad", On().host("("))}, nullptr) == nullptr);
}

TEST_CASE("prefix and exact paths are not regexes") {
  MatchDef prefix = On().prefix("/a.b");
  CHECK(matches(prefix, get("/a.b/c")));
  CHECK_FALSE(matches(prefix, get("/axb/c")));
  MatchDef exact = On().exact("(unbalanced");
  CHECK(matches(exact, get("(unbalanced")));
}

TEST_CASE("checkRegex: empty for good patterns, RE2's message otherwise") {
  CHECK(routing::checkRegex("").empty());
  CHECK(routing::checkRegex("/api/v[0-9]+/.*").empty());
  CHECK(routing::checkRegex("(?i)beta|canary").empty());
  CHECK(routing::checkRegex("(a") == "missing ): (a");
  CHECK(routing::checkRegex("a**") == "bad repetition operator: **");
  CHECK_FALSE(routing::checkRegex("(?<name>x)").empty()); // RE2 2022 lacks (?<name>)
  CHECK_FALSE(routing::checkRegex("a\\1").empty());       // no backreferences in RE2
  std::string big = routing::checkRegex("\\pL{1000}\\pL{1000}");
  CHECK(big.starts_with("pattern too large"));
}

TEST_CASE("regex conditions are grouped into one set per key") {
  // key_done has one entry per RE2 set of the table (see MatchScratch).
  std::vector<RouteDef> routes;
  for (int i = 0; i < 50; ++i) {
    std::string n = std::to_string(i);
    routes.push_back(route("r" + n, On().host("h" + n)
                                        .pathRegex("/p" + n)
                                        .header(i % 2 ? "X-Shard" : "x-shard", n)
                                        .cookie("c", n)
                                        .cookie("C", n)
                                        .query("q", n)));
  }
  auto table = mustBuild(std::move(routes));
  MatchScratch scratch;
  CHECK(table->match(Req{}.view(), scratch) == -1);
  // host, path, x-shard, cookie c, cookie C (names are case-sensitive), query q
  CHECK(scratch.key_done.size() == 6);
  CHECK(scratch.regex_ok.size() == 300);
}

TEST_CASE("a key's set runs only when a route that could still win needs it") {
  auto table = mustBuild({route("h", On().header("x-a", "1")),
                          route("c", On().method("POST").cookie("c", "1")),
                          route("q", On().prefix("/p").query("q", "1")),
                          route("both", On().host("nope").query("q2", "1"))});
  MatchScratch scratch;
  CHECK(table->match(Req{}.view(), scratch) == -1);
  REQUIRE(scratch.key_done.size() == 5); // keys in build order: x-a, c, q, host, q2
  CHECK(scratch.key_done[0] == 1);
  CHECK(scratch.key_done[1] == 0); // method failed first
  CHECK(scratch.key_done[2] == 0); // prefix failed first
  CHECK(scratch.key_done[3] == 1);
  CHECK(scratch.key_done[4] == 0); // the host condition already failed
  Req post = Req{}.header("x-a", "1");
  post.method = "POST";
  CHECK(table->match(post.view(), scratch) == 0);
  CHECK(scratch.key_done[1] == 0); // route 0 won before route 1 was looked at
}
