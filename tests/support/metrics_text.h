// Reads the admin listener's /metrics strictly (Prometheus text format
// 0.0.4): every line is a HELP, a TYPE or a sample of a declared family, names
// and labels are well formed, values are numbers, histogram buckets are
// cumulative and end in +Inf equal to _count. Samples are keyed
// "name{labels as written}". Call only from a doctest test body (it REQUIREs).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace swytest {

struct Metrics {
  std::map<std::string, double> samples;
  std::map<std::string, std::string> types;
  std::vector<std::string> problems;

  explicit Metrics(const std::string& text);
  std::string problemText() const;
  // "name{labels}", or "name" for a sample without labels; -1 when absent.
  double at(const std::string& key) const;
};

// GET /metrics from the admin listener on `admin_port` (REQUIREs a 200).
Metrics fetchMetrics(uint16_t admin_port);

} // namespace swytest
