// TrafficStats: per-worker blocks summed on read, indexed like the snapshot.
// Here the A/B variant blocks: each (split, variant) has its own slot after
// the variants of the splits before it, and the latency histogram and its
// quantiles are those of the exchanges recorded for that variant only.
#include "proxy/server/stats.h"

#include <doctest/doctest.h>

using proxy::TrafficStats;
using proxy::config::Snapshot;
using proxy::config::Split;

namespace {

// A snapshot with only what TrafficStats sizes its variant blocks from:
// split "two" with 2 variants, then split "three" with 3.
Snapshot twoSplits() {
  Snapshot snap;
  Split two;
  two.experiment = "two";
  two.variants = {{"a", 0, 1}, {"b", 0, 1}};
  Split three;
  three.experiment = "three";
  three.variants = {{"x", 0, 1}, {"y", 0, 1}, {"z", 0, 1}};
  snap.splits = {two, three};
  return snap;
}

uint64_t statusTotal(const TrafficStats& st, size_t split, size_t variant) {
  uint64_t n = 0;
  for (size_t c = 0; c < TrafficStats::kStatusClasses; ++c)
    n += st.variantStatus(split, variant, c);
  return n;
}

} // namespace

TEST_CASE("stats: a variant's exchanges land in its own slot and sum over the workers") {
  const Snapshot snap = twoSplits();
  TrafficStats st(snap, 2);
  CHECK(st.variantIndex(0, 1) == 1);
  CHECK(st.variantIndex(1, 0) == 2);
  CHECK(st.variantIndex(1, 2) == 4);

  st.recordVariant(0, 1, 1, 200, 3000); // three/y on worker 0
  st.recordVariant(1, 1, 1, 503, 7000); // three/y on worker 1
  st.recordVariant(1, 0, 1, 0, 500);    // two/b, nothing sent
  CHECK(st.variantStatus(1, 1, 2) == 1);
  CHECK(st.variantStatus(1, 1, 5) == 1);
  CHECK(st.variantLatency(1, 1).count() == 2);
  CHECK(st.variantLatency(1, 1).sum_us == 10000);
  CHECK(st.variantStatus(0, 1, 0) == 1); // "no response" is class 0, as for routes
  CHECK(st.variantLatency(0, 1).count() == 1);
  // Its neighbours saw nothing: two/b is not three/y, nor three/x.
  CHECK(statusTotal(st, 0, 0) == 0);
  CHECK(statusTotal(st, 1, 0) == 0);
  CHECK(statusTotal(st, 1, 2) == 0);
  CHECK(st.variantLatency(1, 0).count() == 0);

  // Out of range: ignored, not written into the next split's slot.
  st.recordVariant(0, 0, 2, 200, 100);
  st.recordVariant(0, 2, 0, 200, 100);
  st.recordVariant(2, 1, 0, 200, 100);
  CHECK(statusTotal(st, 1, 0) == 0);
  CHECK(st.variantLatency(1, 0).count() == 0);
}

TEST_CASE("stats: assignment counters of a variant sum over the workers") {
  const Snapshot snap = twoSplits();
  TrafficStats st(snap, 3);
  for (unsigned w = 0; w < 3; ++w)
    st.worker(w).variants[st.variantIndex(1, 2)].assigned.add(w + 1);
  st.worker(2).variants[st.variantIndex(1, 2)].overridden.add();
  CHECK(st.variantCount(1, 2, &TrafficStats::Variant::assigned) == 6);
  CHECK(st.variantCount(1, 2, &TrafficStats::Variant::overridden) == 1);
  CHECK(st.variantCount(1, 1, &TrafficStats::Variant::assigned) == 0);
}

TEST_CASE("stats: a variant's quantiles come from its histogram, interpolated in the bucket") {
  const Snapshot snap = twoSplits();
  TrafficStats st(snap, 2);
  // Control: four exchanges in (1 ms, 2.5 ms]; treatment: four in (50 ms, 100 ms].
  for (unsigned i = 0; i < 4; ++i) {
    st.recordVariant(i % 2, 0, 0, 200, 2000);
    st.recordVariant(i % 2, 0, 1, 200, 80000);
  }
  const TrafficStats::Sums a = st.variantLatency(0, 0);
  const TrafficStats::Sums b = st.variantLatency(0, 1);
  CHECK(TrafficStats::quantile(a, 0.5) == doctest::Approx(0.00175)); // half way into the bucket
  CHECK(TrafficStats::quantile(a, 0.99) == doctest::Approx(0.0024850));
  CHECK(TrafficStats::quantile(b, 0.5) == doctest::Approx(0.075));
  CHECK(TrafficStats::quantile(st.variantLatency(0, 0), 0.5) <
        TrafficStats::quantile(st.variantLatency(0, 1), 0.5));
  CHECK(TrafficStats::quantile(st.variantLatency(1, 0), 0.5) == 0); // empty
}
