// Sticky-session cookie codec. The cookie names a server by an opaque id
// (never its address), carries its issue time and an HMAC-SHA256 over both,
// so a client can neither forge nor pin an arbitrary server, and the proxy
// itself refuses an expired cookie. Several keys verify (rotation: add the
// new key first, drop the old later); only the first signs.
//
// Pure: the HMAC function is injected (proxy/ passes OpenSSL's), so routing/
// does not link a crypto library.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace routing {

// HMAC-SHA256(key, data) -> out[32].
using HmacSha256 = void (*)(std::string_view key, std::string_view data, uint8_t out[32]);

// Opaque, stable id of a server of a pool: same on every instance.
std::string stickyServerId(std::string_view pool, std::string_view server);

class StickyCodec {
 public:
  enum class Verdict {
    kValid,        // signed by the first key and not expired
    kValidOldKey,  // valid, but signed by a later key: re-issue it
    kMalformed,    // not our format (garbage, truncated, huge)
    kBadSignature, // no key verifies it (tampered or foreign)
    kExpired,      // older than ttl, or issued in the future beyond a small skew
  };

  // `ttl_seconds` 0 = no proxy-side expiry (session cookie).
  StickyCodec(std::vector<std::string> secrets, HmacSha256 mac, uint64_t ttl_seconds);

  // Cookie value (URL-safe, no ';', ',' or spaces) for `server_id` issued at `now`.
  std::string encode(std::string_view server_id, uint64_t now_seconds) const;
  // Checks `value`; on kValid/kValidOldKey sets *server_id (a view into value).
  Verdict decode(std::string_view value, uint64_t now_seconds, std::string_view* server_id) const;

 private:
  std::vector<std::string> secrets_;
  HmacSha256 mac_;
  uint64_t ttl_;
};

}  // namespace routing
