#include "proxy/config/values.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <cstring>
#include <limits>

#include "proxy/config/load.h"

namespace proxy::config {
namespace {

bool isDigit(char c) { return c >= '0' && c <= '9'; }

bool multiply(uint64_t value, uint64_t factor, uint64_t* out) {
  if (value > std::numeric_limits<uint64_t>::max() / factor) return false;
  *out = value * factor;
  return true;
}

// Splits "123ms" into 123 and "ms". False when it does not start with a digit.
bool splitNumber(std::string_view text, uint64_t* number, std::string_view* unit) {
  size_t digits = 0;
  while (digits < text.size() && isDigit(text[digits]))
    ++digits;
  if (digits == 0) return false;
  *unit = text.substr(digits);
  return parseUint(text.substr(0, digits), number);
}

} // namespace

bool parseUint(std::string_view text, uint64_t* out) {
  if (text.empty() || text.size() > 20) return false;
  uint64_t value = 0;
  for (char c : text) {
    if (!isDigit(c)) return false;
    uint64_t digit = static_cast<uint64_t>(c - '0');
    if (value > (std::numeric_limits<uint64_t>::max() - digit) / 10) return false;
    value = value * 10 + digit;
  }
  *out = value;
  return true;
}

bool parseSize(std::string_view text, uint64_t* out) {
  uint64_t number = 0;
  std::string_view unit;
  if (!splitNumber(text, &number, &unit)) return false;
  if (unit.empty()) {
    *out = number;
    return true;
  }
  if (unit == "k" || unit == "K") return multiply(number, 1024, out);
  if (unit == "m" || unit == "M") return multiply(number, 1024 * 1024, out);
  return false;
}

bool parseDuration(std::string_view text, uint64_t* ms) {
  uint64_t number = 0;
  std::string_view unit;
  if (!splitNumber(text, &number, &unit)) return false;
  if (unit == "ms") return multiply(number, 1, ms);
  if (unit == "s") return multiply(number, 1000, ms);
  if (unit == "m") return multiply(number, 60 * 1000, ms);
  if (unit == "h") return multiply(number, 60 * 60 * 1000, ms);
  return false;
}

std::string durationError(std::string_view text) {
  uint64_t ms = 0;
  if (parseDuration(text, &ms)) return "";
  uint64_t number = 0;
  if (parseUint(text, &number)) {
    return "a duration needs a unit: write '" + std::string(text) + "s' or '" + std::string(text) +
           "ms'";
  }
  return "expected a duration such as 250ms, 2s, 1m or 1h (an integer and a unit: ms, s, m, h)";
}

} // namespace proxy::config
