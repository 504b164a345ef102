// compile(): a validated ConfigSpec -> immutable Snapshot. Builds the route
// table (every regex compiled once) and one RouteAction per route (a pool
// index, an index into Snapshot::splits, or a redirect); RouteDef::target is
// the pool index (for a split, its first variant's pool; 0 for a redirect). Fills defaults for
// absent keys, sticky server ids, and a per-process key for sticky pools without secrets.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "proxy/config/diagnostics.h"
#include "proxy/config/snapshot.h"
#include "proxy/config/spec.h"

namespace proxy::config {

// Call only when validate() reported no error. Returns nullptr (and reports
// why) if the route table cannot be built.
std::shared_ptr<const Snapshot> compile(const ConfigSpec& spec, const std::string& source,
                                        Diagnostics& diags);

// Builds listener->tls and ->hsts_max_age from a validated tls block
// (compile_tls.cc). Every problem with the certificate, key and CA files is
// reported at the key naming the file, as "<file>: <problem>". Returns false
// when the context cannot be built.
bool compileTls(const TlsSpec& spec, Listener* listener, Diagnostics& diags);

// Builds pool->tls and ->tls_sni from a validated pool tls block
// (compile_tls.cc): one client context per pool, ALPN http/1.1. Problems with
// the CA file are reported at the `ca` key (others at the `tls` key) as
// "<file>: <problem>". Returns false when the context cannot be built.
bool compilePoolTls(const PoolTlsSpec& spec, Pool* pool, Diagnostics& diags);

// A listener's allow/deny lists and limits (compile_access.cc).
void compileListenerAccess(const ListenerAccessSpec& spec, Listener* listener);

// A route's match.source as route table rules (compile_access.cc).
std::vector<routing::SourceRule> sourceRules(const CidrListSpec& spec);

} // namespace proxy::config
