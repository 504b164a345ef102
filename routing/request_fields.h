// Small byte-level helpers the router uses on request fields: ASCII case
// folding and query-value decoding. Pure functions, no allocation beyond the
// caller's output buffer. findCookie/findQueryParam are declared in
// routing/route_table.h and defined next to these in request_fields.cc.
#pragma once

#include <string>
#include <string_view>

namespace routing {

// True when `text` equals `lower` ignoring ASCII case; `lower` must already
// be lowercase (header names are compared this way, RFC 9110 section 5.1).
bool equalsLowercase(std::string_view text, std::string_view lower);

// ASCII lowercase copy of `text`.
std::string toLowerAscii(std::string_view text);

// Decodes a raw query value into `out`: "%XX" becomes the byte, '+' becomes a
// space, malformed escapes are copied verbatim. `out` is cleared first and
// keeps its capacity, so a reused buffer does not reallocate.
void decodeQueryValue(std::string_view raw, std::string* out);

} // namespace routing
