#include "proxy/config/values.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <cstring>
#include <limits>
#include <vector>

#include "proxy/config/diagnostics.h"

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

std::string parseTtl(std::string_view text, uint64_t* seconds) {
  uint64_t number = 0;
  std::string_view unit;
  if (text == "0") {
    *seconds = 0;
    return "";
  }
  if (splitNumber(text, &number, &unit)) {
    if (unit == "s" && multiply(number, 1, seconds)) return "";
    if (unit == "m" && multiply(number, 60, seconds)) return "";
    if (unit == "h" && multiply(number, 60 * 60, seconds)) return "";
    if (unit == "d" && multiply(number, 24 * 60 * 60, seconds)) return "";
    if (unit.empty()) {
      return "a duration needs a unit: write '" + std::string(text) +
             "s', or 0 for a session cookie";
    }
  }
  return "expected 0 or a duration such as 30m, 12h or 7d (an integer and a unit: s, m, h, d)";
}

bool isToken(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum && std::string_view("!#$%&'*+-.^_`|~").find(c) == std::string_view::npos) {
      return false;
    }
  }
  return true;
}

namespace {

// "cookie:NAME, header:NAME or client_ip"
std::string acceptedForms(const KeyKinds& kinds) {
  std::vector<std::string> forms;
  if (kinds.header) forms.push_back("header:NAME");
  if (kinds.cookie) forms.push_back("cookie:NAME");
  if (kinds.client_ip) forms.push_back("client_ip");
  if (kinds.path) forms.push_back("path");
  std::string out;
  for (size_t i = 0; i < forms.size(); ++i) {
    if (i > 0) out += i + 1 == forms.size() ? " or " : ", ";
    out += forms[i];
  }
  return out;
}

std::string checkKeyName(std::string_view kind, std::string_view name, KeySource* out) {
  if (name.empty()) {
    return "'" + std::string(kind) + ":' needs a " + std::string(kind) + " name, e.g. " +
           std::string(kind) + (kind == "header" ? ":X-User-Id" : ":uid");
  }
  if (!isToken(name)) {
    return "'" + std::string(name) + "' is not a valid " + std::string(kind) + " name (" +
           (kind == "header" ? "RFC 9110 5.6.2" : "RFC 6265 4.1.1") + ": a token)";
  }
  out->name = std::string(name);
  return "";
}

} // namespace

std::string parseKeySource(std::string_view text, const KeyKinds& kinds, KeySource* out) {
  size_t colon = text.find(':');
  std::string_view kind = text.substr(0, colon);
  std::string_view name = colon == std::string_view::npos ? "" : text.substr(colon + 1);
  // A bare "cookie" or "header" is a named source missing its name.
  bool named = colon != std::string_view::npos || text == "header" || text == "cookie";
  KeySource source;
  std::string error;
  bool allowed = false;
  if (named && kind == "header") {
    source.kind = KeySource::Kind::kHeader;
    allowed = kinds.header;
    error = checkKeyName(kind, name, &source);
  } else if (named && kind == "cookie") {
    source.kind = KeySource::Kind::kCookie;
    allowed = kinds.cookie;
    error = checkKeyName(kind, name, &source);
  } else if (text == "client_ip") {
    source.kind = KeySource::Kind::kClientIp;
    allowed = kinds.client_ip;
  } else if (text == "path") {
    source.kind = KeySource::Kind::kPath;
    allowed = kinds.path;
  } else {
    std::vector<std::string_view> words;
    if (kinds.header) words.push_back("header");
    if (kinds.cookie) words.push_back("cookie");
    if (kinds.client_ip) words.push_back("client_ip");
    if (kinds.path) words.push_back("path");
    return "unknown key source '" + std::string(text) + "'" + suggestion(kind, words) +
           "; expected " + acceptedForms(kinds);
  }
  if (!allowed) {
    return "'" + std::string(named ? kind : text) + "' is not accepted here; expected " +
           acceptedForms(kinds);
  }
  if (!error.empty()) return error;
  *out = std::move(source);
  return "";
}

} // namespace proxy::config
