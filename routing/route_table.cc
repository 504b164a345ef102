#include "routing/route_table.h"

#include <map>

#include "routing/regex_set.h"
#include "routing/request_fields.h"

namespace routing {
namespace {

// What a regex condition is matched against. One RegexSet per distinct key.
enum class KeyKind : uint8_t { kHost, kPath, kHeader, kCookie, kQuery };

struct RegexKey {
  KeyKind kind;
  std::string name; // header name lowercased, cookie or query parameter name; else empty
  RegexSet set;
  std::string field; // "routes[i].match..." of the last condition added, for errors
};

// The per-route data the match walk reads, kept small and contiguous (a
// RouteDef is hundreds of bytes): the regex conditions are the ids
// [begin, end), `cheap` says whether method or exact/prefix path apply, and
// `source` indexes the route's client-address table (-1: no condition).
struct RouteSummary {
  uint32_t begin = 0;
  uint32_t end = 0;
  int32_t source = -1;
  bool cheap = false;
};

std::string fieldPath(size_t route, std::string_view field) {
  return "routes[" + std::to_string(route) + "].match." + std::string(field);
}

bool methodMatches(const MatchDef& match, std::string_view method) {
  if (match.methods.empty()) return true;
  for (const std::string& allowed : match.methods) {
    if (allowed == method) return true;
  }
  return false;
}

// The conditions that need no regex: method, and exact or prefix path.
bool cheapConditionsHold(const MatchDef& match, const RequestView& request) {
  switch (match.path_kind) {
  case PathKind::kExact:
    if (request.path != match.path) return false;
    break;
  case PathKind::kPrefix:
    if (!request.path.starts_with(match.path)) return false;
    break;
  case PathKind::kAny:
  case PathKind::kRegex: break;
  }
  return methodMatches(match, request.method);
}

bool findFirstCookie(const RequestView& request, std::string_view name, std::string_view* value) {
  for (const Header& header : request.headers) {
    if (equalsLowercase(header.name, "cookie") && findCookie(header.value, name, value)) {
      return true;
    }
  }
  return false;
}

} // namespace

struct RouteTable::Impl {
  std::vector<RouteDef> routes;
  std::vector<RouteSummary> summaries; // per route
  std::vector<uint32_t> condition_key; // regex condition id -> index into keys
  std::vector<RegexKey> keys;
  std::vector<CidrTable> sources; // per route with a `source` condition

  using NamedPatterns = std::vector<std::pair<std::string, std::string>>;

  bool addRoute(size_t index, const MatchDef& match, std::string* error);
  bool addNamedConditions(size_t index, KeyKind kind, std::string_view list_name,
                          const NamedPatterns& list, std::string* error);
  bool addCondition(KeyKind kind, std::string_view name, const std::string& pattern,
                    std::string field, std::string* error);
  bool compileKeys(std::string* error);
  bool addSources(size_t index, const std::vector<SourceRule>& rules, RouteSummary* summary,
                  std::string* error);

  bool sourceHolds(size_t route, const RequestView& request) const noexcept;
  bool regexConditionsHold(size_t route, const RequestView& request, MatchScratch& scratch) const;
  void evaluateKey(size_t key, const RequestView& request, MatchScratch& scratch) const;

  // Build-time only: (kind, name) -> index into keys.
  std::map<std::pair<KeyKind, std::string>, uint32_t> key_index;
};

bool RouteTable::Impl::addCondition(KeyKind kind, std::string_view name, const std::string& pattern,
                                    std::string field, std::string* error) {
  auto [it, inserted] =
      key_index.try_emplace({kind, std::string(name)}, static_cast<uint32_t>(keys.size()));
  if (inserted) {
    keys.push_back(RegexKey{kind, std::string(name), RegexSet(kind == KeyKind::kHost), {}});
  }
  RegexKey& key = keys[it->second];
  auto id = static_cast<uint32_t>(condition_key.size());
  std::string reason = key.set.add(pattern, id);
  if (!reason.empty()) {
    if (error) *error = field + ": " + reason;
    return false;
  }
  condition_key.push_back(it->second);
  key.field = std::move(field);
  return true;
}

bool RouteTable::Impl::addNamedConditions(size_t index, KeyKind kind, std::string_view list_name,
                                          const NamedPatterns& list, std::string* error) {
  for (const auto& [name, pattern] : list) {
    std::string field = fieldPath(index, list_name);
    if (name.empty()) {
      if (error) *error = field + ": empty name";
      return false;
    }
    field += "." + name;
    // Header names are case-insensitive (RFC 9110 section 5.1); cookie and
    // query parameter names are not.
    std::string key_name = kind == KeyKind::kHeader ? toLowerAscii(name) : name;
    if (!addCondition(kind, key_name, pattern, std::move(field), error)) return false;
  }
  return true;
}

// Include = 1, exclude = 0: lookup() then says which rule is the longest.
bool RouteTable::Impl::addSources(size_t index, const std::vector<SourceRule>& rules,
                                  RouteSummary* summary, std::string* error) {
  if (rules.empty()) return true;
  CidrTable table;
  for (const SourceRule& rule : rules) {
    if (!table.add(rule.cidr, rule.exclude ? 0 : 1)) {
      if (error)
        *error = fieldPath(index, "source") + ": " + formatCidr(rule.cidr) + " is listed twice";
      return false;
    }
  }
  summary->source = static_cast<int32_t>(sources.size());
  sources.push_back(std::move(table));
  return true;
}

bool RouteTable::Impl::sourceHolds(size_t route, const RequestView& request) const noexcept {
  int32_t source = summaries[route].source;
  if (source < 0) return true;
  if (request.client == nullptr) return false;
  std::optional<int> verdict = sources[static_cast<size_t>(source)].lookup(*request.client);
  return verdict.has_value() && *verdict == 1;
}

// Conditions get ids in MatchDef order, so a route checks host, path,
// headers, cookies, query, and stops at the first that fails.
bool RouteTable::Impl::addRoute(size_t index, const MatchDef& match, std::string* error) {
  RouteSummary summary;
  summary.begin = static_cast<uint32_t>(condition_key.size());
  summary.cheap = !match.methods.empty() || match.path_kind == PathKind::kExact ||
                  match.path_kind == PathKind::kPrefix;
  bool ok = match.host_regex.empty() ||
            addCondition(KeyKind::kHost, {}, match.host_regex, fieldPath(index, "host"), error);
  ok = ok && (match.path_kind != PathKind::kRegex ||
              addCondition(KeyKind::kPath, {}, match.path, fieldPath(index, "path"), error));
  ok = ok && addNamedConditions(index, KeyKind::kHeader, "headers", match.headers, error);
  ok = ok && addNamedConditions(index, KeyKind::kCookie, "cookies", match.cookies, error);
  ok = ok && addNamedConditions(index, KeyKind::kQuery, "query", match.query, error);
  ok = ok && addSources(index, match.sources, &summary, error);
  summary.end = static_cast<uint32_t>(condition_key.size());
  summaries.push_back(summary);
  return ok;
}

bool RouteTable::Impl::compileKeys(std::string* error) {
  for (RegexKey& key : keys) {
    std::string reason = key.set.compile();
    if (!reason.empty()) {
      if (error) *error = key.field + ": " + reason;
      return false;
    }
  }
  key_index.clear();
  return true;
}

// Runs one key's set over its subject(s) and flags the satisfied conditions.
// An absent header, cookie or parameter leaves them unflagged (no match).
void RouteTable::Impl::evaluateKey(size_t index, const RequestView& request,
                                   MatchScratch& scratch) const {
  const RegexKey& key = keys[index];
  uint8_t* flags = scratch.regex_ok.data();
  std::string_view value;
  switch (key.kind) {
  case KeyKind::kHost: key.set.match(request.host, &scratch.set_hits, flags); break;
  case KeyKind::kPath: key.set.match(request.path, &scratch.set_hits, flags); break;
  case KeyKind::kHeader:
    // A repeated header satisfies a condition if any occurrence matches.
    for (const Header& header : request.headers) {
      if (equalsLowercase(header.name, key.name)) {
        key.set.match(header.value, &scratch.set_hits, flags);
      }
    }
    break;
  case KeyKind::kCookie:
    if (findFirstCookie(request, key.name, &value)) {
      key.set.match(value, &scratch.set_hits, flags);
    }
    break;
  case KeyKind::kQuery:
    if (findQueryParam(request.query, key.name, &value)) {
      decodeQueryValue(value, &scratch.decoded);
      key.set.match(scratch.decoded, &scratch.set_hits, flags);
    }
    break;
  }
  scratch.key_done[index] = 1;
}

// Keys are evaluated lazily: only when a route that passed its cheap
// conditions (and every route before it failed) needs them. A route stops at
// its first unsatisfied condition, so later keys may never be evaluated.
bool RouteTable::Impl::regexConditionsHold(size_t route, const RequestView& request,
                                           MatchScratch& scratch) const {
  const RouteSummary& summary = summaries[route];
  for (uint32_t id = summary.begin; id < summary.end; ++id) {
    uint32_t key = condition_key[id];
    if (!scratch.key_done[key]) evaluateKey(key, request, scratch);
    if (!scratch.regex_ok[id]) return false;
  }
  return true;
}

RouteTable::RouteTable() = default;
RouteTable::~RouteTable() = default;
RouteTable::RouteTable(RouteTable&&) noexcept = default;
RouteTable& RouteTable::operator=(RouteTable&&) noexcept = default;

std::unique_ptr<RouteTable> RouteTable::build(std::vector<RouteDef> routes, std::string* error) {
  auto impl = std::make_unique<Impl>();
  for (size_t i = 0; i < routes.size(); ++i) {
    if (!impl->addRoute(i, routes[i].match, error)) return nullptr;
  }
  if (!impl->compileKeys(error)) return nullptr;
  impl->routes = std::move(routes);
  auto table = std::make_unique<RouteTable>();
  table->impl_ = std::move(impl);
  return table;
}

int RouteTable::match(const RequestView& request, MatchScratch& scratch) const {
  if (!impl_) return -1;
  const Impl& table = *impl_;
  const size_t count = table.routes.size();
  if (table.keys.empty()) { // fast path: no regex anywhere in this table
    for (size_t i = 0; i < count; ++i) {
      if (cheapConditionsHold(table.routes[i].match, request) && table.sourceHolds(i, request))
        return static_cast<int>(i);
    }
    return -1;
  }
  // assign() keeps capacity: no allocation once the buffers have grown.
  scratch.regex_ok.assign(table.condition_key.size(), 0);
  scratch.key_done.assign(table.keys.size(), 0);
  for (size_t i = 0; i < count; ++i) {
    if (table.summaries[i].cheap && !cheapConditionsHold(table.routes[i].match, request)) continue;
    if (!table.sourceHolds(i, request)) continue;
    if (table.regexConditionsHold(i, request, scratch)) return static_cast<int>(i);
  }
  return -1;
}

size_t RouteTable::size() const { return impl_ ? impl_->routes.size() : 0; }

const RouteDef& RouteTable::route(size_t index) const { return impl_->routes[index]; }

} // namespace routing
