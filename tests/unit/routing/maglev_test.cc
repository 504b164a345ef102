#include "routing/pool_balancer.h"
#include "routing/stable_hash.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <vector>

using routing::MaglevTable;
using routing::ServerInfo;

namespace {

constexpr int kKeys = 100000;

uint64_t keyAt(int i) { return routing::stableHash("maglev-test-key-" + std::to_string(i)); }

std::vector<ServerInfo> named(int n, const std::string& prefix = "app-") {
  std::vector<ServerInfo> out;
  for (int i = 0; i < n; ++i)
    out.push_back({prefix + std::to_string(i), 1});
  return out;
}

// Server name for each of kKeys keys ("" when none).
std::vector<std::string> assignment(const std::vector<ServerInfo>& servers,
                                    std::vector<uint8_t> excluded = {}) {
  const MaglevTable table(servers);
  std::vector<std::string> out;
  out.reserve(kKeys);
  for (int i = 0; i < kKeys; ++i) {
    int s = table.lookup(keyAt(i), excluded);
    out.push_back(s < 0 ? "" : servers[static_cast<size_t>(s)].name);
  }
  return out;
}

std::map<std::string, int> histogram(const std::vector<std::string>& a) {
  std::map<std::string, int> h;
  for (const auto& s : a)
    ++h[s];
  return h;
}

} // namespace

TEST_CASE("maglev: equal weights give 20% each of 100k keys within 2%") {
  for (const auto& [name, count] : histogram(assignment(named(5)))) {
    CAPTURE(name);
    CHECK(std::abs(static_cast<double>(count) / kKeys - 0.2) < 0.02);
  }
}

TEST_CASE("maglev: weights 1 and 2 give 1/3 and 2/3 of keys within 2%") {
  auto h = histogram(assignment({{"a", 1}, {"b", 2}}));
  CHECK(std::abs(h["a"] / double(kKeys) - 1.0 / 3) < 0.02);
  CHECK(std::abs(h["b"] / double(kKeys) - 2.0 / 3) < 0.02);
}

TEST_CASE("maglev: table entries are split by weight to within 2 slots") {
  const std::vector<ServerInfo> servers = {{"a", 1}, {"b", 2}, {"c", 7}, {"z", 0}};
  const MaglevTable table(servers, 5003);
  REQUIRE(table.size() == 5003);
  std::vector<int> slots(4, 0);
  for (uint64_t slot = 0; slot < table.size(); ++slot)
    ++slots[static_cast<size_t>(table.lookup(slot, {}))];
  CHECK(std::abs(slots[0] - 500.3) <= 2);
  CHECK(std::abs(slots[1] - 1000.6) <= 2);
  CHECK(std::abs(slots[2] - 3502.1) <= 2);
  CHECK(slots[3] == 0);
}

TEST_CASE("maglev: a size that is not prime is rounded up to the next prime") {
  CHECK(MaglevTable(named(3)).size() == MaglevTable::kDefaultSize);
  CHECK(MaglevTable(named(3), 5000).size() == 5003);
}

TEST_CASE("maglev: no servers or only weight 0 -> -1") {
  CHECK(MaglevTable({}).lookup(1, {}) == -1);
  CHECK(MaglevTable({{"a", 0}, {"b", 0}}).lookup(1, {}) == -1);
}

TEST_CASE("maglev: removing one of 10 servers moves about 1/10 of keys, nearly all its own") {
  const auto before = assignment(named(10));
  auto fewer = named(10);
  fewer.erase(fewer.begin() + 3);
  const auto after = assignment(fewer);
  int moved = 0, collateral = 0;
  for (int i = 0; i < kKeys; ++i) {
    if (before[i] == after[i]) continue;
    ++moved;
    if (before[i] != "app-3") ++collateral;
  }
  std::printf("maglev remove 1 of 10: moved %.4f%%, of which not from the removed server %.4f%%\n",
              100.0 * moved / kKeys, 100.0 * collateral / kKeys);
  CHECK(moved / double(kKeys) <= 0.1 + 0.03);
  CHECK(collateral / double(kKeys) <= 0.01);
  // Every key of the removed server moved, obviously; it is spread over the rest.
  std::set<std::string> receivers;
  for (int i = 0; i < kKeys; ++i)
    if (before[i] == "app-3") receivers.insert(after[i]);
  CHECK(receivers.size() == 9);
}

TEST_CASE("maglev: adding an 11th server moves about 1/11 of keys, nearly all to it") {
  const auto before = assignment(named(10));
  auto more = named(10);
  more.push_back({"app-10", 1});
  const auto after = assignment(more);
  int moved = 0, collateral = 0;
  for (int i = 0; i < kKeys; ++i) {
    if (before[i] == after[i]) continue;
    ++moved;
    if (after[i] != "app-10") ++collateral;
  }
  std::printf("maglev add 11th to 10: moved %.4f%%, of which not to the new server %.4f%%\n",
              100.0 * moved / kKeys, 100.0 * collateral / kKeys);
  CHECK(moved / double(kKeys) <= 1.0 / 11 + 0.03);
  CHECK(moved / double(kKeys) >= 1.0 / 11 - 0.02);
  CHECK(collateral / double(kKeys) <= 0.01);
}

TEST_CASE("maglev: an excluded server's keys fall to a stable alternative; others stay put") {
  const auto servers = named(5);
  const auto normal = assignment(servers);
  const std::vector<uint8_t> excluded = {0, 0, 1, 0, 0};
  const auto degraded = assignment(servers, excluded);
  CHECK(degraded == assignment(servers, excluded)); // stable, also across tables
  std::set<std::string> receivers;
  for (int i = 0; i < kKeys; ++i) {
    CHECK(degraded[i] != "app-2");
    if (normal[i] != "app-2")
      CHECK(degraded[i] == normal[i]);
    else
      receivers.insert(degraded[i]);
  }
  CHECK(receivers.size() == 4); // spread, not piled onto one neighbour
  CHECK(assignment(servers, {1, 1, 1, 1, 1}) == std::vector<std::string>(kKeys, ""));
}

TEST_CASE("maglev: two tables from the same config agree on every slot") {
  const auto servers = named(7);
  const MaglevTable a(servers), b(servers);
  for (uint64_t slot = 0; slot < a.size(); ++slot)
    REQUIRE(a.lookup(slot, {}) == b.lookup(slot, {}));
}

TEST_CASE("maglev: the result does not depend on the order of the server list") {
  std::vector<ServerInfo> servers = {{"web-a", 3}, {"web-b", 1}, {"web-c", 2}, {"web-d", 1}};
  const auto expected = assignment(servers);
  std::sort(servers.begin(), servers.end(),
            [](const ServerInfo& x, const ServerInfo& y) { return x.name > y.name; });
  CHECK(assignment(servers) == expected);
  std::rotate(servers.begin(), servers.begin() + 1, servers.end());
  CHECK(assignment(servers) == expected);
}
