#include "routing/route_table.h"

#include <algorithm>
#include <functional>
#include <map>
#include <optional>

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

// A source table's value: the rule's index in MatchDef::sources, shifted
// left, with bit 0 set for an include; lookup() then says both whether the
// longest prefix admits the client and (for explain) which rule it is.
int sourceValue(size_t rule, bool exclude) {
  return static_cast<int>(rule << 1) | (exclude ? 0 : 1);
}
bool sourceIncludes(int value) { return (value & 1) != 0; }
size_t sourceRule(int value) { return static_cast<size_t>(value) >> 1; }

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

  // explain(): `scratch` holds the regex verdicts of one request across routes.
  RouteVerdict explainRoute(size_t route, const RequestView& request, MatchScratch& scratch) const;
  bool regexVerdict(uint32_t id, const RequestView& request, MatchScratch& scratch) const;
  ConditionVerdict sourceVerdict(size_t route, const RequestView& request) const;

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

bool RouteTable::Impl::addSources(size_t index, const std::vector<SourceRule>& rules,
                                  RouteSummary* summary, std::string* error) {
  if (rules.empty()) return true;
  CidrTable table;
  for (size_t i = 0; i < rules.size(); ++i) {
    const SourceRule& rule = rules[i];
    if (!table.add(rule.cidr, sourceValue(i, rule.exclude))) {
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
  return verdict.has_value() && sourceIncludes(*verdict);
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

// ---- explain(): the admin API's slow path, never called per request ----

namespace {

constexpr size_t kMaxShownBytes = 256;

// Request bytes as explain shows them (a peer chose them and an admin page
// prints them): '\' and non-printable bytes escaped, cut after kMaxShownBytes.
std::string shown(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < std::min(text.size(), kMaxShownBytes); ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c == '\\') {
      out += "\\\\";
    } else if (c < 0x20 || c >= 0x7f) {
      out += {'\\', 'x', kHex[c >> 4], kHex[c & 15]};
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  if (text.size() > kMaxShownBytes) out += "... (" + std::to_string(text.size()) + " bytes)";
  return out;
}

// Values that may be empty or hold spaces (header, cookie, query, host).
std::string quoted(std::string_view text) { return "'" + shown(text) + "'"; }

std::string hostCondition(const std::string& pattern) {
  return pattern.starts_with("(?i)") ? "host ~ " + pattern : "host ~ (?i)" + pattern;
}

std::string methodCondition(const std::vector<std::string>& methods) {
  std::string out = "method in [";
  for (size_t i = 0; i < methods.size(); ++i)
    out += (i == 0 ? "" : ", ") + methods[i];
  return out + "]";
}

std::string sourceCondition(const std::vector<SourceRule>& rules) {
  std::string out = "source ";
  for (size_t i = 0; i < rules.size(); ++i)
    out +=
        (i == 0 ? "" : ",") + std::string(rules[i].exclude ? "!" : "") + formatCidr(rules[i].cidr);
  return out;
}

std::string headerDetail(const RequestView& request, const std::string& name) {
  std::string lower = toLowerAscii(name);
  std::vector<std::string_view> values;
  for (const Header& header : request.headers) {
    if (equalsLowercase(header.name, lower)) values.push_back(header.value);
  }
  if (values.empty()) return "no " + name + " header";
  if (values.size() == 1) return name + " is " + quoted(values[0]);
  std::string out = "none of " + std::to_string(values.size()) + " " + name + " headers matches:";
  for (size_t i = 0; i < values.size(); ++i)
    out += (i == 0 ? " " : ", ") + quoted(values[i]);
  return out;
}

// Only the first occurrence counts in match(); say so when there are more.
std::string firstOfNote(size_t count) {
  if (count < 2) return {};
  return " (first of " + std::to_string(count) + "; only the first counts)";
}

std::string cookieDetail(const RequestView& request, const std::string& name) {
  std::string_view first;
  size_t count = 0;
  for (const Header& header : request.headers) {
    if (!equalsLowercase(header.name, "cookie")) continue;
    std::string_view rest = header.value;
    std::string_view value;
    // `value` points into `rest`, past the name and '=': resume after it.
    while (findCookie(rest, name, &value)) {
      if (count++ == 0) first = value;
      rest.remove_prefix(static_cast<size_t>(value.data() + value.size() - rest.data()));
    }
  }
  if (count == 0) return "cookie " + name + " absent";
  return "cookie " + name + " is " + quoted(first) + firstOfNote(count);
}

// Counts parameters named `name` with findQueryParam's rules.
size_t countQueryParams(std::string_view query, std::string_view name) {
  size_t count = 0;
  while (!query.empty()) {
    size_t end = query.find('&');
    std::string_view param = query.substr(0, end);
    query.remove_prefix(end == std::string_view::npos ? query.size() : end + 1);
    if (!param.empty() && param.substr(0, param.find('=')) == name) ++count;
  }
  return count;
}

std::string queryDetail(const RequestView& request, const std::string& name) {
  std::string_view raw;
  if (!findQueryParam(request.query, name, &raw)) return "query " + name + " absent";
  std::string decoded;
  decodeQueryValue(raw, &decoded);
  std::string out = "query " + name + " is " + quoted(decoded);
  if (decoded != raw) out += " (raw " + quoted(raw) + ")";
  return out + firstOfNote(countQueryParams(request.query, name));
}

void addVerdict(std::vector<ConditionVerdict>* out, std::string condition, bool ok,
                const std::function<std::string()>& detail) {
  out->push_back(ConditionVerdict{std::move(condition), ok, ok ? std::string() : detail()});
}

} // namespace

// The same flags match() reads: each key's set runs once, via evaluateKey.
bool RouteTable::Impl::regexVerdict(uint32_t id, const RequestView& request,
                                    MatchScratch& scratch) const {
  uint32_t key = condition_key[id];
  if (!scratch.key_done[key]) evaluateKey(key, request, scratch);
  return scratch.regex_ok[id] != 0;
}

ConditionVerdict RouteTable::Impl::sourceVerdict(size_t route, const RequestView& request) const {
  const std::vector<SourceRule>& rules = routes[route].match.sources;
  ConditionVerdict verdict{sourceCondition(rules), false, {}};
  if (request.client == nullptr) {
    verdict.detail = "no client address";
    return verdict;
  }
  std::string client = "client " + formatIp(*request.client);
  std::optional<int> value =
      sources[static_cast<size_t>(summaries[route].source)].lookup(*request.client);
  if (!value) {
    verdict.detail = client + " is not in any prefix";
  } else if (sourceIncludes(*value)) {
    verdict.ok = true;
  } else {
    verdict.detail = client + " is excluded by !" + formatCidr(rules[sourceRule(*value)].cidr);
  }
  return verdict;
}

// Regex condition ids run host, path, headers, cookies, query (addRoute's
// order), so walking the MatchDef in that order visits [begin, end) in turn.
RouteVerdict RouteTable::Impl::explainRoute(size_t route, const RequestView& request,
                                            MatchScratch& scratch) const {
  const MatchDef& match = routes[route].match;
  RouteVerdict verdict{route, routes[route].name, false, {}};
  std::vector<ConditionVerdict>* out = &verdict.conditions;
  uint32_t id = summaries[route].begin;
  auto regex = [&] { return regexVerdict(id++, request, scratch); };
  if (!match.host_regex.empty()) {
    addVerdict(out, hostCondition(match.host_regex), regex(),
               [&] { return "host is " + quoted(request.host); });
  }
  auto path_is = [&] { return "path is " + shown(request.path); };
  switch (match.path_kind) {
  case PathKind::kAny: break;
  case PathKind::kExact:
    addVerdict(out, "path " + match.path, request.path == match.path, path_is);
    break;
  case PathKind::kPrefix:
    addVerdict(out, "path_prefix " + match.path, request.path.starts_with(match.path), path_is);
    break;
  case PathKind::kRegex: addVerdict(out, "path ~ " + match.path, regex(), path_is); break;
  }
  if (!match.methods.empty()) {
    addVerdict(out, methodCondition(match.methods), methodMatches(match, request.method),
               [&] { return "method is " + shown(request.method); });
  }
  for (const auto& condition :
       match.headers) // (no structured binding: clang 14 cannot capture one)
    addVerdict(out, "header " + condition.first + " ~ " + condition.second, regex(),
               [&] { return headerDetail(request, condition.first); });
  for (const auto& condition :
       match.cookies) // (no structured binding: clang 14 cannot capture one)
    addVerdict(out, "cookie " + condition.first + " ~ " + condition.second, regex(),
               [&] { return cookieDetail(request, condition.first); });
  for (const auto& condition : match.query) // (no structured binding: clang 14 cannot capture one)
    addVerdict(out, "query " + condition.first + " ~ " + condition.second, regex(),
               [&] { return queryDetail(request, condition.first); });
  if (summaries[route].source >= 0) out->push_back(sourceVerdict(route, request));
  if (out->empty()) out->push_back(ConditionVerdict{"matches every request", true, {}});
  verdict.matched = std::all_of(out->begin(), out->end(), [](const auto& c) { return c.ok; });
  return verdict;
}

std::vector<RouteVerdict> RouteTable::explain(const RequestView& request) const {
  std::vector<RouteVerdict> verdicts;
  if (!impl_) return verdicts;
  MatchScratch scratch;
  scratch.regex_ok.assign(impl_->condition_key.size(), 0);
  scratch.key_done.assign(impl_->keys.size(), 0);
  for (size_t i = 0; i < impl_->routes.size(); ++i) {
    verdicts.push_back(impl_->explainRoute(i, request, scratch));
    if (verdicts.back().matched) break;
  }
  return verdicts;
}

} // namespace routing
