#include "routing/regex_set.h"

#include <utility>

#include "routing/route_table.h"

namespace routing {

RE2::Options regexOptions(bool case_insensitive, int64_t max_mem) {
  RE2::Options options;
  options.set_log_errors(false);
  options.set_max_mem(max_mem);
  options.set_case_sensitive(!case_insensitive);
  return options;
}

std::string regexError(const RE2& re) {
  if (re.error_code() == RE2::ErrorPatternTooLarge) {
    return "pattern too large: exceeds the regex memory limit";
  }
  if (!re.ok()) return re.error();
  if (re.ProgramSize() > kRegexMaxProgramSize) {
    return "pattern too large: program size " + std::to_string(re.ProgramSize()) +
           " exceeds the limit of " + std::to_string(kRegexMaxProgramSize);
  }
  return {};
}

std::string checkRegex(std::string_view pattern) {
  RE2 re(re2::StringPiece(pattern.data(), pattern.size()), regexOptions(false));
  return regexError(re);
}

RegexSet::RegexSet(bool case_insensitive, int64_t max_mem)
    : options_(regexOptions(case_insensitive, max_mem)) {}
RegexSet::~RegexSet() = default;
RegexSet::RegexSet(RegexSet&&) noexcept = default;
RegexSet& RegexSet::operator=(RegexSet&&) noexcept = default;

std::string RegexSet::add(std::string_view pattern, uint32_t tag) {
  auto re = std::make_unique<RE2>(re2::StringPiece(pattern.data(), pattern.size()), options_);
  std::string error = regexError(*re);
  if (!error.empty()) return error;
  single_.push_back(std::move(re));
  tags_.push_back(tag);
  return {};
}

std::string RegexSet::compile() {
  if (single_.size() < 2) return {};
  auto set = std::make_unique<RE2::Set>(options_, RE2::ANCHOR_BOTH);
  for (const auto& re : single_) {
    std::string error;
    if (set->Add(re->pattern(), &error) < 0) return error;
  }
  if (!set->Compile()) {
    return "too many or too large patterns for one key: " + std::to_string(single_.size()) +
           " patterns exceed the regex memory limit";
  }
  set_ = std::move(set);
  return {};
}

RegexSet::Path RegexSet::match(std::string_view text, std::vector<int>* hits,
                               uint8_t* flags) const {
  re2::StringPiece subject(text.data(), text.size());
  if (!set_) {
    if (!single_.empty() && RE2::FullMatch(subject, *single_[0])) flags[tags_[0]] = 1;
    return Path::kSingle;
  }
  if (hits->capacity() < single_.size()) hits->reserve(single_.size());
  RE2::Set::ErrorInfo info{RE2::Set::kNoError};
  if (!force_fallback_) {
    if (set_->Match(subject, hits, &info)) {
      for (int index : *hits)
        flags[tags_[static_cast<size_t>(index)]] = 1;
      return Path::kSet;
    }
    if (info.kind == RE2::Set::kNoError) return Path::kSet;
  }
  // The set's DFA gave up (out of memory or inconsistent). A lost match would
  // silently misroute, so try each pattern; RE2 proper falls back to the NFA.
  for (size_t i = 0; i < single_.size(); ++i) {
    if (RE2::FullMatch(subject, *single_[i])) flags[tags_[i]] = 1;
  }
  return Path::kFallback;
}

} // namespace routing
