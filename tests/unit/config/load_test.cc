// The happy path: a full config loads, compiles to the expected Snapshot, and
// its route table routes sample requests.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cstdlib>
#include <thread>

#include "proxy/config/values.h"
#include "tests/unit/config/test_util.h"

namespace proxy::config {
namespace {

using test::allErrors;
using test::load;

// The example from the config reference, verbatim.
constexpr std::string_view kExample = R"(workers: 1
access_log: {format: text, path: stdout}
listeners:
  - {name: public, address: 127.0.0.1:8080}
timeouts: {connect: 2s, client_header: 10s, client_idle: 60s, upstream_response: 30s, drain: 10s}
limits: {max_header_bytes: 32768, max_headers: 100, max_uri_bytes: 8192, max_body_bytes: 0}
pools:
  - name: app
    balance: round_robin
    servers:
      - {name: app1, address: 127.0.0.1:9001}
      - {name: app2, address: 127.0.0.1:9002, weight: 2}
routes:
  - name: beta
    match:
      host: '^(www\.)?example\.com$'
      path_prefix: /api
      methods: [GET, POST]
      headers: {X-Beta: '^(1|true)$'}
      cookies: {beta: '^on$'}
      query: {variant: '^b$'}
    pool: app
  - {name: default, pool: app}
)";

// Two pools so that route targets are distinguishable; non-default values.
constexpr std::string_view kTwoPools = R"(workers: 3
access_log: {format: json, path: /var/log/switchyard/access.log}
listeners:
  - {name: public, address: 0.0.0.0:8080}
  - {name: v6, address: '[::1]:0'}
timeouts: {connect: 250ms, client_header: 1m, client_idle: 2m, upstream_response: 1h, drain: 0s}
limits: {max_header_bytes: 16k, max_headers: 50, max_uri_bytes: 2048, max_body_bytes: 1m}
pools:
  - name: stable
    servers:
      - {name: s1, address: 127.0.0.1:9001}
  - name: canary
    servers:
      - {name: c1, address: 'localhost:9101', weight: 1000000}
routes:
  - name: exact
    match: {path: /healthz}
    pool: stable
  - name: regex
    match: {path_regex: '/v[0-9]+/.*', methods: [PUT]}
    pool: canary
  - name: beta
    match: {headers: {x-beta: '1'}}
    pool: canary
  - name: rest
    pool: stable
)";

uint16_t port(const SocketAddress& a) { return addressPort(a); }

std::string ipOf(const SocketAddress& a) {
  char text[INET6_ADDRSTRLEN] = {};
  if (a.storage.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&a.storage)->sin_addr, text,
              sizeof text);
  } else {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&a.storage)->sin6_addr, text,
              sizeof text);
  }
  return text;
}

int route(const Snapshot& s, routing::RequestView request) {
  routing::MatchScratch scratch;
  return s.routes->match(request, scratch);
}

TEST_CASE("the reference example loads with the values written") {
  LoadResult r = load(kExample);
  INFO(allErrors(r));
  REQUIRE(r.ok());
  CHECK(r.errors.empty());
  CHECK(r.warnings.empty());
  const Snapshot& s = *r.snapshot;
  CHECK(s.source == "test.yaml");
  CHECK(s.workers == 1);
  CHECK(s.access_log.enabled);
  CHECK(s.access_log.format == LogFormat::kText);
  CHECK(s.access_log.path == "stdout");
  REQUIRE(s.listeners.size() == 1);
  CHECK(s.listeners[0].name == "public");
  CHECK(s.listeners[0].address.text == "127.0.0.1:8080");
  CHECK(s.listeners[0].address.storage.ss_family == AF_INET);
  CHECK(s.listeners[0].address.length == sizeof(sockaddr_in));
  CHECK(ipOf(s.listeners[0].address) == "127.0.0.1");
  CHECK(port(s.listeners[0].address) == 8080);
  CHECK(s.timeouts.connect == 2000);
  CHECK(s.timeouts.client_idle == 60000);
  CHECK(s.limits.max_header_bytes == 32768);
  CHECK(s.limits.max_body_bytes == 0);
  REQUIRE(s.pools.size() == 1);
  CHECK(s.pools[0].name == "app");
  CHECK(s.pools[0].balance == Balance::kRoundRobin);
  REQUIRE(s.pools[0].servers.size() == 2);
  CHECK(s.pools[0].servers[0].name == "app1");
  CHECK(s.pools[0].servers[0].weight == 1);
  CHECK(s.pools[0].servers[1].weight == 2);
  CHECK(port(s.pools[0].servers[1].address) == 9002);
}

TEST_CASE("the reference example compiles its routes 1:1") {
  LoadResult r = load(kExample);
  REQUIRE(r.ok());
  const routing::RouteTable& table = *r.snapshot->routes;
  REQUIRE(table.size() == 2);
  const routing::RouteDef& beta = table.route(0);
  CHECK(beta.name == "beta");
  CHECK(beta.target == 0);
  CHECK(beta.match.host_regex == R"(^(www\.)?example\.com$)");
  CHECK(beta.match.path_kind == routing::PathKind::kPrefix);
  CHECK(beta.match.path == "/api");
  CHECK(beta.match.methods == std::vector<std::string>{"GET", "POST"});
  using Pairs = std::vector<std::pair<std::string, std::string>>;
  CHECK(beta.match.headers == Pairs{{"X-Beta", "^(1|true)$"}});
  CHECK(beta.match.cookies == Pairs{{"beta", "^on$"}});
  CHECK(beta.match.query == Pairs{{"variant", "^b$"}});
  const routing::RouteDef& fallback = table.route(1);
  CHECK(fallback.name == "default");
  CHECK(fallback.match.path_kind == routing::PathKind::kAny);
  CHECK(fallback.match.host_regex.empty());
  CHECK(fallback.match.methods.empty());
}

TEST_CASE("the compiled example routes the beta request to beta, others to default") {
  LoadResult r = load(kExample);
  REQUIRE(r.ok());
  const Snapshot& s = *r.snapshot;
  routing::Header headers[] = {{"x-beta", "true"}, {"Cookie", "a=1; beta=on"}};
  routing::RequestView request{"GET", "/api/users", "variant=b", "www.example.com", headers};
  CHECK(route(s, request) == 0);
  request.method = "DELETE";
  CHECK(route(s, request) == 1);
  request.method = "POST";
  request.host = "example.org";
  CHECK(route(s, request) == 1);
  request.host = "example.com";
  request.query = "variant=a";
  CHECK(route(s, request) == 1);
  request.query = "variant=b";
  CHECK(route(s, request) == 0);
  routing::Header no_cookie[] = {{"X-Beta", "1"}};
  request.headers = no_cookie;
  CHECK(route(s, request) == 1);
}

TEST_CASE("route order, pool indices and non-default values are kept") {
  LoadResult r = load(kTwoPools);
  INFO(allErrors(r));
  REQUIRE(r.ok());
  const Snapshot& s = *r.snapshot;
  CHECK(s.workers == 3);
  CHECK(s.access_log.format == LogFormat::kJson);
  CHECK(s.access_log.path == "/var/log/switchyard/access.log");
  REQUIRE(s.listeners.size() == 2);
  CHECK(s.listeners[1].address.storage.ss_family == AF_INET6);
  CHECK(ipOf(s.listeners[1].address) == "::1");
  CHECK(port(s.listeners[1].address) == 0);
  CHECK(s.listeners[1].address.text == "[::1]:0");
  CHECK(s.timeouts.connect == 250);
  CHECK(s.timeouts.client_header == 60000);
  CHECK(s.timeouts.upstream_response == 3600000);
  CHECK(s.timeouts.drain == 0);
  CHECK(s.limits.max_header_bytes == 16384);
  CHECK(s.limits.max_body_bytes == 1048576);
  const Server& c1 = s.pools[1].servers[0];
  CHECK(c1.weight == 1000000);
  CHECK(c1.address.text == "localhost:9101");
  CHECK(ipOf(c1.address) == "127.0.0.1"); // IPv4 preferred for host names
  CHECK(port(c1.address) == 9101);
  const routing::RouteTable& table = *s.routes;
  REQUIRE(table.size() == 4);
  CHECK(table.route(0).name == "exact");
  CHECK(table.route(0).match.path_kind == routing::PathKind::kExact);
  CHECK(table.route(1).match.path_kind == routing::PathKind::kRegex);
  CHECK(table.route(2).match.headers[0].first == "x-beta"); // kept as written
  std::vector<uint32_t> targets;
  for (size_t i = 0; i < table.size(); ++i)
    targets.push_back(table.route(i).target);
  CHECK(targets == std::vector<uint32_t>{0, 1, 1, 0});
  CHECK(r.warnings.empty());
}

TEST_CASE("absent sections take the defaults of snapshot.h") {
  LoadResult r = load(test::minimal());
  INFO(allErrors(r));
  REQUIRE(r.ok());
  const Snapshot& s = *r.snapshot;
  Timeouts t;
  Limits l;
  CHECK(s.workers == 1);
  CHECK(s.access_log.enabled);
  CHECK(s.access_log.format == LogFormat::kText);
  CHECK(s.access_log.path == "stdout");
  CHECK_FALSE(s.splice);
  CHECK(s.timeouts.connect == t.connect);
  CHECK(s.timeouts.client_header == t.client_header);
  CHECK(s.timeouts.client_idle == t.client_idle);
  CHECK(s.timeouts.upstream_response == t.upstream_response);
  CHECK(s.timeouts.drain == t.drain);
  CHECK(s.limits.max_header_bytes == l.max_header_bytes);
  CHECK(s.limits.max_headers == l.max_headers);
  CHECK(s.limits.max_uri_bytes == l.max_uri_bytes);
  CHECK(s.limits.max_body_bytes == l.max_body_bytes);
  CHECK(s.pools[0].balance == Balance::kRoundRobin);
  CHECK(s.pools[0].servers[0].weight == 1);
}

TEST_CASE("partial sections keep defaults for the keys not written") {
  LoadResult r = load("timeouts: {connect: 5s}\nlimits: {max_headers: 10}\n" + test::minimal());
  REQUIRE(r.ok());
  CHECK(r.snapshot->timeouts.connect == 5000);
  CHECK(r.snapshot->timeouts.drain == Timeouts{}.drain);
  CHECK(r.snapshot->limits.max_headers == 10);
  CHECK(r.snapshot->limits.max_header_bytes == Limits{}.max_header_bytes);
}

TEST_CASE("access_log: off disables the log; access_log: on keeps the defaults") {
  LoadResult off = load("access_log: off\n" + test::minimal());
  REQUIRE(off.ok());
  CHECK_FALSE(off.snapshot->access_log.enabled);
  LoadResult on = load("access_log: on\n" + test::minimal());
  REQUIRE(on.ok());
  CHECK(on.snapshot->access_log.enabled);
  LoadResult path_only = load("access_log: {path: stderr}\n" + test::minimal());
  REQUIRE(path_only.ok());
  CHECK(path_only.snapshot->access_log.path == "stderr");
  CHECK(path_only.snapshot->access_log.format == LogFormat::kText);
}

TEST_CASE("splice: true turns body splicing on; anything but a boolean is an error") {
  LoadResult on = load("splice: true\n" + test::minimal());
  INFO(allErrors(on));
  REQUIRE(on.ok());
  CHECK(on.snapshot->splice);
  LoadResult off = load("splice: off\n" + test::minimal());
  REQUIRE(off.ok());
  CHECK_FALSE(off.snapshot->splice);
  LoadResult bad = load("splice: always\n" + test::minimal());
  CHECK_FALSE(bad.ok());
  CHECK(allErrors(bad).find("test.yaml:1:9: splice: expected true or false") != std::string::npos);
}

TEST_CASE("workers: auto means one per core, at least 1 and at most 64") {
  LoadResult r = load("workers: auto\n" + test::minimal());
  INFO(allErrors(r));
  REQUIRE(r.ok());
  unsigned cores = std::thread::hardware_concurrency();
  unsigned expected = cores == 0 ? 1 : (cores > 64 ? 64 : cores);
  CHECK(r.snapshot->workers == expected);
  LoadResult max = load("workers: 64\n" + test::minimal());
  REQUIRE(max.ok());
  CHECK(max.snapshot->workers == 64);
}

TEST_CASE("a single method may be written as a scalar; quoted scalars are strings") {
  LoadResult r = load(std::string(test::kListenersAndPool) +
                      "routes:\n  - {name: r, pool: 'app', match: {methods: GET}}\n");
  INFO(allErrors(r));
  REQUIRE(r.ok());
  CHECK(r.snapshot->routes->route(0).match.methods == std::vector<std::string>{"GET"});
}

TEST_CASE("warnings: unreachable routes, unused pools, non-standard methods") {
  LoadResult r = load(R"(listeners: [{name: l, address: '127.0.0.1:0'}]
pools:
  - {name: app, servers: [{name: a, address: '127.0.0.1:1'}]}
  - {name: spare, servers: [{name: a, address: '127.0.0.1:2'}]}
routes:
  - {name: all, pool: app, match: {}}
  - {name: never, pool: app, match: {methods: [PURGE, PURGE]}}
)");
  INFO(allErrors(r));
  REQUIRE(r.ok());
  // In file order.
  std::vector<std::string> expected = {
      "test.yaml:4:12: pools[1].name: pool 'spare' is not used by any route",
      "test.yaml:7:5: routes[1]: unreachable: routes[0] ('all') above matches every request",
      "test.yaml:7:48: routes[1].match.methods[0]: 'PURGE' is not a standard method; it matches "
      "only requests that use exactly this token",
      "test.yaml:7:55: routes[1].match.methods[1]: method PURGE is listed twice",
  };
  CHECK(r.warnings == expected);
}

TEST_CASE("warnings: a route shadowed by an earlier, broader one") {
  LoadResult r = load(R"(listeners: [{name: l, address: '127.0.0.1:0'}]
pools:
  - {name: app, servers: [{name: a, address: '127.0.0.1:1'}]}
routes:
  - {name: api, pool: app, match: {path_prefix: /api}}
  - {name: api-v1, pool: app, match: {path_prefix: /api/v1, methods: [GET]}}
  - {name: beta, pool: app, match: {headers: {X-Beta: '1'}, methods: [GET, POST]}}
  - {name: beta-get, pool: app, match: {headers: {x-beta: '1'}, methods: [GET], path: /b}}
  - {name: beta-other, pool: app, match: {headers: {X-Beta: '1|2'}, methods: [GET]}}
  - {name: exact, pool: app, match: {path: /x}}
  - {name: exact-get, pool: app, match: {path: /x, methods: [GET]}}
  - {name: net, pool: app, match: {source: [10.0.0.0/8]}}
  - {name: net-narrow, pool: app, match: {source: [10.1.0.0/16]}}
)");
  INFO(allErrors(r));
  REQUIRE(r.ok());
  std::vector<std::string> expected = {
      "test.yaml:6:5: routes[1]: unreachable: routes[0] ('api') above matches every request "
      "this route matches",
      "test.yaml:8:5: routes[3]: unreachable: routes[2] ('beta') above matches every request "
      "this route matches",
      "test.yaml:11:5: routes[6]: unreachable: routes[5] ('exact') above matches every request "
      "this route matches",
  };
  // beta-other (another regex) and net-narrow (another prefix list) are not
  // proven shadowed: the check only claims what it can show.
  CHECK(r.warnings == expected);
}

TEST_CASE("loadFile reads a file and names it in the snapshot") {
  char path[] = "/tmp/switchyard-config-test-XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  std::string text(kExample);
  REQUIRE(write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
  close(fd);
  LoadResult r = loadFile(path);
  unlink(path);
  INFO(allErrors(r));
  REQUIRE(r.ok());
  CHECK(r.snapshot->source == path);
  CHECK(r.snapshot->routes->size() == 2);
}

} // namespace
} // namespace proxy::config
