// Route checks: names, pool references (direct or through a split), redirect
// scheme, status and port, path kinds, regexes (compiled once here through
// routing::checkRegex), methods, header/cookie names, unique experiment names,
// and warnings for unreachable routes and unused pools.
#include <strings.h>

#include <string>
#include <unordered_map>
#include <unordered_set>

#include "proxy/config/validate.h"
#include "proxy/config/values.h"
#include "routing/route_table.h"

namespace proxy::config {

bool MatchSpec::empty() const {
  return !host.set && !path.set && !path_prefix.set && !path_regex.set && methods.empty() &&
         headers.empty() && cookies.empty() && query.empty() && !source.present;
}

namespace {

void checkRegex(const Value<std::string>& pattern, bool allow_empty, Diagnostics& diags) {
  if (!pattern.set) return;
  if (pattern.value.empty() && !allow_empty) {
    diags.error(pattern.loc, "empty pattern; remove the key to match anything");
    return;
  }
  std::string error = routing::checkRegex(pattern.value);
  if (!error.empty()) diags.error(pattern.loc, "invalid regex: " + error);
}

void checkPaths(const MatchSpec& match, Diagnostics& diags) {
  const Value<std::string>* seen = nullptr;
  for (const Value<std::string>* path : {&match.path, &match.path_prefix, &match.path_regex}) {
    if (!path->set) continue;
    if (seen != nullptr) {
      diags.error(path->loc, "only one of path, path_prefix and path_regex may be set (" +
                                 seen->loc.path + " is already set)");
    }
    seen = path;
  }
  for (const Value<std::string>* path : {&match.path, &match.path_prefix}) {
    if (path->set && (path->value.empty() || path->value.front() != '/')) {
      diags.error(path->loc, "must start with '/', got '" + path->value + "'");
    }
  }
  checkRegex(match.path_regex, false, diags);
}

bool isStandardMethod(std::string_view method) {
  static const std::unordered_set<std::string_view> kStandard = {
      "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"};
  return kStandard.count(method) != 0;
}

std::string upper(std::string text) {
  for (char& c : text) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return text;
}

void checkMethods(const std::vector<Value<std::string>>& methods, Diagnostics& diags) {
  std::unordered_set<std::string_view> seen;
  for (const Value<std::string>& method : methods) {
    if (!method.set) continue;
    const std::string& text = method.value;
    if (!isToken(text)) {
      diags.error(method.loc, "'" + text + "' is not a valid method (RFC 9110 9.1: a token)");
    } else if (upper(text) != text) {
      diags.error(method.loc, "methods are case-sensitive (RFC 9110 9.1); write '" + upper(text) +
                                  "' instead of '" + text + "'");
    } else if (!seen.insert(text).second) {
      diags.warning(method.loc, "method " + text + " is listed twice");
    } else if (!isStandardMethod(text)) {
      diags.warning(method.loc, "'" + text +
                                    "' is not a standard method; it matches only "
                                    "requests that use exactly this token");
    }
  }
}

// How the names of one kind of pattern are checked.
struct PatternKind {
  std::string_view what; // "header"
  bool token_names;      // header and cookie names are tokens; query names are anything
  bool fold_case;        // header names compare case-insensitively: X-A and x-a collide
};

constexpr PatternKind kHeader{"header", true, true};
constexpr PatternKind kCookie{"cookie", true, false};
constexpr PatternKind kQuery{"query parameter", false, false};

void checkPatterns(const std::vector<PatternSpec>& patterns, const PatternKind& kind,
                   Diagnostics& diags) {
  const std::string what(kind.what);
  std::unordered_map<std::string, const PatternSpec*> seen;
  for (const PatternSpec& pattern : patterns) {
    const std::string& name = pattern.name.value;
    if (name.empty()) {
      diags.error(pattern.name.loc, "empty " + what + " name");
    } else if (kind.token_names && !isToken(name)) {
      diags.error(pattern.name.loc,
                  "'" + name + "' is not a valid " + what + " name (RFC 9110 5.6.2: a token)");
    }
    auto [it, inserted] = seen.emplace(kind.fold_case ? upper(name) : name, &pattern);
    if (!inserted) {
      // Exact repeats were reported by the reader; only case variants get here.
      diags.error(pattern.name.loc, what + " '" + name + "' is already matched by " +
                                        it->second->name.loc.path +
                                        " (names are case-insensitive)");
    }
    checkRegex(pattern.regex, true, diags);
  }
}

void checkMatch(const MatchSpec& match, Diagnostics& diags) {
  checkRegex(match.host, false, diags);
  checkPaths(match, diags);
  checkMethods(match.methods, diags);
  checkPatterns(match.headers, kHeader, diags);
  checkPatterns(match.cookies, kCookie, diags);
  checkPatterns(match.query, kQuery, diags);
  validateSource(match.source, diags);
}

void checkRedirect(const RedirectSpec& redirect, Diagnostics& diags) {
  if (!redirect.present) return;
  const Value<std::string>& scheme = redirect.scheme;
  if (scheme.set && scheme.value != "https" && scheme.value != "http") {
    diags.error(scheme.loc, "unknown scheme '" + scheme.value + "'" +
                                suggestion(scheme.value, {"https", "http"}) +
                                "; expected https or http");
  }
  const Value<uint64_t>& status = redirect.status;
  if (status.set) {
    bool known = false;
    for (uint64_t code : {301, 302, 303, 307, 308})
      known = known || status.value == code;
    if (!known) {
      diags.error(status.loc, "must be a redirect status: 301, 302, 303, 307 or 308, got " +
                                  std::to_string(status.value));
    }
  }
  const Value<uint64_t>& port = redirect.port;
  if (port.set && (port.value == 0 || port.value > 65535)) {
    diags.error(port.loc, "must be between 1 and 65535, got " + std::to_string(port.value) +
                              "; remove port to use the scheme's default");
  }
}

std::vector<std::string_view> poolNames(const ConfigSpec& spec) {
  std::vector<std::string_view> names;
  for (const PoolSpec& pool : spec.pools) {
    if (pool.name.set) names.push_back(pool.name.value);
  }
  return names;
}

void warnUnusedPools(const ConfigSpec& spec, const std::unordered_set<std::string_view>& used,
                     Diagnostics& diags) {
  for (const PoolSpec& pool : spec.pools) {
    if (pool.name.set && used.count(pool.name.value) == 0) {
      diags.warning(pool.name.loc, "pool '" + pool.name.value + "' is not used by any route");
    }
  }
}

} // namespace

void checkPoolRef(const Value<std::string>& ref, const std::vector<std::string_view>& pools,
                  std::unordered_set<std::string_view>* used, Diagnostics& diags) {
  if (!ref.set) return;
  const std::string& name = ref.value;
  for (std::string_view pool : pools) {
    if (pool == name) {
      used->insert(pool);
      return;
    }
  }
  std::string known = pools.empty() ? "no pools are defined" : "defined pools: " + joinNames(pools);
  diags.error(ref.loc, "unknown pool '" + name + "'" + suggestion(name, pools) + "; " + known);
}

// ---- routes an earlier route shadows ---------------------------------------
// covers(a, b): every request that matches b also matches a, judged
// conservatively from the conditions as written (a regex only covers the
// same regex); false means "not proven", never "b is reachable".

bool sameText(const Value<std::string>& a, const Value<std::string>& b) {
  return a.set && b.set && a.value == b.value;
}

bool startsWith(const Value<std::string>& text, const std::string& prefix) {
  return text.set && text.value.compare(0, prefix.size(), prefix) == 0;
}

bool pathCovers(const MatchSpec& a, const MatchSpec& b) {
  if (a.path.set) return sameText(a.path, b.path);
  if (a.path_prefix.set)
    return startsWith(b.path, a.path_prefix.value) ||
           startsWith(b.path_prefix, a.path_prefix.value);
  if (a.path_regex.set) return sameText(a.path_regex, b.path_regex);
  return true;
}

bool methodsCover(const MatchSpec& a, const MatchSpec& b) {
  if (a.methods.empty()) return true;
  if (b.methods.empty()) return false;
  for (const Value<std::string>& m : b.methods) {
    bool listed = false;
    for (const Value<std::string>& n : a.methods)
      listed = listed || n.value == m.value;
    if (!listed) return false;
  }
  return true;
}

// Every pattern of `a` stands in `b` too (same name, same regex).
bool patternsCover(const std::vector<PatternSpec>& a, const std::vector<PatternSpec>& b,
                   bool names_ignore_case) {
  for (const PatternSpec& p : a) {
    bool found = false;
    for (const PatternSpec& q : b) {
      bool same_name = names_ignore_case
                           ? strcasecmp(p.name.value.c_str(), q.name.value.c_str()) == 0
                           : p.name.value == q.name.value;
      found = found || (same_name && p.regex.value == q.regex.value);
    }
    if (!found) return false;
  }
  return true;
}

bool sourcesCover(const CidrListSpec& a, const CidrListSpec& b) {
  if (!a.present) return true;
  if (!b.present || a.items.size() != b.items.size()) return false;
  for (size_t i = 0; i < a.items.size(); ++i) {
    const CidrSpec& x = a.items[i].value;
    const CidrSpec& y = b.items[i].value;
    if (x.exclude != y.exclude || routing::formatCidr(x.cidr) != routing::formatCidr(y.cidr))
      return false;
  }
  return true;
}

bool covers(const MatchSpec& a, const MatchSpec& b) {
  if (a.host.set && !sameText(a.host, b.host)) return false;
  return pathCovers(a, b) && methodsCover(a, b) && patternsCover(a.headers, b.headers, true) &&
         patternsCover(a.cookies, b.cookies, false) && patternsCover(a.query, b.query, false) &&
         sourcesCover(a.source, b.source);
}

void validateRoutes(const ConfigSpec& spec, Diagnostics& diags) {
  if (spec.routes.empty()) diags.error(spec.routes_loc, "at least one route is required");
  std::vector<std::string_view> pools = poolNames(spec);
  std::unordered_set<std::string_view> used;
  std::vector<const Value<std::string>*> names;
  std::vector<const Value<std::string>*> experiments;
  const RouteSpec* catch_all = nullptr;
  std::vector<const RouteSpec*> earlier_routes;
  for (const RouteSpec& route : spec.routes) {
    if (checkName(route.name, "route", diags)) names.push_back(&route.name);
    checkPoolRef(route.pool, pools, &used, diags);
    if (route.split.present) {
      validateSplit(route.split, pools, &used, diags);
      if (checkName(route.split.experiment, "experiment", diags)) {
        experiments.push_back(&route.split.experiment);
      }
    }
    checkRedirect(route.redirect, diags);
    checkMatch(route.match, diags);
    if (catch_all != nullptr) {
      diags.warning(route.loc, "unreachable: " + catch_all->loc.path + " ('" +
                                   catch_all->name.value + "') above matches every request");
    } else if (route.match.empty()) {
      catch_all = &route;
    } else {
      for (const RouteSpec* earlier : earlier_routes) {
        if (!covers(earlier->match, route.match)) continue;
        diags.warning(route.loc, "unreachable: " + earlier->loc.path + " ('" + earlier->name.value +
                                     "') above matches every request this route matches");
        break;
      }
    }
    earlier_routes.push_back(&route);
  }
  checkUnique(names, "route", diags);
  // The experiment salts the assignment and labels its metrics: two routes
  // sharing one would mix their users and their counts.
  checkUnique(experiments, "experiment", diags);
  warnUnusedPools(spec, used, diags);
}

} // namespace proxy::config
