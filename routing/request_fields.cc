#include "routing/request_fields.h"

#include "routing/route_table.h"

namespace routing {
namespace {

char lowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool isCookieSpace(char c) { return c == ' ' || c == '\t'; }

std::string_view trimSpaces(std::string_view text) {
  while (!text.empty() && isCookieSpace(text.front()))
    text.remove_prefix(1);
  while (!text.empty() && isCookieSpace(text.back()))
    text.remove_suffix(1);
  return text;
}

// Splits `text` at the first `sep`: returns the part before it and leaves the
// rest (after the separator) in `text`; empties `text` when there is no sep.
std::string_view nextPart(std::string_view* text, char sep) {
  size_t end = text->find(sep);
  std::string_view part = text->substr(0, end);
  text->remove_prefix(end == std::string_view::npos ? text->size() : end + 1);
  return part;
}

} // namespace

bool equalsLowercase(std::string_view text, std::string_view lower) {
  if (text.size() != lower.size()) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    if (lowerAscii(text[i]) != lower[i]) return false;
  }
  return true;
}

std::string toLowerAscii(std::string_view text) {
  std::string out(text);
  for (char& c : out)
    c = lowerAscii(c);
  return out;
}

void decodeQueryValue(std::string_view raw, std::string* out) {
  out->clear();
  for (size_t i = 0; i < raw.size(); ++i) {
    char c = raw[i];
    if (c == '+') {
      out->push_back(' ');
    } else if (c == '%' && i + 2 < raw.size() && hexValue(raw[i + 1]) >= 0 &&
               hexValue(raw[i + 2]) >= 0) {
      out->push_back(static_cast<char>(hexValue(raw[i + 1]) * 16 + hexValue(raw[i + 2])));
      i += 2;
    } else {
      out->push_back(c);
    }
  }
}

// RFC 6265 section 4.2.1: cookie-string = cookie-pair *( ";" SP cookie-pair ).
// Clients are lax about the spaces, so whitespace around names and values is
// trimmed; a pair without '=' is ignored. Names compare case-sensitively.
bool findCookie(std::string_view cookie_header, std::string_view name, std::string_view* value) {
  std::string_view rest = cookie_header;
  while (!rest.empty()) {
    std::string_view pair = nextPart(&rest, ';');
    size_t eq = pair.find('=');
    if (eq == std::string_view::npos) continue;
    if (trimSpaces(pair.substr(0, eq)) != name) continue;
    *value = trimSpaces(pair.substr(eq + 1));
    return true;
  }
  return false;
}

// Names compare raw (undecoded); a parameter without '=' ("a&b") is present
// with an empty value. The first occurrence wins.
bool findQueryParam(std::string_view query, std::string_view name, std::string_view* value) {
  std::string_view rest = query;
  while (!rest.empty()) {
    std::string_view param = nextPart(&rest, '&');
    if (param.empty()) continue;
    size_t eq = param.find('=');
    if (param.substr(0, eq) != name) continue;
    *value = eq == std::string_view::npos ? std::string_view() : param.substr(eq + 1);
    return true;
  }
  return false;
}

} // namespace routing
