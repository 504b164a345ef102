// Listener allow/deny/max_connections/max_connections_per_ip and route
// match.source: what each compiles to, and every mistake reported at its
// position with what to write instead (duplicates and allow/deny conflicts
// naming the other position).
#include <doctest/doctest.h>

#include <string>

#include "routing/cidr.h"
#include "tests/unit/config/test_util.h"

namespace proxy::config {
namespace {

using test::allErrors;
using test::hasErrorAt;
using test::load;

// Lines 1-3: a listener `l` on 127.0.0.1; `keys` (4-space indented) start at
// line 4, followed by a pool and a route.
std::string withListenerKeys(std::string_view keys, std::string_view address = "127.0.0.1:0") {
  return "listeners:\n"
         "  - name: l\n"
         "    address: '" +
         std::string(address) + "'\n" + std::string(keys) +
         "pools:\n"
         "  - name: app\n"
         "    servers:\n"
         "      - {name: s1, address: 127.0.0.1:9001}\n"
         "routes:\n"
         "  - {name: r, pool: app}\n";
}

// Routes from line 8 (lines 1-6: a listener and pool "app", line 7: "routes:").
std::string withRoutes(std::string_view routes) {
  return std::string(test::kListenersAndPool) + "routes:\n" + std::string(routes);
}

bool hasWarning(const LoadResult& r, std::string_view text) {
  for (const std::string& w : r.warnings) {
    if (w.find(text) != std::string::npos) return true;
  }
  return false;
}

routing::IpAddress ip(const char* text) {
  auto a = routing::parseIp(text);
  REQUIRE_MESSAGE(a, text);
  return *a;
}

// Whether listener 0 of `s` admits `addr` (as the accept path decides).
bool admits(const Snapshot& s, const char* addr) {
  const Listener& l = s.listeners[0];
  if (!l.access) return true;
  std::optional<int> verdict = l.access->lookup(ip(addr));
  return verdict ? *verdict == 1 : l.access_default_allow;
}

// The route matched for a GET / from `client`.
int routeFrom(const Snapshot& s, const char* client) {
  routing::IpAddress addr = ip(client);
  routing::RequestView view{"GET", "/", "", "example.com", {}};
  view.client = &addr;
  routing::MatchScratch scratch;
  return s.routes->match(view, scratch);
}

} // namespace

TEST_CASE("access: absent keys mean no list and no limit") {
  LoadResult r = load(withListenerKeys(""));
  INFO(allErrors(r));
  REQUIRE(r.ok());
  const Listener& l = r.snapshot->listeners[0];
  CHECK(l.access == nullptr);
  CHECK(l.access_default_allow);
  CHECK(l.max_connections == 0);
  CHECK(l.max_connections_per_ip == 0);
}

TEST_CASE("access: allow and deny compile to one longest-prefix table") {
  LoadResult r = load(withListenerKeys("    allow: [10.0.0.0/8, '2001:db8::/32', 192.0.2.7]\n"
                                       "    deny: [10.1.0.0/16]\n"
                                       "    max_connections: 10k\n"
                                       "    max_connections_per_ip: 20\n"));
  INFO(allErrors(r));
  REQUIRE(r.ok());
  const Snapshot& s = *r.snapshot;
  REQUIRE(s.listeners[0].access != nullptr);
  CHECK_FALSE(s.listeners[0].access_default_allow); // with allow, the rest is refused
  CHECK(admits(s, "10.2.3.4"));
  CHECK_FALSE(admits(s, "10.1.3.4")); // the longer deny wins
  CHECK(admits(s, "2001:db8::42"));
  CHECK(admits(s, "192.0.2.7"));       // a bare address is a /32
  CHECK_FALSE(admits(s, "192.0.2.8")); // not listed
  CHECK_FALSE(admits(s, "::1"));
  CHECK(s.listeners[0].max_connections == 10240);
  CHECK(s.listeners[0].max_connections_per_ip == 20);
}

TEST_CASE("access: with only deny (one prefix, no list needed) everyone else is allowed") {
  LoadResult r = load(withListenerKeys("    deny: 203.0.113.0/24\n"));
  INFO(allErrors(r));
  REQUIRE(r.ok());
  const Snapshot& s = *r.snapshot;
  CHECK(s.listeners[0].access_default_allow);
  CHECK_FALSE(admits(s, "203.0.113.9"));
  CHECK(admits(s, "198.51.100.1"));
}

TEST_CASE("access: match.source compiles into the route table") {
  LoadResult r = load(withRoutes("  - {name: office, match: {source: [10.0.0.0/8, "
                                 "'!10.1.0.0/16']}, pool: app}\n"
                                 "  - {name: v6, match: {source: '2001:db8::/32'}, pool: app}\n"
                                 "  - {name: rest, pool: app}\n"));
  INFO(allErrors(r));
  REQUIRE(r.ok());
  CHECK(r.warnings.empty()); // a source-only route is not a catch-all
  const Snapshot& s = *r.snapshot;
  CHECK(routeFrom(s, "10.9.9.9") == 0);
  CHECK(routeFrom(s, "10.1.9.9") == 2);
  CHECK(routeFrom(s, "2001:db8::1") == 1);
  CHECK(routeFrom(s, "192.0.2.1") == 2);
}

TEST_CASE("access: each bad prefix is reported at its position with parseCidr's hint") {
  LoadResult r = load(withListenerKeys("    allow: [10.0.0.1/8, 'foo', '[::1]', 10.0.0.0/33]\n"
                                       "    deny: ['!10.2.0.0/16']\n"));
  CHECK_FALSE(r.ok());
  INFO(allErrors(r));
  CHECK(hasErrorAt(r, "listeners[0].allow[0]", 4, 13,
                   "'10.0.0.1/8': host bits set: did you mean 10.0.0.0/8?"));
  CHECK(hasErrorAt(r, "listeners[0].allow[1]", 4, 25,
                   "'foo': not an IPv4 or IPv6 address; "
                   "write a prefix such as 10.0.0.0/8"));
  CHECK(hasErrorAt(r, "listeners[0].allow[2]", 4, 32, "brackets are not allowed"));
  CHECK(hasErrorAt(r, "listeners[0].allow[3]", 4, 41, "prefix length 33 is over 32"));
  CHECK(hasErrorAt(r, "listeners[0].deny[0]", 5, 12,
                   "'!' (exclude) is for a route's match.source only; to admit 10.2.0.0/16 "
                   "here, list it under allow"));
  CHECK(r.errors.size() == 5);
}

TEST_CASE("access: an unquoted '!prefix' is a YAML tag; the message says to quote it") {
  LoadResult r = load(withRoutes("  - {name: a, match: {source: [10.0.0.0/8, !10.1.0.0/16]}, "
                                 "pool: app}\n"));
  CHECK_FALSE(r.ok());
  INFO(allErrors(r));
  CHECK(hasErrorAt(r, "routes[0].match.source[1]", 8, 44,
                   "YAML reads an unquoted '!10.1.0.0/16' as a tag, not a string: quote it, "
                   "e.g. \"!10.1.0.0/16\""));
}

TEST_CASE("access: a prefix in both allow and deny, or twice, names both positions") {
  LoadResult r = load(withListenerKeys("    allow: [10.0.0.0/8, 192.0.2.0/24]\n"
                                       "    deny:\n"
                                       "      - 10.0.0.0/8\n"
                                       "      - '::ffff:192.0.2.0/120'\n"
                                       "      - 198.51.100.0/24\n"
                                       "      - 198.51.100.0/24\n"));
  CHECK_FALSE(r.ok());
  INFO(allErrors(r));
  CHECK(hasErrorAt(r, "listeners[0].deny[0]", 6, 9,
                   "10.0.0.0/8 is also in listeners[0].allow[0] at 4:13; a prefix may be in "
                   "allow or in deny, not both: remove one"));
  // The same prefix in another spelling is the same prefix.
  CHECK(hasErrorAt(r, "listeners[0].deny[1]", 7, 9,
                   "192.0.2.0/24 is also in listeners[0].allow[1] at 4:25"));
  CHECK(hasErrorAt(r, "listeners[0].deny[3]", 9, 9,
                   "duplicate: 198.51.100.0/24 is already listed (listeners[0].deny[2] at 8:9); "
                   "remove one of them"));
  CHECK(r.errors.size() == 3);
}

TEST_CASE("access: source contradictions and duplicates name both positions") {
  LoadResult r = load(withRoutes("  - name: a\n"
                                 "    match:\n"
                                 "      source:\n"
                                 "        - 10.0.0.0/8\n"
                                 "        - '!10.0.0.0/8'\n"
                                 "        - 10.0.0.0/8\n"
                                 "    pool: app\n"));
  CHECK_FALSE(r.ok());
  INFO(allErrors(r));
  CHECK(hasErrorAt(r, "routes[0].match.source[1]", 12, 11,
                   "'!10.0.0.0/8' contradicts '10.0.0.0/8' (routes[0].match.source[0] at 11:11); "
                   "list the prefix once, with or without '!'"));
  CHECK(hasErrorAt(r, "routes[0].match.source[2]", 13, 11,
                   "duplicate: 10.0.0.0/8 is already listed (routes[0].match.source[0] at "
                   "11:11)"));
}

TEST_CASE("access: empty lists and out-of-range limits say what to write") {
  LoadResult r = load(withListenerKeys("    allow: []\n"
                                       "    deny: []\n"
                                       "    max_connections: 0\n"
                                       "    max_connections_per_ip: 20000000\n"));
  CHECK_FALSE(r.ok());
  INFO(allErrors(r));
  CHECK(hasErrorAt(r, "listeners[0].allow", 4, 5,
                   "empty list: with allow, every address not listed is refused, so this "
                   "refuses every client; list at least one prefix, or remove the key"));
  CHECK(hasErrorAt(r, "listeners[0].deny", 5, 5,
                   "empty list; list at least one prefix, or remove the key"));
  CHECK(hasErrorAt(r, "listeners[0].max_connections", 6, 22,
                   "must be between 1 and 10000000, got 0; remove the key for no limit"));
  CHECK(hasErrorAt(r, "listeners[0].max_connections_per_ip", 7, 29,
                   "must be between 1 and 10000000, got 20000000"));
  LoadResult source = load(withRoutes("  - {name: a, match: {source: []}, pool: app}\n"));
  CHECK(hasErrorAt(source, "routes[0].match.source", 8, 23,
                   "empty list: the route would match no client; list at least one prefix, or "
                   "remove the key"));
  LoadResult shape = load(withListenerKeys("    allow: {a: 1}\n    max_connections: lots\n"));
  CHECK(hasErrorAt(shape, "listeners[0].allow", 4, 12, "expected a list"));
  CHECK(
      hasErrorAt(shape, "listeners[0].max_connections", 5, 22, "expected a non-negative integer"));
}

TEST_CASE("access: warnings for rules that can never apply") {
  LoadResult r = load(withListenerKeys("    deny: ['::1', 10.0.0.0/8]\n"
                                       "    max_connections: 10\n"
                                       "    max_connections_per_ip: 50\n"));
  INFO(allErrors(r));
  REQUIRE(r.ok());
  CHECK(hasWarning(r, "test.yaml:4:12: listeners[0].deny[0]: ::1/128 never matches: listener "
                      "127.0.0.1:0 only accepts IPv4 clients"));
  CHECK(hasWarning(r, "test.yaml:6:29: listeners[0].max_connections_per_ip: "
                      "max_connections_per_ip (50) is above max_connections (10): it never "
                      "applies"));
  CHECK(r.warnings.size() == 2);
  LoadResult v6 = load(withListenerKeys("    allow: [10.0.0.0/8, '::1']\n", "[::1]:0"));
  INFO(allErrors(v6));
  REQUIRE(v6.ok());
  CHECK(hasWarning(v6, "10.0.0.0/8 never matches: listener [::1]:0 only accepts IPv6 clients"));
  LoadResult excl = load(withRoutes("  - {name: a, match: {source: ['!10.0.0.0/8']}, pool: app}\n"
                                    "  - {name: b, pool: app}\n"));
  INFO(allErrors(excl));
  REQUIRE(excl.ok());
  CHECK(hasWarning(excl, "test.yaml:8:23: routes[0].match.source: only exclusions"));
}

TEST_CASE("access: unknown keys next to the new ones are still reported") {
  LoadResult r = load(withListenerKeys("    alow: [10.0.0.0/8]\n"));
  CHECK_FALSE(r.ok());
  INFO(allErrors(r));
  CHECK(hasErrorAt(r, "listeners[0].alow", 4, 5, "did you mean 'allow'?"));
}

} // namespace proxy::config
