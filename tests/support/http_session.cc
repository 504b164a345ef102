#include "tests/support/http_session.h"

namespace swytest {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

// Splits on ';' and trims each piece.
std::vector<std::string_view> splitSemicolons(std::string_view s) {
  std::vector<std::string_view> out;
  for (;;) {
    size_t semi = s.find(';');
    out.push_back(trim(s.substr(0, semi)));
    if (semi == std::string_view::npos) break;
    s.remove_prefix(semi + 1);
  }
  return out;
}

} // namespace

bool SetCookie::has(std::string_view name) const {
  for (const std::string& a : attributes) {
    std::string_view key = std::string_view(a).substr(0, a.find('='));
    if (equalsIgnoreCase(trim(key), name)) return true;
  }
  return false;
}

std::optional<std::string> SetCookie::attr(std::string_view name) const {
  for (const std::string& a : attributes) {
    size_t eq = a.find('=');
    if (eq == std::string::npos) continue;
    if (equalsIgnoreCase(trim(std::string_view(a).substr(0, eq)), name)) {
      return std::string(trim(std::string_view(a).substr(eq + 1)));
    }
  }
  return std::nullopt;
}

std::optional<SetCookie> parseSetCookie(std::string_view header_value) {
  std::vector<std::string_view> parts = splitSemicolons(header_value);
  size_t eq = parts[0].find('=');
  if (eq == std::string_view::npos || eq == 0) return std::nullopt;
  SetCookie c;
  c.raw = std::string(header_value);
  c.name = std::string(trim(parts[0].substr(0, eq)));
  c.value = std::string(trim(parts[0].substr(eq + 1)));
  for (size_t i = 1; i < parts.size(); ++i) {
    if (!parts[i].empty()) c.attributes.emplace_back(parts[i]);
  }
  return c;
}

std::vector<SetCookie> setCookies(const Headers& headers) {
  std::vector<SetCookie> out;
  for (const Header& h : headers.list) {
    if (!equalsIgnoreCase(h.name, "Set-Cookie")) continue;
    if (auto c = parseSetCookie(h.value)) out.push_back(std::move(*c));
  }
  return out;
}

std::vector<SetCookie> setCookiesNamed(const Headers& headers, std::string_view name) {
  std::vector<SetCookie> out;
  for (SetCookie& c : setCookies(headers)) {
    if (c.name == name) out.push_back(std::move(c));
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> parseCookieHeader(std::string_view value) {
  std::vector<std::pair<std::string, std::string>> out;
  for (std::string_view pair : splitSemicolons(value)) {
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    if (eq == std::string_view::npos) {
      out.emplace_back(std::string(pair), "");
    } else {
      out.emplace_back(std::string(trim(pair.substr(0, eq))),
                       std::string(trim(pair.substr(eq + 1))));
    }
  }
  return out;
}

Response KeepAliveClient::get(std::string_view target, std::string_view extra_headers,
                              milliseconds timeout) {
  if (!client_ || !client_->connected() || client_->peerClosed()) {
    client_.emplace(port_);
    ++connections_;
  }
  Response r = client_->roundTrip(makeRequest("GET", target, "example.test", extra_headers),
                                  timeout);
  if (!r.complete || r.headers().hasToken("Connection", "close")) client_.reset();
  return r;
}

} // namespace swytest
