#include "proxy/health/health_board.h"

#include <algorithm>

namespace proxy {

namespace {
constexpr uint32_t kMaxEjectionMultiplier = 10;
constexpr auto kRelaxed = std::memory_order_relaxed;
} // namespace

HealthBoard::HealthBoard(const config::Snapshot& snapshot)
    : pools_(std::make_unique<Pool[]>(snapshot.pools.size())), pool_count_(snapshot.pools.size()) {
  for (size_t p = 0; p < pool_count_; ++p) {
    const config::Pool& pool = snapshot.pools[p];
    pools_[p].check = pool.health;
    pools_[p].outlier = pool.outlier;
    pools_[p].size = pool.servers.size();
    pools_[p].max_connections = pool.max_connections;
    pools_[p].max_pending = pool.max_pending;
    pools_[p].slow_start_ms = pool.slow_start_ms;
    pools_[p].servers = std::make_unique<Server[]>(pool.servers.size());
  }
}

void HealthBoard::inherit(const HealthBoard& old, const config::Snapshot& old_snapshot,
                          const config::Snapshot& snapshot) {
  for (size_t p = 0; p < pool_count_ && p < snapshot.pools.size(); ++p) {
    const config::Pool& pool = snapshot.pools[p];
    size_t op = 0;
    while (op < old_snapshot.pools.size() && old_snapshot.pools[op].name != pool.name)
      ++op;
    if (op == old_snapshot.pools.size() || op >= old.pool_count_) continue;
    const config::Pool& old_pool = old_snapshot.pools[op];
    Pool& to = pools_[p];
    const Pool& from = old.pools_[op];
    for (size_t s = 0; s < to.size; ++s) {
      const config::Server& server = pool.servers[s];
      for (size_t os = 0; os < from.size && os < old_pool.servers.size(); ++os) {
        const config::Server& was = old_pool.servers[os];
        if (was.name != server.name || was.address.text != server.address.text) continue;
        const Server& a = from.servers[os];
        Server& b = to.servers[s];
        if (to.check.enabled && !a.check_up.load(kRelaxed)) {
          b.check_up.store(false, kRelaxed);
          to.checks_down.fetch_add(1, kRelaxed);
        }
        b.up_at.store(a.up_at.load(kRelaxed), kRelaxed);
        // The operator's choices stay until the operator changes them.
        setAdminState(p, s, static_cast<AdminState>(a.admin.load(kRelaxed)));
        setWeight(p, s, a.weight.load(kRelaxed));
        if (to.outlier.enabled) {
          uint64_t until = a.ejected_until.load(kRelaxed);
          b.ejected_until.store(until, kRelaxed);
          b.ejections.store(a.ejections.load(kRelaxed), kRelaxed);
          b.failures.store(a.failures.load(kRelaxed), kRelaxed);
          raise(to.eject_horizon, until);
        }
        uint64_t back = std::max(b.up_at.load(kRelaxed), b.ejected_until.load(kRelaxed));
        if (to.slow_start_ms != 0 && back != 0) raise(to.ramp_horizon, back + to.slow_start_ms);
        break;
      }
    }
  }
}

size_t HealthBoard::exclude(size_t pool, uint64_t now_ms, std::span<uint8_t> excluded) const {
  const Pool& p = pools_[pool];
  if (p.checks_down.load(kRelaxed) == 0 && p.eject_horizon.load(kRelaxed) <= now_ms &&
      p.admin_out.load(kRelaxed) == 0)
    return p.size; // the common case: everybody is fine
  size_t available = 0;
  for (size_t i = 0; i < p.size && i < excluded.size(); ++i) {
    const Server& s = p.servers[i];
    if (s.check_up.load(kRelaxed) && s.ejected_until.load(kRelaxed) <= now_ms &&
        s.admin.load(kRelaxed) == 0) {
      ++available;
    } else {
      excluded[i] = kDown;
    }
  }
  return available;
}

bool HealthBoard::available(size_t pool, size_t server, uint64_t now_ms) const {
  const Server& s = pools_[pool].servers[server];
  return s.check_up.load(kRelaxed) && s.ejected_until.load(kRelaxed) <= now_ms &&
         s.admin.load(kRelaxed) == 0;
}

bool HealthBoard::ejected(size_t pool, size_t server, uint64_t now_ms) const {
  return pools_[pool].servers[server].ejected_until.load(kRelaxed) > now_ms;
}

void HealthBoard::setAdminState(size_t pool, size_t server, AdminState state) noexcept {
  Pool& p = pools_[pool];
  const uint8_t was = p.servers[server].admin.exchange(static_cast<uint8_t>(state), kRelaxed);
  if ((was != 0) == (state != AdminState::kReady)) return; // in or out as before
  if (state == AdminState::kReady) {
    p.admin_out.fetch_sub(1, kRelaxed);
  } else {
    p.admin_out.fetch_add(1, kRelaxed);
  }
}

AdminState HealthBoard::adminState(size_t pool, size_t server) const noexcept {
  return static_cast<AdminState>(pools_[pool].servers[server].admin.load(kRelaxed));
}

void HealthBoard::setWeight(size_t pool, size_t server, uint32_t weight) noexcept {
  Pool& p = pools_[pool];
  const uint32_t was = p.servers[server].weight.exchange(weight, kRelaxed);
  if ((was == 0) == (weight == 0)) return;
  if (weight == 0) {
    p.weighted.fetch_sub(1, kRelaxed);
  } else {
    p.weighted.fetch_add(1, kRelaxed);
  }
}

uint32_t HealthBoard::weightOverride(size_t pool, size_t server) const noexcept {
  return pools_[pool].servers[server].weight.load(kRelaxed);
}

bool HealthBoard::weights(size_t pool, std::span<const uint32_t> configured,
                          std::span<uint32_t> weights) const {
  const Pool& p = pools_[pool];
  if (p.weighted.load(kRelaxed) == 0) return false;
  for (size_t i = 0; i < p.size && i < weights.size(); ++i) {
    const uint32_t w = p.servers[i].weight.load(kRelaxed);
    weights[i] = w != 0 ? w : (i < configured.size() ? configured[i] : 1);
  }
  return true;
}

bool HealthBoard::ramp(size_t pool, uint64_t now_ms, std::span<uint16_t> ramp) const {
  constexpr uint64_t kFloor = 100, kFull = 1000; // thousandths of the weight
  const Pool& p = pools_[pool];
  if (p.slow_start_ms == 0 || p.ramp_horizon.load(kRelaxed) <= now_ms) return false;
  bool ramping = false;
  for (size_t i = 0; i < p.size && i < ramp.size(); ++i) {
    const Server& s = p.servers[i];
    // Back since the later of: checks marked it up, its ejection ended.
    uint64_t back = std::max(s.up_at.load(kRelaxed), s.ejected_until.load(kRelaxed));
    uint64_t share = kFull;
    if (back != 0 && back <= now_ms && now_ms - back < p.slow_start_ms) {
      share = kFloor + (kFull - kFloor) * (now_ms - back) / p.slow_start_ms;
      ramping = true;
    }
    ramp[i] = static_cast<uint16_t>(share);
  }
  return ramping;
}

void HealthBoard::raise(std::atomic<uint64_t>& horizon, uint64_t to) noexcept {
  uint64_t now = horizon.load(kRelaxed);
  while (now < to && !horizon.compare_exchange_weak(now, to, kRelaxed)) {
  }
}

void HealthBoard::reportSuccess(size_t pool, size_t server) noexcept {
  Server& s = pools_[pool].servers[server];
  // Read first: a healthy server's counter stays 0 and its cache line clean.
  if (s.failures.load(kRelaxed) != 0) s.failures.store(0, kRelaxed);
}

bool HealthBoard::reportFailure(size_t pool, size_t server, uint64_t now_ms) {
  Pool& p = pools_[pool];
  if (!p.outlier.enabled) return false;
  Server& s = p.servers[server];
  if (s.failures.fetch_add(1, kRelaxed) + 1 < p.outlier.consecutive_failures) return false;
  std::lock_guard<std::mutex> lock(p.eject_mutex);
  uint64_t until = s.ejected_until.load(kRelaxed);
  if (until > now_ms) return false; // already out (reports from in-flight requests)
  s.failures.store(0, kRelaxed);
  size_t ejected = 0;
  for (size_t i = 0; i < p.size; ++i)
    ejected += p.servers[i].ejected_until.load(kRelaxed) > now_ms ? 1 : 0;
  if ((ejected + 1) * 100 > static_cast<size_t>(p.outlier.max_ejected_percent) * p.size)
    return false; // the cap: keep serving from a failing pool rather than from nothing
  // A server that stayed in for ten base periods since its last ejection
  // starts again from one period.
  uint32_t times = s.ejections.load(kRelaxed);
  if (until != 0 && now_ms > until + kMaxEjectionMultiplier * p.outlier.eject_ms) times = 0;
  times = std::min(times + 1, kMaxEjectionMultiplier);
  s.ejections.store(times, kRelaxed);
  uint64_t new_until = now_ms + p.outlier.eject_ms * times;
  s.ejected_until.store(new_until, kRelaxed);
  if (p.eject_horizon.load(kRelaxed) < new_until) p.eject_horizon.store(new_until, kRelaxed);
  if (p.slow_start_ms != 0) raise(p.ramp_horizon, new_until + p.slow_start_ms);
  return true;
}

bool HealthBoard::recordCheck(size_t pool, size_t server, bool ok, uint64_t now_ms) {
  Pool& p = pools_[pool];
  Server& s = p.servers[server];
  bool up = s.check_up.load(kRelaxed);
  if (ok == up) {
    s.streak = 0;
    return false;
  }
  if (++s.streak < (up ? p.check.fall : p.check.rise)) return false;
  s.streak = 0;
  if (up) {
    s.check_up.store(false, kRelaxed);
    p.checks_down.fetch_add(1, kRelaxed);
  } else {
    // The ramp starts before the server counts as up (relaxed: a worker
    // may see the two a moment apart, at worst one pick at full weight).
    s.up_at.store(now_ms, kRelaxed);
    if (p.slow_start_ms != 0) raise(p.ramp_horizon, now_ms + p.slow_start_ms);
    s.check_up.store(true, kRelaxed);
    p.checks_down.fetch_sub(1, kRelaxed);
  }
  return true;
}

bool HealthBoard::acquire(size_t pool, size_t server) noexcept {
  Pool& p = pools_[pool];
  if (p.max_connections == 0) return true;
  std::atomic<uint32_t>& busy = p.servers[server].busy;
  uint32_t now = busy.load(kRelaxed);
  do {
    if (now >= p.max_connections) return false;
  } while (!busy.compare_exchange_weak(now, now + 1, kRelaxed));
  return true;
}

void HealthBoard::release(size_t pool, size_t server) noexcept {
  Pool& p = pools_[pool];
  if (p.max_connections != 0) p.servers[server].busy.fetch_sub(1, kRelaxed);
}

bool HealthBoard::enqueue(size_t pool) noexcept {
  Pool& p = pools_[pool];
  uint32_t now = p.pending.load(kRelaxed);
  do {
    if (now >= p.max_pending) return false;
  } while (!p.pending.compare_exchange_weak(now, now + 1, kRelaxed));
  return true;
}

void HealthBoard::dequeue(size_t pool) noexcept { pools_[pool].pending.fetch_sub(1, kRelaxed); }

uint32_t HealthBoard::busy(size_t pool, size_t server) const noexcept {
  return pools_[pool].servers[server].busy.load(kRelaxed);
}

bool HealthBoard::checkUp(size_t pool, size_t server) const {
  return pools_[pool].servers[server].check_up.load(kRelaxed);
}

uint64_t HealthBoard::ejectionMs(size_t pool, size_t server) const {
  const Pool& p = pools_[pool];
  return p.outlier.eject_ms * std::max<uint32_t>(1, p.servers[server].ejections.load(kRelaxed));
}

} // namespace proxy
