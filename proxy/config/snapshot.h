// Snapshot: one compiled, immutable configuration. Built by config::load(),
// shared by every worker as shared_ptr<const Snapshot>; each exchange pins the
// snapshot it started with. Nothing in here is mutated after compile().
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "routing/route_table.h"

namespace proxy::config {

struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;
  std::string text; // as written in the config, e.g. "127.0.0.1:8080", "[::1]:80"
  const sockaddr* sa() const { return reinterpret_cast<const sockaddr*>(&storage); }
};

struct Listener {
  std::string name;
  SocketAddress address;
};

struct Server {
  std::string name;
  SocketAddress address;
  uint32_t weight = 1;
};

enum class Balance { kRoundRobin };

struct Pool {
  std::string name;
  Balance balance = Balance::kRoundRobin;
  std::vector<Server> servers;
};

struct Timeouts { // all in milliseconds
  uint64_t connect = 2000;
  uint64_t client_header = 10000;
  uint64_t client_idle = 60000;
  uint64_t upstream_response = 30000;
  uint64_t drain = 10000; // SIGTERM: how long in-flight requests may take to finish
};

struct Limits {
  uint32_t max_header_bytes = 32768;
  uint32_t max_headers = 100;
  uint32_t max_uri_bytes = 8192;
  uint64_t max_body_bytes = 0; // 0 = unlimited
};

enum class LogFormat { kText, kJson };

struct AccessLog {
  bool enabled = true;
  LogFormat format = LogFormat::kText;
  std::string path = "stdout"; // "stdout", "stderr" or a file path (appended)
};

struct Snapshot {
  std::string source; // config file name, for logs
  unsigned workers = 1;
  AccessLog access_log;
  std::vector<Listener> listeners;
  Timeouts timeouts;
  Limits limits;
  std::vector<Pool> pools;
  // routes->route(i).target is an index into pools.
  std::unique_ptr<routing::RouteTable> routes;
};

} // namespace proxy::config
