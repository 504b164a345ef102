// Error values used on the data path and in config loading. No exceptions
// cross a C callback; code returns Result<T> or an Error instead.
#pragma once

#include <string>
#include <string_view>

namespace proxy {

enum class ErrorKind {
  kBadRequest,      // 400: malformed or smuggling-shaped request
  kNoRoute,         // 404: no route matched
  kPayloadTooLarge, // 413: body above limits.max_body_bytes
  kUriTooLong,      // 414: request target above limits.max_uri_bytes
  kHeadersTooLarge, // 431: head above max_header_bytes or max_headers
  kBadGateway,      // 502: upstream refused, reset, or sent a broken response
  kUnavailable,     // 503: no server could take the request
  kGatewayTimeout,  // 504: upstream did not answer in time
  kInternal,        // 500: a bug or resource exhaustion inside the proxy
};

enum class Side { kDownstream, kUpstream, kInternal };

struct Error {
  ErrorKind kind = ErrorKind::kInternal;
  Side side = Side::kInternal;
  bool retry_safe = false; // true when nothing reached the upstream application
  std::string text;
};

// The one mapping from an error kind to the HTTP status sent downstream.
int statusFor(ErrorKind kind) noexcept;

// Reason phrase for the status codes the proxy itself generates.
std::string_view reasonPhrase(int status) noexcept;

} // namespace proxy
