// routes[].split: an A/B split compiles into Snapshot::splits and one
// RouteAction per route; pools used only through a split count as used; every
// mistake is reported at its key.
#include <doctest/doctest.h>

#include <string>

#include "tests/unit/config/test_util.h"

namespace proxy::config {
namespace {

using test::allErrors;
using test::hasError;
using test::hasErrorAt;
using test::load;

// Lines 1-5: a listener, pools app and app-v2, "routes:"; routes from line 6.
std::string withRoutes(std::string_view routes) {
  return "listeners: [{name: l, address: '127.0.0.1:0'}]\n"
         "pools:\n"
         "  - {name: app, servers: [{name: a1, address: '127.0.0.1:9001'}]}\n"
         "  - {name: app-v2, servers: [{name: b1, address: '127.0.0.1:9002'}]}\n"
         "routes:\n" +
         std::string(routes);
}

// A valid split (flow style) for tests about something else.
constexpr std::string_view kSplit =
    "{experiment: e1, key: client_ip, variants: [{name: a, pool: app, weight: 1}, "
    "{name: b, pool: app-v2, weight: 1}]}";

TEST_CASE("a split route compiles into a split and actions, in route order") {
  LoadResult r = load(withRoutes(R"(  - name: checkout-test
    match: {path_prefix: /checkout}
    split:
      experiment: checkout-v2
      key: cookie:uid
      assign_cookie: SWY_AB
      override: header:X-Variant
      variants:
        - {name: control, pool: app, weight: 90}
        - {name: v2, pool: app-v2, weight: 10}
  - {name: default, pool: app}
)"));
  INFO(allErrors(r));
  REQUIRE(r.ok());
  CHECK(r.warnings.empty()); // app-v2 is used, through the split
  const Snapshot& s = *r.snapshot;
  REQUIRE(s.actions.size() == 2);
  CHECK(s.actions[0].kind == RouteAction::Kind::kSplit);
  CHECK(s.actions[0].split == 0);
  CHECK(s.actions[1].kind == RouteAction::Kind::kPool);
  CHECK(s.actions[1].pool == 0);
  REQUIRE(s.splits.size() == 1);
  const Split& split = s.splits[0];
  CHECK(split.experiment == "checkout-v2");
  CHECK(split.key.kind == KeySource::Kind::kCookie);
  CHECK(split.key.name == "uid");
  CHECK(split.assign_cookie == "SWY_AB");
  CHECK(split.override_key.kind == KeySource::Kind::kHeader);
  CHECK(split.override_key.name == "X-Variant");
  REQUIRE(split.variants.size() == 2);
  CHECK(split.variants[0].name == "control");
  CHECK(split.variants[0].pool == 0);
  CHECK(split.variants[0].weight == 90);
  CHECK(split.variants[1].name == "v2");
  CHECK(split.variants[1].pool == 1);
  CHECK(split.variants[1].weight == 10);
  REQUIRE(s.routes->size() == 2);
  CHECK(s.routes->route(0).name == "checkout-test");
  CHECK(s.routes->route(0).match.path == "/checkout");
  CHECK(s.routes->route(0).target == 0); // the first variant's pool
  CHECK(s.routes->route(1).target == 0);
}

TEST_CASE("split defaults: no assignment cookie, no override; indices follow route order") {
  LoadResult r = load(withRoutes(R"(  - {name: p1, pool: app-v2, match: {path: /a}}
  - name: s1
    match: {path: /b}
    split:
      experiment: one
      key: header:X-User
      variants: [{name: x, pool: app-v2, weight: 0}, {name: y, pool: app, weight: 1}]
  - name: s2
    split: {experiment: two, key: client_ip, override: cookie:force, variants: [{name: x, pool: app, weight: 5}, {name: y, pool: app, weight: 5}]}
)"));
  INFO(allErrors(r));
  REQUIRE(r.ok());
  const Snapshot& s = *r.snapshot;
  REQUIRE(s.actions.size() == 3);
  CHECK(s.actions[0].kind == RouteAction::Kind::kPool);
  CHECK(s.actions[0].pool == 1);
  CHECK(s.actions[1].kind == RouteAction::Kind::kSplit);
  CHECK(s.actions[1].split == 0);
  CHECK(s.actions[2].kind == RouteAction::Kind::kSplit);
  CHECK(s.actions[2].split == 1);
  REQUIRE(s.splits.size() == 2);
  CHECK(s.splits[0].experiment == "one");
  CHECK(s.splits[0].key.kind == KeySource::Kind::kHeader);
  CHECK(s.splits[0].assign_cookie.empty());
  CHECK(s.splits[0].override_key.kind == KeySource::Kind::kNone);
  CHECK(s.splits[0].variants[0].weight == 0); // a zero weight is allowed when another is not
  CHECK(s.routes->route(1).target == 1);      // its first variant's pool
  CHECK(s.splits[1].key.kind == KeySource::Kind::kClientIp);
  CHECK(s.splits[1].override_key.kind == KeySource::Kind::kCookie);
  CHECK(s.splits[1].override_key.name == "force");
}

TEST_CASE("a route needs exactly one of pool and split") {
  CHECK(hasError(load(withRoutes("  - {name: r}\n")),
                 "test.yaml:6:5: routes[0]: missing required key 'pool' (or 'split' for an A/B "
                 "split, or 'redirect')"));
  LoadResult both =
      load(withRoutes("  - name: r\n    pool: app\n    split: " + std::string(kSplit) + "\n"));
  INFO(allErrors(both));
  REQUIRE(both.errors.size() == 1);
  CHECK(both.errors[0].str() ==
        "test.yaml:8:5: routes[0].split: a route has exactly one action ('pool', 'split' or "
        "'redirect'); 'pool' is already set");
}

TEST_CASE("experiment names are unique across routes") {
  LoadResult r = load(withRoutes("  - {name: r1, match: {path: /a}, split: " + std::string(kSplit) +
                                 "}\n  - {name: r2, split: " + std::string(kSplit) + "}\n"));
  INFO(allErrors(r));
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].str() == "test.yaml:7:36: routes[1].split.experiment: duplicate experiment "
                             "name 'e1' (first defined at 6:55)");
}

TEST_CASE("split mistakes are all reported at their keys") {
  LoadResult r = load(withRoutes(R"(  - name: r1
    split:
      experiment: 'bad name'
      key: path
      override: client_ip
      assign_cookie: 'a;b'
      variants:
        - {name: a, pool: ap, weight: 1000001}
        - {name: a, pool: app, weight: 0}
        - {name: c, pool: app}
)"));
  INFO(allErrors(r));
  CHECK(r.errors.size() == 8);
  CHECK(hasError(r, "test.yaml:8:19: routes[0].split.experiment: invalid experiment name 'bad "
                    "name': use 1 to 64 letters, digits, '_', '-' or '.'"));
  CHECK(hasError(r, "test.yaml:9:12: routes[0].split.key: 'path' is not accepted here; expected "
                    "header:NAME, cookie:NAME or client_ip"));
  CHECK(hasError(r, "test.yaml:10:17: routes[0].split.override: 'client_ip' is not accepted "
                    "here; expected header:NAME or cookie:NAME"));
  CHECK(hasError(r, "test.yaml:11:22: routes[0].split.assign_cookie: 'a;b' is not a valid cookie "
                    "name (RFC 6265 4.1.1: a token)"));
  CHECK(hasError(r, "test.yaml:13:27: routes[0].split.variants[0].pool: unknown pool 'ap' (did "
                    "you mean 'app'?); defined pools: app, app-v2"));
  CHECK(hasError(r, "test.yaml:13:39: routes[0].split.variants[0].weight: must be between 0 and "
                    "1000000, got 1000001"));
  CHECK(hasError(r, "test.yaml:14:18: routes[0].split.variants[1].name: duplicate variant name "
                    "'a' (first defined at 13:18)"));
  CHECK(hasError(r, "test.yaml:15:11: routes[0].split.variants[2]: missing required key "
                    "'weight'"));
}

TEST_CASE("splits need an experiment, a key, two variants and a positive weight") {
  LoadResult missing = load(withRoutes("  - name: r\n    split: {assign_cookie: ab}\n"));
  INFO(allErrors(missing));
  CHECK(missing.errors.size() == 3);
  CHECK(hasError(missing, "test.yaml:7:12: routes[0].split: missing required key 'experiment'"));
  CHECK(hasError(missing, "test.yaml:7:12: routes[0].split: missing required key 'key'"));
  CHECK(hasError(missing, "test.yaml:7:12: routes[0].split: missing required key 'variants'"));
  LoadResult one = load(withRoutes(
      "  - name: r\n    split:\n      experiment: e\n      key: client_ip\n      variants:\n"
      "        - {name: only, pool: app, weight: 1}\n"));
  CHECK(hasError(one, "test.yaml:10:7: routes[0].split.variants: a split needs at least 2 "
                      "variants, got 1"));
  LoadResult zero = load(withRoutes(
      "  - name: r\n    split:\n      experiment: e\n      key: client_ip\n      variants:\n"
      "        - {name: a, pool: app, weight: 0}\n        - {name: b, pool: app-v2, weight: 0}\n"));
  INFO(allErrors(zero));
  REQUIRE(zero.errors.size() == 1);
  CHECK(zero.errors[0].str() == "test.yaml:10:7: routes[0].split.variants: every variant has "
                                "weight 0; at least one needs a weight above 0");
  CHECK(hasErrorAt(load(withRoutes("  - {name: r, split: {experiment: e, key: 'cookie:a b', "
                                   "variants: []}}\n")),
                   "routes[0].split.key", 6, 43, "'a b' is not a valid cookie name"));
  CHECK(hasErrorAt(load(withRoutes("  - {name: r, split: {experiment: e, key: client_ip, "
                                   "variant: []}}\n")),
                   "routes[0].split.variant", 6, 54, "(did you mean 'variants'?)"));
}

TEST_CASE("warnings: pools used only by splits are used; catch-all splits; unused cookies") {
  LoadResult r = load(withRoutes(R"(  - name: all
    split:
      experiment: e
      key: client_ip
      assign_cookie: SWY_AB
      variants: [{name: a, pool: app, weight: 1}, {name: b, pool: app-v2, weight: 1}]
  - {name: never, pool: app}
)"));
  INFO(allErrors(r));
  REQUIRE(r.ok());
  std::vector<std::string> expected = {
      "test.yaml:10:22: routes[0].split.assign_cookie: assign_cookie is never set: the key "
      "client_ip is always present",
      "test.yaml:12:5: routes[1]: unreachable: routes[0] ('all') above matches every request",
  };
  CHECK(r.warnings == expected);
  LoadResult unused = load(withRoutes("  - {name: r, pool: app}\n"));
  REQUIRE(unused.warnings.size() == 1);
  CHECK(unused.warnings[0] == "test.yaml:4:12: pools[1].name: pool 'app-v2' is not used by any "
                              "route");
}

} // namespace
} // namespace proxy::config
