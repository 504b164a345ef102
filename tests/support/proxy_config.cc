#include "tests/support/proxy_config.h"

namespace swytest {

ProxyConfig& ProxyConfig::addPool(const std::string& name, const std::vector<ServerSpec>& servers) {
  return addPool(name, servers, "");
}

ProxyConfig& ProxyConfig::addPool(const std::string& name, const std::vector<ServerSpec>& servers,
                                  const std::string& options) {
  std::string yaml = "{name: " + name + ", ";
  if (options.find("balance:") == std::string::npos) yaml += "balance: round_robin, ";
  if (!options.empty()) yaml += options + ", ";
  yaml += "servers: [";
  for (size_t i = 0; i < servers.size(); ++i) {
    const ServerSpec& s = servers[i];
    if (i > 0) yaml += ", ";
    yaml += "{name: " + s.name + ", address: '127.0.0.1:" + std::to_string(s.port) + "'";
    if (s.weight > 0) yaml += ", weight: " + std::to_string(s.weight);
    yaml += "}";
  }
  yaml += "]}";
  pools.push_back(yaml);
  return *this;
}

ProxyConfig& ProxyConfig::addRoute(const std::string& yaml) {
  routes.push_back(yaml);
  return *this;
}

std::string ProxyConfig::render() const {
  std::string out;
  out += "workers: " + workers + "\n";
  out += "access_log: " + access_log + "\n";
  out += extra_top;
  out += "listeners:\n";
  for (const std::string& l : listeners)
    out += "  - " + l + "\n";
  out += "timeouts: " + timeouts + "\n";
  if (!limits.empty()) out += "limits: " + limits + "\n";
  out += "pools:\n";
  for (const std::string& p : pools)
    out += "  - " + p + "\n";
  out += "routes:\n";
  for (const std::string& r : routes)
    out += "  - " + r + "\n";
  return out;
}

ProxyConfig singleUpstream(uint16_t port) {
  ProxyConfig cfg;
  cfg.addPool("app", {{"app1", port}});
  cfg.addRoute("{name: all, pool: app}");
  return cfg;
}

} // namespace swytest
