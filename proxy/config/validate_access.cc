// Checks for source-address rules and client connection limits: empty lists,
// a prefix listed twice (in any spelling: 10.0.0.1 is 10.0.0.1/32,
// ::ffff:10.0.0.0/104 is 10.0.0.0/8) or in both allow and deny, prefixes of
// the other family than the listener's address (they can never match),
// route source lists that can match nobody, and the limits' ranges.
#include <sys/socket.h>

#include <string>
#include <vector>

#include "proxy/config/validate.h"
#include "routing/cidr.h"

namespace proxy::config {
namespace {

constexpr uint64_t kMaxConnections = 10000000;

std::string position(const Loc& loc) {
  return std::to_string(loc.line) + ":" + std::to_string(loc.column);
}

std::string written(const Value<CidrSpec>& item) {
  return (item.value.exclude ? "!" : "") + routing::formatCidr(item.value.cidr);
}

bool isV4(const routing::Cidr& cidr) { return cidr.base.is_v4; }

// Adds every set item of `lists` to one table, in order, and reports the
// second occurrence of a prefix: a duplicate within one list, or a conflict
// between two lists (allow/deny, include/exclude), naming the first one.
class PrefixSet {
public:
  void add(const Value<CidrSpec>& item, Diagnostics& diags) {
    int first = 0;
    if (table_.add(item.value.cidr, static_cast<int>(seen_.size()), &first)) {
      seen_.push_back(&item);
      return;
    }
    const Value<CidrSpec>& other = *seen_[static_cast<size_t>(first)];
    std::string where = other.loc.path + " at " + position(other.loc);
    std::string prefix = routing::formatCidr(item.value.cidr);
    if (listOf(other.loc.path) != listOf(item.loc.path)) {
      diags.error(item.loc, prefix + " is also in " + where +
                                "; a prefix may be in allow or in deny, not both: remove one");
    } else if (other.value.exclude != item.value.exclude) {
      diags.error(item.loc, "'" + written(item) + "' contradicts '" + written(other) + "' (" +
                                where + "); list the prefix once, with or without '!'");
    } else {
      diags.error(item.loc, "duplicate: " + prefix + " is already listed (" + where +
                                "); remove one of them");
    }
  }

private:
  // "listeners[0].allow[2]" -> "listeners[0].allow"
  static std::string_view listOf(std::string_view path) {
    if (!path.empty() && path.back() == ']') path = path.substr(0, path.rfind('['));
    return path;
  }

  routing::CidrTable table_;
  std::vector<const Value<CidrSpec>*> seen_;
};

void checkNotEmpty(const CidrListSpec& list, const char* consequence, Diagnostics& diags) {
  if (!list.present || !list.items.empty()) return;
  diags.error(list.loc, std::string("empty list") + consequence +
                            "; list at least one prefix, or remove the key");
}

// A listener bound to an IPv4 address only sees IPv4 peers, and an IPv6 one
// only IPv6 peers (IPV6_V6ONLY is set, see bindListeningSocket).
void warnOtherFamily(const ListenerSpec& listener, const CidrListSpec& list, Diagnostics& diags) {
  if (!listener.address.set) return;
  const bool listener_v4 = listener.address.value.storage.ss_family == AF_INET;
  for (const Value<CidrSpec>& item : list.items) {
    if (!item.set || isV4(item.value.cidr) == listener_v4) continue;
    diags.warning(item.loc, routing::formatCidr(item.value.cidr) + " never matches: listener " +
                                listener.address.value.text + " only accepts " +
                                (listener_v4 ? "IPv4" : "IPv6") + " clients");
  }
}

void checkLimit(const Value<uint64_t>& limit, Diagnostics& diags) {
  if (!limit.set || (limit.value >= 1 && limit.value <= kMaxConnections)) return;
  diags.error(limit.loc, "must be between 1 and " + std::to_string(kMaxConnections) + ", got " +
                             std::to_string(limit.value) + "; remove the key for no limit");
}

} // namespace

void validateListenerAccess(const ListenerSpec& listener, Diagnostics& diags) {
  const ListenerAccessSpec& access = listener.access;
  checkNotEmpty(access.allow,
                ": with allow, every address not listed is refused, so this refuses every client",
                diags);
  checkNotEmpty(access.deny, "", diags);
  PrefixSet prefixes;
  for (const CidrListSpec* list : {&access.allow, &access.deny}) {
    for (const Value<CidrSpec>& item : list->items) {
      if (item.set) prefixes.add(item, diags);
    }
    warnOtherFamily(listener, *list, diags);
  }
  checkLimit(access.max_connections, diags);
  checkLimit(access.max_connections_per_ip, diags);
  const Value<uint64_t>& total = access.max_connections;
  const Value<uint64_t>& per_ip = access.max_connections_per_ip;
  if (total.set && per_ip.set && per_ip.value > total.value && total.value > 0) {
    diags.warning(per_ip.loc, "max_connections_per_ip (" + std::to_string(per_ip.value) +
                                  ") is above max_connections (" + std::to_string(total.value) +
                                  "): it never applies");
  }
}

void validateSource(const CidrListSpec& source, Diagnostics& diags) {
  checkNotEmpty(source, ": the route would match no client", diags);
  PrefixSet prefixes;
  bool any_include = false;
  bool any_set = false;
  for (const Value<CidrSpec>& item : source.items) {
    if (!item.set) continue;
    any_set = true;
    any_include = any_include || !item.value.exclude;
    prefixes.add(item, diags);
  }
  if (any_set && !any_include) {
    diags.warning(source.loc, "only exclusions: an address no prefix includes does not match, so "
                              "this route matches no client; add what it should match, e.g. "
                              "0.0.0.0/0 and ::/0 for everyone else");
  }
}

} // namespace proxy::config
