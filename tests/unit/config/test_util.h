// Helpers shared by the config unit tests.
#pragma once

#include <netdb.h>
#include <strings.h>

#include <string>
#include <string_view>
#include <vector>

#include "proxy/config/load.h"
#include "proxy/config/values.h"

namespace proxy::config::test {

inline LoadResult load(std::string_view yaml) { return loadString(yaml, "test.yaml"); }

inline std::vector<std::string> errorStrings(const LoadResult& result) {
  std::vector<std::string> out;
  for (const Diagnostic& d : result.errors)
    out.push_back(d.str());
  return out;
}

// Every error, one per line, for INFO() on failure.
inline std::string allErrors(const LoadResult& result) {
  std::string out;
  for (const std::string& e : errorStrings(result))
    out += e + "\n";
  for (const std::string& w : result.warnings)
    out += "warning: " + w + "\n";
  return out;
}

inline bool hasError(const LoadResult& result, std::string_view exact) {
  for (const std::string& e : errorStrings(result)) {
    if (e == exact) return true;
  }
  return false;
}

// True when some error has this key path, position and a message containing `text`.
inline bool hasErrorAt(const LoadResult& result, std::string_view path, int line, int column,
                       std::string_view text) {
  for (const Diagnostic& d : result.errors) {
    if (d.key_path == path && d.line == line && d.column == column &&
        d.message.find(text) != std::string::npos) {
      return true;
    }
  }
  return false;
}

// While alive, host names other than localhost fail to resolve at once
// (EAI_NONAME) instead of asking DNS, so tests neither wait on nor depend on
// the network.
class OfflineResolver {
public:
  OfflineResolver() { setHostResolverForTest(&resolve); }
  ~OfflineResolver() { setHostResolverForTest(nullptr); }
  OfflineResolver(const OfflineResolver&) = delete;
  OfflineResolver& operator=(const OfflineResolver&) = delete;

private:
  static int resolve(const char* host, const addrinfo* hints, addrinfo** result) {
    if (strcasecmp(host, "localhost") != 0) return EAI_NONAME;
    return getaddrinfo(host, nullptr, hints, result);
  }
};

// Lines 1-6: a listener and a pool "app"; append "routes:" and routes from line 7.
inline constexpr std::string_view kListenersAndPool =
    "listeners:\n"
    "  - {name: l, address: 127.0.0.1:0}\n"
    "pools:\n"
    "  - name: app\n"
    "    servers:\n"
    "      - {name: s1, address: 127.0.0.1:9001}\n";

// A valid minimal config (8 lines); prepend top-level keys to test them.
inline std::string minimal() {
  return std::string(kListenersAndPool) + "routes:\n  - {name: r, pool: app}\n";
}

} // namespace proxy::config::test
