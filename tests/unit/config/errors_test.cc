// Every error kind yields a diagnostic at the offending key or value, with its
// key path; all errors of a file are reported together.
#include <doctest/doctest.h>

#include <utility>
#include <vector>

#include "tests/unit/config/test_util.h"

namespace proxy::config {
namespace {

using test::allErrors;
using test::hasError;
using test::hasErrorAt;
using test::load;
using test::minimal;

// Routes written from line 7 on, after the listener and pool of kListenersAndPool.
LoadResult loadRoutes(std::string_view routes) {
  return load(std::string(test::kListenersAndPool) + std::string(routes));
}

TEST_CASE("YAML syntax errors carry the parser's position") {
  LoadResult r = load("listeners: [1,\n");
  INFO(allErrors(r));
  CHECK_FALSE(r.ok());
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].str() == "test.yaml:2:1: YAML syntax error: end of sequence flow not found");
  LoadResult tabs = load("listeners:\n\t- x\n");
  REQUIRE(tabs.errors.size() == 1);
  CHECK(tabs.errors[0].line == 2);
  CHECK(tabs.errors[0].message.find("YAML syntax error") == 0);
}

TEST_CASE("unknown keys at every level, with the allowed keys and a suggestion") {
  LoadResult top = load("listners: []\n" + minimal());
  CHECK(hasError(top, "test.yaml:1:1: listners: unknown key 'listners' (did you mean "
                      "'listeners'?); allowed keys: workers, access_log, splice, admin, "
                      "listeners, timeouts, limits, pools, routes"));
  LoadResult match =
      loadRoutes("routes:\n  - name: r\n    pool: app\n    match: {path_prefx: /x}\n");
  CHECK(hasError(match, "test.yaml:10:13: routes[0].match.path_prefx: unknown key 'path_prefx' "
                        "(did you mean 'path_prefix'?); allowed keys: host, path, path_prefix, "
                        "path_regex, methods, headers, cookies, query, source"));
  LoadResult far = load("timeouts: {bogus: 1s}\n" + minimal());
  CHECK(hasError(far, "test.yaml:1:12: timeouts.bogus: unknown key 'bogus'; allowed keys: "
                      "connect, client_header, client_idle, client_body, upstream_response, "
                      "upstream_idle, drain"));
  LoadResult server = load(R"(listeners: [{name: l, address: '127.0.0.1:0'}]
pools: [{name: p, servers: [{name: s, address: '127.0.0.1:1', wieght: 2}]}]
routes: [{name: r, pool: p}]
)");
  CHECK(hasErrorAt(server, "pools[0].servers[0].wieght", 2, 63, "did you mean 'weight'?"));
  CHECK(hasErrorAt(load("limits: {max_header: 1}\n" + minimal()), "limits.max_header", 1, 10,
                   "did you mean 'max_headers'?"));
  CHECK(hasErrorAt(load("access_log: {fmt: json}\n" + minimal()), "access_log.fmt", 1, 14,
                   "unknown key 'fmt'"));
}

TEST_CASE("wrong types name what was expected and what was found") {
  LoadResult r = load(R"(workers: [1]
listeners: {name: l}
pools:
  - name: [p]
    servers: nope
routes:
  - name: r
    pool: {x: 1}
    match: [1]
)");
  INFO(allErrors(r));
  CHECK(hasError(r, "test.yaml:1:10: workers: expected a positive integer or 'auto', got a list"));
  CHECK(hasError(r, "test.yaml:2:12: listeners: expected a list ('- ...' items), got a mapping"));
  CHECK(hasError(r, "test.yaml:4:11: pools[0].name: expected a string, got a list"));
  CHECK(hasError(r, "test.yaml:5:14: pools[0].servers: expected a list ('- ...' items), got "
                    "'nope'"));
  CHECK(hasError(r, "test.yaml:8:11: routes[0].pool: expected a string, got a mapping"));
  CHECK(hasError(r, "test.yaml:9:12: routes[0].match: expected a mapping (key: value), got a "
                    "list"));
  LoadResult items = load("listeners: [x]\n" + minimal().substr(minimal().find("pools")));
  CHECK(hasError(items, "test.yaml:1:13: listeners[0]: expected a mapping (key: value), got 'x'"));
}

TEST_CASE("null values are reported at their key") {
  LoadResult r = loadRoutes("routes:\n  - name:\n    pool: app\n");
  CHECK(hasError(r, "test.yaml:8:5: routes[0].name: expected a string, got nothing (null)"));
  LoadResult timeouts = load("timeouts:\n" + minimal());
  CHECK(hasErrorAt(timeouts, "timeouts", 1, 1, "expected a mapping (key: value), got nothing"));
}

TEST_CASE("bad regexes carry RE2's message at the pattern") {
  LoadResult r = loadRoutes(R"(routes:
  - name: r
    pool: app
    match:
      host: '(www'
      path_regex: '/a['
      headers: {X-Beta: '^(1|true$'}
      cookies: {c: '*'}
      query: {q: 'a{2,1}'}
)");
  INFO(allErrors(r));
  CHECK(r.errors.size() == 5);
  CHECK(hasErrorAt(r, "routes[0].match.host", 11, 13, "invalid regex: "));
  CHECK(hasErrorAt(r, "routes[0].match.path_regex", 12, 19, "invalid regex: "));
  CHECK(hasErrorAt(r, "routes[0].match.headers.X-Beta", 13, 25, "invalid regex: "));
  CHECK(hasErrorAt(r, "routes[0].match.cookies.c", 14, 20, "invalid regex: "));
  CHECK(hasErrorAt(r, "routes[0].match.query.q", 15, 18, "invalid regex: "));
}

TEST_CASE("empty host or path_regex patterns are rejected; empty header patterns are not") {
  LoadResult r =
      loadRoutes("routes:\n  - {name: r, pool: app, match: {host: '', headers: {A: ''}}}\n");
  CHECK(r.errors.size() == 1);
  CHECK(hasErrorAt(r, "routes[0].match.host", 8, 40, "empty pattern"));
}

TEST_CASE("duplicate names: listeners, pools, routes, servers within a pool") {
  LoadResult r = load(R"(listeners:
  - {name: l, address: '127.0.0.1:1'}
  - {name: l, address: '127.0.0.1:2'}
pools:
  - {name: p, servers: [{name: s, address: '127.0.0.1:1'}, {name: s, address: '127.0.0.1:2'}]}
  - {name: p, servers: [{name: s, address: '127.0.0.1:3'}]}
routes:
  - {name: r, pool: p, match: {path: /a}}
  - {name: r, pool: p}
)");
  INFO(allErrors(r));
  CHECK(r.errors.size() == 4);
  CHECK(hasError(r, "test.yaml:3:12: listeners[1].name: duplicate listener name 'l' (first "
                    "defined at 2:12)"));
  CHECK(hasError(r, "test.yaml:5:67: pools[0].servers[1].name: duplicate server name 's' (first "
                    "defined at 5:32)"));
  CHECK(hasError(r, "test.yaml:6:12: pools[1].name: duplicate pool name 'p' (first defined at "
                    "5:12)"));
  CHECK(hasError(r, "test.yaml:9:12: routes[1].name: duplicate route name 'r' (first defined at "
                    "8:12)"));
}

TEST_CASE("two listeners on one address are rejected, unless the port is 0") {
  LoadResult r = load(R"(listeners:
  - {name: a, address: '127.0.0.1:8080'}
  - {name: b, address: '127.0.0.1:8080'}
  - {name: c, address: '127.0.0.1:0'}
  - {name: d, address: '127.0.0.1:0'}
)" + minimal().substr(minimal().find("pools")));
  INFO(allErrors(r));
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].str() == "test.yaml:3:24: listeners[1].address: address 127.0.0.1:8080 is "
                             "already used by listeners[0].address at 2:24");
}

TEST_CASE("routes: missing or unknown pool, missing name") {
  LoadResult r = loadRoutes(R"(routes:
  - {name: a, pool: ap}
  - name: b
    match: {path: /b}
  - {pool: app}
)");
  INFO(allErrors(r));
  CHECK(r.errors.size() == 3);
  CHECK(hasError(r, "test.yaml:8:21: routes[0].pool: unknown pool 'ap' (did you mean 'app'?); "
                    "defined pools: app"));
  CHECK(hasError(r, "test.yaml:9:5: routes[1]: missing required key 'pool' (or 'split' for an "
                    "A/B split, or 'redirect')"));
  CHECK(hasError(r, "test.yaml:11:5: routes[2]: missing required key 'name'"));
}

TEST_CASE("paths: one kind only, path and path_prefix start with '/'") {
  LoadResult r = loadRoutes(R"(routes:
  - name: r
    pool: app
    match:
      path: /a
      path_prefix: api
      path_regex: '/b.*'
)");
  INFO(allErrors(r));
  CHECK(r.errors.size() == 3);
  CHECK(hasError(r, "test.yaml:12:20: routes[0].match.path_prefix: only one of path, path_prefix "
                    "and path_regex may be set (routes[0].match.path is already set)"));
  CHECK(hasErrorAt(r, "routes[0].match.path_regex", 13, 19, "only one of path"));
  CHECK(hasError(r, "test.yaml:12:20: routes[0].match.path_prefix: must start with '/', got "
                    "'api'"));
}

TEST_CASE("methods: uppercase tokens only, with a hint for lowercase") {
  LoadResult r =
      loadRoutes("routes:\n  - {name: r, pool: app, match: {methods: [get, 'GE T', '']}}\n");
  INFO(allErrors(r));
  CHECK(r.errors.size() == 3);
  CHECK(hasError(r, "test.yaml:8:44: routes[0].match.methods[0]: methods are case-sensitive "
                    "(RFC 9110 9.1); write 'GET' instead of 'get'"));
  CHECK(hasErrorAt(r, "routes[0].match.methods[1]", 8, 49, "'GE T' is not a valid method"));
  CHECK(hasErrorAt(r, "routes[0].match.methods[2]", 8, 57, "'' is not a valid method"));
}

TEST_CASE("header and cookie names must be tokens; header names are case-insensitive") {
  LoadResult r = loadRoutes(R"(routes:
  - name: r
    pool: app
    match:
      headers: {'X Beta': a, X-A: b, x-a: c}
      cookies: {'a;b': c}
      query: {'a b': c}
)");
  INFO(allErrors(r));
  CHECK(r.errors.size() == 3);
  CHECK(hasErrorAt(r, "routes[0].match.headers.X Beta", 11, 17, "not a valid header name"));
  CHECK(hasError(r, "test.yaml:11:38: routes[0].match.headers.x-a: header 'x-a' is already "
                    "matched by routes[0].match.headers.X-A (names are case-insensitive)"));
  CHECK(hasErrorAt(r, "routes[0].match.cookies.a;b", 12, 17, "not a valid cookie name"));
}

TEST_CASE("duplicate YAML keys are errors, not silently dropped") {
  LoadResult r = load("workers: 1\nworkers: 2\n" + minimal());
  CHECK(hasError(r, "test.yaml:2:1: workers: duplicate key 'workers'"));
}

TEST_CASE("addresses: unparsable, bad or missing port, hostnames where not allowed") {
  test::OfflineResolver offline;
  LoadResult r = load(R"(listeners:
  - {name: a, address: 'example.com:80'}
  - {name: b, address: '127.0.0.1'}
  - {name: c, address: '::1:80'}
  - {name: d, address: '127.0.0.1:65536'}
  - {name: e, address: '[::1:80'}
  - {name: f, address: '300.1.1.1:80'}
pools:
  - name: p
    servers:
      - {name: a, address: '127.0.0.1:0'}
      - {name: b, address: 'no-such-host.invalid:80'}
      - {name: c, address: ':80'}
      - {name: d, address: 80}
routes: [{name: r, pool: p}]
)");
  INFO(allErrors(r));
  CHECK(r.errors.size() == 10);
  CHECK(hasError(r, "test.yaml:2:24: listeners[0].address: 'example.com' is not allowed here: "
                    "use a numeric IPv4 address, [IPv6] or localhost"));
  CHECK(hasError(r, "test.yaml:3:24: listeners[1].address: missing port; expected host:port, "
                    "e.g. 127.0.0.1:8080 or [::1]:8080"));
  CHECK(hasError(r, "test.yaml:4:24: listeners[2].address: an IPv6 address needs brackets, e.g. "
                    "[::1]:8080"));
  CHECK(hasError(r, "test.yaml:5:24: listeners[3].address: port must be a number between 0 and "
                    "65535"));
  CHECK(hasErrorAt(r, "listeners[4].address", 6, 24, "missing ']'"));
  CHECK(hasErrorAt(r, "listeners[5].address", 7, 24, "'300.1.1.1' is not a valid IPv4 address"));
  CHECK(hasError(r, "test.yaml:11:28: pools[0].servers[0].address: port must be a number between "
                    "1 and 65535"));
  CHECK(hasError(r, "test.yaml:12:28: pools[0].servers[1].address: cannot resolve "
                    "'no-such-host.invalid': Name or service not known"));
  CHECK(hasErrorAt(r, "pools[0].servers[2].address", 13, 28, "missing host before ':'"));
  CHECK(hasErrorAt(r, "pools[0].servers[3].address", 14, 28, "missing port"));
}

TEST_CASE("weights: 1 to 1000000") {
  LoadResult r = load(R"(listeners: [{name: l, address: '127.0.0.1:0'}]
pools:
  - name: p
    servers:
      - {name: a, address: '127.0.0.1:1', weight: 0}
      - {name: b, address: '127.0.0.1:1', weight: 1000001}
      - {name: c, address: '127.0.0.1:1', weight: -1}
routes: [{name: r, pool: p}]
)");
  INFO(allErrors(r));
  CHECK(r.errors.size() == 3);
  CHECK(hasError(r, "test.yaml:5:51: pools[0].servers[0].weight: must be between 1 and 1000000, "
                    "got 0"));
  CHECK(hasErrorAt(r, "pools[0].servers[1].weight", 6, 51, "between 1 and 1000000"));
  CHECK(hasErrorAt(r, "pools[0].servers[2].weight", 7, 51, "expected a non-negative integer"));
}

TEST_CASE("missing sections and empty pools") {
  LoadResult r = load("workers: 1\n");
  INFO(allErrors(r));
  CHECK(r.errors.size() == 3);
  CHECK(hasError(r, "test.yaml:1:1: at least one listener is required"));
  CHECK(hasError(r, "test.yaml:1:1: at least one pool is required"));
  CHECK(hasError(r, "test.yaml:1:1: at least one route is required"));
  LoadResult empty_lists = load("listeners: []\npools: []\nroutes:\n");
  CHECK(hasError(empty_lists, "test.yaml:1:1: listeners: at least one listener is required"));
  CHECK(hasError(empty_lists, "test.yaml:3:1: routes: at least one route is required"));
  LoadResult no_servers = load(R"(listeners: [{name: l, address: '127.0.0.1:0'}]
pools:
  - {name: a, servers: []}
  - {name: b}
routes: [{name: r, pool: a}]
)");
  INFO(allErrors(no_servers));
  CHECK(hasError(no_servers, "test.yaml:3:5: pools[0]: pool 'a' needs at least one server"));
  CHECK(hasError(no_servers, "test.yaml:4:5: pools[1]: missing required key 'servers'"));
}

TEST_CASE("workers: positive, at most 64, or auto") {
  CHECK(hasError(load("workers: 0\n" + minimal()),
                 "test.yaml:1:10: workers: must be 'auto' or between 1 and 64, got 0"));
  CHECK(hasErrorAt(load("workers: 65\n" + minimal()), "workers", 1, 10, "between 1 and 64"));
  CHECK(hasError(load("workers: many\n" + minimal()),
                 "test.yaml:1:10: workers: expected a positive integer or 'auto', got 'many'"));
  CHECK(hasErrorAt(load("workers: -2\n" + minimal()), "workers", 1, 10, "positive integer"));
  CHECK(hasErrorAt(load("workers: 1.5\n" + minimal()), "workers", 1, 10, "positive integer"));
}

TEST_CASE("access_log: format text or json, a non-empty path, or off") {
  CHECK(hasError(load("access_log: {format: jsn}\n" + minimal()),
                 "test.yaml:1:22: access_log.format: unknown format 'jsn' (did you mean 'json'?); "
                 "expected text or json"));
  CHECK(hasErrorAt(load("access_log: {path: ''}\n" + minimal()), "access_log.path", 1, 20,
                   "must be stdout, stderr or a file path"));
  CHECK(hasErrorAt(load("access_log: disabled\n" + minimal()), "access_log", 1, 13,
                   "expected 'off' or a mapping"));
}

TEST_CASE("balance: one of the four algorithms") {
  LoadResult r = load(R"(listeners: [{name: l, address: '127.0.0.1:0'}]
pools: [{name: p, balance: random, servers: [{name: s, address: '127.0.0.1:1'}]}]
routes: [{name: r, pool: p}]
)");
  CHECK(hasError(r, "test.yaml:2:28: pools[0].balance: unknown balance 'random'; expected "
                    "round_robin, least_conn, random_two or hash"));
}

TEST_CASE("names: letters, digits, '_', '-', '.'") {
  LoadResult r = loadRoutes("routes: [{name: 'my route', pool: app}]\n");
  CHECK(hasError(r, "test.yaml:7:17: routes[0].name: invalid route name 'my route': use 1 to 64 "
                    "letters, digits, '_', '-' or '.'"));
}

TEST_CASE("limits: sane ranges") {
  LoadResult r = load(
      "limits: {max_header_bytes: 512, max_headers: 0, max_uri_bytes: 2m, max_body_bytes: x}\n" +
      minimal());
  INFO(allErrors(r));
  CHECK(r.errors.size() == 4);
  CHECK(hasError(r, "test.yaml:1:28: limits.max_header_bytes: must be between 1024 and 1048576, "
                    "got 512"));
  CHECK(hasErrorAt(r, "limits.max_headers", 1, 46, "between 1 and 1000, got 0"));
  CHECK(hasErrorAt(r, "limits.max_uri_bytes", 1, 64, "between 256 and 1048576, got 2097152"));
  CHECK(hasErrorAt(r, "limits.max_body_bytes", 1, 84, "expected a non-negative integer"));
}

TEST_CASE("durations: a unit is required; zero only for drain") {
  LoadResult r = load("timeouts: {connect: 2, client_header: 1.5s, client_idle: 0s, drain: 0ms, "
                      "upstream_response: 25h}\n" +
                      minimal());
  INFO(allErrors(r));
  CHECK(r.errors.size() == 4);
  CHECK(hasError(r, "test.yaml:1:21: timeouts.connect: a duration needs a unit: write '2s' or "
                    "'2ms'"));
  CHECK(hasErrorAt(r, "timeouts.client_header", 1, 39, "expected a duration such as 250ms"));
  CHECK(hasError(r, "test.yaml:1:58: timeouts.client_idle: must be between 1 ms and 86400000 ms, "
                    "got 0"));
  CHECK(hasErrorAt(r, "timeouts.upstream_response", 1, 93, "got 90000000"));
}

TEST_CASE("all errors of one file are reported together, in document order") {
  LoadResult r = load(R"(workers: 0
access_log: {format: xml}
listeners:
  - {name: l, address: 'localhost'}
timeouts: {connect: 5}
pools:
  - name: p
    servers:
      - {name: s, address: '127.0.0.1:1', weight: 0}
routes:
  - {name: r, pool: q, match: {path: x, methods: [get]}}
)");
  INFO(allErrors(r));
  std::vector<std::pair<int, int>> positions;
  for (const Diagnostic& d : r.errors)
    positions.emplace_back(d.line, d.column);
  // The reader finds the address and duration; validate() the rest. Both in file order.
  std::vector<std::pair<int, int>> expected = {{1, 10}, {2, 22},  {4, 24},  {5, 21},
                                               {9, 51}, {11, 21}, {11, 38}, {11, 51}};
  CHECK(positions == expected);
  CHECK_FALSE(r.ok());
  CHECK(r.snapshot == nullptr);
}

TEST_CASE("a missing file is one diagnostic with the system's reason") {
  LoadResult r = loadFile("/nonexistent/switchyard.yaml");
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].str() ==
        "/nonexistent/switchyard.yaml:0:0: cannot read config: No such file or directory");
  LoadResult dir = loadFile("/tmp");
  REQUIRE(dir.errors.size() == 1);
  CHECK(dir.errors[0].str() == "/tmp:0:0: cannot read config: Is a directory");
}

TEST_CASE("admin: off by default; a loopback address of its own, or a clear error") {
  LoadResult off = load(minimal());
  REQUIRE(off.ok());
  CHECK(off.snapshot->admin.length == 0);
  LoadResult on = load("admin: {address: 127.0.0.1:9901}\n" + minimal());
  INFO(allErrors(on));
  REQUIRE(on.ok());
  CHECK(on.snapshot->admin.text == "127.0.0.1:9901");
  CHECK(load("admin: {address: '[::1]:9901'}\n" + minimal()).ok());

  LoadResult pub = load("admin: {address: 0.0.0.0:9901}\n" + minimal());
  CHECK(hasErrorAt(pub, "admin.address", 1, 18,
                   "the admin listener must be on a loopback address (127.0.0.1 or [::1]), got "
                   "0.0.0.0:9901"));
  LoadResult clash = load("admin: {address: 127.0.0.1:9001}\n"
                          "listeners:\n  - {name: l, address: 127.0.0.1:9001}\n"
                          "pools:\n  - {name: app, servers: [{name: s1, address: 127.0.0.1:80}]}\n"
                          "routes:\n  - {name: r, pool: app}\n");
  CHECK(hasErrorAt(clash, "admin.address", 1, 18, "is already used by listeners[0].address"));
  LoadResult missing = load("admin: {}\n" + minimal());
  CHECK_FALSE(missing.ok());
  LoadResult extra = load("admin: {address: 127.0.0.1:0, port: 1}\n" + minimal());
  CHECK_FALSE(extra.ok());
}

} // namespace
} // namespace proxy::config
