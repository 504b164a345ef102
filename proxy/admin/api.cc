#include "proxy/admin/api.h"

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>

#include "proxy/admin/assets.h"
#include "proxy/admin/explain.h"

namespace proxy::admin {
namespace {

// ---- output helpers -------------------------------------------------------

void appendf(std::string* out, const char* format, ...) __attribute__((format(printf, 2, 3)));
void appendf(std::string* out, const char* format, ...) {
  char buf[256];
  va_list args;
  va_start(args, format);
  int n = vsnprintf(buf, sizeof buf, format, args);
  va_end(args);
  if (n > 0) out->append(buf, std::min<size_t>(static_cast<size_t>(n), sizeof buf - 1));
}

// A Prometheus label value: backslash, double quote and newline escaped.
std::string label(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string number(double v) {
  if (std::isnan(v) || std::isinf(v)) return "0";
  char buf[32];
  snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

const char* balanceName(config::Balance b) {
  switch (b) {
  case config::Balance::kLeastConn: return "least_conn";
  case config::Balance::kRandomTwo: return "random_two";
  case config::Balance::kHash: return "hash";
  case config::Balance::kRoundRobin: break;
  }
  return "round_robin";
}

const char* stateName(AdminState s) {
  switch (s) {
  case AdminState::kDrain: return "drain";
  case AdminState::kMaint: return "maint";
  case AdminState::kReady: break;
  }
  return "ready";
}

// "up", "down" (active checks) or "ejected" (outlier).
const char* healthName(const HealthBoard& board, size_t pool, size_t server, uint64_t now_ms) {
  if (!board.checkUp(pool, server)) return "down";
  if (board.ejected(pool, server, now_ms)) return "ejected";
  return "up";
}

const char* kStatusClass[TrafficStats::kStatusClasses] = {"none", "1xx", "2xx",
                                                          "3xx",  "4xx", "5xx"};

// Requests an A/B variant got, by the hash or forced by the override.
uint64_t variantRequests(const TrafficStats& st, size_t split, size_t variant) {
  return st.variantCount(split, variant, &TrafficStats::Variant::assigned) +
         st.variantCount(split, variant, &TrafficStats::Variant::overridden);
}

std::string routeName(const config::Snapshot& snap, size_t route) {
  return route < snap.routes->size() ? snap.routes->route(route).name : std::string("(no route)");
}

// One histogram series (_bucket cumulative, _sum, _count) with `labels`.
void appendHistogram(std::string* out, const std::string& name, const std::string& labels,
                     const TrafficStats::Sums& sums) {
  uint64_t cumulative = 0;
  for (size_t b = 0; b <= kLatencyBuckets.size(); ++b) {
    cumulative += sums.buckets[b];
    const std::string le = b < kLatencyBuckets.size() ? number(kLatencyBuckets[b]) : "+Inf";
    *out += name + "_bucket{" + labels + ",le=\"" + le + "\"} " + std::to_string(cumulative) + "\n";
  }
  *out += name + "_sum{" + labels + "} " + number(static_cast<double>(sums.sum_us) / 1e6) + "\n";
  *out += name + "_count{" + labels + "} " + std::to_string(cumulative) + "\n";
}

// A family with one sample per listener: value(l) for listener l.
template <class Value>
void appendListenerFamily(std::string* out, const config::Snapshot& snap, const char* name,
                          const char* type, const char* help, Value value) {
  appendf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
  for (size_t l = 0; l < snap.listeners.size(); ++l) {
    appendf(out, "%s{listener=\"%s\"} %" PRIu64 "\n", name, label(snap.listeners[l].name).c_str(),
            static_cast<uint64_t>(value(l)));
  }
}

// A family with one sample per worker thread: value(w) for worker w.
template <class Value>
void appendWorkerFamily(std::string* out, unsigned workers, const char* name, const char* type,
                        const char* help, Value value) {
  appendf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
  for (unsigned w = 0; w < workers; ++w)
    appendf(out, "%s{worker=\"%u\"} %" PRIu64 "\n", name, w, static_cast<uint64_t>(value(w)));
}

Response json(int status, std::string body) {
  return {status, "application/json", std::move(body), ""};
}

// The page is one document with inline script and style; it talks to this
// origin only.
constexpr const char* kPageHeaders =
    "Content-Security-Policy: default-src 'none'; script-src 'unsafe-inline'; style-src "
    "'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'\r\n"
    "Referrer-Policy: no-referrer\r\n";

Response error(int status, std::string_view message) {
  return json(status, "{\"error\":" + jsonString(message) + "}\n");
}

// ---- a strict reader for the flat JSON object of PUT bodies ---------------

class FlatJson {
public:
  explicit FlatJson(std::string_view text) : s_(text) {}
  // Parses {"key": "string" | integer, ...}; false with error() set otherwise.
  template <class OnField> bool parse(OnField&& onField) {
    skip();
    if (!eat('{')) return fail("expected a JSON object");
    skip();
    if (eat('}')) return end();
    for (;;) {
      std::string key, text;
      skip();
      if (!readString(&key)) return fail("expected a quoted field name");
      skip();
      if (!eat(':')) return fail("expected ':' after \"" + key + "\"");
      skip();
      bool is_string = at() == '"';
      int64_t value = 0;
      if (is_string) {
        if (!readString(&text)) return fail("bad string for \"" + key + "\"");
      } else if (!readInteger(&value)) {
        return fail("\"" + key + "\" must be a string or a whole number");
      }
      std::string problem = onField(key, is_string, text, value);
      if (!problem.empty()) return fail(problem);
      skip();
      if (eat('}')) return end();
      if (!eat(',')) return fail("expected ',' or '}'");
    }
  }
  const std::string& error() const { return error_; }

private:
  char at() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  bool eat(char c) {
    if (at() != c) return false;
    ++i_;
    return true;
  }
  void skip() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r'))
      ++i_;
  }
  bool end() {
    skip();
    return i_ == s_.size() || fail("unexpected text after the object");
  }
  bool fail(std::string why) {
    error_ = std::move(why);
    return false;
  }
  // Names and states are plain ASCII: escapes other than \" and \\ are refused.
  bool readString(std::string* out) {
    if (!eat('"')) return false;
    while (i_ < s_.size() && s_[i_] != '"') {
      char c = s_[i_++];
      if (c == '\\') {
        if (i_ >= s_.size() || (s_[i_] != '"' && s_[i_] != '\\')) return false;
        c = s_[i_++];
      } else if (static_cast<unsigned char>(c) < 0x20) {
        return false;
      }
      out->push_back(c);
      if (out->size() > 256) return false;
    }
    return eat('"');
  }
  bool readInteger(int64_t* out) {
    size_t start = i_;
    if (at() == '-') ++i_;
    while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9')
      ++i_;
    if (i_ == start || i_ - start > 12) return false;
    *out = std::strtoll(std::string(s_.substr(start, i_ - start)).c_str(), nullptr, 10);
    return true;
  }

  std::string_view s_;
  size_t i_ = 0;
  std::string error_;
};

// ---- handlers ---------------------------------------------------------------

std::string serverJson(Control& control, size_t p, size_t s) {
  const Generation& g = control.current();
  const config::Server& server = g.snapshot->pools[p].servers[s];
  const HealthBoard& board = *g.health;
  const uint32_t weight = board.weightOverride(p, s);
  std::string out =
      "{\"name\":" + jsonString(server.name) + ",\"address\":" + jsonString(server.address.text);
  appendf(&out, ",\"weight\":%u,\"configured_weight\":%u", weight != 0 ? weight : server.weight,
          server.weight);
  out += ",\"state\":\"" + std::string(stateName(board.adminState(p, s))) + "\"";
  out += ",\"health\":\"" + std::string(healthName(board, p, s, control.nowMs())) + "\"";
  appendf(&out, ",\"active\":%u", board.busy(p, s));
  appendf(&out, ",\"requests\":%" PRIu64 ",\"failures\":%" PRIu64, g.stats->serverRequests(p, s),
          g.stats->serverFailures(p, s));
  out += "}";
  return out;
}

std::string poolsArray(Control& control) {
  const config::Snapshot& snap = *control.current().snapshot;
  std::string out = "[";
  for (size_t p = 0; p < snap.pools.size(); ++p) {
    const config::Pool& pool = snap.pools[p];
    if (p > 0) out += ",";
    out += "{\"name\":" + jsonString(pool.name) + ",\"balance\":\"" + balanceName(pool.balance) +
           "\",\"servers\":[";
    for (size_t s = 0; s < pool.servers.size(); ++s) {
      if (s > 0) out += ",";
      out += serverJson(control, p, s);
    }
    out += "]}";
  }
  return out + "]";
}

bool findServer(const config::Snapshot& snap, std::string_view pool, std::string_view server,
                size_t* p, size_t* s) {
  for (*p = 0; *p < snap.pools.size(); ++*p) {
    if (snap.pools[*p].name != pool) continue;
    const std::vector<config::Server>& servers = snap.pools[*p].servers;
    for (*s = 0; *s < servers.size(); ++*s) {
      if (servers[*s].name == server) return true;
    }
    return false;
  }
  return false;
}

Response putServer(const Request& req, Control& control, std::string_view pool,
                   std::string_view server) {
  const Generation& g = control.current();
  size_t p = 0, s = 0;
  if (!findServer(*g.snapshot, pool, server, &p, &s)) {
    return error(404, "no server '" + std::string(server) + "' in pool '" + std::string(pool) +
                          "'; GET /api/pools lists them");
  }
  bool has_state = false, has_weight = false;
  AdminState state = AdminState::kReady;
  uint32_t weight = 0;
  FlatJson body(req.body);
  bool ok = body.parse([&](const std::string& key, bool is_string, const std::string& text,
                           int64_t value) -> std::string {
    if (key == "state") {
      if (!is_string) return "\"state\" must be \"ready\", \"drain\" or \"maint\"";
      has_state = true;
      if (text == "ready") {
        state = AdminState::kReady;
      } else if (text == "drain") {
        state = AdminState::kDrain;
      } else if (text == "maint") {
        state = AdminState::kMaint;
      } else {
        return "unknown state \"" + text + "\": expected \"ready\", \"drain\" or \"maint\"";
      }
      return "";
    }
    if (key == "weight") {
      if (is_string || value < 0 || value > 1000000)
        return "\"weight\" must be a whole number from 1 to 1000000 (0 restores the configured "
               "one)";
      has_weight = true;
      weight = static_cast<uint32_t>(value);
      return "";
    }
    return "unknown field \"" + key + "\": expected \"state\" and/or \"weight\"";
  });
  if (!ok) return error(400, body.error());
  if (!has_state && !has_weight)
    return error(400, "nothing to change: send \"state\" and/or \"weight\"");
  if (has_weight) g.health->setWeight(p, s, weight);
  if (has_state) {
    const AdminState was = g.health->adminState(p, s);
    g.health->setAdminState(p, s, state);
    if (was != state) {
      fprintf(stderr, "switchyard: admin: pool=%s server=%s state %s -> %s\n",
              g.snapshot->pools[p].name.c_str(), g.snapshot->pools[p].servers[s].name.c_str(),
              stateName(was), stateName(state));
      fflush(stderr);
    }
  }
  return json(200, serverJson(control, p, s) + "\n");
}

Response reload(Control& control) {
  ReloadOutcome r = control.reload();
  std::string out = r.ok ? "{\"result\":\"ok\"" : "{\"result\":\"failed\"";
  appendf(&out, ",\"generation\":%" PRIu64, r.generation);
  out += ",\"errors\":[";
  for (size_t i = 0; i < r.errors.size(); ++i)
    out += (i ? "," : "") + jsonString(r.errors[i]);
  out += "],\"warnings\":[";
  for (size_t i = 0; i < r.warnings.size(); ++i)
    out += (i ? "," : "") + jsonString(r.warnings[i]);
  out += "]}\n";
  return json(r.ok ? 200 : 422, std::move(out));
}

bool allowed(const Request& req, std::string_view method, Response* out) {
  if (req.method == method) return true;
  *out = error(405, "use " + std::string(method) + " for " + std::string(req.path));
  return false;
}

} // namespace

bool percentDecode(std::string_view in, bool plus_is_space, std::string* out) {
  auto hex = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (plus_is_space && in[i] == '+') {
      out->push_back(' ');
    } else if (in[i] != '%') {
      out->push_back(in[i]);
    } else if (i + 2 < in.size() && hex(in[i + 1]) >= 0 && hex(in[i + 2]) >= 0) {
      out->push_back(static_cast<char>(hex(in[i + 1]) * 16 + hex(in[i + 2])));
      i += 2;
    } else {
      return false;
    }
  }
  return true;
}

std::string jsonString(std::string_view text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      appendf(&out, "\\u%04x", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

std::string metricsText(Control& control) {
  const Generation& g = control.current();
  const config::Snapshot& snap = *g.snapshot;
  const TrafficStats& st = *g.stats;
  std::string out;
  out +=
      "# HELP switchyard_config_generation Config generation running (1 at start, +1 per reload).\n"
      "# TYPE switchyard_config_generation gauge\n";
  appendf(&out, "switchyard_config_generation %" PRIu64 "\n", g.number);
  out += "# HELP switchyard_config_reloads_total Config reloads by result.\n"
         "# TYPE switchyard_config_reloads_total counter\n";
  appendf(&out, "switchyard_config_reloads_total{result=\"ok\"} %" PRIu64 "\n",
          control.reloads(true));
  appendf(&out, "switchyard_config_reloads_total{result=\"failed\"} %" PRIu64 "\n",
          control.reloads(false));
  out += "# HELP switchyard_config_last_reload_successful 1 unless the last reload failed.\n"
         "# TYPE switchyard_config_last_reload_successful gauge\n";
  appendf(&out, "switchyard_config_last_reload_successful %d\n", control.lastReloadOk() ? 1 : 0);
  out += "# HELP switchyard_uptime_seconds Seconds since the process started.\n"
         "# TYPE switchyard_uptime_seconds gauge\n";
  out += "switchyard_uptime_seconds " + number(control.uptimeSeconds()) + "\n";

  // Per route: requests by status class and the latency histogram. Counters
  // start from zero at each config generation.
  out += "# HELP switchyard_requests_total Requests by route and response status class.\n"
         "# TYPE switchyard_requests_total counter\n";
  for (size_t r = 0; r <= st.routes(); ++r) {
    const std::string name = label(routeName(snap, r));
    for (size_t c = 0; c < TrafficStats::kStatusClasses; ++c) {
      appendf(&out, "switchyard_requests_total{route=\"%s\",status_class=\"%s\"} %" PRIu64 "\n",
              name.c_str(), kStatusClass[c], st.routeStatus(r, c));
    }
  }
  out += "# HELP switchyard_request_duration_seconds Time from the first request byte to the "
         "last response byte, by route.\n"
         "# TYPE switchyard_request_duration_seconds histogram\n";
  for (size_t r = 0; r <= st.routes(); ++r)
    appendHistogram(&out, "switchyard_request_duration_seconds",
                    "route=\"" + label(routeName(snap, r)) + "\"", st.routeLatency(r));
  out += "# HELP switchyard_upstream_connect_duration_seconds Time to open a new upstream "
         "connection (TCP connect, and the TLS handshake for a tls: pool), by pool.\n"
         "# TYPE switchyard_upstream_connect_duration_seconds histogram\n";
  for (size_t p = 0; p < snap.pools.size(); ++p)
    appendHistogram(&out, "switchyard_upstream_connect_duration_seconds",
                    "pool=\"" + label(snap.pools[p].name) + "\"",
                    st.poolLatency(p, &TrafficStats::Pool::connect));
  out += "# HELP switchyard_upstream_response_duration_seconds Time from sending the request "
         "head upstream to receiving the response head, by pool.\n"
         "# TYPE switchyard_upstream_response_duration_seconds histogram\n";
  for (size_t p = 0; p < snap.pools.size(); ++p)
    appendHistogram(&out, "switchyard_upstream_response_duration_seconds",
                    "pool=\"" + label(snap.pools[p].name) + "\"",
                    st.poolLatency(p, &TrafficStats::Pool::response));
  out += "# HELP switchyard_upstream_connections Upstream connections now, serving an exchange "
         "(active) or kept alive for the next (idle).\n"
         "# TYPE switchyard_upstream_connections gauge\n";
  for (size_t p = 0; p < snap.pools.size(); ++p) {
    for (size_t s = 0; s < snap.pools[p].servers.size(); ++s) {
      const std::string labels = "pool=\"" + label(snap.pools[p].name) + "\",server=\"" +
                                 label(snap.pools[p].servers[s].name) + "\"";
      appendf(&out, "switchyard_upstream_connections{%s,state=\"active\"} %" PRIu64 "\n",
              labels.c_str(), st.serverGauge(p, s, &TrafficStats::Server::active));
      appendf(&out, "switchyard_upstream_connections{%s,state=\"idle\"} %" PRIu64 "\n",
              labels.c_str(), st.serverGauge(p, s, &TrafficStats::Server::idle));
    }
  }

  out += "# HELP switchyard_upstream_requests_total Exchanges sent to a server, by response "
         "status class (none: no usable response).\n"
         "# TYPE switchyard_upstream_requests_total counter\n";
  for (size_t p = 0; p < snap.pools.size(); ++p) {
    for (size_t s = 0; s < snap.pools[p].servers.size(); ++s) {
      for (size_t c = 0; c < TrafficStats::kStatusClasses; ++c) {
        appendf(&out,
                "switchyard_upstream_requests_total{pool=\"%s\",server=\"%s\",status_class=\"%s\"} "
                "%" PRIu64 "\n",
                label(snap.pools[p].name).c_str(), label(snap.pools[p].servers[s].name).c_str(),
                kStatusClass[c], st.serverStatus(p, s, c));
      }
    }
  }
  out += "# HELP switchyard_upstream_failures_total Exchanges with a server that failed (5xx, "
         "refused, reset, timed out).\n"
         "# TYPE switchyard_upstream_failures_total counter\n";
  for (size_t p = 0; p < snap.pools.size(); ++p) {
    for (size_t s = 0; s < snap.pools[p].servers.size(); ++s) {
      appendf(&out, "switchyard_upstream_failures_total{pool=\"%s\",server=\"%s\"} %" PRIu64 "\n",
              label(snap.pools[p].name).c_str(), label(snap.pools[p].servers[s].name).c_str(),
              st.serverFailures(p, s));
    }
  }
  out += "# HELP switchyard_server_up 1 when the server may get new requests (up, not "
         "ejected, state ready).\n"
         "# TYPE switchyard_server_up gauge\n";
  const uint64_t now = control.nowMs();
  for (size_t p = 0; p < snap.pools.size(); ++p) {
    for (size_t s = 0; s < snap.pools[p].servers.size(); ++s) {
      appendf(&out, "switchyard_server_up{pool=\"%s\",server=\"%s\"} %d\n",
              label(snap.pools[p].name).c_str(), label(snap.pools[p].servers[s].name).c_str(),
              g.health->available(p, s, now) ? 1 : 0);
    }
  }
  out += "# HELP switchyard_server_health Health verdict: up, down (active checks) or ejected "
         "(outlier), one series per verdict.\n"
         "# TYPE switchyard_server_health gauge\n";
  out += "# HELP switchyard_server_state Operator's state: ready, drain or maint.\n"
         "# TYPE switchyard_server_state gauge\n";
  for (size_t p = 0; p < snap.pools.size(); ++p) {
    for (size_t s = 0; s < snap.pools[p].servers.size(); ++s) {
      const std::string pool = label(snap.pools[p].name);
      const std::string server = label(snap.pools[p].servers[s].name);
      const std::string_view health = healthName(*g.health, p, s, now);
      for (const char* h : {"up", "down", "ejected"}) {
        appendf(&out, "switchyard_server_health{pool=\"%s\",server=\"%s\",health=\"%s\"} %d\n",
                pool.c_str(), server.c_str(), h, health == h ? 1 : 0);
      }
      const std::string_view state = stateName(g.health->adminState(p, s));
      for (const char* a : {"ready", "drain", "maint"}) {
        appendf(&out, "switchyard_server_state{pool=\"%s\",server=\"%s\",state=\"%s\"} %d\n",
                pool.c_str(), server.c_str(), a, state == a ? 1 : 0);
      }
    }
  }
  out += "# HELP switchyard_retries_total Requests sent again to another server.\n"
         "# TYPE switchyard_retries_total counter\n";
  appendf(&out, "switchyard_retries_total %" PRIu64 "\n", st.retries());
  appendWorkerFamily(&out, st.workers(), "switchyard_worker_requests_total", "counter",
                     "Requests finished, by worker thread.",
                     [&st](unsigned w) { return st.workerRequests(w); });
  appendWorkerFamily(&out, st.workers(), "switchyard_worker_connections", "gauge",
                     "Client connections open now, by worker thread (accepted since the last "
                     "reload).",
                     [&st](unsigned w) { return st.workerOpenConnections(w); });
  out += "# HELP switchyard_response_bytes_spliced_total Response body bytes moved from "
         "server to client socket inside the kernel (splice).\n"
         "# TYPE switchyard_response_bytes_spliced_total counter\n";
  appendf(&out, "switchyard_response_bytes_spliced_total %" PRIu64 "\n", st.splicedBytes());

  const auto listenerCount = [&](Counter TrafficStats::Listener::*which) {
    return [&st, which](size_t l) { return st.listenerCount(l, which); };
  };
  appendListenerFamily(&out, snap, "switchyard_downstream_connections_total", "counter",
                       "Client connections accepted, by listener.",
                       listenerCount(&TrafficStats::Listener::accepted));
  appendListenerFamily(&out, snap, "switchyard_downstream_connections_open", "gauge",
                       "Client connections open now, by listener (accepted since the last "
                       "reload).",
                       [&st](size_t l) { return st.listenerOpen(l); });
  appendListenerFamily(&out, snap, "switchyard_downstream_connections_busy", "gauge",
                       "Client connections holding request state: a request in progress or its "
                       "first bytes; the rest of the open ones are idle, by listener.",
                       listenerCount(&TrafficStats::Listener::busy));
  appendListenerFamily(&out, snap, "switchyard_downstream_connections_refused_total", "counter",
                       "Connections refused by an access list or a connection limit.",
                       listenerCount(&TrafficStats::Listener::refused));
  out += "# HELP switchyard_tls_handshakes_total Completed TLS handshakes, by listener and "
         "whether the session was resumed.\n"
         "# TYPE switchyard_tls_handshakes_total counter\n";
  out += "# HELP switchyard_tls_handshake_failures_total Failed TLS handshakes, by listener.\n"
         "# TYPE switchyard_tls_handshake_failures_total counter\n";
  for (size_t l = 0; l < snap.listeners.size(); ++l) {
    if (!snap.listeners[l].tls) continue;
    const std::string name = label(snap.listeners[l].name);
    const uint64_t all = st.listenerCount(l, &TrafficStats::Listener::tls_handshakes);
    const uint64_t resumed = st.listenerCount(l, &TrafficStats::Listener::tls_resumed);
    appendf(&out,
            "switchyard_tls_handshakes_total{listener=\"%s\",resumed=\"false\"} %" PRIu64 "\n",
            name.c_str(), all - std::min(all, resumed));
    appendf(&out, "switchyard_tls_handshakes_total{listener=\"%s\",resumed=\"true\"} %" PRIu64 "\n",
            name.c_str(), resumed);
    appendf(&out, "switchyard_tls_handshake_failures_total{listener=\"%s\"} %" PRIu64 "\n",
            name.c_str(), st.listenerCount(l, &TrafficStats::Listener::tls_failures));
  }
  out += "# HELP switchyard_experiment_assignments_total A/B assignments by experiment and "
         "variant (by hash or forced by the override).\n"
         "# TYPE switchyard_experiment_assignments_total counter\n";
  for (size_t x = 0; x < snap.splits.size(); ++x) {
    for (size_t v = 0; v < snap.splits[x].variants.size(); ++v) {
      appendf(&out,
              "switchyard_experiment_assignments_total{experiment=\"%s\",variant=\"%s\"} %" PRIu64
              "\n",
              label(snap.splits[x].experiment).c_str(),
              label(snap.splits[x].variants[v].name).c_str(), variantRequests(st, x, v));
    }
  }
  out += "# HELP switchyard_experiment_responses_total Responses by experiment, variant and "
         "status class.\n"
         "# TYPE switchyard_experiment_responses_total counter\n";
  for (size_t x = 0; x < snap.splits.size(); ++x) {
    for (size_t v = 0; v < snap.splits[x].variants.size(); ++v) {
      for (size_t k = 1; k < TrafficStats::kStatusClasses; ++k) {
        appendf(&out,
                "switchyard_experiment_responses_total{experiment=\"%s\",variant=\"%s\","
                "status_class=\"%s\"} %" PRIu64 "\n",
                label(snap.splits[x].experiment).c_str(),
                label(snap.splits[x].variants[v].name).c_str(), kStatusClass[k],
                st.variantStatus(x, v, k));
      }
    }
  }
  out += "# HELP switchyard_experiment_request_duration_seconds Time from the first request "
         "byte to the last response byte, by experiment and variant.\n"
         "# TYPE switchyard_experiment_request_duration_seconds histogram\n";
  for (size_t x = 0; x < snap.splits.size(); ++x) {
    for (size_t v = 0; v < snap.splits[x].variants.size(); ++v) {
      appendHistogram(&out, "switchyard_experiment_request_duration_seconds",
                      "experiment=\"" + label(snap.splits[x].experiment) + "\",variant=\"" +
                          label(snap.splits[x].variants[v].name) + "\"",
                      st.variantLatency(x, v));
    }
  }
  return out;
}

namespace {
// {"p50":..,"p90":..,"p99":..} in milliseconds, interpolated in the histogram.
std::string latencyJson(const TrafficStats::Sums& sums) {
  return "{\"p50\":" + number(TrafficStats::quantile(sums, 0.5) * 1000) +
         ",\"p90\":" + number(TrafficStats::quantile(sums, 0.9) * 1000) +
         ",\"p99\":" + number(TrafficStats::quantile(sums, 0.99) * 1000) + "}";
}
} // namespace

std::string statsJson(Control& control) {
  const Generation& g = control.current();
  const config::Snapshot& snap = *g.snapshot;
  const TrafficStats& st = *g.stats;
  std::string out = "{\"version\":" + jsonString(SWITCHYARD_VERSION);
  appendf(&out, ",\"generation\":%" PRIu64, g.number);
  out += ",\"uptime_seconds\":" + number(control.uptimeSeconds());
  appendf(&out, ",\"workers\":%u", control.workers());
  appendf(&out, ",\"reloads\":{\"ok\":%" PRIu64 ",\"failed\":%" PRIu64 ",\"last_result\":\"%s\"}",
          control.reloads(true), control.reloads(false), control.lastReloadOk() ? "ok" : "failed");
  out += ",\"listeners\":[";
  for (size_t l = 0; l < snap.listeners.size(); ++l) {
    out += (l ? ",{" : "{");
    out += "\"name\":" + jsonString(snap.listeners[l].name) +
           ",\"address\":" + jsonString(control.listenerAddress(l)) +
           ",\"tls\":" + (snap.listeners[l].tls ? "true" : "false");
    appendf(&out, ",\"connections\":%" PRIu64 "}", st.listenerOpen(l));
  }
  out += "],\"routes\":[";
  for (size_t r = 0; r <= st.routes(); ++r) {
    uint64_t total = 0;
    for (size_t c = 0; c < TrafficStats::kStatusClasses; ++c)
      total += st.routeStatus(r, c);
    if (r == st.routes() && total == 0) continue; // "(no route)" only once it saw requests
    out += (r ? ",{" : "{");
    out += "\"name\":" + jsonString(routeName(snap, r));
    appendf(&out, ",\"requests\":%" PRIu64 ",\"status\":{", total);
    for (size_t c = 1; c < TrafficStats::kStatusClasses; ++c)
      appendf(&out, "%s\"%s\":%" PRIu64, c > 1 ? "," : "", kStatusClass[c], st.routeStatus(r, c));
    out += "},\"latency_ms\":" + latencyJson(st.routeLatency(r)) + "}";
  }
  out += "],\"pools\":" + poolsArray(control);
  out += ",\"experiments\":[";
  for (size_t x = 0; x < snap.splits.size(); ++x) {
    out += (x ? ",{" : "{");
    out += "\"name\":" + jsonString(snap.splits[x].experiment) + ",\"variants\":[";
    for (size_t v = 0; v < snap.splits[x].variants.size(); ++v) {
      out += (v ? ",{" : "{");
      out += "\"name\":" + jsonString(snap.splits[x].variants[v].name);
      appendf(&out, ",\"weight\":%u,\"requests\":%" PRIu64 ",\"status\":{",
              snap.splits[x].variants[v].weight, variantRequests(st, x, v));
      for (size_t k = 1; k < TrafficStats::kStatusClasses; ++k)
        appendf(&out, "%s\"%s\":%" PRIu64, k > 1 ? "," : "", kStatusClass[k],
                st.variantStatus(x, v, k));
      out += "},\"latency_ms\":" + latencyJson(st.variantLatency(x, v)) + "}";
    }
    out += "],\"srm_p_value\":" + number(g.experiments->pValue(st, x)) + "}";
  }
  out += "]}\n";
  return out;
}

Response handle(const Request& req, Control& control) {
  Response out;
  if (req.path == "/") {
    if (!allowed(req, "GET", &out)) return out;
    return {200, "text/html; charset=utf-8", std::string(kStatsPage, kStatsPage_size),
            kPageHeaders};
  }
  if (req.path == "/metrics") {
    if (!allowed(req, "GET", &out)) return out;
    return {200, "text/plain; version=0.0.4; charset=utf-8", metricsText(control), ""};
  }
  if (req.path == "/api/stats") {
    if (!allowed(req, "GET", &out)) return out;
    return json(200, statsJson(control));
  }
  if (req.path == "/api/pools") {
    if (!allowed(req, "GET", &out)) return out;
    return json(200, "{\"pools\":" + poolsArray(control) + "}\n");
  }
  if (req.path == "/api/explain") {
    if (!allowed(req, "GET", &out)) return out;
    const Generation& g = control.current();
    return explain(*g.snapshot, *g.health, control.nowMs(), req.query);
  }
  if (req.path == "/api/reload") {
    if (!allowed(req, "POST", &out)) return out;
    return reload(control);
  }
  constexpr std::string_view kPools = "/api/pools/";
  if (req.path.substr(0, kPools.size()) == kPools) {
    // /api/pools/{pool}/servers/{server}
    std::string_view rest = req.path.substr(kPools.size());
    size_t slash = rest.find('/');
    constexpr std::string_view kServers = "/servers/";
    if (slash != std::string_view::npos && rest.substr(slash, kServers.size()) == kServers) {
      std::string pool, server;
      if (percentDecode(rest.substr(0, slash), false, &pool) &&
          percentDecode(rest.substr(slash + kServers.size()), false, &server) && !pool.empty() &&
          !server.empty() && server.find('/') == std::string::npos) {
        if (!allowed(req, "PUT", &out)) return out;
        // A JSON body: browsers ask first (CORS preflight) before sending
        // one from another site, so another page cannot drain a server.
        if (req.content_type.substr(0, 16) != "application/json") {
          return error(415, "send the body as Content-Type: application/json");
        }
        return putServer(req, control, pool, server);
      }
    }
  }
  return error(404, "no such admin endpoint: " + std::string(req.path) +
                        " (try /, /metrics, /api/stats, /api/pools, /api/explain, /api/reload)");
}

} // namespace proxy::admin
