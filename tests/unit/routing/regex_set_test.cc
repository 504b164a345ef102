#include "routing/regex_set.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using routing::RegexSet;

namespace {

// Tags of the patterns that fully match `text`, in tag order.
std::vector<uint32_t> hitTags(const RegexSet& set, std::string_view text, size_t tags,
                              RegexSet::Path* path = nullptr) {
  std::vector<int> hits;
  std::vector<uint8_t> flags(tags, 0);
  RegexSet::Path used = set.match(text, &hits, flags.data());
  if (path) *path = used;
  std::vector<uint32_t> out;
  for (uint32_t i = 0; i < tags; ++i) {
    if (flags[i]) out.push_back(i);
  }
  return out;
}

using Tags = std::vector<uint32_t>;

} // namespace

TEST_CASE("regex set: one pass reports every fully matching pattern by tag") {
  RegexSet set(false);
  CHECK(set.add("a", 10).empty());
  CHECK(set.add("a.*", 11).empty());
  CHECK(set.add("ab", 12).empty());
  CHECK(set.add("b", 13).empty());
  REQUIRE(set.compile().empty());
  CHECK(set.size() == 4);
  RegexSet::Path path = RegexSet::Path::kSingle;
  CHECK(hitTags(set, "ab", 14, &path) == Tags{11, 12});
  CHECK(path == RegexSet::Path::kSet);
  CHECK(hitTags(set, "a", 14) == Tags{10, 11});
  CHECK(hitTags(set, "abc", 14) == Tags{11});
  CHECK(hitTags(set, "cab", 14) == Tags{});
  CHECK(hitTags(set, "", 14) == Tags{});
}

TEST_CASE("regex set: a single pattern is matched without a set") {
  RegexSet set(false);
  CHECK(set.add("b", 0).empty());
  REQUIRE(set.compile().empty());
  RegexSet::Path path = RegexSet::Path::kSet;
  CHECK(hitTags(set, "b", 1, &path) == Tags{0});
  CHECK(path == RegexSet::Path::kSingle);
  CHECK(hitTags(set, "abc", 1) == Tags{});
}

TEST_CASE("regex set: case-insensitive sets ignore case, others do not") {
  RegexSet folded(true);
  CHECK(folded.add("Example\\.com", 0).empty());
  CHECK(folded.add("www\\.example\\.com", 1).empty());
  REQUIRE(folded.compile().empty());
  CHECK(hitTags(folded, "EXAMPLE.com", 2) == Tags{0});
  RegexSet exact(false);
  CHECK(exact.add("Example\\.com", 0).empty());
  CHECK(exact.add("x", 1).empty());
  REQUIRE(exact.compile().empty());
  CHECK(hitTags(exact, "example.com", 2) == Tags{});
}

TEST_CASE("regex set: bad patterns are refused and not added") {
  RegexSet set(false);
  CHECK(set.add("(a", 0) == "missing ): (a");
  CHECK(set.size() == 0);
  CHECK(set.add("\\pL{1000}\\pL{1000}", 0).starts_with("pattern too large"));
  CHECK(set.size() == 0);
  REQUIRE(set.compile().empty());
  CHECK(hitTags(set, "a", 1) == Tags{});
}

TEST_CASE("regex set: the per-pattern fallback gives the same answers as the set") {
  const char* patterns[] = {"a", "a.*", "ab", "b", "(?i)AB", "[0-9]+", ".*"};
  RegexSet set(false);
  RegexSet fallback(false);
  for (uint32_t i = 0; i < 7; ++i) {
    CHECK(set.add(patterns[i], i).empty());
    CHECK(fallback.add(patterns[i], i).empty());
  }
  REQUIRE(set.compile().empty());
  REQUIRE(fallback.compile().empty());
  fallback.forceFallbackForTest();
  for (const char* text : {"", "a", "ab", "AB", "abc", "b", "123", "12a"}) {
    CAPTURE(text);
    RegexSet::Path path = RegexSet::Path::kSet;
    CHECK(hitTags(fallback, text, 7, &path) == hitTags(set, text, 7));
    CHECK(path == RegexSet::Path::kFallback);
  }
  CHECK(hitTags(fallback, "ab", 7) == Tags{1, 2, 4, 6});
}

TEST_CASE("regex set: compile fails cleanly past the memory cap") {
  RegexSet set(false, 64 << 10);
  for (uint32_t i = 0; i < 50; ++i) {
    REQUIRE(set.add("(.*[a-z]" + std::to_string(i) + ".*)", i).empty());
  }
  CHECK(set.compile().starts_with("too many or too large patterns for one key: 50 patterns"));
}
