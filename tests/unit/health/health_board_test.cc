// HealthBoard: active-check verdicts, outlier ejection and slow start, driven
// with an explicit clock (no loop, no sockets).
#include "proxy/health/health_board.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "proxy/config/load.h"

namespace proxy {
namespace {

// A pool "app" of three servers with the given pool keys (4-space indented).
std::shared_ptr<const config::Snapshot> snapshotWith(const std::string& keys) {
  config::LoadResult r = config::loadString("listeners:\n"
                                            "  - {name: l, address: 127.0.0.1:0}\n"
                                            "pools:\n"
                                            "  - name: app\n" +
                                                keys +
                                                "    servers:\n"
                                                "      - {name: s0, address: 127.0.0.1:9001}\n"
                                                "      - {name: s1, address: 127.0.0.1:9002}\n"
                                                "      - {name: s2, address: 127.0.0.1:9003}\n"
                                                "routes:\n"
                                                "  - {name: r, pool: app}\n",
                                            "test.yaml");
  REQUIRE(r.ok());
  return r.snapshot;
}

// Brings server `s` down with `fall` failed checks and up with `rise` good
// ones, the last at `up_ms`.
void bounce(HealthBoard& board, size_t s, const config::HealthCheck& hc, uint64_t up_ms) {
  for (uint32_t i = 0; i < hc.fall; ++i)
    board.recordCheck(0, s, false, up_ms - 1000);
  REQUIRE_FALSE(board.checkUp(0, s));
  for (uint32_t i = 0; i < hc.rise; ++i)
    board.recordCheck(0, s, true, up_ms);
  REQUIRE(board.checkUp(0, s));
}

TEST_CASE("health board: fall failed checks take a server out, rise good ones bring it back") {
  auto snap = snapshotWith("    health_check: {rise: 2, fall: 3}\n");
  HealthBoard board(*snap);
  std::vector<uint8_t> excluded(3, kEligible);
  CHECK(board.exclude(0, 1000, excluded) == 3);
  CHECK_FALSE(board.recordCheck(0, 1, false, 1000));
  CHECK_FALSE(board.recordCheck(0, 1, false, 2000));
  CHECK(board.recordCheck(0, 1, false, 3000)); // the third: down
  CHECK(board.exclude(0, 3000, excluded) == 2);
  CHECK(excluded == std::vector<uint8_t>{kEligible, kDown, kEligible});
  CHECK_FALSE(board.recordCheck(0, 1, true, 4000));
  CHECK(board.recordCheck(0, 1, true, 5000)); // the second good one: up
  std::vector<uint8_t> again(3, kEligible);
  CHECK(board.exclude(0, 5000, again) == 3);
}

TEST_CASE("slow start: off, nothing ramps; on, nothing ramps before a server comes back") {
  auto off = snapshotWith("    health_check: {}\n");
  HealthBoard plain(*off);
  std::vector<uint16_t> ramp(3, 7);
  bounce(plain, 0, off->pools[0].health, 10000);
  CHECK_FALSE(plain.ramp(0, 10001, ramp));
  CHECK(ramp == std::vector<uint16_t>(3, 7)); // untouched

  auto on = snapshotWith("    health_check: {}\n    slow_start: 10s\n");
  HealthBoard board(*on);
  CHECK_FALSE(board.ramp(0, 0, ramp)); // at start every server is at full weight
  CHECK_FALSE(board.ramp(0, 50000, ramp));
}

TEST_CASE("slow start: a server back from down ramps from 10% to all of its weight") {
  auto snap = snapshotWith("    health_check: {}\n    slow_start: 10s\n");
  HealthBoard board(*snap);
  bounce(board, 1, snap->pools[0].health, 100000);
  std::vector<uint16_t> ramp(3, 0);
  REQUIRE(board.ramp(0, 100000, ramp));
  CHECK(ramp == std::vector<uint16_t>{1000, 100, 1000});
  REQUIRE(board.ramp(0, 105000, ramp)); // half way: 100 + 900 / 2
  CHECK(ramp[1] == 550);
  REQUIRE(board.ramp(0, 109999, ramp));
  CHECK(ramp[1] == 999);
  CHECK_FALSE(board.ramp(0, 110000, ramp)); // done: back to the one-load fast path
}

TEST_CASE("slow start: an ejected server ramps from the end of its ejection") {
  auto snap = snapshotWith("    outlier: {consecutive_failures: 2, eject_for: 5s, "
                           "max_ejected_percent: 50}\n    slow_start: 4s\n");
  HealthBoard board(*snap);
  CHECK_FALSE(board.reportFailure(0, 2, 1000));
  CHECK(board.reportFailure(0, 2, 1000)); // ejected until 6000
  std::vector<uint8_t> excluded(3, kEligible);
  CHECK(board.exclude(0, 3000, excluded) == 2);
  std::vector<uint16_t> ramp(3, 0);
  CHECK_FALSE(board.ramp(0, 3000, ramp)); // still out: excluded, not ramping
  REQUIRE(board.ramp(0, 6000, ramp));
  CHECK(ramp == std::vector<uint16_t>{1000, 1000, 100});
  REQUIRE(board.ramp(0, 8000, ramp));
  CHECK(ramp[2] == 550);
  CHECK_FALSE(board.ramp(0, 10000, ramp));
}

TEST_CASE("outlier: never more than max_ejected_percent of the pool at once") {
  auto snap = snapshotWith("    outlier: {consecutive_failures: 1, eject_for: 5s, "
                           "max_ejected_percent: 34}\n");
  HealthBoard board(*snap);
  CHECK(board.reportFailure(0, 0, 1000));       // 1 of 3 = 33%: allowed
  CHECK_FALSE(board.reportFailure(0, 1, 1000)); // 2 of 3 would be 67%
  CHECK(board.available(0, 1, 1000));
  CHECK_FALSE(board.available(0, 0, 1000));
  CHECK(board.available(0, 0, 6000)); // the ejection ended
}

} // namespace
} // namespace proxy

namespace proxy {
namespace {

TEST_CASE("admin state: drain and maint exclude a server, ready brings it back; weights") {
  auto snap = snapshotWith("");
  HealthBoard board(*snap);
  std::vector<uint8_t> excluded(3, kEligible);
  board.setAdminState(0, 1, AdminState::kDrain);
  board.setAdminState(0, 1, AdminState::kMaint); // out -> out: counted once
  board.setAdminState(0, 2, AdminState::kDrain);
  CHECK(board.exclude(0, 1000, excluded) == 1);
  CHECK(excluded == std::vector<uint8_t>{kEligible, kDown, kDown});
  CHECK_FALSE(board.available(0, 2, 1000));
  board.setAdminState(0, 1, AdminState::kReady);
  board.setAdminState(0, 2, AdminState::kReady);
  std::vector<uint8_t> again(3, kEligible);
  CHECK(board.exclude(0, 1000, again) == 3); // the fast path again: nobody is out

  const std::vector<uint32_t> configured = {1, 2, 3};
  std::vector<uint32_t> weights(3, 0);
  CHECK_FALSE(board.weights(0, configured, weights));
  board.setWeight(0, 0, 7);
  REQUIRE(board.weights(0, configured, weights));
  CHECK(weights == std::vector<uint32_t>{7, 2, 3});
  board.setWeight(0, 0, 0); // back to the configured weight
  CHECK_FALSE(board.weights(0, configured, weights));
}

TEST_CASE("reload: inherit carries down, ejected and the operator's state by pool, name and "
          "address") {
  auto before = snapshotWith("    health_check: {fall: 1}\n    outlier: {consecutive_failures: 1, "
                             "max_ejected_percent: 100}\n");
  HealthBoard old(*before);
  old.recordCheck(0, 0, false, 1000);   // s0 down
  CHECK(old.reportFailure(0, 1, 1000)); // s1 ejected
  old.setAdminState(0, 2, AdminState::kDrain);
  old.setWeight(0, 2, 5);
  auto after = snapshotWith("    health_check: {fall: 1}\n    outlier: {consecutive_failures: 1, "
                            "max_ejected_percent: 100}\n");
  HealthBoard next(*after);
  next.inherit(old, *before, *after);
  std::vector<uint8_t> excluded(3, kEligible);
  CHECK(next.exclude(0, 2000, excluded) == 0);
  CHECK_FALSE(next.checkUp(0, 0));
  CHECK(next.ejected(0, 1, 2000));
  CHECK(next.adminState(0, 2) == AdminState::kDrain);
  CHECK(next.weightOverride(0, 2) == 5);

  // Without checks in the new config, a server down by checks comes back.
  auto unchecked = snapshotWith("");
  HealthBoard plain(*unchecked);
  plain.inherit(old, *before, *unchecked);
  CHECK(plain.checkUp(0, 0));
  CHECK_FALSE(plain.ejected(0, 1, 2000));
  CHECK(plain.adminState(0, 2) == AdminState::kDrain); // the operator's choice stays
}

} // namespace
} // namespace proxy
