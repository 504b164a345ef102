// Experiments: the sample-ratio-mismatch check and the exit summary read the
// per-worker variant counters of the generation's TrafficStats.
#include "proxy/session/experiments.h"

#include <doctest/doctest.h>

using proxy::Experiments;
using proxy::TrafficStats;

namespace {

// One experiment "e1", variants a and b at 50 / 50, counted by two workers.
struct Rig {
  proxy::config::Snapshot snap;
  std::unique_ptr<TrafficStats> stats;
  std::unique_ptr<Experiments> experiments;
  Rig() {
    proxy::config::Split split;
    split.experiment = "e1";
    split.variants = {{"a", 0, 50}, {"b", 0, 50}};
    snap.splits.push_back(split);
    stats = std::make_unique<TrafficStats>(snap, 2);
    experiments = std::make_unique<Experiments>(snap);
  }
  // `n` assignments of `variant`, spread over both workers.
  void assign(size_t variant, uint64_t n) {
    const size_t i = stats->variantIndex(0, variant);
    stats->worker(0).variants[i].assigned.add(n / 2);
    stats->worker(1).variants[i].assigned.add(n - n / 2);
  }
};

} // namespace

TEST_CASE("experiments: a skewed split is flagged, a balanced or small one is not") {
  Rig skewed;
  skewed.assign(0, 300);
  skewed.assign(1, 101);
  const std::vector<std::string> warnings = skewed.experiments->mismatches(*skewed.stats);
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].find("experiment e1: sample ratio mismatch") == 0);
  CHECK(warnings[0].find("over 401 assignments") != std::string::npos);
  CHECK(skewed.experiments->mismatches(*skewed.stats, 402).empty()); // not enough yet

  Rig balanced;
  balanced.assign(0, 200);
  balanced.assign(1, 201);
  CHECK(balanced.experiments->mismatches(*balanced.stats).empty());
  CHECK(balanced.experiments->pValue(*balanced.stats, 0) > 0.5);
}

TEST_CASE("experiments: the summary shows the counts, status classes and mean latency") {
  Rig rig;
  rig.assign(0, 3);
  rig.stats->worker(1).variants[rig.stats->variantIndex(0, 1)].overridden.add();
  rig.stats->recordVariant(0, 0, 0, 200, 1000);
  rig.stats->recordVariant(1, 0, 0, 302, 2000);
  rig.stats->recordVariant(0, 0, 0, 200, 6000);
  rig.stats->recordVariant(1, 0, 1, 503, 4000);
  const std::string line = rig.experiments->summary(*rig.stats);
  INFO(line);
  CHECK(line.find("experiment=e1 a:{assigned=3 overridden=0 2xx=2 3xx=1 4xx=0 5xx=0 "
                  "mean_ms=3.000} b:{assigned=0 overridden=1 2xx=0 3xx=0 4xx=0 5xx=1 "
                  "mean_ms=4.000} srm_p=") == 0);
  CHECK(line.back() == '\n');
}
