// Worker threads (issue 2 §8): N workers each with an SO_REUSEPORT listener
// on the same port, each with its own upstream pool.
#include <doctest/doctest.h>

#include <thread>
#include <vector>

#include "tests/support/e2e_checks.h"

using namespace swytest;
using std::chrono::milliseconds;

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
