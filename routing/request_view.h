// What the router may look at in a request: views into the session's copy of
// the request head. Nothing here owns memory; the caller keeps the head alive
// for the duration of the match.
#pragma once

#include <span>
#include <string_view>

namespace routing {

struct IpAddress;

struct Header {
  std::string_view name;  // as received (case preserved)
  std::string_view value; // OWS trimmed
};

struct RequestView {
  std::string_view method;         // e.g. "GET"
  std::string_view path;           // request-target path, without '?query'; not decoded
  std::string_view query;          // after '?', without '#fragment'; empty if none
  std::string_view host;           // Host (or absolute-form authority), lowercased, port stripped
  std::span<const Header> headers; // every header field in order, Cookie included
  // The downstream peer's address (match `source:`); null = unknown, and then
  // every source condition fails.
  const IpAddress* client = nullptr;
};

} // namespace routing
