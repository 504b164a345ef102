// Builds switchyard YAML configs for e2e tests. Defaults: one worker, JSON
// access log on stdout, one listener "public" on 127.0.0.1:0, short timeouts.
// Pools and routes are given as YAML flow mappings, so a test reads like the
// config a user would write.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace swytest {

struct ServerSpec {
  std::string name;
  uint16_t port = 0;
  int weight = 0; // 0: leave the key out (default weight)
};

struct ProxyConfig {
  std::string workers = "1";
  std::string access_log = "{format: json, path: stdout}";
  std::vector<std::string> listeners = {"{name: public, address: 127.0.0.1:0}"};
  std::string timeouts =
      "{connect: 1s, client_header: 5s, client_idle: 10s, upstream_response: 5s, drain: 5s}";
  std::string limits; // flow mapping, or "" for the defaults
  std::string extra_top; // more top-level YAML, verbatim (each line ending in \n)
  std::vector<std::string> pools;
  std::vector<std::string> routes;

  ProxyConfig& addPool(const std::string& name, const std::vector<ServerSpec>& servers);
  // Same with more pool keys written verbatim into the flow mapping, e.g.
  // "balance: hash, hash_key: 'cookie:JSESSIONID'" or "sticky: {cookie: SWY_SRV}".
  // `balance: round_robin` is added unless `options` names a balance.
  ProxyConfig& addPool(const std::string& name, const std::vector<ServerSpec>& servers,
                       const std::string& options);
  // `yaml` is a flow mapping, e.g. "{name: api, match: {path_prefix: /api}, pool: app}".
  ProxyConfig& addRoute(const std::string& yaml);
  std::string render() const;
};

// One pool "app" holding one server "app1" on `port`, and a catch-all route "all".
ProxyConfig singleUpstream(uint16_t port);

} // namespace swytest
