// What the proxy derives from a request head before routing it, and the
// checks that refuse it first (RFC 9112 sections 3.2 and 6.1, RFC 9113
// section 3.4): the origin-form target sent upstream, the host the routes see
// and the Host forwarded, and how the body is framed. Pure: the session and
// the request-path fuzz target both run this code.
#pragma once

#include <string>
#include <string_view>

#include "proxy/http/head.h"
#include "proxy/http/serialize.h"

namespace proxy::http {

struct RequestTarget {
  std::string target;       // origin-form (or "*") target sent upstream, no fragment
  std::string host;         // lowercased, port stripped: what routes match
  std::string forward_host; // Host sent upstream: the authority as received
  std::string_view path;    // into target, without the query
  std::string_view query;   // into target, after '?'
  Framing framing = Framing::kNone;
};

// Fills `out` and returns nullptr, or returns why the request is refused
// (always a 400): CONNECT, PRI, Transfer-Encoding in HTTP/1.0, a missing or
// repeated Host, a target that is not origin-, absolute- or asterisk-form, an
// invalid Host or authority. `out` is reused: its strings keep their memory.
const char* prepareRequestTarget(const MessageHead& head, RequestTarget* out);

// RFC 9110 section 7.2 / RFC 3986 section 3.2.2: uri-host [":" port].
bool validAuthority(std::string_view authority);

} // namespace proxy::http
