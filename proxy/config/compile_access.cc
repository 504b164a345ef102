// compileListenerAccess(): a validated listener's allow/deny lists -> one
// shared, immutable CidrTable (1 = allow, 0 = deny) plus the default for
// addresses no prefix covers, and its connection limits; sourceRules(): a
// route's match.source -> routing::SourceRule (the route table builds the
// per-route table).
#include <memory>
#include <utility>
#include <vector>

#include "proxy/config/compile.h"

namespace proxy::config {

void compileListenerAccess(const ListenerAccessSpec& spec, Listener* listener) {
  if (spec.max_connections.set)
    listener->max_connections = static_cast<uint32_t>(spec.max_connections.value);
  if (spec.max_connections_per_ip.set)
    listener->max_connections_per_ip = static_cast<uint32_t>(spec.max_connections_per_ip.value);
  if (spec.allow.items.empty() && spec.deny.items.empty()) return;
  auto table = std::make_shared<routing::CidrTable>();
  // validate() refused duplicates and allow/deny conflicts, so every add succeeds.
  for (const Value<CidrSpec>& item : spec.allow.items)
    table->add(item.value.cidr, 1);
  for (const Value<CidrSpec>& item : spec.deny.items)
    table->add(item.value.cidr, 0);
  listener->access = std::move(table);
  // With only `deny`, everyone else is allowed; with `allow`, nobody else is.
  listener->access_default_allow = spec.allow.items.empty();
}

std::vector<routing::SourceRule> sourceRules(const CidrListSpec& spec) {
  std::vector<routing::SourceRule> rules;
  rules.reserve(spec.items.size());
  for (const Value<CidrSpec>& item : spec.items)
    rules.push_back(routing::SourceRule{item.value.cidr, item.value.exclude});
  return rules;
}

} // namespace proxy::config
