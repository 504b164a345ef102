#include "proxy/config/compile.h"

#include <strings.h>

#include <algorithm>
#include <thread>
#include <unordered_map>
#include <utility>

#include "proxy/config/secrets.h"
#include "proxy/config/validate.h"
#include "proxy/config/values.h"
#include "routing/sticky.h"

namespace proxy::config {
namespace {

template <typename T, typename U> void assignIf(const Value<U>& value, T* out) {
  if (value.set) *out = static_cast<T>(value.value);
}

unsigned workerCount(const WorkersSpec& workers) {
  if (workers.auto_workers) {
    unsigned cores = std::thread::hardware_concurrency(); // 0 when unknown
    return std::clamp(cores, 1u, static_cast<unsigned>(kMaxWorkers));
  }
  return workers.count.set ? static_cast<unsigned>(workers.count.value) : 1;
}

AccessLog accessLog(const AccessLogSpec& spec) {
  AccessLog log;
  log.enabled = spec.enabled;
  if (spec.format.set)
    log.format = spec.format.value == "json" ? LogFormat::kJson : LogFormat::kText;
  if (spec.path.set) log.path = spec.path.value;
  return log;
}

Timeouts timeouts(const TimeoutsSpec& spec) {
  Timeouts t;
  assignIf(spec.connect, &t.connect);
  assignIf(spec.client_header, &t.client_header);
  assignIf(spec.client_idle, &t.client_idle);
  assignIf(spec.client_body, &t.client_body);
  assignIf(spec.upstream_response, &t.upstream_response);
  assignIf(spec.upstream_idle, &t.upstream_idle);
  assignIf(spec.drain, &t.drain);
  return t;
}

Limits limits(const LimitsSpec& spec) {
  Limits l;
  assignIf(spec.max_header_bytes, &l.max_header_bytes);
  assignIf(spec.max_headers, &l.max_headers);
  assignIf(spec.max_uri_bytes, &l.max_uri_bytes);
  assignIf(spec.max_body_bytes, &l.max_body_bytes);
  return l;
}

Balance balance(const Value<std::string>& name) {
  if (!name.set) return Balance::kRoundRobin;
  if (name.value == "least_conn") return Balance::kLeastConn;
  if (name.value == "random_two") return Balance::kRandomTwo;
  if (name.value == "hash") return Balance::kHash;
  return Balance::kRoundRobin;
}

// Canonical spelling of a SameSite value validate() accepted in any case.
std::string sameSite(const Value<std::string>& value) {
  for (const char* word : {"Strict", "Lax", "None"}) {
    if (value.set && strcasecmp(value.value.c_str(), word) == 0) return word;
  }
  return Sticky{}.samesite;
}

// Returns false (and reports) only when no key could be generated.
bool sticky(const PoolSpec& spec, Sticky* out, Diagnostics& diags) {
  const StickySpec& s = spec.sticky;
  out->enabled = s.present;
  if (!s.present) return true;
  if (s.cookie.set) out->cookie = s.cookie.value;
  assignIf(s.ttl, &out->ttl_seconds);
  if (s.secure.set) {
    out->secure = s.secure.value == "true"    ? Sticky::Secure::kAlways
                  : s.secure.value == "false" ? Sticky::Secure::kNever
                                              : Sticky::Secure::kAuto;
  }
  assignIf(s.httponly, &out->httponly);
  out->samesite = sameSite(s.samesite);
  for (const Value<std::string>& secret : s.secrets)
    out->secrets.push_back(secret.value);
  if (!out->secrets.empty()) return true;
  // validate() warned that this key dies with the process.
  std::string secret;
  std::string error = processSecret(spec.name.value, &secret);
  if (!error.empty()) {
    diags.error(s.loc, "cannot generate a sticky secret: " + error);
    return false;
  }
  out->secrets.push_back(std::move(secret));
  out->generated_secret = true;
  return true;
}

bool pool(const PoolSpec& spec, Pool* pool, Diagnostics& diags) {
  pool->name = spec.name.value;
  pool->balance = balance(spec.balance);
  if (spec.hash_key.set) pool->hash_key = spec.hash_key.value;
  for (const ServerSpec& server_spec : spec.servers) {
    Server server;
    server.name = server_spec.name.value;
    server.address = server_spec.address.value;
    assignIf(server_spec.weight, &server.weight);
    pool->server_ids.push_back(routing::stickyServerId(pool->name, server.name));
    pool->servers.push_back(std::move(server));
  }
  if (spec.health_check.present) {
    const HealthCheckSpec& hc = spec.health_check;
    HealthCheck& out = pool->health;
    out.enabled = true;
    assignIf(hc.path, &out.path);
    assignIf(hc.host, &out.host);
    assignIf(hc.interval, &out.interval_ms);
    assignIf(hc.timeout, &out.timeout_ms);
    assignIf(hc.rise, &out.rise);
    assignIf(hc.fall, &out.fall);
    if (hc.expect_status.set)
      parseStatusRange(hc.expect_status.value, &out.expect_min, &out.expect_max);
  }
  if (spec.outlier.present) {
    Outlier& out = pool->outlier;
    out.enabled = true;
    assignIf(spec.outlier.consecutive_failures, &out.consecutive_failures);
    assignIf(spec.outlier.eject_for, &out.eject_ms);
    assignIf(spec.outlier.max_ejected_percent, &out.max_ejected_percent);
  }
  if (spec.retries.present) {
    const RetriesSpec& rs = spec.retries;
    Retries& out = pool->retries;
    assignIf(rs.attempts, &out.attempts);
    if (rs.has_on) {
      out.on_connect_failure = out.on_reset_before_response = out.on_503 = false;
      for (const Value<std::string>& on : rs.on) {
        out.on_connect_failure = out.on_connect_failure || on.value == "connect_failure";
        out.on_reset_before_response =
            out.on_reset_before_response || on.value == "reset_before_response";
        out.on_503 = out.on_503 || on.value == "503";
      }
    }
    if (rs.budget.set) parsePercent(rs.budget.value, &out.budget_percent);
  }
  assignIf(spec.max_connections, &pool->max_connections);
  assignIf(spec.max_pending, &pool->max_pending);
  assignIf(spec.queue_timeout, &pool->queue_timeout_ms);
  assignIf(spec.slow_start, &pool->slow_start_ms);
  return sticky(spec, &pool->sticky, diags);
}

std::vector<std::pair<std::string, std::string>> patterns(const std::vector<PatternSpec>& specs) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const PatternSpec& spec : specs)
    out.emplace_back(spec.name.value, spec.regex.value);
  return out;
}

routing::MatchDef matchDef(const MatchSpec& spec) {
  routing::MatchDef def;
  def.host_regex = spec.host.set ? spec.host.value : "";
  if (spec.path.set) {
    def.path_kind = routing::PathKind::kExact;
    def.path = spec.path.value;
  } else if (spec.path_prefix.set) {
    def.path_kind = routing::PathKind::kPrefix;
    def.path = spec.path_prefix.value;
  } else if (spec.path_regex.set) {
    def.path_kind = routing::PathKind::kRegex;
    def.path = spec.path_regex.value;
  }
  for (const Value<std::string>& method : spec.methods)
    def.methods.push_back(method.value);
  def.headers = patterns(spec.headers);
  def.cookies = patterns(spec.cookies);
  def.query = patterns(spec.query);
  def.sources = sourceRules(spec.source);
  return def;
}

Split split(const SplitSpec& spec, const std::unordered_map<std::string_view, uint32_t>& pools) {
  Split split;
  split.experiment = spec.experiment.value;
  split.key = spec.key.value;
  if (spec.assign_cookie.set) split.assign_cookie = spec.assign_cookie.value;
  if (spec.override_key.set) split.override_key = spec.override_key.value;
  for (const SplitVariantSpec& variant : spec.variants) {
    split.variants.push_back(SplitVariant{variant.name.value, pools.at(variant.pool.value),
                                          static_cast<uint32_t>(variant.weight.value)});
  }
  return split;
}

// Fills snapshot->splits and ->actions; returns the route definitions.
// validate() checked every pool reference, so at() does not throw.
std::vector<routing::RouteDef> routeDefs(const ConfigSpec& spec, Snapshot* snapshot) {
  std::unordered_map<std::string_view, uint32_t> pool_index;
  for (size_t i = 0; i < spec.pools.size(); ++i) {
    pool_index.emplace(spec.pools[i].name.value, static_cast<uint32_t>(i));
  }
  std::vector<routing::RouteDef> defs;
  for (const RouteSpec& route : spec.routes) {
    routing::RouteDef def;
    def.name = route.name.value;
    def.match = matchDef(route.match);
    RouteAction action;
    if (route.redirect.present) {
      const RedirectSpec& redirect = route.redirect;
      action.kind = RouteAction::Kind::kRedirect;
      if (redirect.scheme.set) action.redirect_scheme = redirect.scheme.value;
      assignIf(redirect.port, &action.redirect_port);
      assignIf(redirect.status, &action.redirect_status);
      def.target = 0; // unused; validate() requires a pool, so 0 is a valid index
    } else if (route.split.present) {
      action.kind = RouteAction::Kind::kSplit;
      action.split = static_cast<uint32_t>(snapshot->splits.size());
      snapshot->splits.push_back(split(route.split, pool_index));
      // Not used for routing, but kept a valid pool index all the same.
      def.target = snapshot->splits.back().variants.front().pool;
    } else {
      action.pool = pool_index.at(route.pool.value);
      def.target = action.pool;
    }
    snapshot->actions.push_back(action);
    defs.push_back(std::move(def));
  }
  return defs;
}

} // namespace

std::shared_ptr<const Snapshot> compile(const ConfigSpec& spec, const std::string& source,
                                        Diagnostics& diags) {
  auto snapshot = std::make_shared<Snapshot>();
  snapshot->source = source;
  snapshot->workers = workerCount(spec.workers);
  snapshot->access_log = accessLog(spec.access_log);
  if (spec.splice.set) snapshot->splice = spec.splice.value;
  if (spec.admin.present && spec.admin.address.set) snapshot->admin = spec.admin.address.value;
  // Every listener's TLS problems are reported before giving up.
  bool tls_ok = true;
  for (const ListenerSpec& listener : spec.listeners) {
    Listener& out = snapshot->listeners.emplace_back();
    out.name = listener.name.value;
    out.address = listener.address.value;
    tls_ok = compileTls(listener.tls, &out, diags) && tls_ok;
    compileListenerAccess(listener.access, &out);
  }
  if (!tls_ok) return nullptr;
  snapshot->timeouts = timeouts(spec.timeouts);
  snapshot->limits = limits(spec.limits);
  // Every pool's TLS problems are reported before giving up.
  bool pools_ok = true;
  for (const PoolSpec& pool_spec : spec.pools) {
    Pool& out = snapshot->pools.emplace_back();
    pools_ok = compilePoolTls(pool_spec.tls, &out, diags) && pools_ok;
    if (!pool(pool_spec, &out, diags)) return nullptr;
  }
  if (!pools_ok) return nullptr;
  std::string error;
  snapshot->routes = routing::RouteTable::build(routeDefs(spec, snapshot.get()), &error);
  if (snapshot->routes == nullptr) {
    diags.error(spec.routes_loc, "cannot build the route table: " + error);
    return nullptr;
  }
  return snapshot;
}

} // namespace proxy::config
