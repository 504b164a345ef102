#include "proxy/config/diagnostics.h"

#include <algorithm>
#include <limits>
#include <utility>

namespace proxy::config {

namespace {

// The reader and validate() find problems in separate passes; readers of the
// report want them in file order.
void sortByPosition(std::vector<Diagnostic>* list) {
  auto key = [](const Diagnostic& d) {
    int line = d.line > 0 ? d.line : std::numeric_limits<int>::max();
    return std::pair(line, d.column);
  };
  std::stable_sort(list->begin(), list->end(),
                   [&key](const Diagnostic& a, const Diagnostic& b) { return key(a) < key(b); });
}

} // namespace

std::string Diagnostic::str() const {
  std::string out = file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": ";
  if (!key_path.empty()) out += key_path + ": ";
  return out + message;
}

Diagnostic Diagnostics::make(const Loc& loc, std::string message) const {
  Diagnostic d;
  d.file = file_;
  d.line = loc.line;
  d.column = loc.column;
  d.key_path = loc.path;
  d.message = std::move(message);
  return d;
}

void Diagnostics::error(const Loc& loc, std::string message) {
  if (errors_.size() >= kMaxErrors) {
    ++dropped_;
    return;
  }
  errors_.push_back(make(loc, std::move(message)));
}

void Diagnostics::warning(const Loc& loc, std::string message) {
  if (warnings_.size() < kMaxErrors) warnings_.push_back(make(loc, std::move(message)));
}

std::vector<Diagnostic> Diagnostics::takeErrors() {
  if (dropped_ > 0) {
    errors_.push_back(
        make(Loc{}, "too many errors; " + std::to_string(dropped_) + " more not shown"));
    dropped_ = 0;
  }
  sortByPosition(&errors_);
  return std::move(errors_);
}

std::vector<std::string> Diagnostics::takeWarnings() {
  sortByPosition(&warnings_);
  std::vector<std::string> out;
  for (const Diagnostic& warning : warnings_)
    out.push_back(warning.str());
  warnings_.clear();
  return out;
}

size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j)
    row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + cost});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string suggestion(std::string_view word, const std::vector<std::string_view>& candidates) {
  if (word.size() > 64) return "";
  std::string_view best;
  size_t best_distance = 0;
  for (std::string_view candidate : candidates) {
    size_t d = editDistance(word, candidate);
    if (best.empty() || d < best_distance) {
      best = candidate;
      best_distance = d;
    }
  }
  // Close enough: at most 2 edits, and fewer than half the word.
  if (best.empty() || best_distance > 2 ||
      best_distance * 2 >= std::max(word.size(), best.size())) {
    return "";
  }
  return " (did you mean '" + std::string(best) + "'?)";
}

std::string joinNames(const std::vector<std::string_view>& names) {
  std::string out;
  for (std::string_view name : names) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

} // namespace proxy::config
