// Diagnostics: collects every error and warning of one config load, each tied
// to a position and key path. Caps the number of errors kept so that a garbage
// file cannot produce an unbounded report.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/config/load.h"
#include "proxy/config/spec.h"

namespace proxy::config {

class Diagnostics {
public:
  static constexpr size_t kMaxErrors = 100;

  explicit Diagnostics(std::string file) : file_(std::move(file)) {}

  void error(const Loc& loc, std::string message);
  void warning(const Loc& loc, std::string message);

  bool hasErrors() const { return !errors_.empty(); }
  const std::string& file() const { return file_; }

  // Moves the collected errors and warnings (as "file:line:col: path: msg"),
  // each in document order; problems without a position come last.
  std::vector<Diagnostic> takeErrors();
  std::vector<std::string> takeWarnings();

private:
  Diagnostic make(const Loc& loc, std::string message) const;

  std::string file_;
  std::vector<Diagnostic> errors_;
  std::vector<Diagnostic> warnings_;
  size_t dropped_ = 0;
};

// Levenshtein distance, for "did you mean" hints. Small strings only.
size_t editDistance(std::string_view a, std::string_view b);

// " (did you mean 'x'?)" for the closest candidate when it is close enough,
// otherwise "".
std::string suggestion(std::string_view word, const std::vector<std::string_view>& candidates);

// "a, b, c"
std::string joinNames(const std::vector<std::string_view>& names);

} // namespace proxy::config
