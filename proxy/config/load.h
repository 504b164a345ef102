// Config loading: YAML text -> spec structs that remember file:line:col of
// every key -> validate() (collects *all* errors) -> compile() -> Snapshot.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/config/snapshot.h"

namespace proxy::config {

// One problem found in a config, printed as "file:line:col: key.path: message"
// ("file:line:col: message" when there is no key path: YAML syntax errors,
// an empty document; an unreadable file is reported at 0:0).
struct Diagnostic {
  std::string file;
  int line = 0;         // 1-based
  int column = 0;       // 1-based
  std::string key_path; // e.g. "routes[1].match.headers.X-Beta"
  std::string message;
  std::string str() const;
};

struct LoadResult {
  std::shared_ptr<const Snapshot> snapshot; // null when errors is not empty
  std::vector<Diagnostic> errors;
  std::vector<std::string> warnings; // non-fatal, formatted like Diagnostic::str()
  bool ok() const { return snapshot != nullptr; }
};

// Reads and compiles `path`. Never throws.
LoadResult loadFile(const std::string& path);

// Same from text; `file_name` is used in diagnostics. Never throws.
LoadResult loadString(std::string_view yaml, const std::string& file_name);

// "250ms", "2s", "1m" -> milliseconds. Returns false on anything else.
bool parseDuration(std::string_view text, uint64_t* ms);

// "127.0.0.1:8080", "[::1]:8080", "0.0.0.0:80", "localhost:9001" -> address.
// Returns an empty string on success, else what is wrong.
std::string parseSocketAddress(std::string_view text, SocketAddress* out);

} // namespace proxy::config
