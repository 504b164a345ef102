// Worker threads (issue 2 §8): N workers each with an SO_REUSEPORT listener
// on the same port, each with its own upstream pool.
#include <doctest/doctest.h>

#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/e2e_checks.h"
#include "tests/support/metrics_text.h"

using namespace swytest;
using std::chrono::milliseconds;

namespace {

// The samples of one metric family in /metrics, by their worker label.
std::map<unsigned, double> perWorker(uint16_t admin, const std::string& family) {
  const Metrics metrics = fetchMetrics(admin);
  const std::string prefix = family + "{worker=\"";
  std::map<unsigned, double> out;
  for (const auto& [key, value] : metrics.samples) {
    if (key.compare(0, prefix.size(), prefix) == 0)
      out[static_cast<unsigned>(std::stoul(key.substr(prefix.size())))] = value;
  }
  return out;
}

double total(const std::map<unsigned, double>& samples) {
  double sum = 0;
  for (const auto& [worker, value] : samples)
    sum += value;
  return sum;
}

} // namespace

TEST_SUITE_BEGIN("e2e");

TEST_CASE("workers: 2 workers report ready and all of 50 short connections succeed") {
  FakeUpstream up("app", [](const UpstreamRequest& r) { return Reply::ok(r.message.target); });
  ProxyConfig cfg = singleUpstream(up.port());
  cfg.workers = "2";
  ProxyProcess proxy;
  startOrFail(proxy, cfg);
  CHECK(proxy.readyWorkers() == 2);
  int ok = 0;
  for (int i = 0; i < 50; ++i) {
    std::string target = "/c" + std::to_string(i);
    Response r = httpGet(proxy.port(), target);
    if (r.status() == 200 && r.body() == target) ++ok;
  }
  CHECK(ok == 50);
  CHECK(up.requestCount() == 50);
  // Each worker pools its own upstream connections: sequential requests
  // served by a single worker would have reused one connection.
  CHECK(up.connectionCount() >= 2);
}

TEST_CASE("workers: 50 concurrent connections on 2 workers all get their answer") {
  FakeUpstream up("app", [](const UpstreamRequest& r) { return Reply::ok(r.message.target); });
  ProxyConfig cfg = singleUpstream(up.port());
  cfg.workers = "2";
  ProxyProcess proxy;
  startOrFail(proxy, cfg);
  std::vector<RawClient> clients;
  for (int i = 0; i < 50; ++i) {
    clients.emplace_back(proxy.port());
    REQUIRE(clients.back().connected());
  }
  for (int i = 0; i < 50; ++i) {
    REQUIRE(clients[i].send(makeRequest("GET", "/k" + std::to_string(i))));
  }
  int ok = 0;
  for (int i = 0; i < 50; ++i) {
    Response r = clients[i].readResponse();
    if (r.status() == 200 && r.body() == "/k" + std::to_string(i)) ++ok;
  }
  CHECK(ok == 50);
  CHECK(proxy.waitForAccessLog(50).size() == 50);
}

TEST_CASE("workers: /metrics shows each worker's requests and open connections") {
  FakeUpstream up("app");
  ProxyConfig cfg = singleUpstream(up.port());
  cfg.workers = "2";
  cfg.extra_top = "admin: {address: 127.0.0.1:0}\n";
  ProxyProcess proxy;
  startOrFail(proxy, cfg);
  const uint16_t admin = adminPort(proxy);
  REQUIRE(admin != 0);
  // 40 connections of one request each: the kernel spreads them (by address
  // hash) over both workers' listening sockets.
  for (int i = 0; i < 40; ++i)
    REQUIRE(httpGet(proxy.port(), "/r").status() == 200);
  // 6 more that stay open, idle after their request.
  std::vector<RawClient> held;
  for (int i = 0; i < 6; ++i) {
    held.emplace_back(proxy.port());
    REQUIRE(held.back().roundTrip(makeRequest("GET", "/held")).status() == 200);
  }
  REQUIRE(proxy.waitForAccessLog(46).size() == 46);
  std::map<unsigned, double> requests = perWorker(admin, "switchyard_worker_requests_total");
  REQUIRE(requests.size() == 2);
  CHECK(total(requests) == 46);
  CHECK(requests[0] > 0); // all 46 on one worker: 2 chances in 2^46
  CHECK(requests[1] > 0);
  // The 40 closed connections are gone once each worker has seen its EOF.
  std::map<unsigned, double> open;
  const auto deadline = std::chrono::steady_clock::now() + milliseconds(3000);
  do {
    open = perWorker(admin, "switchyard_worker_connections");
  } while (total(open) != 6 && std::chrono::steady_clock::now() < deadline);
  CHECK(open.size() == 2);
  CHECK(total(open) == 6);
  held.clear();
}

TEST_CASE("workers: auto runs one worker per core") {
  FakeUpstream up("app");
  ProxyConfig cfg = singleUpstream(up.port());
  cfg.workers = "auto";
  ProxyProcess proxy;
  startOrFail(proxy, cfg);
  CHECK(proxy.readyWorkers() == static_cast<int>(std::thread::hardware_concurrency()));
  CHECK(httpGet(proxy.port(), "/").status() == 200);
}

TEST_SUITE_END();
