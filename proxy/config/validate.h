// validate(): semantic checks over a ConfigSpec, after the reader. Collects
// every error (ranges, names, duplicates, references, regexes, methods,
// balancing, sticky cookies, splits) and non-fatal warnings (unreachable
// routes, unused pools, generated sticky keys). Only values the
// reader converted (Value::set) are checked; the reader reported the rest.
#pragma once

#include <string_view>
#include <unordered_set>
#include <vector>

#include "proxy/config/diagnostics.h"
#include "proxy/config/spec.h"

namespace proxy::config {

inline constexpr uint64_t kMaxWorkers = 64;
inline constexpr uint64_t kMaxWeight = 1000000;
// RFC 6265bis 5.5: user agents cap a cookie's lifetime at 400 days.
inline constexpr uint64_t kMaxStickyTtlSeconds = 400ull * 24 * 60 * 60;
inline constexpr uint64_t kMinTicketRotationMs = 60ull * 1000;
inline constexpr uint64_t kMaxTicketRotationMs = 24ull * 60 * 60 * 1000;
inline constexpr uint64_t kMaxHstsSeconds = 10ull * 365 * 24 * 60 * 60;

void validate(const ConfigSpec& spec, Diagnostics& diags);

// A listener's tls block (validate_tls.cc); the files are compile()'s.
void validateTls(const TlsSpec& tls, Diagnostics& diags);

// A pool's tls block (validate_tls.cc): ca path, sni, and a loud warning for
// verify: false. The CA file is compile()'s.
void validatePoolTls(const PoolTlsSpec& tls, Diagnostics& diags);

// A listener's allow/deny lists and connection limits (validate_access.cc).
void validateListenerAccess(const ListenerSpec& listener, Diagnostics& diags);

// A route's match.source (validate_access.cc).
void validateSource(const CidrListSpec& source, Diagnostics& diags);

// Route checks (validate_routes.cc); `validate` calls it.
void validateRoutes(const ConfigSpec& spec, Diagnostics& diags);

// A pool's balance, hash_key and sticky (validate_balancing.cc).
void validateBalancing(const PoolSpec& pool, Diagnostics& diags);

// One route's split (validate_split.cc): the assignment cookie and the
// variants and their pools (recorded in `used`). The experiment name (syntax
// and uniqueness across routes) is validateRoutes()'s.
void validateSplit(const SplitSpec& split, const std::vector<std::string_view>& pools,
                   std::unordered_set<std::string_view>* used, Diagnostics& diags);

// Reports a reference to a pool that does not exist (with a suggestion);
// records the pools used.
void checkPoolRef(const Value<std::string>& ref, const std::vector<std::string_view>& pools,
                  std::unordered_set<std::string_view>* used, Diagnostics& diags);

// A cookie name the proxy sets: an RFC 6265 4.1.1 token. Reports otherwise.
void checkCookieName(const Value<std::string>& name, Diagnostics& diags);

// Names of listeners, pools, routes and servers: 1..64 of [A-Za-z0-9_.-].
// Reports and returns false otherwise.
bool checkName(const Value<std::string>& name, std::string_view what, Diagnostics& diags);

// Reports each name seen twice, pointing at the first definition.
void checkUnique(const std::vector<const Value<std::string>*>& names, std::string_view what,
                 Diagnostics& diags);

} // namespace proxy::config
