// MessageHead: one request or response head, copied once out of the read
// buffers (llhttp's spans die when execute() returns) into one contiguous
// string. Fields are offsets into that string, so a head costs one buffer and
// one small vector, never a std::string per header. Owned by the session that
// parses it; reused (cleared, capacity kept) from one message to the next.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace proxy::http {

// ASCII case-insensitive comparison for header names and tokens.
bool equalsIgnoreCase(std::string_view a, std::string_view b) noexcept;

// True when `list` (a comma-separated header value such as Connection's)
// contains `token`, compared case-insensitively.
bool listHasToken(std::string_view list, std::string_view token) noexcept;

class MessageHead {
public:
  struct Field {
    uint32_t name_offset, name_length, value_offset, value_length;
  };

  void clear() noexcept;

  // Heap bytes the head holds (its buffer and field table), kept across
  // messages: the per-worker exchange pool frees a head that grew large.
  size_t capacityBytes() const noexcept {
    return buffer_.capacity() + fields_.capacity() * sizeof(Field);
  }

  // Appending, used by the parser while a head arrives in pieces.
  void appendTarget(const char* data, size_t length); // request-target or reason phrase
  void appendFieldName(const char* data, size_t length);
  void appendFieldValue(const char* data, size_t length);
  void finishFields() noexcept; // trims OWS from the last value

  size_t bytes() const noexcept { return buffer_.size(); }
  size_t fieldCount() const noexcept { return fields_.size(); }

  std::string_view target() const noexcept { // request-target, or reason phrase of a response
    return {buffer_.data(), target_length_};
  }
  std::string_view name(size_t i) const noexcept {
    return {buffer_.data() + fields_[i].name_offset, fields_[i].name_length};
  }
  std::string_view value(size_t i) const noexcept {
    return {buffer_.data() + fields_[i].value_offset, fields_[i].value_length};
  }
  // First field with this name (case-insensitive), or -1.
  int find(std::string_view name, size_t from = 0) const noexcept;
  size_t count(std::string_view name) const noexcept;

  // Filled by the parser at headers-complete.
  uint8_t method = 0; // llhttp_method_t for requests
  int status = 0;     // responses
  uint8_t version_major = 1;
  uint8_t version_minor = 1;
  bool keep_alive = false;
  bool upgrade = false; // llhttp says this message upgrades the connection
  bool chunked = false;
  bool has_content_length = false;
  uint64_t content_length = 0;

private:
  void trimLastValue() noexcept;

  std::string buffer_;
  std::vector<Field> fields_;
  uint32_t target_length_ = 0;
  bool in_value_ = false;
};

} // namespace proxy::http
