// Balancing algorithms (issue 3) seen from the fake upstreams: `hash` keeps a
// key (the app's JSESSIONID, a header, the path, the client address) on one
// server with no cookie inserted and the same answer on every instance;
// `least_conn` avoids a server busy with a slow request; `random_two` serves
// everything and spreads by weight. The body names the server that answered.
#include <doctest/doctest.h>

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>

#include "tests/support/e2e_checks.h"
#include "tests/support/http_session.h"

using namespace swytest;
using std::chrono::milliseconds;

namespace {

struct Servers {
  std::vector<std::unique_ptr<FakeUpstream>> ups;

  explicit Servers(int n, std::function<FakeUpstream::Handler(const std::string&)> make = {}) {
    for (int i = 1; i <= n; ++i) {
      std::string name = "app" + std::to_string(i);
      ups.push_back(std::make_unique<FakeUpstream>(name, make ? make(name) : nullptr));
    }
  }
  std::vector<ServerSpec> specs(const std::vector<int>& weights = {}) const {
    std::vector<ServerSpec> out;
    for (size_t i = 0; i < ups.size(); ++i)
      out.push_back({ups[i]->name(), ups[i]->port(), i < weights.size() ? weights[i] : 0});
    return out;
  }
  ProxyConfig config(const std::string& options, const std::vector<int>& weights = {}) const {
    ProxyConfig cfg;
    cfg.addPool("app", specs(weights), options);
    cfg.addRoute("{name: all, pool: app}");
    return cfg;
  }
};

// The server that answered, or a description of the failure.
std::string served(const Response& r) {
  return r.status() == 200 ? r.body() : "(" + r.describe() + ")";
}

// For each key, the servers that answered it, over `rounds` interleaved
// rounds (all keys once, then again...). Also counts Set-Cookie headers.
struct KeyRun {
  std::map<std::string, std::set<std::string>> servers_of;
  std::map<std::string, std::string> first_server;
  size_t failures = 0;
  size_t set_cookies = 0;
};

KeyRun runKeys(uint16_t port, const std::vector<std::string>& keys, int rounds,
               const std::function<std::string(const std::string&)>& target_of,
               const std::function<std::string(const std::string&)>& headers_of) {
  KeyRun run;
  KeepAliveClient client(port);
  for (int round = 0; round < rounds; ++round) {
    for (const std::string& key : keys) {
      Response r = client.get(target_of(key), headers_of(key));
      if (r.status() != 200) ++run.failures;
      run.set_cookies += r.headers().count("Set-Cookie");
      run.servers_of[key].insert(served(r));
      run.first_server.emplace(key, served(r));
    }
  }
  return run;
}

void checkEachKeyOnOneServer(const KeyRun& run, size_t servers) {
  CHECK(run.failures == 0);
  size_t split_keys = 0;
  std::set<std::string> used;
  for (const auto& [key, set] : run.servers_of) {
    if (set.size() != 1) {
      ++split_keys;
      MESSAGE("key " << key << " reached " << set.size() << " servers");
    }
    used.insert(set.begin(), set.end());
  }
  CHECK(split_keys == 0);
  CHECK(used.size() == servers); // every server holds some keys
}

} // namespace

TEST_SUITE_BEGIN("e2e");

TEST_CASE("hash: cookie:JSESSIONID keeps each session on one server and inserts no cookie") {
  Servers servers(3);
  ProxyConfig cfg = servers.config("balance: hash, hash_key: 'cookie:JSESSIONID'");
  ProxyProcess proxy;
  startOrFail(proxy, cfg);

  std::vector<std::string> sessions;
  for (int i = 0; i < 50; ++i)
    sessions.push_back("sess" + std::to_string(i * 7919) + "x" + std::to_string(i));
  auto cookie = [](const std::string& s) {
    return "Cookie: theme=dark; JSESSIONID=" + s + "; lang=en\r\n";
  };
  KeyRun run = runKeys(
      proxy.port(), sessions, 5, [](const std::string&) { return std::string("/app"); }, cookie);
  checkEachKeyOnOneServer(run, 3);
  CHECK(run.set_cookies == 0);

  // The app's cookies reach it untouched.
  bool untouched = true;
  for (const auto& u : servers.ups) {
    for (const UpstreamRequest& req : u->requests()) {
      std::string c = req.message.headers.valueOr("Cookie");
      if (c.rfind("theme=dark; JSESSIONID=", 0) != 0 || c.size() < 30 ||
          c.substr(c.size() - 9) != "; lang=en") {
        untouched = false;
      }
    }
  }
  CHECK(untouched);

  // Another instance with the same config puts every session on the same server.
  ProxyProcess twin;
  startOrFail(twin, cfg);
  KeyRun twin_run = runKeys(
      twin.port(), sessions, 1, [](const std::string&) { return std::string("/app"); }, cookie);
  CHECK(twin_run.first_server == run.first_server);

  // No JSESSIONID at all is still served.
  KeepAliveClient client(proxy.port());
  for (int i = 0; i < 4; ++i)
    CHECK(client.get("/anon", i % 2 ? "Cookie: theme=dark\r\n" : "").status() == 200);
}

TEST_CASE("hash: header and path keys stick too") {
  Servers servers(3);
  std::vector<std::string> keys;
  for (int i = 0; i < 40; ++i)
    keys.push_back("k" + std::to_string(i));
  {
    ProxyProcess proxy;
    startOrFail(proxy, servers.config("balance: hash, hash_key: 'header:X-Tenant'"));
    KeyRun run = runKeys(
        proxy.port(), keys, 3, [](const std::string&) { return std::string("/t"); },
        [](const std::string& k) { return "X-Tenant: " + k + "\r\n"; });
    INFO("header:X-Tenant");
    checkEachKeyOnOneServer(run, 3);
  }
  {
    ProxyProcess proxy;
    startOrFail(proxy, servers.config("balance: hash, hash_key: path"));
    // Query strings differ per round: the key is the path.
    int n = 0;
    KeyRun run = runKeys(
        proxy.port(), keys, 3,
        [&n](const std::string& k) { return "/p/" + k + "?n=" + std::to_string(n++); },
        [](const std::string&) { return std::string(); });
    INFO("path");
    checkEachKeyOnOneServer(run, 3);
  }
}

TEST_CASE("hash: client_ip keeps one client address on one server") {
  Servers servers(3);
  ProxyProcess proxy;
  startOrFail(proxy, servers.config("balance: hash, hash_key: client_ip"));
  std::set<std::string> seen;
  for (int i = 0; i < 12; ++i) {
    Response r = httpGet(proxy.port(), "/ip" + std::to_string(i)); // new connection each time
    CHECK(r.status() == 200);
    seen.insert(served(r));
  }
  CHECK(seen.size() == 1);
}

TEST_CASE("least_conn: new requests avoid the server holding a slow request") {
  // "/slow" is held until release; the handler reports where it landed.
  struct SlowSeen {
    std::mutex mu;
    std::condition_variable cv;
    std::string where;
  };
  auto seen = std::make_shared<SlowSeen>();
  Servers servers(3, [seen](const std::string& name) -> FakeUpstream::Handler {
    return [seen, name](const UpstreamRequest& req) {
      if (req.message.target == "/slow") {
        {
          std::lock_guard<std::mutex> lock(seen->mu);
          seen->where = name;
        }
        seen->cv.notify_all();
        return Reply::ok(name).holdFor(milliseconds(10000));
      }
      return Reply::ok(name);
    };
  });
  ProxyProcess proxy;
  startOrFail(proxy, servers.config("balance: least_conn"));

  // Warm up (all idle: any server may answer).
  {
    KeepAliveClient client(proxy.port());
    for (int i = 0; i < 6; ++i)
      CHECK(client.get("/warm").status() == 200);
  }

  RawClient slow(proxy.port());
  REQUIRE(slow.send(makeRequest("GET", "/slow")));
  std::string busy;
  {
    std::unique_lock<std::mutex> lock(seen->mu);
    seen->cv.wait_for(lock, milliseconds(3000), [&] { return !seen->where.empty(); });
    busy = seen->where;
  }
  REQUIRE(!busy.empty());

  std::map<std::string, int> hits;
  {
    KeepAliveClient client(proxy.port());
    for (int i = 0; i < 30; ++i)
      hits[served(client.get("/fast"))]++;
  }
  INFO("slow request on " << busy);
  CHECK(hits[busy] == 0);
  int ok = 0;
  for (const auto& [server, n] : hits) {
    if (server != busy && server.rfind("app", 0) == 0) ok += n;
  }
  CHECK(ok == 30);

  for (const auto& u : servers.ups)
    u->release();
  Response r = slow.readResponse(milliseconds(3000));
  CHECK(r.status() == 200);
  CHECK(r.body() == busy);
}

TEST_CASE("random_two: every request succeeds and load follows the weights") {
  Servers servers(2);
  ProxyProcess proxy;
  startOrFail(proxy, servers.config("balance: random_two", {1, 3}));
  KeepAliveClient client(proxy.port());
  std::map<std::string, int> hits;
  const int n = 400;
  for (int i = 0; i < n; ++i)
    hits[served(client.get("/r"))]++;
  INFO("app1 " << hits["app1"] << ", app2 " << hits["app2"]);
  CHECK(hits["app1"] + hits["app2"] == n);
  CHECK(hits["app1"] > 0);
  const double heavy = static_cast<double>(hits["app2"]) / n;
  MESSAGE("random_two weights 1:3 -> app2 share " << heavy);
  CHECK(heavy >= 0.65); // expected 0.75; +-0.1 is over 4 standard deviations
  CHECK(heavy <= 0.85);
  CHECK(servers.ups[0]->requestCount() == static_cast<size_t>(hits["app1"]));
  CHECK(servers.ups[1]->requestCount() == static_cast<size_t>(hits["app2"]));
}

TEST_SUITE_END();
