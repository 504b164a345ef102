#include "proxy/config/compile.h"

#include <algorithm>
#include <thread>
#include <unordered_map>
#include <utility>

#include "proxy/config/validate.h"

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
  assignIf(spec.upstream_response, &t.upstream_response);
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

Pool pool(const PoolSpec& spec) {
  Pool pool;
  pool.name = spec.name.value;
  pool.balance = Balance::kRoundRobin; // the only one validate() accepts
  for (const ServerSpec& server_spec : spec.servers) {
    Server server;
    server.name = server_spec.name.value;
    server.address = server_spec.address.value;
    assignIf(server_spec.weight, &server.weight);
    pool.servers.push_back(std::move(server));
  }
  return pool;
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
  return def;
}

std::vector<routing::RouteDef> routeDefs(const ConfigSpec& spec) {
  std::unordered_map<std::string_view, uint32_t> pool_index;
  for (size_t i = 0; i < spec.pools.size(); ++i) {
    pool_index.emplace(spec.pools[i].name.value, static_cast<uint32_t>(i));
  }
  std::vector<routing::RouteDef> defs;
  for (const RouteSpec& route : spec.routes) {
    routing::RouteDef def;
    def.name = route.name.value;
    def.match = matchDef(route.match);
    def.target = pool_index.at(route.pool.value); // validate() checked the reference
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
  for (const ListenerSpec& listener : spec.listeners) {
    snapshot->listeners.push_back(Listener{listener.name.value, listener.address.value});
  }
  snapshot->timeouts = timeouts(spec.timeouts);
  snapshot->limits = limits(spec.limits);
  for (const PoolSpec& pool_spec : spec.pools)
    snapshot->pools.push_back(pool(pool_spec));
  std::string error;
  snapshot->routes = routing::RouteTable::build(routeDefs(spec), &error);
  if (snapshot->routes == nullptr) {
    diags.error(spec.routes_loc, "cannot build the route table: " + error);
    return nullptr;
  }
  return snapshot;
}

} // namespace proxy::config
