#include "proxy/config/validate.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>
#include <string>
#include <unordered_map>

#include "proxy/config/values.h"

namespace proxy::config {
namespace {

constexpr size_t kMaxNameLength = 64;
constexpr uint64_t kMaxTimeoutMs = 24ull * 60 * 60 * 1000;

struct Range {
  uint64_t min;
  uint64_t max;
};

std::string position(const Loc& loc) {
  return std::to_string(loc.line) + ":" + std::to_string(loc.column);
}

void checkRange(const Value<uint64_t>& value, Range range, std::string_view unit,
                Diagnostics& diags) {
  if (!value.set || (value.value >= range.min && value.value <= range.max)) return;
  std::string suffix = unit.empty() ? "" : " " + std::string(unit);
  diags.error(value.loc, "must be between " + std::to_string(range.min) + suffix + " and " +
                             std::to_string(range.max) + suffix + ", got " +
                             std::to_string(value.value));
}

void validateWorkers(const WorkersSpec& workers, Diagnostics& diags) {
  if (!workers.count.set) return;
  if (workers.count.value == 0 || workers.count.value > kMaxWorkers) {
    diags.error(workers.count.loc, "must be 'auto' or between 1 and " +
                                       std::to_string(kMaxWorkers) + ", got " +
                                       std::to_string(workers.count.value));
  }
}

void validateAccessLog(const AccessLogSpec& log, Diagnostics& diags) {
  if (log.format.set && log.format.value != "text" && log.format.value != "json") {
    diags.error(log.format.loc, "unknown format '" + log.format.value + "'" +
                                    suggestion(log.format.value, {"text", "json"}) +
                                    "; expected text or json");
  }
  if (log.path.set && log.path.value.empty()) {
    diags.error(log.path.loc, "must be stdout, stderr or a file path, got an empty string");
  }
}

void validateTimeouts(const TimeoutsSpec& t, Diagnostics& diags) {
  // A zero timeout would fire at once; drain 0 means "close at once" and is allowed.
  checkRange(t.connect, {1, kMaxTimeoutMs}, "ms", diags);
  checkRange(t.client_header, {1, kMaxTimeoutMs}, "ms", diags);
  checkRange(t.client_idle, {1, kMaxTimeoutMs}, "ms", diags);
  checkRange(t.client_body, {1, kMaxTimeoutMs}, "ms", diags);
  checkRange(t.upstream_response, {1, kMaxTimeoutMs}, "ms", diags);
  checkRange(t.upstream_idle, {1, kMaxTimeoutMs}, "ms", diags);
  checkRange(t.drain, {0, kMaxTimeoutMs}, "ms", diags);
}

void validateLimits(const LimitsSpec& l, Diagnostics& diags) {
  checkRange(l.max_header_bytes, {1024, 1048576}, "", diags);
  checkRange(l.max_headers, {1, 1000}, "", diags);
  checkRange(l.max_uri_bytes, {256, 1048576}, "", diags);
}

bool sameAddress(const SocketAddress& a, const SocketAddress& b) {
  return a.length == b.length && std::memcmp(&a.storage, &b.storage, a.length) == 0;
}

void validateListeners(const ConfigSpec& spec, Diagnostics& diags) {
  if (spec.listeners.empty()) {
    diags.error(spec.listeners_loc, "at least one listener is required");
  }
  std::vector<const Value<std::string>*> names;
  for (size_t i = 0; i < spec.listeners.size(); ++i) {
    const ListenerSpec& listener = spec.listeners[i];
    if (checkName(listener.name, "listener", diags)) names.push_back(&listener.name);
    validateTls(listener.tls, diags);
    validateListenerAccess(listener, diags);
    const Value<SocketAddress>& address = listener.address;
    if (!address.set || addressPort(address.value) == 0) continue;
    for (size_t j = 0; j < i; ++j) {
      const Value<SocketAddress>& other = spec.listeners[j].address;
      if (other.set && sameAddress(address.value, other.value)) {
        diags.error(address.loc, "address " + address.value.text + " is already used by " +
                                     other.loc.path + " at " + position(other.loc));
        break;
      }
    }
  }
  checkUnique(names, "listener", diags);
}

// Health check target and Host: what goes on the request line and in a
// header field must not be able to break the request (no spaces, no CTLs).
bool printable(std::string_view text) {
  for (char c : text) {
    if (c <= ' ' || c == 0x7f) return false;
  }
  return !text.empty();
}

void validateHealthCheck(const HealthCheckSpec& hc, Diagnostics& diags) {
  if (!hc.present) return;
  if (hc.path.set && (hc.path.value.front() != '/' || !printable(hc.path.value))) {
    diags.error(hc.path.loc, "must be a path starting with '/' with no spaces or control "
                             "characters, e.g. /healthz");
  }
  if (hc.host.set && !printable(hc.host.value))
    diags.error(hc.host.loc, "must be a host name with no spaces or control characters");
  checkRange(hc.interval, {100, kMaxTimeoutMs}, "ms", diags);
  checkRange(hc.timeout, {10, kMaxTimeoutMs}, "ms", diags);
  checkRange(hc.rise, {1, 100}, "", diags);
  checkRange(hc.fall, {1, 100}, "", diags);
  uint64_t interval = hc.interval.set ? hc.interval.value : HealthCheck{}.interval_ms;
  uint64_t timeout = hc.timeout.set ? hc.timeout.value : HealthCheck{}.timeout_ms;
  if (timeout > interval) {
    diags.error(hc.timeout.set ? hc.timeout.loc : hc.interval.loc,
                "the check timeout (" + std::to_string(timeout) +
                    " ms) must not exceed its "
                    "interval (" +
                    std::to_string(interval) + " ms)");
  }
  if (hc.expect_status.set) {
    uint16_t lo = 0, hi = 0;
    std::string error = parseStatusRange(hc.expect_status.value, &lo, &hi);
    if (!error.empty()) diags.error(hc.expect_status.loc, error);
  }
}

void validateOutlier(const OutlierSpec& outlier, Diagnostics& diags) {
  if (!outlier.present) return;
  checkRange(outlier.consecutive_failures, {1, 1000}, "", diags);
  checkRange(outlier.eject_for, {100, kMaxTimeoutMs}, "ms", diags);
  checkRange(outlier.max_ejected_percent, {0, 100}, "", diags);
}

void validateRetries(const RetriesSpec& retries, Diagnostics& diags) {
  if (!retries.present) return;
  checkRange(retries.attempts, {0, 10}, "", diags);
  static const std::vector<std::string_view> kOn = {"connect_failure", "reset_before_response",
                                                    "503"};
  for (const Value<std::string>& on : retries.on) {
    if (!on.set) continue;
    bool known = false;
    for (std::string_view k : kOn)
      known = known || on.value == k;
    if (!known) {
      diags.error(on.loc, "unknown retry condition '" + on.value + "'" + suggestion(on.value, kOn) +
                              "; expected connect_failure, reset_before_response or 503");
    }
  }
  if (retries.budget.set) {
    uint32_t percent = 0;
    std::string error = parsePercent(retries.budget.value, &percent);
    if (!error.empty()) diags.error(retries.budget.loc, error);
  }
}

// slow_start ramps a server that comes back; only checks and ejection take
// one out, and a keyed hash pick does not ramp (the key keeps its server).
void validateSlowStart(const PoolSpec& pool, Diagnostics& diags) {
  const Value<uint64_t>& slow = pool.slow_start;
  checkRange(slow, {0, kMaxTimeoutMs}, "ms", diags);
  if (!slow.set || slow.value == 0) return;
  if (!pool.health_check.present && !pool.outlier.present) {
    diags.warning(slow.loc, "slow_start has no effect without health_check or outlier: only a "
                            "server that was down or ejected comes back and ramps up");
  }
  if (pool.balance.set && pool.balance.value == "hash") {
    diags.warning(slow.loc, "with balance: hash, slow_start applies only to requests without "
                            "the hash_key; a keyed request goes to its server at once");
  }
}

void validatePool(const PoolSpec& pool, Diagnostics& diags) {
  validateBalancing(pool, diags);
  validatePoolTls(pool.tls, diags);
  validateHealthCheck(pool.health_check, diags);
  validateOutlier(pool.outlier, diags);
  validateRetries(pool.retries, diags);
  checkRange(pool.max_connections, {0, 1000000}, "", diags);
  checkRange(pool.max_pending, {0, 1000000}, "", diags);
  checkRange(pool.queue_timeout, {1, kMaxTimeoutMs}, "ms", diags);
  validateSlowStart(pool, diags);
  if (pool.max_pending.set && pool.max_pending.value > 0 &&
      !(pool.max_connections.set && pool.max_connections.value > 0)) {
    diags.error(pool.max_pending.loc, "max_pending queues requests for servers that are full: "
                                      "it needs max_connections");
  }
  if (pool.servers.empty()) {
    std::string name = pool.name.set ? "pool '" + pool.name.value + "'" : "a pool";
    diags.error(pool.loc, name + " needs at least one server");
  }
  std::vector<const Value<std::string>*> names;
  for (const ServerSpec& server : pool.servers) {
    if (checkName(server.name, "server", diags)) names.push_back(&server.name);
    checkRange(server.weight, {1, kMaxWeight}, "", diags);
  }
  checkUnique(names, "server", diags);
}

void validatePools(const ConfigSpec& spec, Diagnostics& diags) {
  if (spec.pools.empty()) diags.error(spec.pools_loc, "at least one pool is required");
  std::vector<const Value<std::string>*> names;
  for (const PoolSpec& pool : spec.pools) {
    if (checkName(pool.name, "pool", diags)) names.push_back(&pool.name);
    validatePool(pool, diags);
  }
  checkUnique(names, "pool", diags);
}

} // namespace

bool checkName(const Value<std::string>& name, std::string_view what, Diagnostics& diags) {
  if (!name.set) return false;
  const std::string& text = name.value;
  bool ok = !text.empty() && text.size() <= kMaxNameLength;
  for (char c : text) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '_' || c == '-' || c == '.');
  }
  if (!ok) {
    diags.error(name.loc, "invalid " + std::string(what) + " name '" + text +
                              "': use 1 to 64 letters, digits, '_', '-' or '.'");
  }
  return ok;
}

void checkUnique(const std::vector<const Value<std::string>*>& names, std::string_view what,
                 Diagnostics& diags) {
  std::unordered_map<std::string_view, const Value<std::string>*> first;
  for (const Value<std::string>* name : names) {
    auto [it, inserted] = first.emplace(name->value, name);
    if (inserted) continue;
    diags.error(name->loc, "duplicate " + std::string(what) + " name '" + name->value +
                               "' (first defined at " + position(it->second->loc) + ")");
  }
}

bool isLoopback(const SocketAddress& address) {
  if (address.storage.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&address.storage);
    return (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
  }
  if (address.storage.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&address.storage);
    return IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr) != 0;
  }
  return false;
}

// The admin listener can reload the config and take servers out: it is
// for the operator's machine only, so only a loopback address is accepted
// (reach it remotely through an SSH tunnel), and never one a listener uses.
void validateAdmin(const ConfigSpec& spec, Diagnostics& diags) {
  const Value<SocketAddress>& address = spec.admin.address;
  if (!spec.admin.present || !address.set) return;
  if (!isLoopback(address.value)) {
    diags.error(address.loc, "the admin listener must be on a loopback address (127.0.0.1 or "
                             "[::1]), got " + address.value.text +
                             ": it can reload the config and take servers out of rotation");
  }
  if (addressPort(address.value) == 0) return;
  for (const ListenerSpec& listener : spec.listeners) {
    if (listener.address.set && sameAddress(address.value, listener.address.value)) {
      diags.error(address.loc, "address " + address.value.text + " is already used by " +
                                   listener.address.loc.path + " at " +
                                   position(listener.address.loc));
    }
  }
}

void validate(const ConfigSpec& spec, Diagnostics& diags) {
  validateWorkers(spec.workers, diags);
  validateAccessLog(spec.access_log, diags);
  validateListeners(spec, diags);
  validateAdmin(spec, diags);
  validateTimeouts(spec.timeouts, diags);
  validateLimits(spec.limits, diags);
  validatePools(spec, diags);
  validateRoutes(spec, diags);
}

} // namespace proxy::config
