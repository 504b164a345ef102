// Scalar conversions used by the YAML reader: integers, sizes, durations,
// socket addresses, key sources. Pure functions; no YAML types here.
#pragma once

#include <netdb.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "proxy/config/snapshot.h"

namespace proxy::config {

// Decimal digits only ("0", "42"); no sign, no exponent, no overflow.
bool parseUint(std::string_view text, uint64_t* out);

// An integer, optionally followed by k/K (x1024) or m/M (x1048576).
bool parseSize(std::string_view text, uint64_t* out);

// What is wrong with a duration, for a diagnostic ("" when parseDuration accepts it).
std::string durationError(std::string_view text);

// Cookie lifetime: "0" (session cookie) or an integer with a unit s, m, h or
// d -> seconds. Returns "" on success, else what is wrong.
std::string parseTtl(std::string_view text, uint64_t* seconds);

// RFC 9110 5.6.2 token (1*tchar): header names, methods; also RFC 6265 4.1.1
// cookie names, which are RFC 2616 tokens, the same set.
bool isToken(std::string_view text);

// Which forms a key source accepts, as a bit set of KeySource::Kind.
struct KeyKinds {
  bool header = false;
  bool cookie = false;
  bool client_ip = false;
  bool path = false;
};

// "header:NAME", "cookie:NAME", "client_ip" or "path", restricted to `kinds`.
// Returns "" on success, else what is wrong, naming the accepted forms.
std::string parseKeySource(std::string_view text, const KeyKinds& kinds, KeySource* out);

// What may stand in an address and how it is resolved.
struct AddressRules {
  bool allow_port_zero = false; // listeners: port 0 picks a free port
  bool allow_hostnames = true;  // false: numeric IPv4, [IPv6] or localhost only
};

// Parses "host:port" / "[v6]:port" and resolves it (numeric first, then
// getaddrinfo without AI_ADDRCONFIG; the first IPv4 result is preferred, so
// "localhost" means 127.0.0.1 where both exist). Returns "" on success, else
// what is wrong. May block on DNS: call at config load only.
std::string parseAddress(std::string_view text, const AddressRules& rules, SocketAddress* out);

// Test hook: replaces getaddrinfo() for host names (numeric addresses never
// reach it) so that tests do not depend on DNS. The result must be freeable
// with freeaddrinfo(). nullptr restores getaddrinfo. Not thread-safe: set it
// before loading, from the test's thread.
using HostResolver = int (*)(const char* host, const addrinfo* hints, addrinfo** result);
void setHostResolverForTest(HostResolver resolver);

// The port of an IPv4/IPv6 address, in host byte order (0 for other families).
uint16_t addressPort(const SocketAddress& address);
// "20%" (or "20"): a share within 0..100. Returns "" and sets *out, or a
// message saying what is wrong.
std::string parsePercent(std::string_view text, uint32_t* out);

// "200-399" or "200": a range of HTTP status codes within 100..599. Returns
// "" and sets min/max, or a message saying what is wrong.
std::string parseStatusRange(std::string_view text, uint16_t* min, uint16_t* max);

// The host part of an address as written: "[v6]:port" -> "v6", "name:port" -> "name".
std::string_view addressHost(std::string_view text);

} // namespace proxy::config
