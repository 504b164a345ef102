#include "proxy/server/stats.h"

#include <algorithm>

namespace proxy {

TrafficStats::TrafficStats(const config::Snapshot& snapshot, unsigned workers)
    : count_(workers), routes_(snapshot.actions.size()), listeners_(snapshot.listeners.size()),
      pools_(snapshot.pools.size()),
      pool_base_(std::make_unique<size_t[]>(snapshot.pools.size() + 1)),
      splits_(snapshot.splits.size()),
      variant_base_(std::make_unique<size_t[]>(snapshot.splits.size() + 1)),
      workers_(std::make_unique<Worker[]>(workers)) {
  size_t variants = 0;
  for (size_t x = 0; x < snapshot.splits.size(); ++x) {
    variant_base_[x] = variants;
    variants += snapshot.splits[x].variants.size();
  }
  variant_base_[snapshot.splits.size()] = variants;
  size_t servers = 0;
  for (size_t p = 0; p < snapshot.pools.size(); ++p) {
    pool_base_[p] = servers;
    servers += snapshot.pools[p].servers.size();
  }
  pool_base_[snapshot.pools.size()] = servers;
  for (unsigned w = 0; w < workers; ++w) {
    workers_[w].routes = std::make_unique<Route[]>(routes_ + 1);
    workers_[w].servers = std::make_unique<Server[]>(std::max<size_t>(servers, 1));
    workers_[w].listeners = std::make_unique<Listener[]>(std::max<size_t>(listeners_, 1));
    workers_[w].pools = std::make_unique<Pool[]>(std::max<size_t>(pools_, 1));
    workers_[w].variants = std::make_unique<Variant[]>(std::max<size_t>(variants, 1));
  }
}

namespace {
// 0 = no response sent, 1..5 = 1xx..5xx.
size_t statusClass(int status) {
  return status >= 100 && status <= 599 ? static_cast<size_t>(status / 100) : 0;
}
} // namespace

void TrafficStats::record(unsigned worker, int route, int pool, int server, int status,
                          uint64_t latency_us, bool server_failed) noexcept {
  if (worker >= count_) return;
  Worker& w = workers_[worker];
  const size_t status_class = statusClass(status);
  Route& r = w.routes[route >= 0 && static_cast<size_t>(route) < routes_ ? route : routes_];
  r.status[status_class].add();
  r.latency.add(latency_us);
  if (pool >= 0 && server >= 0) {
    Server& s = w.servers[serverIndex(static_cast<size_t>(pool), static_cast<size_t>(server))];
    s.requests.add();
    s.status[status_class].add();
    if (server_failed) s.failures.add();
  }
}

void TrafficStats::recordVariant(unsigned worker, size_t split, size_t variant, int status,
                                 uint64_t latency_us) noexcept {
  if (worker >= count_ || split >= splits_) return;
  const size_t i = variantIndex(split, variant);
  if (i >= variant_base_[split + 1]) return;
  Variant& v = workers_[worker].variants[i];
  v.status[statusClass(status)].add();
  v.latency.add(latency_us);
}

void Histogram::add(uint64_t us) noexcept {
  const double seconds = static_cast<double>(us) / 1e6;
  size_t bucket = 0;
  while (bucket < kLatencyBuckets.size() && seconds > kLatencyBuckets[bucket])
    ++bucket;
  buckets[bucket].add();
  sum_us.add(us);
}

uint64_t TrafficStats::Sums::count() const {
  uint64_t n = 0;
  for (uint64_t b : buckets)
    n += b;
  return n;
}

namespace {
void addInto(const Histogram& h, TrafficStats::Sums* out) {
  for (size_t b = 0; b <= kLatencyBuckets.size(); ++b)
    out->buckets[b] += h.buckets[b].get();
  out->sum_us += h.sum_us.get();
}

template <class Get> uint64_t sum(unsigned count, Get&& get) {
  uint64_t total = 0;
  for (unsigned w = 0; w < count; ++w)
    total += get(w);
  return total;
}
} // namespace

uint64_t TrafficStats::routeStatus(size_t route, size_t status_class) const {
  return sum(count_,
             [&](unsigned w) { return workers_[w].routes[route].status[status_class].get(); });
}

TrafficStats::Sums TrafficStats::routeLatency(size_t route) const {
  Sums out;
  for (unsigned w = 0; w < count_; ++w)
    addInto(workers_[w].routes[route].latency, &out);
  return out;
}

TrafficStats::Sums TrafficStats::poolLatency(size_t pool, Histogram Pool::*which) const {
  Sums out;
  for (unsigned w = 0; w < count_; ++w)
    addInto(workers_[w].pools[pool].*which, &out);
  return out;
}

TrafficStats::Sums TrafficStats::variantLatency(size_t split, size_t variant) const {
  Sums out;
  const size_t i = variantIndex(split, variant);
  for (unsigned w = 0; w < count_; ++w)
    addInto(workers_[w].variants[i].latency, &out);
  return out;
}

uint64_t TrafficStats::variantCount(size_t split, size_t variant, Counter Variant::*which) const {
  const size_t i = variantIndex(split, variant);
  return sum(count_, [&](unsigned w) { return (workers_[w].variants[i].*which).get(); });
}

uint64_t TrafficStats::variantStatus(size_t split, size_t variant, size_t status_class) const {
  const size_t i = variantIndex(split, variant);
  return sum(count_,
             [&](unsigned w) { return workers_[w].variants[i].status[status_class].get(); });
}

uint64_t TrafficStats::serverGauge(size_t pool, size_t server, Counter Server::*which) const {
  const size_t i = serverIndex(pool, server);
  return sum(count_, [&](unsigned w) { return (workers_[w].servers[i].*which).get(); });
}

uint64_t TrafficStats::serverRequests(size_t pool, size_t server) const {
  const size_t i = serverIndex(pool, server);
  return sum(count_, [&](unsigned w) { return workers_[w].servers[i].requests.get(); });
}

uint64_t TrafficStats::serverFailures(size_t pool, size_t server) const {
  const size_t i = serverIndex(pool, server);
  return sum(count_, [&](unsigned w) { return workers_[w].servers[i].failures.get(); });
}

uint64_t TrafficStats::serverStatus(size_t pool, size_t server, size_t status_class) const {
  const size_t i = serverIndex(pool, server);
  return sum(count_, [&](unsigned w) { return workers_[w].servers[i].status[status_class].get(); });
}

uint64_t TrafficStats::listenerCount(size_t listener, Counter Listener::*which) const {
  return sum(count_, [&](unsigned w) { return (workers_[w].listeners[listener].*which).get(); });
}

uint64_t TrafficStats::listenerOpen(size_t listener) const {
  return sum(count_, [&](unsigned w) { return workers_[w].listeners[listener].open(); });
}

uint64_t TrafficStats::retries() const {
  return sum(count_, [&](unsigned w) { return workers_[w].retries.get(); });
}

uint64_t TrafficStats::splicedBytes() const {
  return sum(count_, [&](unsigned w) { return workers_[w].spliced_bytes.get(); });
}

uint64_t TrafficStats::workerRequests(unsigned worker) const {
  const Worker& w = workers_[worker];
  uint64_t total = 0;
  for (size_t r = 0; r <= routes_; ++r) { // routes_ + 1: "no route matched" too
    for (const Counter& c : w.routes[r].status)
      total += c.get();
  }
  return total;
}

uint64_t TrafficStats::workerOpenConnections(unsigned worker) const {
  const Worker& w = workers_[worker];
  uint64_t open = 0;
  for (size_t l = 0; l < listeners_; ++l)
    open += w.listeners[l].open();
  return open;
}

double TrafficStats::quantile(const Sums& sums, double q) {
  const uint64_t* counts = sums.buckets;
  const uint64_t total = sums.count();
  if (total == 0) return 0;
  const double rank = q * static_cast<double>(total);
  uint64_t below = 0;
  for (size_t b = 0; b <= kLatencyBuckets.size(); ++b) {
    if (static_cast<double>(below + counts[b]) >= rank && counts[b] > 0) {
      if (b == kLatencyBuckets.size()) return kLatencyBuckets.back(); // +Inf: the last bound
      const double lower = b == 0 ? 0 : kLatencyBuckets[b - 1];
      const double upper = kLatencyBuckets[b];
      const double inside = (rank - static_cast<double>(below)) / static_cast<double>(counts[b]);
      return lower + (upper - lower) * std::clamp(inside, 0.0, 1.0);
    }
    below += counts[b];
  }
  return kLatencyBuckets.back();
}

} // namespace proxy
