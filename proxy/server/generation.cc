#include "proxy/server/generation.h"

namespace proxy {

Generation::Generation(uint64_t n, std::shared_ptr<const config::Snapshot> snap, unsigned workers,
                       const Generation* previous)
    : number(n), snapshot(std::move(snap)), health(std::make_unique<HealthBoard>(*snapshot)),
      experiments(std::make_unique<Experiments>(*snapshot)),
      admission(std::make_unique<Admission>(*snapshot)),
      stats(std::make_unique<TrafficStats>(*snapshot, workers)) {
  if (previous != nullptr) health->inherit(*previous->health, *previous->snapshot, *snapshot);
}

} // namespace proxy
