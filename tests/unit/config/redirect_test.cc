// routes[].redirect: a route action instead of pool/split. Defaults (https,
// 308, the scheme's port), explicit values, bad values with their positions,
// and exactly one action per route.
#include <doctest/doctest.h>

#include <string>

#include "tests/unit/config/test_util.h"

namespace proxy::config {
namespace {

using test::allErrors;
using test::hasError;
using test::hasErrorAt;
using test::kListenersAndPool;
using test::load;

// Lines 1-6: a listener and pool "app"; line 7 "routes:", `routes` from line 8.
std::string withRoutes(std::string_view routes) {
  return std::string(kListenersAndPool) + "routes:\n" + std::string(routes);
}

TEST_CASE("redirect: defaults are https, 308 and the scheme's port") {
  LoadResult r = load(withRoutes("  - name: to-https\n"
                                 "    match: {host: '^example\\.test$'}\n"
                                 "    redirect: {}\n"
                                 "  - {name: r, pool: app}\n"));
  INFO(allErrors(r));
  REQUIRE(r.ok());
  CHECK(r.warnings.empty());
  const Snapshot& s = *r.snapshot;
  REQUIRE(s.actions.size() == 2);
  CHECK(s.actions[0].kind == RouteAction::Kind::kRedirect);
  CHECK(s.actions[0].redirect_scheme == "https");
  CHECK(s.actions[0].redirect_status == 308);
  CHECK(s.actions[0].redirect_port == 0);
  CHECK(s.routes->route(0).target == 0);
  CHECK(s.actions[1].kind == RouteAction::Kind::kPool);
}

TEST_CASE("redirect: explicit scheme, status and port") {
  LoadResult r = load(withRoutes("  - name: to-https\n"
                                 "    match: {host: '^example\\.test$'}\n"
                                 "    redirect: {scheme: https, status: 301, port: 8443}\n"
                                 "  - name: to-http\n"
                                 "    match: {path_prefix: /plain}\n"
                                 "    redirect: {scheme: http, status: 302, port: 8080}\n"
                                 "  - {name: r, pool: app}\n"));
  INFO(allErrors(r));
  REQUIRE(r.ok());
  const Snapshot& s = *r.snapshot;
  REQUIRE(s.actions.size() == 3);
  CHECK(s.actions[0].kind == RouteAction::Kind::kRedirect);
  CHECK(s.actions[0].redirect_status == 301);
  CHECK(s.actions[0].redirect_port == 8443);
  CHECK(s.actions[1].kind == RouteAction::Kind::kRedirect);
  CHECK(s.actions[1].redirect_scheme == "http");
  CHECK(s.actions[1].redirect_status == 302);
  CHECK(s.actions[1].redirect_port == 8080);
  for (int status : {303, 307, 308}) {
    LoadResult each =
        load(withRoutes("  - {name: x, redirect: {status: " + std::to_string(status) + "}}\n"));
    INFO(allErrors(each));
    REQUIRE(each.ok());
    CHECK(each.snapshot->actions[0].redirect_status == status);
  }
}

TEST_CASE("redirect: only routes with redirect still compile; unused pools warn as before") {
  LoadResult r = load(withRoutes("  - {name: all, redirect: {port: 443}}\n"));
  INFO(allErrors(r));
  REQUIRE(r.ok());
  CHECK(r.snapshot->actions[0].kind == RouteAction::Kind::kRedirect);
  CHECK(r.snapshot->actions[0].redirect_port == 443);
  REQUIRE(r.warnings.size() == 1);
  CHECK(r.warnings[0] == "test.yaml:4:11: pools[0].name: pool 'app' is not used by any route");
}

TEST_CASE("redirect: a redirect without match is a catch-all like the other actions") {
  LoadResult r = load(withRoutes("  - {name: all, redirect: {}}\n"
                                 "  - {name: r, pool: app}\n"));
  INFO(allErrors(r));
  REQUIRE(r.ok());
  bool unreachable = false;
  for (const std::string& w : r.warnings)
    unreachable = unreachable || w.find("9:5: routes[1]: unreachable") != std::string::npos;
  CHECK(unreachable);
}

TEST_CASE("redirect: bad scheme, status and port are reported at their values") {
  LoadResult r = load(withRoutes("  - name: x\n"                 // 8
                                 "    redirect:\n"               // 9
                                 "      scheme: htps\n"          // 10
                                 "      status: 200\n"           // 11
                                 "      port: 70000\n"           // 12
                                 "  - name: y\n"                 // 13
                                 "    redirect:\n"               // 14
                                 "      scheme: ftp\n"           // 15
                                 "      status: moved\n"         // 16
                                 "      port: 0\n"               // 17
                                 "      host: example.test\n"    // 18
                                 "  - {name: r, pool: app}\n")); // 19
  INFO(allErrors(r));
  CHECK_FALSE(r.ok());
  CHECK(hasErrorAt(r, "routes[0].redirect.scheme", 10, 15,
                   "unknown scheme 'htps' (did you mean 'https'?)"));
  CHECK(hasErrorAt(r, "routes[0].redirect.status", 11, 15, "301, 302, 303, 307 or 308, got 200"));
  CHECK(hasErrorAt(r, "routes[0].redirect.port", 12, 13, "between 1 and 65535, got 70000"));
  CHECK(hasErrorAt(r, "routes[1].redirect.scheme", 15, 15, "expected https or http"));
  CHECK(hasErrorAt(r, "routes[1].redirect.status", 16, 15, "got 'moved'"));
  CHECK(hasErrorAt(r, "routes[1].redirect.port", 17, 13, "got 0"));
  CHECK(hasErrorAt(r, "routes[1].redirect.host", 18, 7, "unknown key 'host'"));
  CHECK(r.errors.size() == 7);
  LoadResult scalar = load(withRoutes("  - {name: x, redirect: https}\n"));
  CHECK(hasErrorAt(scalar, "routes[0].redirect", 8, 25, "expected a mapping"));
}

TEST_CASE("redirect: a route has exactly one of pool, split and redirect") {
  LoadResult both = load(withRoutes("  - name: r\n"                    // 8
                                    "    pool: app\n"                  // 9
                                    "    redirect: {status: 301}\n")); // 10
  INFO(allErrors(both));
  REQUIRE(both.errors.size() == 1);
  CHECK(both.errors[0].str() ==
        "test.yaml:10:5: routes[0].redirect: a route has exactly one action ('pool', 'split' or "
        "'redirect'); 'pool' is already set");
  CHECK(hasError(load(withRoutes("  - {name: r}\n")),
                 "test.yaml:8:5: routes[0]: missing required key 'pool' (or 'split' for an A/B "
                 "split, or 'redirect')"));
}

} // namespace
} // namespace proxy::config
