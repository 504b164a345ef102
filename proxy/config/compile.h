// compile(): a validated ConfigSpec -> immutable Snapshot. Builds the route
// table (every regex compiled once) and one RouteAction per route (a pool
// index, or an index into Snapshot::splits); RouteDef::target is the pool
// index (for a split, its first variant's pool). Fills defaults for absent
// keys, sticky server ids, and a per-process key for sticky pools without
// secrets.
#pragma once

#include <memory>
#include <string>

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

} // namespace proxy::config
