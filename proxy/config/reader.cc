#include "proxy/config/reader.h"

#include <strings.h>

#include "proxy/config/secrets.h"
#include "proxy/config/values.h"
#include "proxy/config/yaml_node.h"

namespace proxy::config {
namespace {

using Item = std::pair<YAML::Node, Loc>;

void readAddress(const Entry* entry, const AddressRules& rules, Value<SocketAddress>* out,
                 Diagnostics& diags) {
  readScalar<SocketAddress>(
      entry, "an address such as 127.0.0.1:8080",
      [&rules](const std::string& text, SocketAddress* value) {
        return parseAddress(text, rules, value);
      },
      out, diags);
}

void readWorkers(const Entry* entry, WorkersSpec* out, Diagnostics& diags) {
  bool is_auto = false;
  readScalar<uint64_t>(
      entry, "a positive integer or 'auto'",
      [&is_auto](const std::string& text, uint64_t* value) {
        is_auto = text == "auto";
        if (is_auto) return std::string();
        if (parseUint(text, value)) return std::string();
        return "expected a positive integer or 'auto', got '" + text + "'";
      },
      &out->count, diags);
  if (is_auto) {
    out->auto_workers = true;
    out->count.set = false;
  }
}

bool isOneOf(const std::string& text, std::initializer_list<const char*> words) {
  for (const char* word : words) {
    if (strcasecmp(text.c_str(), word) == 0) return true;
  }
  return false;
}

void readAccessLog(const Entry* entry, AccessLogSpec* out, Diagnostics& diags) {
  if (entry == nullptr) return;
  out->loc = entry->value_loc;
  if (entry->value.IsScalar()) {
    const std::string& text = entry->value.Scalar();
    if (isOneOf(text, {"off", "false", "no"})) {
      out->enabled = false;
    } else if (!isOneOf(text, {"on", "true", "yes"})) {
      diags.error(entry->value_loc,
                  "expected 'off' or a mapping {format, path}, got '" + text + "'");
    }
    return;
  }
  if (entry->value.IsNull()) {
    diags.error(entry->value_loc, "expected 'off' or a mapping {format, path}, got nothing");
    return;
  }
  MapView map(entry->value, entry->value_loc, {"format", "path"}, diags);
  readString(map.find("format"), &out->format, diags);
  readString(map.find("path"), &out->path, diags);
}

void readTimeouts(const Entry* entry, TimeoutsSpec* out, Diagnostics& diags) {
  if (entry == nullptr) return;
  MapView map(entry->value, entry->value_loc,
              {"connect", "client_header", "client_idle", "client_body", "upstream_response",
               "upstream_idle", "drain"},
              diags);
  readDuration(map.find("connect"), &out->connect, diags);
  readDuration(map.find("client_header"), &out->client_header, diags);
  readDuration(map.find("client_idle"), &out->client_idle, diags);
  readDuration(map.find("client_body"), &out->client_body, diags);
  readDuration(map.find("upstream_response"), &out->upstream_response, diags);
  readDuration(map.find("upstream_idle"), &out->upstream_idle, diags);
  readDuration(map.find("drain"), &out->drain, diags);
}

void readLimits(const Entry* entry, LimitsSpec* out, Diagnostics& diags) {
  if (entry == nullptr) return;
  MapView map(entry->value, entry->value_loc,
              {"max_header_bytes", "max_headers", "max_uri_bytes", "max_body_bytes"}, diags);
  readSize(map.find("max_header_bytes"), &out->max_header_bytes, diags);
  readSize(map.find("max_headers"), &out->max_headers, diags);
  readSize(map.find("max_uri_bytes"), &out->max_uri_bytes, diags);
  readSize(map.find("max_body_bytes"), &out->max_body_bytes, diags);
}

ListenerSpec readListener(const Item& item, Diagnostics& diags) {
  ListenerSpec spec;
  spec.loc = item.second;
  MapView map(
      item.first, item.second,
      {"name", "address", "tls", "allow", "deny", "max_connections", "max_connections_per_ip"},
      diags);
  readString(map.require("name", diags), &spec.name, diags);
  AddressRules rules;
  rules.allow_port_zero = true;
  rules.allow_hostnames = false;
  readAddress(map.require("address", diags), rules, &spec.address, diags);
  readTls(map.find("tls"), &spec.tls, diags);
  readListenerAccess(map, &spec.access, diags);
  return spec;
}

ServerSpec readServer(const Item& item, Diagnostics& diags) {
  ServerSpec spec;
  spec.loc = item.second;
  MapView map(item.first, item.second, {"name", "address", "weight"}, diags);
  readString(map.require("name", diags), &spec.name, diags);
  AddressRules rules;
  rules.allow_port_zero = false;
  rules.allow_hostnames = true;
  readAddress(map.require("address", diags), rules, &spec.address, diags);
  readSize(map.find("weight"), &spec.weight, diags);
  return spec;
}

void readKeySource(const Entry* entry, const KeyKinds& kinds, Value<KeySource>* out,
                   Diagnostics& diags) {
  readScalar<KeySource>(
      entry, "a key source such as cookie:NAME",
      [&kinds](const std::string& text, KeySource* value) {
        return parseKeySource(text, kinds, value);
      },
      out, diags);
}

void readTtl(const Entry* entry, Value<uint64_t>* out, Diagnostics& diags) {
  readScalar<uint64_t>(entry, "0 or a duration such as 12h", parseTtl, out, diags);
}

// Each entry is resolved here, at load, so that an unset variable or an
// unreadable file is reported at the entry that names it.
void readSecrets(const Entry* entry, StickySpec* out, Diagnostics& diags) {
  if (entry == nullptr) return;
  out->secrets_loc = entry->key_loc;
  for (const Entry& item : scalarItems(*entry, diags)) {
    bool literal = false;
    out->secrets.emplace_back();
    readScalar<std::string>(
        &item, "a secret: env:NAME, file:PATH or a string",
        [&literal](const std::string& text, std::string* value) {
          ResolvedSecret secret;
          std::string error = resolveSecret(text, &secret);
          *value = std::move(secret.bytes);
          literal = secret.literal;
          return error;
        },
        &out->secrets.back(), diags);
    if (literal) {
      diags.warning(item.value_loc, "a literal secret in the config file; secrets belong in "
                                    "env:NAME or file:PATH");
    }
  }
}

void readSticky(const Entry* entry, StickySpec* out, Diagnostics& diags) {
  if (entry == nullptr) return;
  out->present = true;
  out->loc = entry->value_loc;
  out->secrets_loc = entry->value_loc;
  MapView map(entry->value, entry->value_loc,
              {"cookie", "ttl", "secure", "httponly", "samesite", "secrets"}, diags);
  readString(map.find("cookie"), &out->cookie, diags);
  readTtl(map.find("ttl"), &out->ttl, diags);
  readString(map.find("secure"), &out->secure, diags);
  readBool(map.find("httponly"), &out->httponly, diags);
  readString(map.find("samesite"), &out->samesite, diags);
  readSecrets(map.find("secrets"), out, diags);
}

// A pool's `tls:`; `tls: {}` means TLS with every default.
void readPoolTls(const Entry* entry, PoolTlsSpec* out, Diagnostics& diags) {
  if (entry == nullptr) return;
  out->present = true;
  out->loc = out->ca_key_loc = entry->key_loc;
  MapView map(entry->value, entry->value_loc, {"ca", "sni", "verify"}, diags);
  if (const Entry* ca = map.find("ca")) {
    out->ca_key_loc = ca->key_loc;
    readString(ca, &out->ca, diags);
  }
  readString(map.find("sni"), &out->sni, diags);
  readBool(map.find("verify"), &out->verify, diags);
}

void readHealthCheck(const Entry* entry, HealthCheckSpec* out, Diagnostics& diags) {
  if (entry == nullptr) return;
  out->present = true;
  out->loc = entry->value_loc;
  MapView map(entry->value, entry->value_loc,
              {"path", "host", "interval", "timeout", "rise", "fall", "expect_status"}, diags);
  readString(map.find("path"), &out->path, diags);
  readString(map.find("host"), &out->host, diags);
  readDuration(map.find("interval"), &out->interval, diags);
  readDuration(map.find("timeout"), &out->timeout, diags);
  readSize(map.find("rise"), &out->rise, diags);
  readSize(map.find("fall"), &out->fall, diags);
  readString(map.find("expect_status"), &out->expect_status, diags);
}

void readAdmin(const Entry* entry, AdminSpec* out, Diagnostics& diags) {
  if (entry == nullptr) return;
  out->present = true;
  out->loc = entry->value_loc;
  MapView map(entry->value, entry->value_loc, {"address"}, diags);
  AddressRules rules;
  rules.allow_port_zero = true;
  rules.allow_hostnames = false;
  readAddress(map.require("address", diags), rules, &out->address, diags);
}

void readOutlier(const Entry* entry, OutlierSpec* out, Diagnostics& diags) {
  if (entry == nullptr) return;
  out->present = true;
  out->loc = entry->value_loc;
  MapView map(entry->value, entry->value_loc,
              {"consecutive_failures", "eject_for", "max_ejected_percent"}, diags);
  readSize(map.find("consecutive_failures"), &out->consecutive_failures, diags);
  readDuration(map.find("eject_for"), &out->eject_for, diags);
  readSize(map.find("max_ejected_percent"), &out->max_ejected_percent, diags);
}

void readRetries(const Entry* entry, RetriesSpec* out, Diagnostics& diags) {
  if (entry == nullptr) return;
  out->present = true;
  out->loc = entry->value_loc;
  MapView map(entry->value, entry->value_loc, {"attempts", "on", "budget"}, diags);
  readSize(map.find("attempts"), &out->attempts, diags);
  if (const Entry* on = map.find("on")) {
    out->has_on = true;
    for (const Entry& item : scalarItems(*on, diags)) {
      out->on.emplace_back();
      readString(&item, &out->on.back(), diags);
    }
  }
  readString(map.find("budget"), &out->budget, diags);
}

PoolSpec readPool(const Item& item, Diagnostics& diags) {
  PoolSpec spec;
  spec.loc = item.second;
  MapView map(item.first, item.second,
              {"name", "balance", "hash_key", "sticky", "tls", "health_check", "outlier", "retries",
               "max_connections", "max_pending", "queue_timeout", "slow_start", "servers"},
              diags);
  readString(map.require("name", diags), &spec.name, diags);
  readString(map.find("balance"), &spec.balance, diags);
  readKeySource(map.find("hash_key"), KeyKinds{true, true, true, true}, &spec.hash_key, diags);
  readSticky(map.find("sticky"), &spec.sticky, diags);
  readPoolTls(map.find("tls"), &spec.tls, diags);
  readHealthCheck(map.find("health_check"), &spec.health_check, diags);
  readOutlier(map.find("outlier"), &spec.outlier, diags);
  readRetries(map.find("retries"), &spec.retries, diags);
  readSize(map.find("max_connections"), &spec.max_connections, diags);
  readSize(map.find("max_pending"), &spec.max_pending, diags);
  readDuration(map.find("queue_timeout"), &spec.queue_timeout, diags);
  readDuration(map.find("slow_start"), &spec.slow_start, diags);
  if (const Entry* servers = map.require("servers", diags)) {
    for (const Item& server : listItems(*servers, diags)) {
      spec.servers.push_back(readServer(server, diags));
    }
  }
  return spec;
}

// headers / cookies / query: any key, each value a regex string.
void readPatterns(const Entry* entry, std::vector<PatternSpec>* out, Diagnostics& diags) {
  if (entry == nullptr) return;
  MapView map(entry->value, entry->value_loc, {}, diags);
  for (const Entry& pattern : map.entries()) {
    PatternSpec spec;
    spec.name.value = pattern.key;
    spec.name.loc = pattern.key_loc;
    spec.name.set = true;
    readString(&pattern, &spec.regex, diags);
    out->push_back(std::move(spec));
  }
}

void readMethods(const Entry* entry, std::vector<Value<std::string>>* out, Diagnostics& diags) {
  if (entry == nullptr) return;
  for (const Entry& method : scalarItems(*entry, diags)) {
    out->emplace_back();
    readString(&method, &out->back(), diags);
  }
}

void readMatch(const Entry* entry, MatchSpec* out, Diagnostics& diags) {
  if (entry == nullptr) return;
  out->loc = entry->value_loc;
  MapView map(entry->value, entry->value_loc,
              {"host", "path", "path_prefix", "path_regex", "methods", "headers", "cookies",
               "query", "source"},
              diags);
  readString(map.find("host"), &out->host, diags);
  readString(map.find("path"), &out->path, diags);
  readString(map.find("path_prefix"), &out->path_prefix, diags);
  readString(map.find("path_regex"), &out->path_regex, diags);
  readMethods(map.find("methods"), &out->methods, diags);
  readPatterns(map.find("headers"), &out->headers, diags);
  readPatterns(map.find("cookies"), &out->cookies, diags);
  readPatterns(map.find("query"), &out->query, diags);
  readSource(map.find("source"), &out->source, diags);
}

SplitVariantSpec readVariant(const Item& item, Diagnostics& diags) {
  SplitVariantSpec spec;
  spec.loc = item.second;
  MapView map(item.first, item.second, {"name", "pool", "weight"}, diags);
  readString(map.require("name", diags), &spec.name, diags);
  readString(map.require("pool", diags), &spec.pool, diags);
  readSize(map.require("weight", diags), &spec.weight, diags);
  return spec;
}

void readSplit(const Entry* entry, SplitSpec* out, Diagnostics& diags) {
  if (entry == nullptr) return;
  out->present = true;
  out->loc = entry->value_loc;
  out->variants_loc = entry->value_loc;
  MapView map(entry->value, entry->value_loc,
              {"experiment", "key", "assign_cookie", "override", "variants"}, diags);
  readString(map.require("experiment", diags), &out->experiment, diags);
  readKeySource(map.require("key", diags), KeyKinds{true, true, true, false}, &out->key, diags);
  readString(map.find("assign_cookie"), &out->assign_cookie, diags);
  readKeySource(map.find("override"), KeyKinds{true, true, false, false}, &out->override_key,
                diags);
  if (const Entry* variants = map.require("variants", diags)) {
    out->variants_loc = variants->key_loc;
    out->has_variants = true;
    for (const Item& variant : listItems(*variants, diags))
      out->variants.push_back(readVariant(variant, diags));
  }
}

void readPort(const Entry* entry, Value<uint64_t>* out, Diagnostics& diags) {
  readScalar<uint64_t>(
      entry, "a port number",
      [](const std::string& text, uint64_t* value) {
        if (parseUint(text, value)) return std::string();
        return "expected a port number (1 to 65535), got '" + text + "'";
      },
      out, diags);
}

void readStatus(const Entry* entry, Value<uint64_t>* out, Diagnostics& diags) {
  readScalar<uint64_t>(
      entry, "an HTTP status code",
      [](const std::string& text, uint64_t* value) {
        if (parseUint(text, value)) return std::string();
        return "expected an HTTP status code (301, 302, 303, 307 or 308), got '" + text + "'";
      },
      out, diags);
}

void readRedirect(const Entry* entry, RedirectSpec* out, Diagnostics& diags) {
  if (entry == nullptr) return;
  out->present = true;
  out->loc = entry->value_loc;
  MapView map(entry->value, entry->value_loc, {"scheme", "status", "port"}, diags);
  readString(map.find("scheme"), &out->scheme, diags);
  readStatus(map.find("status"), &out->status, diags);
  readPort(map.find("port"), &out->port, diags);
}

RouteSpec readRoute(const Item& item, Diagnostics& diags) {
  RouteSpec spec;
  spec.loc = item.second;
  spec.match.loc = item.second;
  MapView map(item.first, item.second, {"name", "match", "pool", "split", "redirect"}, diags);
  readString(map.require("name", diags), &spec.name, diags);
  readMatch(map.find("match"), &spec.match, diags);
  // The action: exactly one of a pool, a split or a redirect. A second (or
  // third) one is reported at its own key.
  const Entry* first = nullptr;
  for (const Entry& entry : map.entries()) {
    if (entry.key != "pool" && entry.key != "split" && entry.key != "redirect") continue;
    if (first == nullptr) {
      first = &entry;
      continue;
    }
    diags.error(entry.key_loc, "a route has exactly one action ('pool', 'split' or "
                               "'redirect'); '" +
                                   first->key + "' is already set");
  }
  if (first == nullptr && map.isMap()) {
    diags.error(spec.loc, "missing required key 'pool' (or 'split' for an A/B split, or "
                          "'redirect')");
  }
  readString(map.find("pool"), &spec.pool, diags);
  readSplit(map.find("split"), &spec.split, diags);
  readRedirect(map.find("redirect"), &spec.redirect, diags);
  return spec;
}

// Reads a top-level list; `where` is the key (or the document when absent).
template <typename Spec, typename ReadItem>
void readList(const MapView& top, std::string_view key, ReadItem read, Loc* where,
              std::vector<Spec>* out, Diagnostics& diags) {
  const Entry* entry = top.find(key);
  if (entry == nullptr) return;
  *where = entry->key_loc;
  for (const Item& item : listItems(*entry, diags))
    out->push_back(read(item, diags));
}

} // namespace

ConfigSpec readConfig(const YAML::Node& root, Diagnostics& diags) {
  ConfigSpec spec;
  spec.loc = locOf(root, "", Loc{1, 1, ""});
  spec.listeners_loc = spec.pools_loc = spec.routes_loc = spec.loc;
  MapView top(root, spec.loc,
              {"workers", "access_log", "splice", "admin", "listeners", "timeouts", "limits",
               "pools", "routes"},
              diags);
  readWorkers(top.find("workers"), &spec.workers, diags);
  readAccessLog(top.find("access_log"), &spec.access_log, diags);
  readBool(top.find("splice"), &spec.splice, diags);
  readAdmin(top.find("admin"), &spec.admin, diags);
  readList(top, "listeners", readListener, &spec.listeners_loc, &spec.listeners, diags);
  readTimeouts(top.find("timeouts"), &spec.timeouts, diags);
  readLimits(top.find("limits"), &spec.limits, diags);
  readList(top, "pools", readPool, &spec.pools_loc, &spec.pools, diags);
  readList(top, "routes", readRoute, &spec.routes_loc, &spec.routes, diags);
  return spec;
}

} // namespace proxy::config
