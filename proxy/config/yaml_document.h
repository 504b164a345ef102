// Turns config text into the one YAML document it must hold, or reports why
// it does not (syntax error, empty, several documents, not a mapping).
#pragma once

#include <yaml-cpp/yaml.h>

#include <string_view>

#include "proxy/config/diagnostics.h"

namespace proxy::config {

// Position of a yaml-cpp mark, 1-based; 0:0 when yaml-cpp has none.
Loc markLoc(const YAML::Mark& mark);

// Returns false after reporting to `diags`. Never throws: yaml-cpp exceptions
// become diagnostics.
bool parseDocument(std::string_view yaml, YAML::Node* root, Diagnostics& diags);

} // namespace proxy::config
