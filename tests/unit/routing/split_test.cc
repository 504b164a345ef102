#include "routing/split.h"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

using routing::regularizedGammaQ;
using routing::sampleRatioPValue;
using routing::SplitAssigner;

namespace {

constexpr int kKeys = 100000;

std::string userKey(int i) { return "uid-" + std::to_string(i * 2654435761u); }

std::vector<int> tally(const SplitAssigner& s) {
  std::vector<int> counts(s.variants().size(), 0);
  for (int i = 0; i < kKeys; ++i)
    ++counts[s.assign(userKey(i))];
  return counts;
}

// Q(n, x) for integer n: exp(-x) * sum_{k<n} x^k / k!, term by term in log space.
double poissonTail(int n, double x) {
  double q = 0;
  for (int k = 0; k < n; ++k)
    q += std::exp(-x + k * std::log(x) - std::lgamma(k + 1.0));
  return q;
}

} // namespace

TEST_CASE("split: 90/10 over 100k keys within 0.5%") {
  const SplitAssigner s("checkout-v2", {{"control", 90}, {"v2", 10}});
  const auto c = tally(s);
  std::printf("split 90/10 over 100k keys: control %.3f%%, v2 %.3f%%\n", 100.0 * c[0] / kKeys,
              100.0 * c[1] / kKeys);
  CHECK(std::abs(c[0] / double(kKeys) - 0.9) < 0.005);
  CHECK(std::abs(c[1] / double(kKeys) - 0.1) < 0.005);
}

TEST_CASE("split: three variants 70/20/10 within 0.5%") {
  const auto c = tally(SplitAssigner("exp", {{"a", 7}, {"b", 2}, {"c", 1}}));
  CHECK(std::abs(c[0] / double(kKeys) - 0.7) < 0.005);
  CHECK(std::abs(c[1] / double(kKeys) - 0.2) < 0.005);
  CHECK(std::abs(c[2] / double(kKeys) - 0.1) < 0.005);
}

TEST_CASE("split: the same key always gets the same variant, in every assigner") {
  const SplitAssigner a("checkout-v2", {{"control", 90}, {"v2", 10}});
  const SplitAssigner b("checkout-v2", {{"control", 90}, {"v2", 10}});
  for (int i = 0; i < 10000; ++i) {
    const size_t v = a.assign(userKey(i));
    REQUIRE(a.assign(userKey(i)) == v);
    REQUIRE(b.assign(userKey(i)) == v);
  }
  // A fixed answer: the same on every build and machine.
  CHECK(a.assign("alice") == a.assign(std::string("alice")));
}

TEST_CASE("split: 90/10 -> 80/20 moves only control users into v2, 10% of them") {
  const SplitAssigner before("checkout-v2", {{"control", 90}, {"v2", 10}});
  const SplitAssigner after("checkout-v2", {{"control", 80}, {"v2", 20}});
  int moved = 0, wrong_way = 0;
  for (int i = 0; i < kKeys; ++i) {
    const size_t b = before.assign(userKey(i)), a = after.assign(userKey(i));
    if (a == b) continue;
    ++moved;
    if (!(b == 0 && a == 1)) ++wrong_way;
  }
  std::printf("split 90/10 -> 80/20: %.3f%% of keys moved control -> v2\n", 100.0 * moved / kKeys);
  CHECK(wrong_way == 0);
  CHECK(std::abs(moved / double(kKeys) - 0.1) < 0.005);
}

TEST_CASE("split: different experiments assign independently") {
  const SplitAssigner x("exp-one", {{"a", 1}, {"b", 1}});
  const SplitAssigner y("exp-two", {{"a", 1}, {"b", 1}});
  int agree = 0;
  for (int i = 0; i < kKeys; ++i)
    agree += x.assign(userKey(i)) == y.assign(userKey(i));
  CHECK(std::abs(agree / double(kKeys) - 0.5) < 0.01);
}

TEST_CASE("split: a weight-0 variant gets nothing, its neighbours split the rest") {
  const auto c = tally(SplitAssigner("exp", {{"a", 1}, {"off", 0}, {"b", 1}}));
  CHECK(c[1] == 0);
  CHECK(std::abs(c[0] / double(kKeys) - 0.5) < 0.01);
  CHECK(tally(SplitAssigner("exp", {{"off", 0}, {"all", 3}}))[0] == 0);
}

TEST_CASE("split: find() matches exact names; expectedShares() sums to 1") {
  const SplitAssigner s("exp", {{"control", 90}, {"v2", 10}});
  CHECK(s.find("control") == 0);
  CHECK(s.find("v2") == 1);
  CHECK(s.find("V2") == -1);
  CHECK(s.find("v") == -1);
  CHECK(s.find("") == -1);
  const auto shares = s.expectedShares();
  REQUIRE(shares.size() == 2);
  CHECK(shares[0] == doctest::Approx(0.9));
  CHECK(shares[1] == doctest::Approx(0.1));
  CHECK(SplitAssigner("exp", {{"a", 0}}).expectedShares() == std::vector<double>{0.0});
  CHECK(SplitAssigner("exp", {{"a", 0}, {"b", 0}}).assign("k") == 0);
}

TEST_CASE("sampleRatioPValue: a perfect split is ~1, a 850/150 split of 90/10 is < 1e-6") {
  const std::vector<double> shares = {0.9, 0.1};
  CHECK(sampleRatioPValue(std::vector<uint64_t>{900, 100}, shares) == doctest::Approx(1.0));
  CHECK(sampleRatioPValue(std::vector<uint64_t>{850, 150}, shares) < 1e-6);
  // Unnormalised shares (raw weights) give the same answer.
  CHECK(sampleRatioPValue(std::vector<uint64_t>{850, 150}, std::vector<double>{90, 10}) ==
        doctest::Approx(sampleRatioPValue(std::vector<uint64_t>{850, 150}, shares)));
  // chi2 = 20^2/900 + 20^2/100 = 4.444, df 1 -> p = 0.03501.
  CHECK(sampleRatioPValue(std::vector<uint64_t>{880, 120}, shares) ==
        doctest::Approx(0.035015).epsilon(1e-4));
}

TEST_CASE("sampleRatioPValue: edge cases") {
  const std::vector<double> shares = {0.5, 0.0, 0.5};
  CHECK(sampleRatioPValue(std::vector<uint64_t>{50, 1, 50}, shares) == 0.0);
  CHECK(sampleRatioPValue(std::vector<uint64_t>{50, 0, 50}, shares) == doctest::Approx(1.0));
  CHECK(sampleRatioPValue(std::vector<uint64_t>{0, 0, 0}, shares) == 1.0);
  CHECK(sampleRatioPValue(std::vector<uint64_t>{10}, std::vector<double>{1.0}) == 1.0);
  CHECK(sampleRatioPValue(std::vector<uint64_t>{10, 0}, std::vector<double>{1.0, 0.0}) == 1.0);
  CHECK(sampleRatioPValue(std::vector<uint64_t>{10, 5}, std::vector<double>{1.0}) == 1.0);
}

TEST_CASE("regularizedGammaQ: chi-square critical values at p = 0.05 and 0.01") {
  auto chi2Sf = [](double chi2, int df) { return regularizedGammaQ(df / 2.0, chi2 / 2.0); };
  CHECK(std::abs(chi2Sf(3.841, 1) - 0.05) < 1e-3);
  CHECK(std::abs(chi2Sf(5.991, 2) - 0.05) < 1e-3);
  CHECK(std::abs(chi2Sf(7.815, 3) - 0.05) < 1e-3);
  CHECK(std::abs(chi2Sf(18.307, 10) - 0.05) < 1e-3);
  CHECK(std::abs(chi2Sf(6.635, 1) - 0.01) < 1e-3);
  CHECK(std::abs(chi2Sf(9.210, 2) - 0.01) < 1e-3);
}

TEST_CASE("regularizedGammaQ: closed forms to 1e-10 on both branches") {
  for (double x : {0.01, 0.3, 1.0, 2.5, 7.0, 30.0, 200.0}) {
    CAPTURE(x);
    CHECK(std::abs(regularizedGammaQ(1.0, x) - std::exp(-x)) < 1e-10);
    CHECK(std::abs(regularizedGammaQ(0.5, x) - std::erfc(std::sqrt(x))) < 1e-10);
    for (int n : {2, 5, 10, 50, 100}) {
      CAPTURE(n);
      CHECK(std::abs(regularizedGammaQ(n, x) - poissonTail(n, x)) < 1e-10);
    }
  }
  CHECK(regularizedGammaQ(3.0, 0.0) == 1.0);
  CHECK(regularizedGammaQ(3.0, INFINITY) == 0.0);
  CHECK(std::isnan(regularizedGammaQ(0.0, 1.0)));
  CHECK(std::isnan(regularizedGammaQ(1.0, -1.0)));
}
