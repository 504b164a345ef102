// Test helpers shared by the route table tests: a fluent MatchDef builder,
// a RouteDef maker and a build that must succeed.
#pragma once

#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "routing/cidr.h"
#include "routing/route_table.h"

namespace routing::testing {

// Fluent MatchDef builder (designated initializers would trip
// -Wmissing-field-initializers on g++ 12).
struct On {
  MatchDef def;
  On& host(std::string re) {
    def.host_regex = std::move(re);
    return *this;
  }
  On& path(PathKind kind, std::string path) {
    def.path_kind = kind;
    def.path = std::move(path);
    return *this;
  }
  On& exact(std::string p) { return path(PathKind::kExact, std::move(p)); }
  On& prefix(std::string p) { return path(PathKind::kPrefix, std::move(p)); }
  On& pathRegex(std::string p) { return path(PathKind::kRegex, std::move(p)); }
  On& method(std::string m) {
    def.methods.push_back(std::move(m));
    return *this;
  }
  On& header(std::string name, std::string re) {
    def.headers.emplace_back(std::move(name), std::move(re));
    return *this;
  }
  On& cookie(std::string name, std::string re) {
    def.cookies.emplace_back(std::move(name), std::move(re));
    return *this;
  }
  On& query(std::string name, std::string re) {
    def.query.emplace_back(std::move(name), std::move(re));
    return *this;
  }
  On& source(std::string_view text) {
    SourceRule rule;
    if (text.starts_with('!')) {
      rule.exclude = true;
      text.remove_prefix(1);
    }
    std::string error;
    auto cidr = routing::parseCidr(text, &error);
    REQUIRE_MESSAGE(cidr, text, ": ", error);
    rule.cidr = *cidr;
    def.sources.push_back(rule);
    return *this;
  }
  operator MatchDef() const { return def; } // NOLINT: implicit by design
};

inline RouteDef route(std::string name, MatchDef match = {}) {
  RouteDef def;
  def.name = std::move(name);
  def.match = std::move(match);
  return def;
}

inline std::unique_ptr<RouteTable> mustBuild(std::vector<RouteDef> routes) {
  std::string error;
  auto table = RouteTable::build(std::move(routes), &error);
  INFO(error);
  REQUIRE(table != nullptr);
  CHECK(error.empty());
  return table;
}

} // namespace routing::testing
