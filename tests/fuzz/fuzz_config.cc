// fuzz_config: the config loader (proxy/config/load.h) on arbitrary text.
// It must return a snapshot or at least one error, never throw, crash or
// hang. A snapshot it returns must hold together: every route has an
// action, every index points into its table, every server has its sticky
// id, a sticky pool has a signing key, and its route table answers.
//
// Side effects are kept harmless: host names never reach DNS (a resolver
// hook knows only localhost), and an input naming a file that is not a small
// regular file or a directory (a device, a FIFO, /proc...) is skipped, since
// the loader reads certificate and secret files named by the config: an
// endless or blocking read there is the operator's choice, not a bug. The
// fuzzer runs in a scratch directory, so relative names resolve there.
#include <netdb.h>
#include <strings.h>
#include <sys/stat.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/config/diagnostics.h"
#include "proxy/config/load.h"
#include "proxy/config/values.h"
#include "proxy/config/yaml_document.h"
#include "routing/sticky.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

constexpr size_t kMaxNodes = 20000;
constexpr off_t kMaxFileBytes = 1 << 20;

int localhostOnly(const char* host, const addrinfo* hints, addrinfo** result) {
  if (strcasecmp(host, "localhost") != 0) return EAI_NONAME;
  addrinfo numeric = *hints;
  numeric.ai_flags |= AI_NUMERICHOST;
  return getaddrinfo("127.0.0.1", nullptr, &numeric, result);
}

bool harmlessPath(const std::string& text) {
  std::string_view path = text;
  if (path.starts_with("file:")) path.remove_prefix(5);
  if (path.empty()) return true;
  struct stat st;
  if (::stat(std::string(path).c_str(), &st) != 0) return true; // the loader reports it
  return S_ISDIR(st.st_mode) || (S_ISREG(st.st_mode) && st.st_size <= kMaxFileBytes);
}

// True when every scalar of the document is harmless as a file name. A
// document too large to walk (aliases can make it exponential) passes only
// if it names no path at all.
bool harmless(std::string_view yaml) {
  YAML::Node root;
  proxy::config::Diagnostics diags("scan");
  try {
    if (!proxy::config::parseDocument(yaml, &root, diags)) return true; // nothing is read
    std::vector<YAML::Node> stack{root};
    for (size_t visited = 0; !stack.empty(); ++visited) {
      if (visited > kMaxNodes) return yaml.find('/') == std::string_view::npos;
      YAML::Node node = stack.back();
      stack.pop_back();
      if (node.IsScalar() && !harmlessPath(node.Scalar())) return false;
      if (node.IsSequence()) {
        for (const YAML::Node& item : node)
          stack.push_back(item);
      } else if (node.IsMap()) {
        for (const auto& item : node) {
          stack.push_back(item.first);
          stack.push_back(item.second);
        }
      }
    }
  } catch (...) {
    return false;
  }
  return true;
}

void checkRoutes(const proxy::config::Snapshot& s) {
  using Kind = proxy::config::RouteAction::Kind;
  FUZZ_CHECK(s.routes != nullptr);
  FUZZ_CHECK(s.actions.size() == s.routes->size());
  for (size_t i = 0; i < s.actions.size(); ++i) {
    const proxy::config::RouteAction& a = s.actions[i];
    if (a.kind == Kind::kPool) {
      FUZZ_CHECK(a.pool < s.pools.size() && s.routes->route(i).target == a.pool);
    } else if (a.kind == Kind::kSplit) {
      FUZZ_CHECK(a.split < s.splits.size());
    }
  }
  for (const proxy::config::Split& split : s.splits) {
    FUZZ_CHECK(!split.variants.empty());
    for (const proxy::config::SplitVariant& v : split.variants)
      FUZZ_CHECK(v.pool < s.pools.size());
  }
  // The compiled table answers (with an index in range) on a few requests.
  routing::Header headers[] = {{"Host", "example.com"}, {"Cookie", "a=1; uid=7"}, {"X-Beta", "1"}};
  routing::RequestView views[] = {
      {"GET", "/", "", "example.com", headers},
      {"POST", "/api/v1/x", "a=1&b=%41", "admin.example.com", headers},
      {"HEAD", "*", "", "", {}},
  };
  routing::MatchScratch scratch;
  for (const routing::RequestView& view : views) {
    int route = s.routes->match(view, scratch);
    FUZZ_CHECK(route >= -1 && route < static_cast<int>(s.routes->size()));
  }
}

void checkSnapshot(const proxy::config::Snapshot& s) {
  checkRoutes(s);
  for (const proxy::config::Pool& pool : s.pools) {
    FUZZ_CHECK(pool.server_ids.size() == pool.servers.size());
    for (size_t i = 0; i < pool.servers.size(); ++i)
      FUZZ_CHECK(pool.server_ids[i] == routing::stickyServerId(pool.name, pool.servers[i].name));
    if (pool.sticky.enabled) FUZZ_CHECK(!pool.sticky.secrets.empty());
  }
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  proxy::config::setHostResolverForTest(&localhostOnly);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view yaml(reinterpret_cast<const char*>(data), size);
  if (!harmless(yaml)) return 0;
  proxy::config::LoadResult result = proxy::config::loadString(yaml, "fuzz.yaml");
  FUZZ_CHECK(result.ok() == result.errors.empty());
  for (const proxy::config::Diagnostic& d : result.errors) {
    FUZZ_CHECK(!d.message.empty());
    FUZZ_CHECK(!d.str().empty());
  }
  if (result.ok()) checkSnapshot(*result.snapshot);
  return 0;
}
