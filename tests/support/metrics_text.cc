#include "tests/support/metrics_text.h"

#include <doctest/doctest.h>
#include <re2/re2.h>

#include <cmath>
#include <cstdlib>
#include <set>
#include <sstream>

#include "tests/support/raw_client.h"

namespace swytest {

Metrics::Metrics(const std::string& text) {
  static const RE2 kHelp(R"(# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .+)");
  static const RE2 kType(
      R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped))");
  static const RE2 kSample(
      R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*",?)*)\})? (\S+))");
  REQUIRE(kHelp.ok());
  REQUIRE(kType.ok());
  REQUIRE(kSample.ok());
  std::istringstream in(text);
  std::string line;
  std::set<std::string> helped;
  std::map<std::string, std::vector<std::pair<std::string, double>>> buckets; // series -> (le, v)
  while (std::getline(in, line)) {
    std::string name, kind, braces, labels, value;
    if (line.empty()) {
      problems.push_back("empty line");
    } else if (RE2::FullMatch(line, kHelp, &name)) {
      helped.insert(name);
    } else if (RE2::FullMatch(line, kType, &name, &kind)) {
      if (!types.emplace(name, kind).second) problems.push_back("TYPE twice: " + line);
      if (!helped.count(name)) problems.push_back("TYPE before HELP: " + line);
    } else if (RE2::FullMatch(line, kSample, &name, &braces, &labels, &value)) {
      std::string family = name;
      for (const char* suffix : {"_bucket", "_sum", "_count"}) {
        const std::string s = suffix;
        if (!types.count(family) && family.size() > s.size() &&
            family.compare(family.size() - s.size(), s.size(), s) == 0)
          family = family.substr(0, family.size() - s.size());
      }
      if (!types.count(family)) problems.push_back("sample of an undeclared family: " + line);
      char* end = nullptr;
      double v = value == "+Inf" ? INFINITY : std::strtod(value.c_str(), &end);
      if (value != "+Inf" && (end == nullptr || *end != '\0'))
        problems.push_back("bad value: " + line);
      const std::string key = name + "{" + labels + "}";
      if (!samples.emplace(key, v).second) problems.push_back("sample twice: " + line);
      if (name.size() > 7 && name.compare(name.size() - 7, 7, "_bucket") == 0) {
        size_t le = labels.find("le=\"");
        if (le == std::string::npos) {
          problems.push_back("bucket without le: " + line);
        } else {
          size_t close = labels.find('"', le + 4);
          std::string series = labels.substr(0, le);
          buckets[name + "{" + series].push_back({labels.substr(le + 4, close - le - 4), v});
        }
      }
    } else {
      problems.push_back("not a HELP, TYPE or sample line: " + line);
    }
  }
  for (const auto& [series, list] : buckets) {
    double last = -1;
    for (const auto& [le, v] : list) {
      if (v < last) problems.push_back("buckets not cumulative in " + series);
      last = v;
    }
    if (list.empty() || list.back().first != "+Inf")
      problems.push_back("no +Inf bucket in " + series);
  }
}

std::string Metrics::problemText() const {
  std::string text;
  for (const std::string& p : problems)
    text += p + "\n";
  return text;
}

double Metrics::at(const std::string& key) const {
  auto it = samples.find(key.find('{') == std::string::npos ? key + "{}" : key);
  return it == samples.end() ? -1 : it->second;
}

Metrics fetchMetrics(uint16_t admin_port) {
  Response r = httpGet(admin_port, "/metrics", "127.0.0.1");
  REQUIRE(r.status() == 200);
  return Metrics(r.body());
}

} // namespace swytest
