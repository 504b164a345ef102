// Snapshot: one compiled, immutable configuration. Built by config::load(),
// shared by every worker as shared_ptr<const Snapshot>; each exchange pins the
// snapshot it started with. Nothing in here is mutated after compile().
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "routing/cidr.h"
#include "routing/route_table.h"
#include "tls/server_context.h"

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
  // TLS termination: built once per config, shared by every worker; null
  // for a plain listener.
  std::shared_ptr<const tls::ServerContext> tls;
  uint64_t hsts_max_age = 0; // > 0: Strict-Transport-Security on responses (TLS only)
  // mTLS: the verified client certificate's subject / SHA-256 fingerprint are
  // sent upstream under these names (empty = not sent); a client-sent field
  // of the same name is always dropped.
  std::string mtls_subject_header;
  std::string mtls_fingerprint_header;
  // Source-address access list (listener `allow:` / `deny:`): the longest
  // matching prefix decides (value 1 = allow, 0 = deny); an address no
  // prefix matches is allowed when `allow` is empty, denied otherwise. Null
  // = everyone allowed. Checked at accept: a denied connection is closed
  // before any byte is read.
  std::shared_ptr<const routing::CidrTable> access;
  bool access_default_allow = true;
  // Per process (all workers together); 0 = unlimited. The excess is refused
  // at accept (closed at once), counted, and logged rate-limited.
  uint32_t max_connections = 0;
  uint32_t max_connections_per_ip = 0;
};

struct Server {
  std::string name;
  SocketAddress address;
  uint32_t weight = 1;
};

enum class Balance { kRoundRobin, kLeastConn, kRandomTwo, kHash };

// Where a per-request key comes from: `header:NAME`, `cookie:NAME`,
// `client_ip` or `path` (which kinds a key accepts depends on the key).
struct KeySource {
  enum class Kind { kNone, kHeader, kCookie, kClientIp, kPath };
  Kind kind = Kind::kNone;
  std::string name; // header or cookie name
};

struct Sticky {
  bool enabled = false;
  std::string cookie = "SWY_SRV";
  uint64_t ttl_seconds = 0; // 0 = session cookie, no proxy-side expiry
  enum class Secure { kAuto, kAlways, kNever };
  Secure secure = Secure::kAuto; // auto = Secure when the listener is TLS
  bool httponly = true;
  std::string samesite = "Lax";     // Strict, Lax or None
  std::vector<std::string> secrets; // resolved key bytes; the first signs, all verify
  bool generated_secret = false;    // no secret configured: a random one was made at load
};

// Pool `health_check:`: active probes, run by the main thread for every
// server; state shared by all workers (see proxy/health/).
struct HealthCheck {
  bool enabled = false;
  std::string path = "/healthz"; // origin-form target of the GET
  std::string host;              // Host header; empty = the server's address as written
  uint64_t interval_ms = 2000;
  uint64_t timeout_ms = 1000; // connect + answer; at most interval_ms
  uint32_t rise = 2;          // good probes in a row to come back up
  uint32_t fall = 3;          // failed probes in a row to go down
  uint16_t expect_min = 200;  // a status in [expect_min, expect_max] is good
  uint16_t expect_max = 399;
};

// Pool `outlier:`: passive ejection from what real requests see.
struct Outlier {
  bool enabled = false;
  uint32_t consecutive_failures = 5; // connect failures, resets, 5xx in a row
  uint64_t eject_ms = 30000;         // first ejection; each further one adds as much, up to 10x
  uint32_t max_ejected_percent = 50; // never eject more of the pool than this at once
};

// Pool `retries:`. Only requests that are safe to repeat are retried (an
// idempotent method, or no body byte consumed), always on another server
// when one is left. `budget_percent` caps retries in flight at that share of
// the pool's requests in flight (at least kMinRetryConcurrency), so retries
// cannot multiply an outage.
struct Retries {
  uint32_t attempts = 2; // retries after the first try (0 = never retry)
  bool on_connect_failure = true;
  bool on_reset_before_response = true;
  bool on_503 = false;
  uint32_t budget_percent = 20;
};

struct Pool {
  std::string name;
  Balance balance = Balance::kRoundRobin;
  KeySource hash_key; // balance: hash
  Sticky sticky;
  std::vector<Server> servers;
  std::vector<std::string> server_ids; // routing::stickyServerId(pool, server), per server
  // Re-encryption to the servers (pool `tls:`): built once per config; null = plain HTTP.
  std::shared_ptr<const tls::ClientContext> tls;
  std::string tls_sni; // SNI and verified name; empty = the server's host as written
  HealthCheck health;
  Outlier outlier;
  Retries retries;
  // Per server, per process; 0 = unlimited. A request finding its server
  // full waits in the pool's queue (at most max_pending, 0 = no queue) for up
  // to queue_timeout_ms, then gets 503 (term sQ).
  uint32_t max_connections = 0;
  uint32_t max_pending = 0;
  uint64_t queue_timeout_ms = 1000;
  // A server back from down (checks) or ejected (outlier) ramps from 10% to
  // all of its weight over this time; 0 = at once.
  uint64_t slow_start_ms = 0;
};

struct SplitVariant {
  std::string name;
  uint32_t pool = 0; // index into Snapshot::pools
  uint32_t weight = 0;
};

struct Split {
  std::string experiment;
  KeySource key;             // cookie:NAME, header:NAME or client_ip
  std::string assign_cookie; // empty = do not assign
  KeySource override_key;    // header:NAME or cookie:NAME; kNone = no override
  std::vector<SplitVariant> variants;
};

// What a route does: send to one pool, or split across pools.
struct RouteAction {
  enum class Kind { kPool, kSplit, kRedirect };
  Kind kind = Kind::kPool;
  uint32_t pool = 0;  // kPool: index into pools
  uint32_t split = 0; // kSplit: index into splits
  // kRedirect: answer with `status` and Location: <scheme>://<host>[:<port>]<target>
  std::string redirect_scheme = "https";
  uint16_t redirect_port = 0; // 0 = the scheme's default port
  int redirect_status = 308;  // 301, 302, 303, 307 or 308
};

struct Timeouts { // all in milliseconds
  uint64_t connect = 2000;
  uint64_t client_header = 10000;
  uint64_t client_idle = 60000;
  uint64_t client_body = 30000; // between two request body bytes
  uint64_t upstream_response = 30000;
  uint64_t upstream_idle = 30000; // between two response body bytes
  uint64_t drain = 10000;         // SIGTERM: how long in-flight requests may take to finish
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
  // `splice: true`: plain-text Content-Length response bodies move from the
  // server's socket to the client's with splice(2), not through the proxy's
  // memory. Off by default (README: what it saves and what it costs).
  bool splice = false;
  // The admin listener (`admin:`): metrics, API and stats page, on the main
  // thread. length 0 = off.
  SocketAddress admin;
  std::vector<Listener> listeners;
  Timeouts timeouts;
  Limits limits;
  std::vector<Pool> pools;
  std::vector<Split> splits;
  // routes->route(i) is route i; actions[i] says what it does. For kPool
  // routes, routes->route(i).target is also the pool index.
  std::unique_ptr<routing::RouteTable> routes;
  std::vector<RouteAction> actions;
};

} // namespace proxy::config
