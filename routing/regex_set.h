// RegexSet: the regex conditions that share one match key (the host, the
// path, one header name, one cookie, one query parameter), compiled once into
// a single RE2::Set so that one pass over the subject tells which of them
// fully match. Built on the config thread, then immutable: match() is const
// and safe to call from several worker threads at once.
#pragma once

#include <re2/re2.h>
#include <re2/set.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace routing {

// Memory cap of one compiled regex or one RE2::Set (program plus DFA cache).
inline constexpr int64_t kRegexMaxMem = int64_t{8} << 20;
// Largest accepted program of a single pattern, in RE2 instructions. Keeps a
// pathological pattern (e.g. nested counted repetition) out of the sets.
inline constexpr int kRegexMaxProgramSize = 10000;

// The options every routing regex is compiled with: quiet (errors are
// reported through config validation, not logged by RE2) and memory-capped.
RE2::Options regexOptions(bool case_insensitive, int64_t max_mem = kRegexMaxMem);

class RegexSet {
public:
  explicit RegexSet(bool case_insensitive, int64_t max_mem = kRegexMaxMem);
  ~RegexSet();
  RegexSet(RegexSet&&) noexcept;
  RegexSet& operator=(RegexSet&&) noexcept;

  // Adds `pattern`, reported as `tag` when it matches. Returns "" or the
  // reason the pattern is rejected (RE2's message or the size cap).
  std::string add(std::string_view pattern, uint32_t tag);

  // Compiles the set; call once after the last add(). Returns "" or an error.
  std::string compile();

  size_t size() const { return tags_.size(); }

  // Sets flags[tag] = 1 for every pattern that fully matches `text`. `hits`
  // is caller-owned scratch (it grows once to size()). With one pattern the
  // single RE2 is used directly. Should the set's DFA run out of memory, the
  // patterns are tried one by one (RE2 then falls back to its NFA), so a
  // match is never lost. Returns how the answer was computed. Note:
  // RE2::Set::Match itself allocates a small match list per call when
  // several patterns share a key.
  enum class Path { kSingle, kSet, kFallback };
  Path match(std::string_view text, std::vector<int>* hits, uint8_t* flags) const;

  // Makes match() take the per-pattern path as if the DFA had failed. With
  // RE2 2022-06 that failure is not reachable once compile() succeeded (the
  // DFA keeps room for 20 states and a many-match search never bails), so
  // tests need this to exercise the path. Call before sharing the set.
  void forceFallbackForTest() { force_fallback_ = true; }

private:
  RE2::Options options_;
  std::unique_ptr<RE2::Set> set_;            // only when size() >= 2
  std::vector<std::unique_ptr<RE2>> single_; // each pattern alone, same options
  std::vector<uint32_t> tags_;
  bool force_fallback_ = false;
};

// Why `re` is unusable for routing, or "" when it is fine.
std::string regexError(const RE2& re);

} // namespace routing
