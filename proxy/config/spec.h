// Spec structs: the config as written, before validation. The YAML reader
// fills them (every value remembers where it was written and under which key
// path), validate() checks them, compile() turns them into a Snapshot.
// Plain data; single-threaded use during a load.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "proxy/config/snapshot.h"

namespace proxy::config {

// Where a key or value was written: 1-based line/column (0 = unknown) and the
// key path ("routes[1].match.headers.X-Beta").
struct Loc {
  int line = 0;
  int column = 0;
  std::string path;
};

// One scalar as written. `set` is true only when the key was present and its
// value converted to T; the reader already reported any conversion error.
template <typename T> struct Value {
  T value{};
  Loc loc;
  bool set = false;
};

// One `certificates:` item. The *_key_loc fields are the positions of the
// `cert` / `key` keys, where problems with those files are reported.
struct CertificateSpec {
  Loc loc;
  Value<std::string> cert;
  Value<std::string> key;
  Loc cert_key_loc;
  Loc key_key_loc;
};

// `client_auth: {ca, mode}` (mTLS).
struct ClientAuthSpec {
  Loc loc; // the `client_auth` key's value
  bool present = false;
  Value<std::string> ca;
  Loc ca_key_loc;
  Value<std::string> mode;
  Value<std::string> subject_header;     // verified client subject sent upstream under this name
  Value<std::string> fingerprint_header; // its SHA-256 fingerprint under this name
};

// A listener's `tls:`. ticket_secret holds the resolved key bytes (env:NAME,
// file:PATH or a literal), never the text written.
struct TlsSpec {
  Loc loc; // the `tls` key
  bool present = false;
  Loc certificates_loc; // the `certificates` key, or loc when absent
  std::vector<CertificateSpec> certificates;
  Value<std::string> min_version;
  Value<std::string> ciphers;
  bool has_alpn = false;
  std::vector<Value<std::string>> alpn;
  Value<bool> session_tickets;
  Value<uint64_t> ticket_rotation; // milliseconds
  Value<std::string> ticket_secret;
  Value<bool> strict_sni;
  ClientAuthSpec client_auth;
  Loc hsts_loc; // the `hsts` key's value
  bool has_hsts = false;
  Value<uint64_t> hsts_max_age; // seconds
};

// One prefix of `allow:`, `deny:` or `source:`, parsed by the reader
// (reader_access.cc). `exclude`: written with a leading '!' (source only).
struct CidrSpec {
  routing::Cidr cidr;
  bool exclude = false;
};

// A list of prefixes; `loc` is the key (where an empty list is reported).
struct CidrListSpec {
  Loc loc;
  bool present = false;
  std::vector<Value<CidrSpec>> items;
};

// A listener's source-address rules and connection limits.
struct ListenerAccessSpec {
  CidrListSpec allow;
  CidrListSpec deny;
  Value<uint64_t> max_connections;
  Value<uint64_t> max_connections_per_ip;
};

struct ListenerSpec {
  Loc loc; // the list item
  Value<std::string> name;
  Value<SocketAddress> address;
  TlsSpec tls;
  ListenerAccessSpec access;
};

struct ServerSpec {
  Loc loc;
  Value<std::string> name;
  Value<SocketAddress> address;
  Value<uint64_t> weight;
};

// `sticky:`. Secrets are resolved by the reader (env:NAME, file:PATH or a
// literal): each Value holds the key bytes, never the text written.
struct StickySpec {
  Loc loc; // the `sticky` key's value
  bool present = false;
  Value<std::string> cookie;
  Value<uint64_t> ttl; // seconds
  Value<std::string> secure;
  Value<bool> httponly;
  Value<std::string> samesite;
  Loc secrets_loc; // the `secrets` key, or loc when absent
  std::vector<Value<std::string>> secrets;
};

// A pool's `tls: {ca, sni, verify}` (re-encryption to the servers).
struct PoolTlsSpec {
  Loc loc; // the `tls` key
  bool present = false;
  Value<std::string> ca; // PEM bundle; absent = the system trust store
  Loc ca_key_loc;        // the `ca` key, or loc when absent
  Value<std::string> sni;
  Value<bool> verify;
};

// A pool's `health_check:` (active probes).
struct HealthCheckSpec {
  Loc loc; // the `health_check` key's value
  bool present = false;
  Value<std::string> path;
  Value<std::string> host;
  Value<uint64_t> interval; // milliseconds
  Value<uint64_t> timeout;  // milliseconds
  Value<uint64_t> rise;
  Value<uint64_t> fall;
  Value<std::string> expect_status; // "200-399" or "200"
};

// A pool's `outlier:` (passive ejection).
struct OutlierSpec {
  Loc loc;
  bool present = false;
  Value<uint64_t> consecutive_failures;
  Value<uint64_t> eject_for; // milliseconds
  Value<uint64_t> max_ejected_percent;
};

// A pool's `retries: {attempts, on, budget}`.
struct RetriesSpec {
  Loc loc;
  bool present = false;
  Value<uint64_t> attempts;
  bool has_on = false;
  std::vector<Value<std::string>> on; // connect_failure, reset_before_response, 503
  Value<std::string> budget;          // "20%"
};

struct PoolSpec {
  Loc loc;
  Value<std::string> name;
  Value<std::string> balance;
  Value<KeySource> hash_key;
  StickySpec sticky;
  PoolTlsSpec tls;
  HealthCheckSpec health_check;
  OutlierSpec outlier;
  RetriesSpec retries;
  Value<uint64_t> max_connections;
  Value<uint64_t> max_pending;
  Value<uint64_t> queue_timeout; // milliseconds
  Value<uint64_t> slow_start;    // milliseconds
  std::vector<ServerSpec> servers;
};

// One `name: regex` entry of match.headers / match.cookies / match.query.
struct PatternSpec {
  Value<std::string> name;  // loc of the key
  Value<std::string> regex; // loc of the value
};

struct MatchSpec {
  Loc loc;
  Value<std::string> host;
  Value<std::string> path;
  Value<std::string> path_prefix;
  Value<std::string> path_regex;
  std::vector<Value<std::string>> methods;
  std::vector<PatternSpec> headers;
  std::vector<PatternSpec> cookies;
  std::vector<PatternSpec> query;
  CidrListSpec source; // client address (`!prefix` excludes)
  // True when no condition is present (absent or empty match block).
  bool empty() const;
};

struct SplitVariantSpec {
  Loc loc;
  Value<std::string> name;
  Value<std::string> pool;
  Value<uint64_t> weight;
};

// `split:`, a route action instead of `pool:`.
struct SplitSpec {
  Loc loc; // the `split` key's value
  bool present = false;
  Value<std::string> experiment;
  Value<KeySource> key;
  Value<std::string> assign_cookie;
  Value<KeySource> override_key;
  Loc variants_loc; // the `variants` key, or loc when absent
  bool has_variants = false;
  std::vector<SplitVariantSpec> variants;
};

// `redirect: {scheme, status, port}`, a route action instead of `pool:`.
struct RedirectSpec {
  Loc loc; // the `redirect` key's value
  bool present = false;
  Value<std::string> scheme;
  Value<uint64_t> status;
  Value<uint64_t> port;
};

struct RouteSpec {
  Loc loc;
  Value<std::string> name;
  MatchSpec match;
  Value<std::string> pool;
  SplitSpec split;
  RedirectSpec redirect;
};

struct AccessLogSpec {
  Loc loc;
  bool enabled = true;
  Value<std::string> format;
  Value<std::string> path;
};

// `workers: auto` is kept as auto_workers; a number in `count`.
struct WorkersSpec {
  Value<uint64_t> count;
  bool auto_workers = false;
};

struct TimeoutsSpec {
  Value<uint64_t> connect; // milliseconds
  Value<uint64_t> client_header;
  Value<uint64_t> client_idle;
  Value<uint64_t> client_body;
  Value<uint64_t> upstream_response;
  Value<uint64_t> upstream_idle;
  Value<uint64_t> drain;
};

struct LimitsSpec {
  Value<uint64_t> max_header_bytes;
  Value<uint64_t> max_headers;
  Value<uint64_t> max_uri_bytes;
  Value<uint64_t> max_body_bytes;
};

// Top-level `admin:` (the admin listener: metrics, API, stats page).
struct AdminSpec {
  Loc loc;
  bool present = false;
  Value<SocketAddress> address;
};

struct ConfigSpec {
  Loc loc; // the document
  WorkersSpec workers;
  AccessLogSpec access_log;
  Value<bool> splice; // default false
  AdminSpec admin;
  Loc listeners_loc; // the `listeners` key, or the document when absent
  std::vector<ListenerSpec> listeners;
  TimeoutsSpec timeouts;
  LimitsSpec limits;
  Loc pools_loc;
  std::vector<PoolSpec> pools;
  Loc routes_loc;
  std::vector<RouteSpec> routes;
};

} // namespace proxy::config
