// Schema reader: a parsed YAML document -> ConfigSpec. Reports shape problems
// (wrong types, unknown/duplicate/missing keys, unparsable scalars and
// addresses) to Diagnostics and keeps going, so that one pass finds them all.
// Semantic checks (ranges, names, references, regexes) are validate()'s job.
#pragma once

#include <yaml-cpp/yaml.h>

#include "proxy/config/diagnostics.h"
#include "proxy/config/spec.h"

namespace proxy::config {

// Resolves server host names (getaddrinfo): call at load time only.
ConfigSpec readConfig(const YAML::Node& root, Diagnostics& diags);

struct Entry;

// A listener's `tls:` block (reader_tls.cc); resolves the ticket secret.
void readTls(const Entry* entry, TlsSpec* out, Diagnostics& diags);

class MapView;

// A listener's allow, deny, max_connections and max_connections_per_ip, from
// the listener's mapping (reader_access.cc).
void readListenerAccess(const MapView& listener, ListenerAccessSpec* out, Diagnostics& diags);

// A route's `match.source` (reader_access.cc).
void readSource(const Entry* entry, CidrListSpec* out, Diagnostics& diags);

} // namespace proxy::config
