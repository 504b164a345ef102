// Runtime: the main thread. Binds the listening sockets (resolving port 0
// once so every worker shares the port), starts the workers, prints the
// readiness lines, and turns signals into worker commands: SIGTERM drains
// (stop accepting, finish in-flight exchanges, exit by timeouts.drain),
// SIGINT stops at once, SIGHUP reloads `config_path` (a config that does not
// load changes nothing).
#pragma once

#include <memory>
#include <string>

#include "proxy/config/snapshot.h"

namespace proxy {

// Runs until the workers have exited; returns the process exit code.
int runProxy(std::shared_ptr<const config::Snapshot> snapshot, const std::string& config_path);

} // namespace proxy
