// Reader for source-address rules and client connection limits: a
// listener's `allow`, `deny`, `max_connections` and `max_connections_per_ip`,
// and a route's `match.source`. Each prefix is parsed here with
// routing::parseCidr, so a typo is reported at its own position with
// parseCidr's hint; duplicates and conflicts are validate_access.cc's.
#include <optional>
#include <string>
#include <string_view>

#include "proxy/config/reader.h"
#include "proxy/config/yaml_node.h"

namespace proxy::config {
namespace {

constexpr char kExpected[] = "an address prefix such as 10.0.0.0/8";

// Which list an entry is in, for the message about a stray '!'.
enum class ListKind { kSource, kAllow, kDeny };

// yaml-cpp tags a plain scalar "?" and a quoted one "!". Anything else is an
// explicit tag: an unquoted "!10.1.0.0/16" is read as the tag "!10.1.0.0/16"
// with an empty value.
bool hasExplicitTag(const YAML::Node& node) {
  const std::string& tag = node.Tag();
  return !tag.empty() && tag != "?" && tag != "!";
}

std::string convert(ListKind kind, const std::string& text, CidrSpec* out) {
  std::string_view body = text;
  if (body.starts_with('!')) {
    body.remove_prefix(1);
    if (kind != ListKind::kSource) {
      const char* other = kind == ListKind::kAllow ? "deny" : "allow";
      return "'!' (exclude) is for a route's match.source only; to " +
             std::string(kind == ListKind::kAllow ? "refuse" : "admit") + " " + std::string(body) +
             " here, list it under " + other;
    }
    out->exclude = true;
  }
  std::string error;
  std::optional<routing::Cidr> cidr = routing::parseCidr(body, &error);
  if (!cidr) {
    std::string message = "'" + text + "': " + error;
    if (error == "not an IPv4 or IPv6 address") {
      message += "; write a prefix such as 10.0.0.0/8 or 2001:db8::/32, or one address";
    }
    return message;
  }
  out->cidr = *cidr;
  return "";
}

// One prefix or a list of them (`allow: 10.0.0.0/8` is a list of one).
void readCidrList(const Entry* entry, ListKind kind, CidrListSpec* out, Diagnostics& diags) {
  if (entry == nullptr) return;
  out->present = true;
  out->loc = entry->key_loc;
  for (const Entry& item : scalarItems(*entry, diags)) {
    if (hasExplicitTag(item.value)) {
      const std::string& tag = item.value.Tag();
      diags.error(item.value_loc, "YAML reads an unquoted '" + tag +
                                      "' as a tag, not a string: quote it, e.g. \"" + tag + "\"");
      continue;
    }
    out->items.emplace_back();
    readScalar<CidrSpec>(
        &item, kExpected,
        [kind](const std::string& text, CidrSpec* value) { return convert(kind, text, value); },
        &out->items.back(), diags);
  }
}

} // namespace

void readListenerAccess(const MapView& listener, ListenerAccessSpec* out, Diagnostics& diags) {
  readCidrList(listener.find("allow"), ListKind::kAllow, &out->allow, diags);
  readCidrList(listener.find("deny"), ListKind::kDeny, &out->deny, diags);
  readSize(listener.find("max_connections"), &out->max_connections, diags);
  readSize(listener.find("max_connections_per_ip"), &out->max_connections_per_ip, diags);
}

void readSource(const Entry* entry, CidrListSpec* out, Diagnostics& diags) {
  readCidrList(entry, ListKind::kSource, out, diags);
}

} // namespace proxy::config
