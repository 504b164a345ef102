// GET /api/explain: which route a described request would take, why every
// earlier route did not match, and which pool, A/B variant and server it
// would go to and why. Sends nothing anywhere. Part of the admin API.
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstring>
#include <ctime>

#include "proxy/admin/api.h"
#include "proxy/admin/explain.h"
#include "routing/cidr.h"
#include "routing/pool_balancer.h"
#include "routing/route_table.h"
#include "routing/stable_hash.h"
#include "routing/sticky.h"

namespace proxy::admin {
namespace {

std::string percentEncode(std::string_view in) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : in) {
    if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

void hmac(std::string_view key, std::string_view data, uint8_t out[32]) {
  unsigned int len = 32;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len) == nullptr)
    std::memset(out, 0, 32);
}

// The described request, owning its strings.
struct Described {
  std::string method = "GET", path = "/", query, host, client;
  std::vector<std::pair<std::string, std::string>> headers;
  std::vector<std::pair<std::string, std::string>> cookies;
};

std::string lower(std::string s) {
  for (char& c : s)
    c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  return s;
}

// Parses the explain query; "" or what is wrong with it.
std::string parseQuery(std::string_view q, Described* d) {
  std::vector<std::string> query_parts;
  while (!q.empty()) {
    size_t amp = q.find('&');
    std::string_view part = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view() : q.substr(amp + 1);
    if (part.empty()) continue;
    size_t eq = part.find('=');
    std::string key(part.substr(0, eq)), value;
    if (!percentDecode(eq == std::string_view::npos ? "" : part.substr(eq + 1), true, &value))
      return "bad %-escape in " + key;
    auto pair = [&](const char* what, std::vector<std::pair<std::string, std::string>>* out) {
      size_t colon = value.find(':');
      if (colon == std::string::npos || colon == 0)
        return std::string(what) + "=NAME:VALUE expected, got '" + value + "'";
      out->emplace_back(value.substr(0, colon), value.substr(colon + 1));
      return std::string();
    };
    std::string problem;
    if (key == "method") {
      d->method = value;
    } else if (key == "path") {
      size_t qm = value.find('?');
      d->path = value.substr(0, qm);
      if (qm != std::string::npos) query_parts.push_back(value.substr(qm + 1));
    } else if (key == "host") {
      d->host = lower(value.substr(0, value.rfind(':') == std::string::npos ||
                                              value.find(']') != std::string::npos
                                          ? value.size()
                                          : value.rfind(':')));
    } else if (key == "client") {
      d->client = value;
    } else if (key == "header") {
      problem = pair("header", &d->headers);
    } else if (key == "cookie") {
      problem = pair("cookie", &d->cookies);
    } else if (key == "query") {
      std::vector<std::pair<std::string, std::string>> one;
      problem = pair("query", &one);
      if (problem.empty())
        query_parts.push_back(percentEncode(one[0].first) + "=" + percentEncode(one[0].second));
    } else {
      return "unknown parameter '" + key +
             "': use method, path, host, header=NAME:VALUE, cookie=NAME:VALUE, "
             "query=NAME:VALUE, client=IP";
    }
    if (!problem.empty()) return problem;
  }
  if (d->path.empty() || d->path[0] != '/') return "path must start with '/'";
  for (size_t i = 0; i < query_parts.size(); ++i)
    d->query += (i ? "&" : "") + query_parts[i];
  return "";
}

std::string conditionsJson(const routing::RouteVerdict& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.conditions.size(); ++i) {
    const routing::ConditionVerdict& c = v.conditions[i];
    out += (i ? ",{" : "{");
    out += "\"condition\":" + jsonString(c.condition) + ",\"ok\":" + (c.ok ? "true" : "false");
    if (!c.detail.empty()) out += ",\"detail\":" + jsonString(c.detail);
    out += "}";
  }
  return out + "]";
}

// Finds a request value for a key source: header, cookie, client_ip, path.
bool lookup(const Described& d, const config::KeySource& key, std::string* out) {
  switch (key.kind) {
  case config::KeySource::Kind::kHeader:
    for (const auto& [name, value] : d.headers) {
      if (lower(name) == lower(key.name)) {
        *out = value;
        return !value.empty();
      }
    }
    return false;
  case config::KeySource::Kind::kCookie:
    for (const auto& [name, value] : d.cookies) {
      if (name == key.name) {
        *out = value;
        return true;
      }
    }
    return false;
  case config::KeySource::Kind::kClientIp: *out = d.client; return !d.client.empty();
  case config::KeySource::Kind::kPath: *out = d.path; return true;
  case config::KeySource::Kind::kNone: break;
  }
  return false;
}

std::string keyName(const config::KeySource& key) {
  switch (key.kind) {
  case config::KeySource::Kind::kHeader: return "header:" + key.name;
  case config::KeySource::Kind::kCookie: return "cookie:" + key.name;
  case config::KeySource::Kind::kClientIp: return "client_ip";
  case config::KeySource::Kind::kPath: return "path";
  case config::KeySource::Kind::kNone: break;
  }
  return "";
}

// The server part: sticky cookie, hash, or the balancer.
std::string serverJson(const config::Pool& pool, const HealthBoard& health, size_t p,
                       uint64_t now_ms, const Described& d) {
  std::vector<uint8_t> excluded(pool.servers.size(), 0);
  std::string out_names;
  for (size_t s = 0; s < pool.servers.size(); ++s) {
    if (!health.available(p, s, now_ms)) {
      excluded[s] = 1;
      out_names += (out_names.empty() ? "" : ", ") + pool.servers[s].name;
    }
  }
  auto pick = [&](int s, const std::string& why) {
    std::string out = "{\"name\":";
    out += s >= 0 ? jsonString(pool.servers[static_cast<size_t>(s)].name) : "null";
    return out + ",\"why\":" + jsonString(why) + "}";
  };
  const std::string out_note =
      out_names.empty() ? "" : " (not eligible now: " + out_names + ": down, ejected or drained)";
  if (pool.sticky.enabled) {
    std::string value;
    config::KeySource cookie{config::KeySource::Kind::kCookie, pool.sticky.cookie};
    if (lookup(d, cookie, &value)) {
      routing::StickyCodec codec(pool.sticky.secrets, &hmac, pool.sticky.ttl_seconds);
      std::string_view id;
      auto verdict = codec.decode(value, static_cast<uint64_t>(::time(nullptr)), &id);
      if (verdict == routing::StickyCodec::Verdict::kValid ||
          verdict == routing::StickyCodec::Verdict::kValidOldKey) {
        for (size_t s = 0; s < pool.server_ids.size(); ++s) {
          if (pool.server_ids[s] != id) continue;
          if (excluded[s] == 0)
            return pick(static_cast<int>(s), "the sticky cookie " + pool.sticky.cookie +
                                                 " names it and it is available");
          return pick(-1, "the sticky cookie names " + pool.servers[s].name +
                              ", which is not available: the balancer picks another server "
                              "and the cookie is rewritten" +
                              out_note);
        }
      }
      return pick(-1, "the sticky cookie " + pool.sticky.cookie +
                          " is not valid here (tampered, expired, another pool's or an old "
                          "secret's): ignored and replaced; the balancer picks" +
                          out_note);
    }
  }
  if (pool.balance == config::Balance::kHash) {
    std::string key;
    if (lookup(d, pool.hash_key, &key)) {
      std::vector<routing::ServerInfo> servers;
      for (const config::Server& s : pool.servers)
        servers.push_back({s.name, s.weight});
      routing::MaglevTable table(servers);
      int s = table.lookup(routing::stableHash(key), excluded);
      return pick(s, "consistent hash (Maglev) of " + keyName(pool.hash_key) + " '" + key + "'" +
                         out_note);
    }
    return pick(-1, "no " + keyName(pool.hash_key) +
                        " in the request: round robin among the eligible servers" + out_note);
  }
  const char* how = pool.balance == config::Balance::kLeastConn   ? "least_conn"
                    : pool.balance == config::Balance::kRandomTwo ? "random_two"
                                                                  : "round_robin";
  return pick(-1, std::string(how) +
                      ": decided per request by the worker that takes the connection, from its "
                      "own rotation and load" +
                      out_note);
}

} // namespace

Response explain(const config::Snapshot& snap, const HealthBoard& health, uint64_t now_ms,
                 std::string_view query) {
  Described d;
  std::string problem = parseQuery(query, &d);
  if (!problem.empty())
    return {400, "application/json", "{\"error\":" + jsonString(problem) + "}\n", ""};
  std::optional<routing::IpAddress> client;
  if (!d.client.empty()) {
    client = routing::parseIp(d.client);
    if (!client) {
      return {400, "application/json",
              "{\"error\":" +
                  jsonString("client must be an IPv4 or IPv6 address, got '" + d.client + "'") +
                  "}\n",
              ""};
    }
  }
  // The Cookie header the described cookies make, next to the other headers.
  std::string cookie_header;
  for (const auto& [name, value] : d.cookies)
    cookie_header += (cookie_header.empty() ? "" : "; ") + name + "=" + value;
  std::vector<routing::Header> headers;
  for (const auto& [name, value] : d.headers)
    headers.push_back({name, value});
  if (!cookie_header.empty()) headers.push_back({"Cookie", cookie_header});
  routing::RequestView view{d.method, d.path, d.query, d.host, headers};
  view.client = client ? &*client : nullptr;
  std::vector<routing::RouteVerdict> verdicts = snap.routes->explain(view);

  std::string out =
      "{\"request\":{\"method\":" + jsonString(d.method) + ",\"path\":" + jsonString(d.path) +
      ",\"query\":" + jsonString(d.query) + ",\"host\":" + jsonString(d.host) +
      ",\"client\":" + (d.client.empty() ? std::string("null") : jsonString(d.client)) + "}";
  out += ",\"routes\":[";
  int matched = -1;
  for (size_t i = 0; i < verdicts.size(); ++i) {
    const routing::RouteVerdict& v = verdicts[i];
    if (v.matched) matched = static_cast<int>(v.route);
    out += (i ? ",{" : "{");
    out += "\"route\":" + std::to_string(v.route) + ",\"name\":" + jsonString(v.name) +
           ",\"matched\":" + (v.matched ? "true" : "false") +
           ",\"conditions\":" + conditionsJson(v) + "}";
  }
  out += "],\"result\":";
  if (matched < 0) {
    out += "{\"route\":null,\"answer\":\"404: no route matches this request\"}}\n";
    return {200, "application/json", std::move(out), ""};
  }
  const config::RouteAction& action = snap.actions[static_cast<size_t>(matched)];
  out += "{\"route\":" + jsonString(snap.routes->route(static_cast<size_t>(matched)).name);
  if (action.kind == config::RouteAction::Kind::kRedirect) {
    out += ",\"action\":\"redirect\",\"answer\":" +
           jsonString("a redirect (" + std::to_string(action.redirect_status) + ")") + "}}\n";
    return {200, "application/json", std::move(out), ""};
  }
  size_t pool_index = action.pool;
  if (action.kind == config::RouteAction::Kind::kSplit) {
    const config::Split& split = snap.splits[action.split];
    std::vector<routing::SplitVariant> variants;
    for (const config::SplitVariant& v : split.variants)
      variants.push_back({v.name, v.weight});
    routing::SplitAssigner assigner(split.experiment, variants);
    std::string key, why;
    int variant = -1;
    if (split.override_key.kind != config::KeySource::Kind::kNone &&
        lookup(d, split.override_key, &key)) {
      variant = assigner.find(key);
      if (variant >= 0) why = "forced by " + keyName(split.override_key) + " '" + key + "'";
    }
    if (variant < 0) {
      bool have = lookup(d, split.key, &key);
      std::string source = keyName(split.key);
      if (!have && !split.assign_cookie.empty()) {
        config::KeySource assigned{config::KeySource::Kind::kCookie, split.assign_cookie};
        have = lookup(d, assigned, &key);
        source = "cookie:" + split.assign_cookie;
        if (!have) {
          out += ",\"action\":\"split\",\"experiment\":" + jsonString(split.experiment) +
                 ",\"variant\":{\"name\":null,\"why\":" +
                 jsonString("no " + keyName(split.key) + " and no " + split.assign_cookie +
                            " cookie: a new user gets a random id (cookie " + split.assign_cookie +
                            "), so any variant by weight") +
                 "}}}\n";
          return {200, "application/json", std::move(out), ""};
        }
      }
      if (!have) {
        key = d.client;
        source = "client_ip";
        if (key.empty()) {
          out += ",\"action\":\"split\",\"experiment\":" + jsonString(split.experiment) +
                 ",\"variant\":{\"name\":null,\"why\":" +
                 jsonString("no " + keyName(split.key) +
                            ": the client address decides; give client=IP to see which") +
                 "}}}\n";
          return {200, "application/json", std::move(out), ""};
        }
      }
      variant = static_cast<int>(assigner.assign(key));
      why = "hash of " + source + " '" + key + "' in experiment " + split.experiment;
    }
    const config::SplitVariant& v = split.variants[static_cast<size_t>(variant)];
    pool_index = v.pool;
    out += ",\"action\":\"split\",\"experiment\":" + jsonString(split.experiment) +
           ",\"variant\":{\"name\":" + jsonString(v.name) + ",\"why\":" + jsonString(why) + "}";
  } else {
    out += ",\"action\":\"pool\"";
  }
  const config::Pool& pool = snap.pools[pool_index];
  out += ",\"pool\":" + jsonString(pool.name) +
         ",\"server\":" + serverJson(pool, health, pool_index, now_ms, d) + "}}\n";
  return {200, "application/json", std::move(out), ""};
}

} // namespace proxy::admin
