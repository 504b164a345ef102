// Generation: everything built from one loaded config that the workers share:
// the immutable snapshot and the thread-safe objects sized and indexed by it
// (server health, A/B assigners, listener admission, traffic counters). A reload builds the next
// generation beside the running one; each worker switches to it between loop
// phases, and an exchange that started on a generation finishes on it. A
// generation lives as long as a worker, a session or a connection uses it.
#pragma once

#include <cstdint>
#include <memory>

#include "proxy/config/snapshot.h"
#include "proxy/health/health_board.h"
#include "proxy/server/admission.h"
#include "proxy/server/stats.h"
#include "proxy/session/experiments.h"

namespace proxy {

struct Generation {
  // Builds generation `number` of `snapshot`. With `previous`, server health
  // (down, ejected, ramping, the operator's drain/maint and weight) carries over for every server that keeps its
  // pool name, name and address, so a reload neither revives a dead server
  // nor forgets an ejection.
  Generation(uint64_t number, std::shared_ptr<const config::Snapshot> snapshot, unsigned workers,
             const Generation* previous);
  Generation(const Generation&) = delete;
  Generation& operator=(const Generation&) = delete;

  const uint64_t number;
  const std::shared_ptr<const config::Snapshot> snapshot;
  const std::unique_ptr<HealthBoard> health;
  const std::unique_ptr<Experiments> experiments;
  const std::unique_ptr<Admission> admission;
  const std::unique_ptr<TrafficStats> stats; // one block per running worker
};

} // namespace proxy
