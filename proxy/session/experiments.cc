#include "proxy/session/experiments.h"

#include <cstdio>

namespace proxy {

Experiments::Experiments(const config::Snapshot& snapshot) {
  splits_.reserve(snapshot.splits.size());
  for (const config::Split& s : snapshot.splits) {
    std::vector<routing::SplitVariant> variants;
    for (const config::SplitVariant& v : s.variants)
      variants.push_back({v.name, v.weight});
    SplitStats st;
    st.experiment = s.experiment;
    st.variants = variants.size();
    st.assigner = std::make_unique<routing::SplitAssigner>(s.experiment, std::move(variants));
    st.override_warned = std::make_unique<std::atomic<bool>>(false);
    splits_.push_back(std::move(st));
  }
}

double Experiments::pValue(const TrafficStats& stats, size_t split) const {
  const SplitStats& s = splits_[split];
  std::vector<uint64_t> observed(s.variants);
  for (size_t v = 0; v < s.variants; ++v)
    observed[v] = stats.variantCount(split, v, &TrafficStats::Variant::assigned);
  std::vector<double> shares = s.assigner->expectedShares();
  return routing::sampleRatioPValue(observed, shares);
}

std::string Experiments::summary(const TrafficStats& stats) const {
  std::string out;
  char buf[256];
  for (size_t i = 0; i < splits_.size(); ++i) {
    const SplitStats& s = splits_[i];
    out += "experiment=" + s.experiment;
    for (size_t v = 0; v < s.variants; ++v) {
      const TrafficStats::Sums latency = stats.variantLatency(i, v);
      const uint64_t done = latency.count();
      const double mean_ms = done ? static_cast<double>(latency.sum_us) / done / 1000.0 : 0.0;
      auto count = [&](size_t status_class) {
        return static_cast<unsigned long long>(stats.variantStatus(i, v, status_class));
      };
      snprintf(buf, sizeof buf,
               " %s:{assigned=%llu overridden=%llu 2xx=%llu 3xx=%llu 4xx=%llu 5xx=%llu "
               "mean_ms=%.3f}",
               s.assigner->variants()[v].name.c_str(),
               static_cast<unsigned long long>(
                   stats.variantCount(i, v, &TrafficStats::Variant::assigned)),
               static_cast<unsigned long long>(
                   stats.variantCount(i, v, &TrafficStats::Variant::overridden)),
               count(2), count(3), count(4), count(5), mean_ms);
      out += buf;
    }
    snprintf(buf, sizeof buf, " srm_p=%.6g\n", pValue(stats, i));
    out += buf;
  }
  return out;
}

std::vector<std::string> Experiments::mismatches(const TrafficStats& stats,
                                                 uint64_t min_total) const {
  std::vector<std::string> out;
  for (size_t i = 0; i < splits_.size(); ++i) {
    const SplitStats& s = splits_[i];
    uint64_t total = 0;
    for (size_t v = 0; v < s.variants; ++v)
      total += stats.variantCount(i, v, &TrafficStats::Variant::assigned);
    if (total < min_total) continue;
    double p = pValue(stats, i);
    if (p >= 0.001) continue;
    char buf[200];
    snprintf(buf, sizeof buf,
             "experiment %s: sample ratio mismatch (p=%.3g over %llu assignments): the observed "
             "split does not match the configured weights",
             s.experiment.c_str(), p, static_cast<unsigned long long>(total));
    out.emplace_back(buf);
  }
  return out;
}

} // namespace proxy
