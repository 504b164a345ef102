// switchyard: argv, config, start. Everything else lives in server/.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "proxy/config/load.h"
#include "proxy/server/runtime.h"

namespace {

constexpr const char* kUsage =
    "usage: switchyard -c FILE         run the proxy with the config FILE\n"
    "       switchyard -t -c FILE      check FILE and exit (0 = valid, 1 = errors printed)\n"
    "       switchyard --version       print the version\n"
    "       switchyard --help          this text\n"
    "signals: SIGTERM drains (finish in-flight requests, exit by timeouts.drain); SIGINT exits "
    "now;\n         SIGHUP reloads the config file (a config with errors changes nothing); "
    "SIGUSR1\n         reopens the access log file (after logrotate moved it); SIGUSR2 "
    "upgrades the\n         binary: starts the file this process was started from, hands it "
    "the listening\n         sockets and drains once it is ready (it gets a new pid)\n";

int usageError(const char* what) {
  fprintf(stderr, "switchyard: %s\n%s", what, kUsage);
  return 2;
}

} // namespace

int main(int argc, char** argv) {
  std::string config_path;
  bool check_only = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--help" || a == "-h") {
      fputs(kUsage, stdout);
      return 0;
    }
    if (a == "--version" || a == "-v") {
      printf("switchyard %s\n", SWITCHYARD_VERSION);
      return 0;
    }
    if (a == "-t" || a == "--test") {
      check_only = true;
    } else if (a == "-c" || a == "--config") {
      if (++i >= argc) return usageError("-c needs a file name");
      config_path = argv[i];
    } else {
      return usageError((std::string("unknown argument: ") + argv[i]).c_str());
    }
  }
  if (config_path.empty()) return usageError("no config file given (-c FILE)");

  proxy::config::LoadResult loaded = proxy::config::loadFile(config_path);
  for (const std::string& w : loaded.warnings)
    fprintf(stderr, "%s\n", w.c_str());
  if (!loaded.ok()) {
    for (const auto& e : loaded.errors)
      fprintf(stderr, "%s\n", e.str().c_str());
    fprintf(stderr, "switchyard: %zu error(s) in %s\n", loaded.errors.size(), config_path.c_str());
    return 1;
  }
  if (check_only) {
    printf("switchyard: %s: configuration is valid\n", config_path.c_str());
    return 0;
  }
  return proxy::runProxy(std::move(loaded.snapshot), config_path,
                         std::vector<std::string>(argv, argv + argc));
}
