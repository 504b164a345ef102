// Route `match: {source: [...]}`: the longest matching prefix decides,
// `!prefix` excludes, no match (or no client address) fails the condition;
// it combines with every other condition and falls through to later routes.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "routing/cidr.h"
#include "routing/route_table.h"

using routing::Header;
using routing::IpAddress;
using routing::MatchDef;
using routing::MatchScratch;
using routing::PathKind;
using routing::RequestView;
using routing::RouteDef;
using routing::RouteTable;
using routing::SourceRule;

namespace {

SourceRule rule(const char* text) {
  SourceRule r;
  std::string_view s = text;
  if (s.starts_with('!')) {
    r.exclude = true;
    s.remove_prefix(1);
  }
  std::string error;
  auto cidr = routing::parseCidr(s, &error);
  REQUIRE_MESSAGE(cidr, text, ": ", error);
  r.cidr = *cidr;
  return r;
}

RouteDef route(std::string name, std::vector<const char*> sources, MatchDef match = {}) {
  RouteDef def;
  def.name = std::move(name);
  def.match = std::move(match);
  for (const char* s : sources)
    def.match.sources.push_back(rule(s));
  return def;
}

std::unique_ptr<RouteTable> mustBuild(std::vector<RouteDef> routes) {
  std::string error;
  auto table = RouteTable::build(std::move(routes), &error);
  INFO(error);
  REQUIRE(table != nullptr);
  return table;
}

IpAddress ip(const char* text) {
  auto a = routing::parseIp(text);
  REQUIRE_MESSAGE(a, text);
  return *a;
}

// Name of the route matched for a GET / from `client` (nullptr: unknown).
std::string matchFrom(const RouteTable& table, const char* client, std::vector<Header> headers = {},
                      std::string_view path = "/") {
  IpAddress addr{};
  RequestView view{"GET", path, "", "example.com", headers};
  if (client != nullptr) {
    addr = ip(client);
    view.client = &addr;
  }
  MatchScratch scratch;
  int index = table.match(view, scratch);
  return index < 0 ? "<none>" : table.route(static_cast<size_t>(index)).name;
}

} // namespace

TEST_CASE("source: the longest prefix decides, '!' excludes, no match fails") {
  auto table = mustBuild({route("r", {"10.0.0.0/8", "2001:db8::/32", "!10.1.0.0/16"})});
  CHECK(matchFrom(*table, "10.2.3.4") == "r");
  CHECK(matchFrom(*table, "10.255.255.255") == "r");
  CHECK(matchFrom(*table, "10.1.2.3") == "<none>");
  CHECK(matchFrom(*table, "11.0.0.1") == "<none>");
  CHECK(matchFrom(*table, "2001:db8::1") == "r");
  CHECK(matchFrom(*table, "2001:db9::1") == "<none>");
  // A dual-stack peer written v4-mapped is the IPv4 client it maps.
  CHECK(matchFrom(*table, "::ffff:10.2.3.4") == "r");
  CHECK(matchFrom(*table, "::ffff:10.1.2.3") == "<none>");
}

TEST_CASE("source: a longer include inside an exclusion admits again") {
  auto table = mustBuild({route("r", {"!10.0.0.0/8", "10.1.2.0/24", "10.1.2.7/32"})});
  CHECK(matchFrom(*table, "10.1.2.5") == "r");
  CHECK(matchFrom(*table, "10.1.2.7") == "r");
  CHECK(matchFrom(*table, "10.1.3.5") == "<none>");
  CHECK(matchFrom(*table, "192.0.2.1") == "<none>"); // outside every prefix
}

TEST_CASE("source: IPv4 and IPv6 prefixes never cover each other") {
  auto v4_all = mustBuild({route("r", {"0.0.0.0/0"})});
  CHECK(matchFrom(*v4_all, "203.0.113.9") == "r");
  CHECK(matchFrom(*v4_all, "2001:db8::1") == "<none>");
  auto v6_all = mustBuild({route("r", {"::/0"})});
  CHECK(matchFrom(*v6_all, "2001:db8::1") == "r");
  CHECK(matchFrom(*v6_all, "203.0.113.9") == "<none>");
}

TEST_CASE("source: an unknown client address fails the condition, not the route table") {
  auto table = mustBuild({route("internal", {"0.0.0.0/0", "::/0"}), route("rest", {})});
  CHECK(matchFrom(*table, nullptr) == "rest");
  CHECK(matchFrom(*table, "127.0.0.1") == "internal");
  auto no_source = mustBuild({route("all", {})});
  CHECK(matchFrom(*no_source, nullptr) == "all");
}

TEST_CASE("source: a failing route falls through to the next, in both match paths") {
  // Without any regex (the fast path) ...
  auto plain = mustBuild({route("office", {"192.0.2.0/24"}), route("rest", {})});
  CHECK(matchFrom(*plain, "192.0.2.10") == "office");
  CHECK(matchFrom(*plain, "198.51.100.1") == "rest");
  // ... and with regex conditions in the table.
  MatchDef beta;
  beta.headers.emplace_back("x-beta", "1");
  auto regex = mustBuild(
      {route("office-beta", {"192.0.2.0/24"}, beta), route("beta", {}, beta), route("rest", {})});
  CHECK(matchFrom(*regex, "192.0.2.10", {{"X-Beta", "1"}}) == "office-beta");
  CHECK(matchFrom(*regex, "198.51.100.1", {{"X-Beta", "1"}}) == "beta");
  CHECK(matchFrom(*regex, "192.0.2.10", {{"X-Beta", "0"}}) == "rest");
  CHECK(matchFrom(*regex, "192.0.2.10") == "rest");
}

TEST_CASE("source: all conditions AND together with the cheap ones") {
  MatchDef admin;
  admin.path_kind = PathKind::kPrefix;
  admin.path = "/admin";
  auto table = mustBuild({route("admin", {"10.0.0.0/8"}, admin), route("rest", {})});
  CHECK(matchFrom(*table, "10.0.0.1", {}, "/admin/users") == "admin");
  CHECK(matchFrom(*table, "10.0.0.1", {}, "/public") == "rest");
  CHECK(matchFrom(*table, "8.8.8.8", {}, "/admin/users") == "rest");
}

TEST_CASE("source: each route has its own table") {
  auto table = mustBuild(
      {route("a", {"10.0.0.0/8"}), route("b", {"!10.0.0.0/8", "0.0.0.0/0"}), route("c", {"::/0"})});
  CHECK(matchFrom(*table, "10.9.9.9") == "a");
  CHECK(matchFrom(*table, "11.9.9.9") == "b");
  CHECK(matchFrom(*table, "::1") == "c");
}

TEST_CASE("source: a prefix listed twice (either sign, any spelling) fails the build") {
  for (auto second : {"10.0.0.0/8", "!10.0.0.0/8", "::ffff:10.0.0.0/104"}) {
    CAPTURE(second);
    std::string error;
    std::vector<RouteDef> routes = {route("ok", {"10.0.0.0/8"}),
                                    route("dup", {"10.0.0.0/8", second})};
    CHECK(RouteTable::build(std::move(routes), &error) == nullptr);
    CHECK(error == "routes[1].match.source: 10.0.0.0/8 is listed twice");
  }
}
