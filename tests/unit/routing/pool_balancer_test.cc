#include "routing/pool_balancer.h"
#include "routing/stable_hash.h"

#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

using routing::BalanceKind;
using routing::makePoolBalancer;
using routing::PickInput;
using routing::ServerInfo;

namespace {

std::vector<ServerInfo> servers(const std::vector<uint32_t>& weights) {
  std::vector<ServerInfo> out;
  for (size_t i = 0; i < weights.size(); ++i)
    out.push_back({"s" + std::to_string(i), weights[i]});
  return out;
}

// Counts picks per server over `n` picks; a key per pick for kHash.
std::vector<int> countPicks(BalanceKind kind, const std::vector<uint32_t>& weights, int n,
                            std::vector<uint8_t> excluded = {}, std::vector<uint32_t> active = {}) {
  auto b = makePoolBalancer(kind, servers(weights), 42);
  std::vector<int> counts(weights.size() + 1, 0); // last = "-1"
  for (int i = 0; i < n; ++i) {
    PickInput in{
        excluded, active, kind == BalanceKind::kHash, routing::stableHash("k" + std::to_string(i)),
        {},       {}};
    int p = b->pick(in);
    REQUIRE(p >= -1);
    REQUIRE(p < static_cast<int>(weights.size()));
    ++counts[p < 0 ? weights.size() : static_cast<size_t>(p)];
  }
  return counts;
}

const BalanceKind kAllKinds[] = {BalanceKind::kRoundRobin, BalanceKind::kLeastConn,
                                 BalanceKind::kRandomTwo, BalanceKind::kHash};

} // namespace

TEST_CASE("round_robin: exact weighted shares over one full cycle") {
  auto c = countPicks(BalanceKind::kRoundRobin, {1, 2, 3, 4}, 1000);
  CHECK(c == std::vector<int>{100, 200, 300, 400, 0});
}

TEST_CASE("round_robin: an excluded server is skipped and the rest keep their ratio") {
  auto c = countPicks(BalanceKind::kRoundRobin, {1, 2, 3}, 400, {0, 1, 0});
  CHECK(c == std::vector<int>{100, 0, 300, 0});
}

TEST_CASE("every kind: weight 0 is never picked, all excluded or no server gives -1") {
  for (BalanceKind kind : kAllKinds) {
    CAPTURE(static_cast<int>(kind));
    auto c = countPicks(kind, {0, 1, 0, 3}, 4000);
    CHECK(c[0] == 0);
    CHECK(c[2] == 0);
    CHECK(c[4] == 0);
    CHECK(c[1] + c[3] == 4000);
    CHECK(countPicks(kind, {1, 2, 3}, 50, {1, 1, 1})[3] == 50);
    CHECK(countPicks(kind, {0, 0}, 50)[2] == 50);
    CHECK(countPicks(kind, {}, 50)[0] == 50);
    // Only weight-0 servers left eligible: still -1.
    CHECK(countPicks(kind, {0, 5}, 50, {0, 1})[2] == 50);
  }
}

TEST_CASE("every kind: exclusions are respected, a short excluded span means eligible") {
  for (BalanceKind kind : kAllKinds) {
    CAPTURE(static_cast<int>(kind));
    auto c = countPicks(kind, {1, 1, 1, 1}, 4000, {1, 0, 1});
    CHECK(c[0] == 0);
    CHECK(c[2] == 0);
    CHECK(c[1] > 0);
    CHECK(c[3] > 0);
    CHECK(c[1] + c[3] == 4000);
  }
}

TEST_CASE("least_conn: picks the least loaded relative to weight") {
  // 2/1 = 2 vs 3/4 = 0.75: the busier-in-absolute server 1 is less loaded.
  CHECK(countPicks(BalanceKind::kLeastConn, {1, 4}, 10, {}, {2, 3})[1] == 10);
  CHECK(countPicks(BalanceKind::kLeastConn, {1, 1, 3}, 10, {}, {4, 1, 9})[1] == 10);
  // The least loaded is excluded: the next one.
  CHECK(countPicks(BalanceKind::kLeastConn, {1, 1, 3}, 10, {0, 1}, {4, 1, 9})[2] == 10);
  // Large counts and weights: exact integer comparison, no overflow.
  CHECK(countPicks(BalanceKind::kLeastConn, {4000000000u, 3999999999u}, 5, {},
                   {4000000000u, 3999999998u})[1] == 5);
}

TEST_CASE("least_conn: ties spread by weight (smooth round robin among the tied)") {
  // 3/1 == 9/3: servers 1 and 2 tie, server 0 is busier.
  CHECK(countPicks(BalanceKind::kLeastConn, {1, 1, 3}, 400, {}, {5, 3, 9}) ==
        std::vector<int>{0, 100, 300, 0});
  // No active counts at all: plain weighted round robin.
  CHECK(countPicks(BalanceKind::kLeastConn, {1, 2, 3}, 600) == std::vector<int>{100, 200, 300, 0});
}

TEST_CASE("random_two: with equal load, 100k picks follow the weights within 1.5%") {
  const std::vector<uint32_t> w = {1, 2, 3, 4};
  const int n = 100000;
  // No load at all, and load proportional to weight (equal active/weight).
  for (const auto& active : {std::vector<uint32_t>{}, std::vector<uint32_t>{7, 14, 21, 28}}) {
    auto c = countPicks(BalanceKind::kRandomTwo, w, n, {}, active);
    for (size_t i = 0; i < w.size(); ++i) {
      CAPTURE(i);
      CHECK(std::abs(static_cast<double>(c[i]) / n - w[i] / 10.0) < 0.015);
    }
  }
}

TEST_CASE("random_two: prefers the idle server and never picks the busiest") {
  const int n = 100000;
  // Equal weights: the idle server wins whenever it is one of the two draws,
  // P = 1 - (3/4)(2/3) = 1/2; the busiest wins no pair at all.
  auto c = countPicks(BalanceKind::kRandomTwo, {1, 1, 1, 1}, n, {}, {0, 10, 20, 30});
  CHECK(std::abs(static_cast<double>(c[0]) / n - 0.5) < 0.015);
  CHECK(c[3] == 0);
  // Two servers: the two draws are distinct, so the idle one always wins.
  CHECK(countPicks(BalanceKind::kRandomTwo, {1, 1}, 1000, {}, {0, 1})[0] == 1000);
  // One eligible server: it.
  CHECK(countPicks(BalanceKind::kRandomTwo, {1, 1, 1}, 100, {1, 0, 1}, {0, 9, 0})[1] == 100);
}

TEST_CASE("random_two: the seed decides the sequence") {
  auto run = [](uint64_t seed) {
    auto b = makePoolBalancer(BalanceKind::kRandomTwo, servers({1, 1, 1, 1, 1}), seed);
    std::string seq;
    for (int i = 0; i < 64; ++i)
      seq += static_cast<char>('0' + b->pick({}));
    return seq;
  };
  CHECK(run(7) == run(7));
  CHECK(run(7) != run(8));
}

TEST_CASE("hash: a key picks its Maglev server; no key falls back to round robin") {
  const auto list = servers({1, 2, 3});
  const routing::MaglevTable table(list);
  auto b = makePoolBalancer(BalanceKind::kHash, list, 1);
  for (int i = 0; i < 1000; ++i) {
    const uint64_t key = routing::stableHash("user" + std::to_string(i));
    CHECK(b->pick({{}, {}, true, key, {}, {}}) == table.lookup(key, {}));
    CHECK(b->pick({{}, {}, true, key, {}, {}}) == b->pick({{}, {}, true, key, {}, {}}));
  }
  std::vector<int> counts(3, 0);
  for (int i = 0; i < 600; ++i)
    ++counts[static_cast<size_t>(b->pick({}))];
  CHECK(counts == std::vector<int>{100, 200, 300});
}

// Slow start: PickInput::ramp scales each server's weight (thousandths).
TEST_CASE("slow start: every algorithm gives a ramping server its share of its weight") {
  const std::vector<uint16_t> ramp = {250, routing::kFullRamp}; // s0 at a quarter
  for (BalanceKind kind : kAllKinds) {
    CAPTURE(static_cast<int>(kind));
    auto b = makePoolBalancer(kind, servers({1, 1}), 9);
    std::vector<int> counts(2, 0);
    const int n = 5000;
    for (int i = 0; i < n; ++i) {
      PickInput in{{}, {}, false, 0, ramp, {}}; // hash: no key, the ramp applies
      ++counts[static_cast<size_t>(b->pick(in))];
    }
    // Weights 0.25 : 1 -> s0 gets 1/5 of the picks (random_two: each draw
    // by weight, then the less loaded of two idle servers is the first).
    CHECK(std::abs(static_cast<double>(counts[0]) / n - 0.2) < 0.02);
  }
}

TEST_CASE("slow start: round robin shares are exact, and a full ramp changes nothing") {
  auto b = makePoolBalancer(BalanceKind::kRoundRobin, servers({1, 2, 1}), 1);
  const std::vector<uint16_t> ramp = {500, 1000, 1000}; // 0.5 : 2 : 1
  std::vector<int> counts(3, 0);
  for (int i = 0; i < 700; ++i)
    ++counts[static_cast<size_t>(b->pick({{}, {}, false, 0, ramp, {}}))];
  CHECK(counts == std::vector<int>{100, 400, 200});
  const std::vector<uint16_t> full = {1000, 1000, 1000};
  CHECK(countPicks(BalanceKind::kRoundRobin, {1, 2, 1}, 400) == std::vector<int>{100, 200, 100, 0});
  auto c = makePoolBalancer(BalanceKind::kRoundRobin, servers({1, 2, 1}), 1);
  std::vector<int> with_full(3, 0);
  for (int i = 0; i < 400; ++i)
    ++with_full[static_cast<size_t>(c->pick({{}, {}, false, 0, full, {}}))];
  CHECK(with_full == std::vector<int>{100, 200, 100});
}

TEST_CASE("slow start: least_conn compares load against the ramped weight") {
  auto b = makePoolBalancer(BalanceKind::kLeastConn, servers({1, 1}), 1);
  // s0 has 1 active at a tenth of its weight (load 10); s1 has 5 at full (load 5).
  const std::vector<uint32_t> active = {1, 5};
  const std::vector<uint16_t> ramp = {100, 1000};
  CHECK(b->pick({{}, active, false, 0, ramp, {}}) == 1);
  CHECK(b->pick({{}, active, false, 0, {}, {}}) == 0); // without the ramp s0 is less loaded
}

TEST_CASE("slow start: a keyed hash pick keeps its server") {
  const auto list = servers({1, 1, 1});
  const routing::MaglevTable table(list);
  auto b = makePoolBalancer(BalanceKind::kHash, list, 1);
  const std::vector<uint16_t> ramp = {100, 100, 100};
  for (int i = 0; i < 200; ++i) {
    const uint64_t key = routing::stableHash("user" + std::to_string(i));
    CHECK(b->pick({{}, {}, true, key, ramp, {}}) == table.lookup(key, {}));
  }
}

TEST_CASE("run-time weights replace the configured ones, with the ramp on top") {
  const std::vector<uint32_t> weights = {3, 1}; // configured 1 : 1
  for (BalanceKind kind : {BalanceKind::kRoundRobin, BalanceKind::kRandomTwo}) {
    CAPTURE(static_cast<int>(kind));
    auto b = makePoolBalancer(kind, servers({1, 1}), 5);
    std::vector<int> counts(2, 0);
    for (int i = 0; i < 4000; ++i)
      ++counts[static_cast<size_t>(b->pick({{}, {}, false, 0, {}, weights}))];
    CHECK(std::abs(static_cast<double>(counts[0]) / 4000 - 0.75) < 0.03);
  }
  auto rr = makePoolBalancer(BalanceKind::kRoundRobin, servers({1, 1}), 5);
  const std::vector<uint16_t> ramp = {500, 1000}; // 3 x 0.5 : 1 -> 60%
  std::vector<int> counts(2, 0);
  for (int i = 0; i < 500; ++i)
    ++counts[static_cast<size_t>(rr->pick({{}, {}, false, 0, ramp, weights}))];
  CHECK(counts == std::vector<int>{300, 200});
}
