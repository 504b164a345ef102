// Client-side session helpers for the e2e suites that follow cookies across
// requests (sticky sessions, A/B splits): Set-Cookie and Cookie parsing, and
// a keep-alive client that reconnects only when the proxy closes, so a test
// can send a thousand requests in a few connections.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tests/support/http_message.h"
#include "tests/support/raw_client.h"

namespace swytest {

// One Set-Cookie header: "name=value; Attr; Attr=Val".
struct SetCookie {
  std::string name;
  std::string value;
  std::vector<std::string> attributes; // as sent, whitespace trimmed, in order

  // Attribute present (case-insensitive name, with or without a value).
  bool has(std::string_view attr) const;
  // Value of "attr=value" (case-insensitive name), if present.
  std::optional<std::string> attr(std::string_view attr) const;
  // The header's value as sent (for failure messages).
  std::string raw;
};

std::optional<SetCookie> parseSetCookie(std::string_view header_value);
// Every Set-Cookie header in `headers`, parsed (unparseable ones skipped).
std::vector<SetCookie> setCookies(const Headers& headers);
// The Set-Cookie headers naming `name`.
std::vector<SetCookie> setCookiesNamed(const Headers& headers, std::string_view name);

// "a=1; b=2" -> {{a,1},{b,2}} (pairs trimmed, order kept; a pair without '='
// becomes {text, ""}).
std::vector<std::pair<std::string, std::string>> parseCookieHeader(std::string_view value);

// A keep-alive client: reuses one connection and opens a new one only when
// there is none, the proxy said "Connection: close", or it closed the
// connection after a complete response. A request on a reused connection that
// fails is not retried (a test must see it).
class KeepAliveClient {
public:
  explicit KeepAliveClient(uint16_t port) : port_(port) {}

  Response get(std::string_view target, std::string_view extra_headers = "",
               milliseconds timeout = milliseconds(3000));
  // Closes the current connection (the next get() opens a new one).
  void close() { client_.reset(); }
  // Connections opened so far.
  size_t connections() const { return connections_; }

private:
  uint16_t port_;
  std::optional<RawClient> client_;
  size_t connections_ = 0;
};

} // namespace swytest
