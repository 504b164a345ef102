// TrafficStats: the counters of one generation that the admin listener
// reports (/metrics, /api/stats). One block per worker, written only by that
// worker's thread and read by the main thread: each counter is a relaxed
// atomic updated with a plain load and store (no read-modify-write, so no
// locked instruction and no shared cache line on the request path), and a
// scrape sums the blocks. Indexed like the generation's snapshot; counters
// start from zero with each generation (Prometheus treats that as a reset).
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "proxy/config/snapshot.h"

namespace proxy {

// Upper bounds (seconds) of the latency histogram buckets; +Inf is implied.
inline constexpr std::array<double, 14> kLatencyBuckets = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

class Counter {
public:
  void add(uint64_t n = 1) noexcept {
    v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  void sub(uint64_t n = 1) noexcept {
    v_.store(v_.load(std::memory_order_relaxed) - n, std::memory_order_relaxed);
  }
  uint64_t get() const noexcept { return v_.load(std::memory_order_relaxed); }

private:
  std::atomic<uint64_t> v_{0};
};

// A latency histogram: a count per bucket of kLatencyBuckets (not
// cumulative; the last is +Inf) and the sum in microseconds.
struct Histogram {
  Counter buckets[kLatencyBuckets.size() + 1];
  Counter sum_us;
  void add(uint64_t us) noexcept;
};

class TrafficStats {
public:
  // Status classes: index 0 = no response sent, 1..5 = 1xx..5xx.
  static constexpr size_t kStatusClasses = 6;

  struct Route {
    Counter status[kStatusClasses];
    Histogram latency; // first request byte to last response byte
  };
  struct Server {
    Counter requests; // exchanges sent to it (each attempt's final server)
    Counter failures; // of those: 5xx, or no usable response
    Counter status[kStatusClasses];
    Counter active; // upstream connections serving an exchange now
    Counter idle;   // upstream connections kept alive, waiting
  };
  // An A/B variant: the sample-ratio check and the exit summary
  // (Experiments) read its counts from here too.
  struct Variant {
    Counter assigned;               // by the hash (what the sample-ratio check compares)
    Counter overridden;             // forced by the override header/cookie
    Counter status[kStatusClasses]; // finished exchanges, as a route's
    Histogram latency;              // first request byte to last response byte
  };
  struct Pool {
    Histogram connect;  // TCP connect (and TLS handshake) of a new upstream connection
    Histogram response; // request head sent to response head received
  };
  struct Listener {
    Counter accepted; // connections admitted
    Counter closed;   // of those, closed
    // Of the open ones, those holding an exchange state now (a request in
    // progress, or its first bytes): the others are idle and cost only their
    // socket and a slim session. Added and subtracted by the owning worker.
    Counter busy;
    Counter refused; // denied or over a connection limit
    Counter tls_handshakes;
    Counter tls_resumed; // of the handshakes, resumed sessions
    Counter tls_failures;
    uint64_t open() const noexcept { // accepted and not closed yet
      const uint64_t a = accepted.get(), c = closed.get();
      return a >= c ? a - c : 0;
    }
  };
  struct Worker {
    std::unique_ptr<Route[]> routes;   // routes + 1: the last is "no route matched"
    std::unique_ptr<Server[]> servers; // every pool's servers, pool after pool
    std::unique_ptr<Listener[]> listeners;
    std::unique_ptr<Pool[]> pools;
    std::unique_ptr<Variant[]> variants; // every split's variants, split after split
    Counter retries;
    Counter spliced_bytes; // response body bytes moved socket to socket by splice(2)
  };

  TrafficStats(const config::Snapshot& snapshot, unsigned workers);
  TrafficStats(const TrafficStats&) = delete;
  TrafficStats& operator=(const TrafficStats&) = delete;

  Worker& worker(unsigned id) { return workers_[id]; }
  unsigned workers() const { return count_; }
  size_t routes() const { return routes_; }
  // Index into Worker::servers of (pool, server).
  size_t serverIndex(size_t pool, size_t server) const { return pool_base_[pool] + server; }
  // Index into Worker::variants of (split, variant).
  size_t variantIndex(size_t split, size_t variant) const { return variant_base_[split] + variant; }

  // One finished exchange of an A/B variant, counted as record() counts its
  // route: `status` 0 when nothing was sent.
  void recordVariant(unsigned worker, size_t split, size_t variant, int status,
                     uint64_t latency_us) noexcept;
  // One finished exchange: `route` -1 when none matched; `pool`/`server` -1
  // when no server was chosen. `status` 0 when nothing was sent.
  void record(unsigned worker, int route, int pool, int server, int status, uint64_t latency_us,
              bool server_failed) noexcept;

  // Sums over the workers.
  uint64_t routeStatus(size_t route, size_t status_class) const;
  // The latency histogram of a route, or of a pool's connects or responses,
  // summed over the workers (per bucket, not cumulative).
  struct Sums {
    uint64_t buckets[kLatencyBuckets.size() + 1] = {};
    uint64_t sum_us = 0;
    uint64_t count() const;
  };
  Sums routeLatency(size_t route) const;
  Sums poolLatency(size_t pool, Histogram Pool::*which) const;
  Sums variantLatency(size_t split, size_t variant) const;
  uint64_t variantCount(size_t split, size_t variant, Counter Variant::*which) const;
  uint64_t variantStatus(size_t split, size_t variant, size_t status_class) const;
  uint64_t serverGauge(size_t pool, size_t server, Counter Server::*which) const;
  size_t pools() const { return pools_; }
  uint64_t serverRequests(size_t pool, size_t server) const;
  uint64_t serverFailures(size_t pool, size_t server) const;
  uint64_t serverStatus(size_t pool, size_t server, size_t status_class) const;
  uint64_t listenerCount(size_t listener, Counter Listener::*which) const;
  uint64_t listenerOpen(size_t listener) const; // over all workers
  uint64_t retries() const;
  uint64_t splicedBytes() const;
  // One worker's share: the requests it finished (every route, every status
  // class) and the client connections it has open, so that an uneven
  // SO_REUSEPORT spread shows.
  uint64_t workerRequests(unsigned worker) const;
  uint64_t workerOpenConnections(unsigned worker) const;
  // Latency quantile q (0..1) of summed histograms, in seconds, interpolated inside the
  // histogram bucket (as Prometheus' histogram_quantile does); 0 when empty.
  static double quantile(const Sums& sums, double q);

private:
  unsigned count_;
  size_t routes_;
  size_t listeners_;
  size_t pools_;
  std::unique_ptr<size_t[]> pool_base_;
  size_t splits_;
  std::unique_ptr<size_t[]> variant_base_; // per split: its first index in Worker::variants
  std::unique_ptr<Worker[]> workers_;
};

} // namespace proxy
