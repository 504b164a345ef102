// HealthChecker: active health checks (pool `health_check:`). Runs on the main
// thread's loop, which is otherwise idle: one probe at a time per server, every
// `interval`: connect (TLS too for `tls:` pools), `GET <path>` with
// `Connection: close`, and a good status in `expect_status` within `timeout`.
// Verdicts go to the shared HealthBoard; state changes are logged on stderr.
// Owns its libuv handles; stop() closes them (before the loop is closed).
#pragma once

#include <uv.h>

#include <memory>
#include <vector>

#include "proxy/config/snapshot.h"
#include "proxy/health/health_board.h"

namespace proxy {

class HealthProbe;

class HealthChecker {
public:
  HealthChecker(uv_loop_t* loop, std::shared_ptr<const config::Snapshot> snapshot,
                HealthBoard* board);
  ~HealthChecker();
  HealthChecker(const HealthChecker&) = delete;
  HealthChecker& operator=(const HealthChecker&) = delete;

  // Starts the first probe of every checked server now. Returns how many servers are checked.
  size_t start();
  // Stops every timer and closes every connection (idempotent).
  void stop();

private:
  std::shared_ptr<const config::Snapshot> snapshot_;
  std::vector<std::unique_ptr<HealthProbe>> probes_;
};

} // namespace proxy
