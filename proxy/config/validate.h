// validate(): semantic checks over a ConfigSpec, after the reader. Collects
// every error (ranges, names, duplicates, references, regexes, methods) and
// non-fatal warnings (unreachable routes, unused pools). Only values the
// reader converted (Value::set) are checked; the reader reported the rest.
#pragma once

#include "proxy/config/diagnostics.h"
#include "proxy/config/spec.h"

namespace proxy::config {

inline constexpr uint64_t kMaxWorkers = 64;
inline constexpr uint64_t kMaxWeight = 1000000;

void validate(const ConfigSpec& spec, Diagnostics& diags);

// Route checks (validate_routes.cc); `validate` calls it.
void validateRoutes(const ConfigSpec& spec, Diagnostics& diags);

// Names of listeners, pools, routes and servers: 1..64 of [A-Za-z0-9_.-].
// Reports and returns false otherwise.
bool checkName(const Value<std::string>& name, std::string_view what, Diagnostics& diags);

// Reports each name seen twice, pointing at the first definition.
void checkUnique(const std::vector<const Value<std::string>*>& names, std::string_view what,
                 Diagnostics& diags);

} // namespace proxy::config
