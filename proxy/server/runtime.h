// Runtime: the main thread. Binds the listening sockets (resolving port 0
// once so every worker shares the port), starts the workers, prints the
// readiness lines, and turns signals into worker commands: SIGTERM drains
// (stop accepting, finish in-flight exchanges, exit by timeouts.drain),
// SIGINT stops at once, SIGHUP reloads `config_path` (a config that does not
// load changes nothing), SIGUSR2 starts the binary again and hands it the
// listening sockets (upgrade.h), then drains once the new process is ready.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "proxy/config/snapshot.h"

namespace proxy {

// Runs until the workers have exited; returns the process exit code.
// `argv` is the process's, for a binary upgrade to start the new one with.
int runProxy(std::shared_ptr<const config::Snapshot> snapshot, const std::string& config_path,
             std::vector<std::string> argv);

} // namespace proxy
