#include "proxy/http/head.h"

#include <utility>

namespace proxy::http {

namespace {
char lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }
bool isOws(char c) noexcept { return c == ' ' || c == '\t'; }
} // namespace

bool equalsIgnoreCase(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

bool listHasToken(std::string_view list, std::string_view token) noexcept {
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    while (!item.empty() && isOws(item.front()))
      item.remove_prefix(1);
    while (!item.empty() && isOws(item.back()))
      item.remove_suffix(1);
    if (equalsIgnoreCase(item, token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

void MessageHead::clear() noexcept {
  buffer_.clear();
  fields_.clear();
  target_length_ = 0;
  in_value_ = false;
  method = 0;
  status = 0;
  version_major = 1;
  version_minor = 1;
  keep_alive = upgrade = chunked = has_content_length = false;
  content_length = 0;
}

void MessageHead::appendTarget(const char* data, size_t length) {
  // The target comes first, before any field, so it is a prefix of buffer_.
  buffer_.append(data, length);
  target_length_ += static_cast<uint32_t>(length);
}

void MessageHead::appendFieldName(const char* data, size_t length) {
  if (fields_.empty() || in_value_) {
    if (!fields_.empty()) trimLastValue();
    auto at = static_cast<uint32_t>(buffer_.size());
    fields_.push_back(Field{at, 0, at, 0});
    in_value_ = false;
  }
  buffer_.append(data, length);
  fields_.back().name_length += static_cast<uint32_t>(length);
  fields_.back().value_offset = static_cast<uint32_t>(buffer_.size());
}

void MessageHead::appendFieldValue(const char* data, size_t length) {
  if (fields_.empty()) return;
  in_value_ = true;
  buffer_.append(data, length);
  fields_.back().value_length += static_cast<uint32_t>(length);
}

void MessageHead::finishFields() noexcept {
  if (!fields_.empty()) trimLastValue();
  in_value_ = false;
}

void MessageHead::trimLastValue() noexcept {
  Field& f = fields_.back();
  while (f.value_length > 0 && isOws(buffer_[f.value_offset])) {
    ++f.value_offset;
    --f.value_length;
  }
  while (f.value_length > 0 && isOws(buffer_[f.value_offset + f.value_length - 1]))
    --f.value_length;
}

int MessageHead::find(std::string_view field_name, size_t from) const noexcept {
  for (size_t i = from; i < fields_.size(); ++i) {
    if (equalsIgnoreCase(name(i), field_name)) return static_cast<int>(i);
  }
  return -1;
}

size_t MessageHead::count(std::string_view field_name) const noexcept {
  size_t n = 0;
  for (size_t i = 0; i < fields_.size(); ++i)
    n += equalsIgnoreCase(name(i), field_name) ? 1 : 0;
  return n;
}

} // namespace proxy::http
