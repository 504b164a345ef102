// RouteTable: the compiled, immutable list of routes of one config snapshot.
// Built once per config (every regex compiled once, grouped into one RE2::Set
// per match key so that matching N regex rules costs one pass per key, not one
// per rule). Thread-safe for concurrent match() calls: all state is const;
// per-call scratch lives in MatchScratch, one per worker thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "routing/cidr.h"
#include "routing/request_view.h"

namespace routing {

enum class PathKind { kAny, kExact, kPrefix, kRegex };

// One entry of a `source:` condition: `10.0.0.0/8` includes, `!10.1.0.0/16`
// excludes.
struct SourceRule {
  Cidr cidr;
  bool exclude = false;
};

// One route's conditions; all present conditions AND together. An absent
// header/cookie/query parameter never matches a regex condition.
struct MatchDef {
  std::string host_regex; // empty = any host; RE2 full match, case-insensitive
  PathKind path_kind = PathKind::kAny;
  std::string path;                 // exact path, prefix, or RE2 (full match)
  std::vector<std::string> methods; // empty = any method; compared case-sensitively
  std::vector<std::pair<std::string, std::string>> headers; // name (case-insensitive) -> RE2
  std::vector<std::pair<std::string, std::string>> cookies; // cookie name -> RE2 on value
  std::vector<std::pair<std::string, std::string>> query;   // param name -> RE2 on decoded value
  // Client address: the longest prefix containing RequestView::client
  // decides (include: holds, exclude: fails); no prefix, or no client
  // address, fails. Empty = any client. A prefix may appear once.
  std::vector<SourceRule> sources;
};

struct RouteDef {
  std::string name;
  MatchDef match;
  uint32_t target = 0; // opaque to routing: the config layer stores the pool index here
};

// Returns an empty string when `pattern` compiles as RE2 within the program
// size cap, otherwise RE2's message. Used by config validation.
std::string checkRegex(std::string_view pattern);

// Per-thread reusable buffers so that match() does not allocate per request
// in the steady state.
struct MatchScratch {
  std::vector<int> set_hits;     // indices returned by one RE2::Set pass
  std::vector<uint8_t> regex_ok; // per regex condition of the table: 1 once satisfied
  std::string decoded;           // percent-decoding buffer for query values
  std::vector<uint8_t> key_done; // per match key: its RE2::Set already ran for this request
};

// One condition of a route as explain() judged it for one request.
struct ConditionVerdict {
  // The condition as configured: "host ~ (?i)<re>" (host regexes are
  // case-insensitive), "path /x", "path_prefix /api", "path ~ <re>",
  // "method in [GET, HEAD]", "header X-Beta ~ <re>", "cookie uid ~ <re>",
  // "query a ~ <re>", "source 10.0.0.0/8,!10.1.0.0/16"; every regex is a full
  // match. A route without conditions has one verdict "matches every request".
  std::string condition;
  bool ok = false;
  // Why it failed ("" when ok): "path is /x", "method is POST", "no X-Beta
  // header", "X-Beta is '2'", "cookie uid absent", "query a is 'x y' (raw
  // 'x+y')", "client 192.168.1.5 is not in any prefix", ... Request bytes are
  // shown quoted, non-printable bytes and '\' escaped, cut after 256 bytes.
  std::string detail;
};

struct RouteVerdict {
  size_t route = 0; // index in the table
  std::string name;
  bool matched = false; // every condition holds
  // Every condition of the route, in a fixed order: host, path, method,
  // headers, cookies, query (each list in config order), source.
  std::vector<ConditionVerdict> conditions;
};

class RouteTable {
public:
  RouteTable();
  ~RouteTable();
  RouteTable(RouteTable&&) noexcept;
  RouteTable& operator=(RouteTable&&) noexcept;

  // Compiles every route. Each set is capped at 8 MiB (kRegexMaxMem), which
  // holds a few thousand short patterns per key; past that build() fails
  // naming the key. On failure returns nullptr and fills `error` with
  // "routes[i].match.<field>: message" for the first bad pattern (config
  // validation should already have called checkRegex on each pattern).
  static std::unique_ptr<RouteTable> build(std::vector<RouteDef> routes, std::string* error);

  // Index of the first route whose conditions all hold, or -1. Conditions
  // are checked cheapest first: method and exact/prefix path, then the
  // client address (one allocation-free binary search, only for routes with
  // `source`), then the regexes. A key's set runs at most once per call
  // (once per occurrence of a repeated header), and only when a route that
  // passed its cheaper conditions needs it. Our own buffers live in
  // `scratch`; the one steady-state allocation left is inside RE2: a set with
  // two or more patterns allocates its match list on each pass (RE2 2022-06).
  int match(const RequestView& request, MatchScratch& scratch) const;

  // Evaluates every route in order up to and including the first match (the
  // route match() returns), with match()'s semantics: the regex verdicts come
  // from the same compiled sets, the cheap and source conditions from the
  // same checks, so the last verdict is matched exactly when match() returns
  // its index (none matched: match() returns -1). Unlike match() it judges
  // every condition of each route, not just up to the first failure. Slow
  // path for the admin API and tests: compiles nothing, allocates freely;
  // never call it per request. Thread-safe like match().
  std::vector<RouteVerdict> explain(const RequestView& request) const;

  size_t size() const;
  const RouteDef& route(size_t index) const;

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Finds cookie `name` in a Cookie header value ("a=1; b=2"). Returns true and
// sets `value` on success.
bool findCookie(std::string_view cookie_header, std::string_view name, std::string_view* value);

// Finds query parameter `name` in a raw query string ("a=1&b=2"); `value` is
// the raw (undecoded) value.
bool findQueryParam(std::string_view query, std::string_view name, std::string_view* value);

} // namespace routing
