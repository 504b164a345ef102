// RouteTable::explain: which route matched and why each earlier route did not,
// with match()'s semantics; a property test checks the two always agree.
#include <doctest/doctest.h>

#include <memory>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "routing/cidr.h"
#include "routing/route_table.h"
#include "tests/unit/routing/route_builder.h"

using routing::ConditionVerdict;
using routing::Header;
using routing::IpAddress;
using routing::MatchDef;
using routing::MatchScratch;
using routing::PathKind;
using routing::RequestView;
using routing::RouteDef;
using routing::RouteTable;
using routing::RouteVerdict;
using routing::SourceRule;

using routing::testing::mustBuild;
using routing::testing::On;
using routing::testing::route;

namespace {

// A request with owned storage, so tests read like requests.
struct Req {
  std::string method = "GET";
  std::string path = "/";
  std::string query;
  std::string host = "example.com";
  std::vector<std::pair<std::string, std::string>> fields;
  std::optional<IpAddress> client;
  std::vector<Header> headers; // views into `fields`, made by view()

  Req& header(std::string name, std::string value) {
    fields.emplace_back(std::move(name), std::move(value));
    return *this;
  }
  Req& from(const char* text) {
    client = routing::parseIp(text);
    REQUIRE_MESSAGE(client, text);
    return *this;
  }
  RequestView view() {
    headers.clear();
    for (const auto& [name, value] : fields)
      headers.push_back(Header{name, value});
    RequestView view{method, path, query, host, headers};
    view.client = client ? &*client : nullptr;
    return view;
  }
};

Req get(std::string path) {
  Req req;
  req.path = std::move(path);
  return req;
}

// Name of the matched route according to explain(), or "<none>"; checks
// that explain() stops at the match and that `matched` means every condition
// holds.
std::string explainedName(const std::vector<RouteVerdict>& verdicts) {
  for (size_t i = 0; i < verdicts.size(); ++i) {
    CHECK(verdicts[i].route == i);
    REQUIRE_FALSE(verdicts[i].conditions.empty());
    bool all_ok = true;
    for (const ConditionVerdict& c : verdicts[i].conditions) {
      all_ok = all_ok && c.ok;
      CHECK(c.ok == c.detail.empty());
    }
    CHECK(verdicts[i].matched == all_ok);
    if (verdicts[i].matched) {
      CHECK(i + 1 == verdicts.size());
      return verdicts[i].name;
    }
  }
  return "<none>";
}

std::string matchName(const RouteTable& table, const RequestView& view) {
  MatchScratch scratch;
  int index = table.match(view, scratch);
  return index < 0 ? "<none>" : table.route(static_cast<size_t>(index)).name;
}

// The verdict of `table`'s only route (or of route `index`) for `req`.
RouteVerdict verdictOf(const RouteTable& table, Req req, size_t index = 0) {
  std::vector<RouteVerdict> verdicts = table.explain(req.view());
  REQUIRE(verdicts.size() > index);
  CHECK(explainedName(verdicts) == matchName(table, req.view()));
  return verdicts[index];
}

// "condition | detail" of a route's one condition, for compact checks.
std::string only(const RouteVerdict& verdict) {
  REQUIRE(verdict.conditions.size() == 1);
  const ConditionVerdict& c = verdict.conditions[0];
  return c.condition + " | " + (c.ok ? "ok" : c.detail);
}

std::string one(const RouteTable& table, Req req) { return only(verdictOf(table, std::move(req))); }

} // namespace

TEST_CASE("explain: an empty or moved-from table explains nothing") {
  auto empty = mustBuild({});
  CHECK(empty->explain(Req{}.view()).empty());
  RouteTable moved_from;
  CHECK(moved_from.explain(Req{}.view()).empty());
}

TEST_CASE("explain: path exact, prefix and regex, then a catch-all") {
  auto table = mustBuild({route("exact", On().exact("/x")), route("prefix", On().prefix("/api")),
                          route("regex", On().pathRegex("/v[0-9]+/.*")), route("all")});
  Req req = get("/v2/users");
  std::vector<RouteVerdict> verdicts = table->explain(req.view());
  REQUIRE(verdicts.size() == 3);
  CHECK(explainedName(verdicts) == "regex");
  CHECK(only(verdicts[0]) == "path /x | path is /v2/users");
  CHECK(verdicts[0].name == "exact");
  CHECK_FALSE(verdicts[0].matched);
  CHECK(only(verdicts[1]) == "path_prefix /api | path is /v2/users");
  CHECK(only(verdicts[2]) == "path ~ /v[0-9]+/.* | ok");
  CHECK(verdicts[2].matched);

  req = get("/v2"); // a full match, not a search
  verdicts = table->explain(req.view());
  REQUIRE(verdicts.size() == 4);
  CHECK(only(verdicts[2]) == "path ~ /v[0-9]+/.* | path is /v2");
  CHECK(only(verdicts[3]) == "matches every request | ok");
  CHECK(verdicts[3].matched);
  CHECK(only(table->explain(get("/x").view())[0]) == "path /x | ok");
  CHECK(only(table->explain(get("/api2").view())[1]) == "path_prefix /api | ok");
}

TEST_CASE("explain: methods are listed and compared exactly") {
  auto table = mustBuild({route("read", On().method("GET").method("HEAD"))});
  Req post;
  post.method = "POST";
  CHECK(one(*table, post) == "method in [GET, HEAD] | method is POST");
  Req lower;
  lower.method = "get";
  CHECK(one(*table, lower) == "method in [GET, HEAD] | method is get");
  Req head;
  head.method = "HEAD";
  CHECK(one(*table, head) == "method in [GET, HEAD] | ok");
}

TEST_CASE("explain: host regex is a case-insensitive full match") {
  auto table = mustBuild({route("shop", On().host("^Shop\\.example$"))});
  Req req;
  req.host = "www.example";
  CHECK(one(*table, req) == "host ~ (?i)^Shop\\.example$ | host is 'www.example'");
  req.host = "shop.example";
  CHECK(one(*table, req) == "host ~ (?i)^Shop\\.example$ | ok");
  req.host = "";
  CHECK(one(*table, req) == "host ~ (?i)^Shop\\.example$ | host is ''");
  auto flagged = mustBuild({route("shop", On().host("(?i)shop"))});
  CHECK(one(*flagged, req) == "host ~ (?i)shop | host is ''");
}

TEST_CASE("explain: header regex on absent, present and repeated headers") {
  auto table = mustBuild({route("beta", On().header("X-Beta", "^1$"))});
  const std::string cond = "header X-Beta ~ ^1$ | ";
  CHECK(one(*table, Req{}) == cond + "no X-Beta header");
  CHECK(one(*table, Req{}.header("X-Beta", "2")) == cond + "X-Beta is '2'");
  CHECK(one(*table, Req{}.header("x-beta", "1")) == cond + "ok"); // names: case-insensitive
  CHECK(one(*table, Req{}.header("X-BETA", "2").header("X-Beta", "1")) == cond + "ok");
  CHECK(one(*table, Req{}.header("X-Beta", "2").header("Other", "1").header("x-beta", "")) ==
        cond + "none of 2 X-Beta headers matches: '2', ''");
  CHECK(one(*table, Req{}.header("X-Beta", "11")) == cond + "X-Beta is '11'");
}

TEST_CASE("explain: header values are escaped and cut short") {
  auto table = mustBuild({route("r", On().header("x-a", "ok"))});
  CHECK(one(*table, Req{}.header("X-A", std::string("a\\b\x01\xff'", 6))) ==
        "header x-a ~ ok | x-a is 'a\\\\b\\x01\\xff''");
  std::string long_value(300, 'v');
  CHECK(one(*table, Req{}.header("X-A", long_value)) ==
        "header x-a ~ ok | x-a is '" + std::string(256, 'v') + "... (300 bytes)'");
}

TEST_CASE("explain: cookie regex; only the first cookie of a name counts") {
  auto table = mustBuild({route("uid", On().cookie("uid", "4[0-9]"))});
  const std::string cond = "cookie uid ~ 4[0-9] | ";
  CHECK(one(*table, Req{}) == cond + "cookie uid absent");
  CHECK(one(*table, Req{}.header("Cookie", "a=1; UID=42")) == cond + "cookie uid absent");
  CHECK(one(*table, Req{}.header("Cookie", "a=1; uid=17")) == cond + "cookie uid is '17'");
  CHECK(one(*table, Req{}.header("Cookie", "a=1").header("cookie", "uid=42")) == cond + "ok");
  CHECK(one(*table, Req{}.header("Cookie", "uid=17; uid=42")) ==
        cond + "cookie uid is '17' (first of 2; only the first counts)");
  CHECK(one(*table, Req{}.header("Cookie", "uid=; b=2").header("Cookie", "uid=42; uid=43")) ==
        cond + "cookie uid is '' (first of 3; only the first counts)");
  CHECK(one(*table, Req{}.header("Cookie", "uid=42; uid=17")) == cond + "ok");
}

TEST_CASE("explain: query values are percent-decoded as match() decodes them") {
  auto table = mustBuild({route("q", On().query("a", "^1$"))});
  const std::string cond = "query a ~ ^1$ | ";
  Req req;
  CHECK(one(*table, req) == cond + "query a absent");
  req.query = "a=%31";
  CHECK(one(*table, req) == cond + "ok");
  req.query = "b=1&a=x+y%2";
  CHECK(one(*table, req) == cond + "query a is 'x y%2' (raw 'x+y%2')");
  req.query = "a";
  CHECK(one(*table, req) == cond + "query a is ''");
  req.query = "a=2&&a=1&a";
  CHECK(one(*table, req) == cond + "query a is '2' (first of 3; only the first counts)");
  req.query = "A=1&a%3D1=1";
  CHECK(one(*table, req) == cond + "query a absent");
}

TEST_CASE("explain: source CIDR include, exclude, no prefix, no client") {
  auto table = mustBuild({route("net", On().source("10.0.0.0/8").source("!10.1.0.0/16")),
                          route("v6", On().source("2001:db8::/32"))});
  const std::string cond = "source 10.0.0.0/8,!10.1.0.0/16 | ";
  CHECK(only(verdictOf(*table, Req{}.from("10.2.3.4"))) == cond + "ok");
  CHECK(only(verdictOf(*table, Req{}.from("10.1.2.3"))) ==
        cond + "client 10.1.2.3 is excluded by !10.1.0.0/16");
  CHECK(only(verdictOf(*table, Req{}.from("::ffff:10.1.2.3"))) ==
        cond + "client 10.1.2.3 is excluded by !10.1.0.0/16");
  CHECK(only(verdictOf(*table, Req{}.from("192.168.1.5"))) ==
        cond + "client 192.168.1.5 is not in any prefix");
  CHECK(only(verdictOf(*table, Req{})) == cond + "no client address");
  CHECK(only(verdictOf(*table, Req{}.from("2001:db8::1"), 1)) == "source 2001:db8::/32 | ok");
  CHECK(only(verdictOf(*table, Req{}.from("2001:db9::1"), 1)) ==
        "source 2001:db8::/32 | client 2001:db9::1 is not in any prefix");
  // A longer include inside an exclusion admits again; the longest decides.
  auto nested = mustBuild({route("r", On().source("!10.0.0.0/8").source("10.1.2.0/24"))});
  CHECK(one(*nested, Req{}.from("10.1.2.9")) == "source !10.0.0.0/8,10.1.2.0/24 | ok");
  CHECK(one(*nested, Req{}.from("10.1.3.9")) ==
        "source !10.0.0.0/8,10.1.2.0/24 | client 10.1.3.9 is excluded by !10.0.0.0/8");
}

TEST_CASE("explain: every condition of a route, in a fixed order, all judged") {
  auto table = mustBuild({route("all-of-them", On().source("10.0.0.0/8")
                                                   .query("q", "1")
                                                   .cookie("c", "1")
                                                   .header("X-B", "1")
                                                   .header("X-A", "1")
                                                   .method("PUT")
                                                   .prefix("/p")
                                                   .host("h\\.test")),
                          route("rest", On().host(".*"))});
  Req req;
  req.host = "h.test";
  req.query = "q=2";
  req.header("X-A", "1").from("10.0.0.1");
  std::vector<RouteVerdict> verdicts = table->explain(req.view());
  REQUIRE(verdicts.size() == 2);
  CHECK(explainedName(verdicts) == "rest");
  CHECK(explainedName(verdicts) == matchName(*table, req.view()));
  std::vector<std::string> seen;
  for (const ConditionVerdict& c : verdicts[0].conditions)
    seen.push_back(c.condition + " | " + (c.ok ? "ok" : c.detail));
  CHECK(seen == std::vector<std::string>{"host ~ (?i)h\\.test | ok", "path_prefix /p | path is /",
                                         "method in [PUT] | method is GET",
                                         "header X-B ~ 1 | no X-B header", "header X-A ~ 1 | ok",
                                         "cookie c ~ 1 | cookie c absent",
                                         "query q ~ 1 | query q is '2'", "source 10.0.0.0/8 | ok"});
  CHECK(only(verdicts[1]) == "host ~ (?i).* | ok");
}

TEST_CASE("explain: two conditions sharing a key keep their own verdicts") {
  // Both conditions live in one RE2::Set; each verdict is its own pattern's.
  auto table =
      mustBuild({route("a", On().header("x-v", "a.*").header("X-V", ".*z")),
                 route("b", On().header("x-v", "b")), route("c", On().header("x-v", "c"))});
  Req req = Req{}.header("X-V", "abc").header("x-v", "c");
  std::vector<RouteVerdict> verdicts = table->explain(req.view());
  REQUIRE(verdicts.size() == 3);
  CHECK(verdicts[0].conditions[0].ok);
  CHECK(verdicts[0].conditions[1].detail == "none of 2 X-V headers matches: 'abc', 'c'");
  CHECK(only(verdicts[1]) == "header x-v ~ b | none of 2 x-v headers matches: 'abc', 'c'");
  CHECK(only(verdicts[2]) == "header x-v ~ c | ok");
  CHECK(explainedName(verdicts) == matchName(*table, req.view()));
}

namespace {

// A mixed rule set: every kind of condition, keys shared between routes, a
// route with nothing but cheap conditions, and sources.
std::vector<RouteDef> mixedRoutes() {
  return {route("exact-get", On().exact("/a").method("GET")),
          route("beta-api", On().prefix("/api").header("X-Beta", "1|2")),
          route("shop", On().host("(www\\.)?shop\\.test").pathRegex("/(a|b|api)/[0-9]+")),
          route("uid", On().cookie("uid", "4[0-9]").query("v", "1|x y")),
          route("office", On().source("10.0.0.0/8").source("!10.1.0.0/16").method("POST")),
          route("beta-any", On().header("x-beta", "2").query("v", "1")),
          route("v6", On().source("2001:db8::/32").header("X-Beta", ".*")),
          route("api-post", On().prefix("/api/").method("POST").method("PUT")),
          route("shop-any", On().host("shop\\.test"))};
}

// Picks one of `choices` uniformly.
template <class T> const T& pick(std::mt19937& rng, const std::vector<T>& choices) {
  return choices[std::uniform_int_distribution<size_t>(0, choices.size() - 1)(rng)];
}

Req randomRequest(std::mt19937& rng) {
  static const std::vector<std::string> methods = {"GET", "POST", "PUT", "get"};
  static const std::vector<std::string> paths = {"/",      "/a",    "/a/1",  "/api",
                                                 "/api/7", "/b/22", "/api/x"};
  static const std::vector<std::string> hosts = {"shop.test", "www.shop.test", "other.test", ""};
  static const std::vector<std::string> queries = {"", "v=1", "v=%31", "v=x+y", "v=2&v=1", "v"};
  static const std::vector<std::string> betas = {"1", "2", "3", ""};
  static const std::vector<std::string> cookies = {"uid=42", "uid=17; uid=42", "a=1", "uid=4"};
  static const std::vector<std::string> clients = {"",          "10.0.0.1",    "10.1.0.1",
                                                   "192.0.2.1", "2001:db8::5", "::1"};
  Req req;
  req.method = pick(rng, methods);
  req.path = pick(rng, paths);
  req.host = pick(rng, hosts);
  req.query = pick(rng, queries);
  std::bernoulli_distribution coin(0.4);
  for (int i = 0; i < 2; ++i) {
    if (coin(rng)) req.header(i == 0 ? "X-Beta" : "x-beta", pick(rng, betas));
    if (coin(rng)) req.header("Cookie", pick(rng, cookies));
  }
  const std::string& client = pick(rng, clients);
  if (!client.empty()) req.from(client.c_str());
  return req;
}

// For `count` requests: explain() names the route match() returns, and each
// route it judged is matched exactly when a table of that route alone
// matches (so the verdicts of the routes that failed are right too).
void checkAgreement(const std::vector<RouteDef>& routes, uint32_t seed, int count,
                    std::vector<int>* matched_counts) {
  auto table_ptr = mustBuild(routes);
  const RouteTable& table = *table_ptr;
  std::vector<std::unique_ptr<RouteTable>> alone;
  for (const RouteDef& def : routes)
    alone.push_back(mustBuild({def}));
  std::mt19937 rng(seed);
  MatchScratch scratch; // reused across requests, as a worker does
  for (int i = 0; i < count; ++i) {
    Req req = randomRequest(rng);
    RequestView view = req.view();
    int index = table.match(view, scratch);
    std::vector<RouteVerdict> verdicts = table.explain(view);
    CAPTURE(i);
    CAPTURE(req.method + " " + req.host + req.path + "?" + req.query);
    std::string expected = index < 0 ? "<none>" : table.route(static_cast<size_t>(index)).name;
    REQUIRE(explainedName(verdicts) == expected);
    CHECK(verdicts.size() == (index < 0 ? table.size() : static_cast<size_t>(index) + 1));
    for (const RouteVerdict& verdict : verdicts)
      CHECK(verdict.matched == (alone[verdict.route]->match(view, scratch) == 0));
    ++(*matched_counts)[static_cast<size_t>(index + 1)];
  }
}

} // namespace

TEST_CASE("explain agrees with match() on generated requests") {
  std::vector<RouteDef> mixed = mixedRoutes();
  std::vector<int> matched(mixed.size() + 1, 0);
  checkAgreement(mixed, 20240611, 600, &matched);
  // The generator reaches every route and the no-match case, so the
  // agreement covers failures and successes of every condition kind.
  for (int n : matched)
    CHECK(n > 0);

  // A table without any regex takes match()'s fast path.
  std::vector<RouteDef> plain = {route("office", On().source("10.0.0.0/8").source("!10.1.0.0/16")),
                                 route("api", On().prefix("/api").method("POST")),
                                 route("a", On().exact("/a"))};
  std::vector<int> plain_matched(plain.size() + 1, 0);
  checkAgreement(plain, 7, 300, &plain_matched);
  for (int n : plain_matched)
    CHECK(n > 0);
}
