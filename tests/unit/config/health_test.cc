// pools[].health_check and pools[].outlier: defaults, every value compiled,
// and each mistake reported at its key with what to write instead.
#include <doctest/doctest.h>

#include <string>

#include "tests/unit/config/test_util.h"

namespace proxy::config {
namespace {

using test::allErrors;
using test::hasErrorAt;
using test::load;

// Lines 1-4: a listener and pool "app"; `keys` (4-space indented) start at
// line 5, followed by servers and a route.
std::string withPoolKeys(std::string_view keys) {
  return "listeners:\n"
         "  - {name: l, address: 127.0.0.1:0}\n"
         "pools:\n"
         "  - name: app\n" +
         std::string(keys) +
         "    servers:\n"
         "      - {name: s1, address: 127.0.0.1:9001}\n"
         "routes:\n"
         "  - {name: r, pool: app}\n";
}

TEST_CASE("health_check and outlier: absent means off; {} means every default") {
  LoadResult off = load(withPoolKeys(""));
  REQUIRE(off.ok());
  CHECK_FALSE(off.snapshot->pools[0].health.enabled);
  CHECK_FALSE(off.snapshot->pools[0].outlier.enabled);
  LoadResult on = load(withPoolKeys("    health_check: {}\n    outlier: {}\n"));
  INFO(allErrors(on));
  REQUIRE(on.ok());
  const Pool& pool = on.snapshot->pools[0];
  CHECK(pool.health.enabled);
  CHECK(pool.health.path == "/healthz");
  CHECK(pool.health.interval_ms == 2000);
  CHECK(pool.health.timeout_ms == 1000);
  CHECK(pool.health.rise == 2);
  CHECK(pool.health.fall == 3);
  CHECK(pool.health.expect_min == 200);
  CHECK(pool.health.expect_max == 399);
  CHECK(pool.outlier.enabled);
  CHECK(pool.outlier.consecutive_failures == 5);
  CHECK(pool.outlier.eject_ms == 30000);
  CHECK(pool.outlier.max_ejected_percent == 50);
}

TEST_CASE("health_check and outlier: every value is compiled") {
  LoadResult r = load(withPoolKeys("    health_check: {path: /ready, host: app.internal, interval: "
                                   "5s, timeout: 500ms, rise: 4, fall: 1, expect_status: 204}\n"
                                   "    outlier: {consecutive_failures: 9, eject_for: 1m, "
                                   "max_ejected_percent: 100}\n"));
  INFO(allErrors(r));
  REQUIRE(r.ok());
  const Pool& pool = r.snapshot->pools[0];
  CHECK(pool.health.path == "/ready");
  CHECK(pool.health.host == "app.internal");
  CHECK(pool.health.interval_ms == 5000);
  CHECK(pool.health.timeout_ms == 500);
  CHECK(pool.health.rise == 4);
  CHECK(pool.health.fall == 1);
  CHECK(pool.health.expect_min == 204);
  CHECK(pool.health.expect_max == 204);
  CHECK(pool.outlier.consecutive_failures == 9);
  CHECK(pool.outlier.eject_ms == 60000);
  CHECK(pool.outlier.max_ejected_percent == 100);
}

TEST_CASE("health_check: mistakes are reported at their keys") {
  LoadResult r = load(withPoolKeys("    health_check:\n"
                                   "      path: healthz\n"
                                   "      host: 'a b'\n"
                                   "      interval: 1s\n"
                                   "      timeout: 2s\n"
                                   "      rise: 0\n"
                                   "      fall: 101\n"
                                   "      expect_status: 400-200\n"
                                   "      expected: 200\n"));
  INFO(allErrors(r));
  CHECK_FALSE(r.ok());
  CHECK(hasErrorAt(r, "pools[0].health_check.path", 6, 13, "must be a path starting with '/'"));
  CHECK(hasErrorAt(r, "pools[0].health_check.host", 7, 13, "no spaces"));
  CHECK(hasErrorAt(r, "pools[0].health_check.timeout", 9, 16,
                   "the check timeout (2000 ms) must not exceed its interval (1000 ms)"));
  CHECK(hasErrorAt(r, "pools[0].health_check.rise", 10, 13, "must be between 1 and 100"));
  CHECK(hasErrorAt(r, "pools[0].health_check.fall", 11, 13, "must be between 1 and 100"));
  CHECK(hasErrorAt(r, "pools[0].health_check.expect_status", 12, 22,
                   "expected statuses within 100-599, low to high, got '400-200'"));
  CHECK(hasErrorAt(r, "pools[0].health_check.expected", 13, 7, "expect_status"));
}

TEST_CASE("outlier: mistakes are reported at their keys") {
  LoadResult r = load(withPoolKeys("    outlier:\n"
                                   "      consecutive_failures: 0\n"
                                   "      eject_for: soon\n"
                                   "      max_ejected_percent: 101\n"));
  INFO(allErrors(r));
  CHECK_FALSE(r.ok());
  CHECK(
      hasErrorAt(r, "pools[0].outlier.consecutive_failures", 6, 29, "must be between 1 and 1000"));
  CHECK(hasErrorAt(r, "pools[0].outlier.eject_for", 7, 18, "duration"));
  CHECK(hasErrorAt(r, "pools[0].outlier.max_ejected_percent", 8, 28, "must be between 0 and 100"));
}

} // namespace
} // namespace proxy::config

namespace proxy::config {
namespace {

using test::allErrors;
using test::hasErrorAt;
using test::load;

TEST_CASE("retries: defaults, an explicit policy, and the new timeouts") {
  LoadResult d = load(withPoolKeys(""));
  REQUIRE(d.ok());
  const Retries& def = d.snapshot->pools[0].retries;
  CHECK(def.attempts == 2);
  CHECK(def.on_connect_failure);
  CHECK(def.on_reset_before_response);
  CHECK_FALSE(def.on_503);
  CHECK(def.budget_percent == 20);
  CHECK(d.snapshot->timeouts.client_body == 30000);
  CHECK(d.snapshot->timeouts.upstream_idle == 30000);
  LoadResult r = load("timeouts: {client_body: 5s, upstream_idle: 2m}\n" +
                      withPoolKeys("    retries: {attempts: 1, on: [503], budget: 35%}\n"
                                   "    max_connections: 100\n"
                                   "    max_pending: 50\n"
                                   "    queue_timeout: 250ms\n"));
  INFO(allErrors(r));
  REQUIRE(r.ok());
  const Pool& pool = r.snapshot->pools[0];
  CHECK(pool.retries.attempts == 1);
  CHECK_FALSE(pool.retries.on_connect_failure);
  CHECK_FALSE(pool.retries.on_reset_before_response);
  CHECK(pool.retries.on_503);
  CHECK(pool.retries.budget_percent == 35);
  CHECK(pool.max_connections == 100);
  CHECK(pool.max_pending == 50);
  CHECK(pool.queue_timeout_ms == 250);
  CHECK(r.snapshot->timeouts.client_body == 5000);
  CHECK(r.snapshot->timeouts.upstream_idle == 120000);
}

TEST_CASE("retries: mistakes are reported at their keys") {
  LoadResult r = load(withPoolKeys("    retries:\n"
                                   "      attempts: 11\n"
                                   "      on: [connect_failure, 502, reset]\n"
                                   "      budget: 120%\n"
                                   "    max_pending: 10\n"));
  INFO(allErrors(r));
  CHECK_FALSE(r.ok());
  CHECK(hasErrorAt(r, "pools[0].retries.attempts", 6, 17, "must be between 0 and 10"));
  CHECK(hasErrorAt(r, "pools[0].retries.on[1]", 7, 29, "unknown retry condition '502'"));
  CHECK(hasErrorAt(r, "pools[0].retries.on[2]", 7, 34, "unknown retry condition 'reset'"));
  CHECK(hasErrorAt(r, "pools[0].retries.budget", 8, 15, "from 0% to 100%, got '120%'"));
  CHECK(hasErrorAt(r, "pools[0].max_pending", 9, 18, "it needs max_connections"));
}

TEST_CASE("slow_start: off by default, a duration, warned about where it cannot apply") {
  LoadResult off = load(withPoolKeys(""));
  REQUIRE(off.ok());
  CHECK(off.snapshot->pools[0].slow_start_ms == 0);

  LoadResult on = load(withPoolKeys("    health_check: {}\n    slow_start: 30s\n"));
  INFO(allErrors(on));
  REQUIRE(on.ok());
  CHECK(on.snapshot->pools[0].slow_start_ms == 30000);
  CHECK(on.warnings.empty());

  // Nothing takes a server out, so nothing ever comes back to ramp.
  LoadResult useless = load(withPoolKeys("    slow_start: 10s\n"));
  REQUIRE(useless.ok());
  REQUIRE(useless.warnings.size() == 1);
  CHECK(useless.warnings[0].find("test.yaml:5:17: pools[0].slow_start: slow_start has no effect "
                                 "without health_check or outlier") == 0);

  LoadResult hash = load(withPoolKeys("    balance: hash\n    hash_key: client_ip\n"
                                      "    outlier: {}\n    slow_start: 10s\n"));
  REQUIRE(hash.ok());
  REQUIRE(hash.warnings.size() == 1);
  CHECK(hash.warnings[0].find("only to requests without the hash_key") != std::string::npos);

  LoadResult bad = load(withPoolKeys("    outlier: {}\n    slow_start: 30\n"));
  CHECK_FALSE(bad.ok());
  CHECK(hasErrorAt(bad, "pools[0].slow_start", 6, 17, "a duration needs a unit"));
  LoadResult long_ramp = load(withPoolKeys("    outlier: {}\n    slow_start: 2000m\n"));
  CHECK(hasErrorAt(long_ramp, "pools[0].slow_start", 6, 17, "must be between 0 ms and"));
}

} // namespace
} // namespace proxy::config
