#include "routing/balancer.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using routing::SmoothWeightedRoundRobin;

TEST_CASE("swrr: weights {1,2} over 300 picks give exactly 100 and 200") {
  SmoothWeightedRoundRobin rr({1, 2});
  int counts[2] = {0, 0};
  for (int i = 0; i < 300; ++i) {
    int pick = rr.pick();
    REQUIRE(pick >= 0);
    REQUIRE(pick < 2);
    ++counts[pick];
  }
  CHECK(counts[0] == 100);
  CHECK(counts[1] == 200);
}

TEST_CASE("swrr: weights {1,2} interleave rather than burst") {
  SmoothWeightedRoundRobin rr({1, 2});
  std::string seq;
  for (int i = 0; i < 6; ++i)
    seq += static_cast<char>('a' + rr.pick());
  CHECK(seq == "babbab");
}

TEST_CASE("swrr: the nginx example 5/1/1 gives a,a,b,a,c,a,a") {
  SmoothWeightedRoundRobin rr({5, 1, 1});
  CHECK(rr.size() == 3);
  std::string seq;
  for (int i = 0; i < 14; ++i)
    seq += static_cast<char>('a' + rr.pick());
  CHECK(seq == "aabacaaaabacaa");
}

TEST_CASE("swrr: ineligible servers are skipped and the rest keep their ratio") {
  SmoothWeightedRoundRobin rr({3, 1, 1});
  int counts[3] = {0, 0, 0};
  for (int i = 0; i < 200; ++i) {
    int pick = rr.pick([](size_t i) { return i != 0; });
    REQUIRE(pick >= 1);
    ++counts[pick];
  }
  CHECK(counts[0] == 0);
  CHECK(counts[1] == 100);
  CHECK(counts[2] == 100);
}

TEST_CASE("swrr: all ineligible gives -1, and so does an empty pool") {
  SmoothWeightedRoundRobin rr({1, 2, 3});
  CHECK(rr.pick([](size_t) { return false; }) == -1);
  SmoothWeightedRoundRobin empty({});
  CHECK(empty.size() == 0);
  CHECK(empty.pick() == -1);
}

TEST_CASE("swrr: a zero-weight server is never picked") {
  SmoothWeightedRoundRobin rr({0, 1, 0, 2});
  int counts[4] = {0, 0, 0, 0};
  for (int i = 0; i < 30; ++i)
    ++counts[rr.pick()];
  CHECK(counts[0] == 0);
  CHECK(counts[2] == 0);
  CHECK(counts[1] == 10);
  CHECK(counts[3] == 20);
  SmoothWeightedRoundRobin zeros({0, 0});
  CHECK(zeros.pick() == -1);
}

TEST_CASE("swrr: a server that becomes eligible again rejoins the rotation") {
  SmoothWeightedRoundRobin rr({1, 1});
  bool down = true;
  auto eligible = [&down](size_t i) { return !(down && i == 0); };
  for (int i = 0; i < 5; ++i)
    CHECK(rr.pick(eligible) == 1);
  down = false;
  int counts[2] = {0, 0};
  for (int i = 0; i < 10; ++i)
    ++counts[rr.pick(eligible)];
  CHECK(counts[0] == 5);
  CHECK(counts[1] == 5);
}
