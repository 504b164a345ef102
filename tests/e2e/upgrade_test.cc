// Zero-downtime binary upgrade over real sockets: SIGUSR2 starts the binary
// again, hands it the listening sockets (same kernel sockets, same port even
// when it was 0), and the old process drains once the new one is ready. Under
// continuous load no request fails; a config with errors leaves the old
// process serving; a request in flight on the old process finishes; a second
// SIGUSR2 during an upgrade is refused.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <fstream>
#include <optional>
#include <thread>

#include "tests/support/e2e_checks.h"
#include "tests/support/load_tally.h"

using namespace swytest;
using std::chrono::milliseconds;

namespace {

void rewrite(const ProxyProcess& proxy, const std::string& yaml) {
  std::ofstream out(proxy.configPath(), std::ios::trunc);
  out << yaml;
  out.close();
  REQUIRE(out.good());
}

// SIGUSR2; returns the new process's pid (REQUIREs its "started" line).
pid_t upgradeStarted(ProxyProcess& proxy) {
  const pid_t old = proxy.pid();
  const pid_t next = proxy.startUpgrade(milliseconds(5000));
  INFO(proxy.diagnostics());
  REQUIRE_MESSAGE(next > 0, "no 'switchyard: upgrade: started new process' line within 5 s");
  CHECK(next != old);
  return next;
}

// Waits for the old process to say the new one is ready (it drains then).
void waitHandedOver(ProxyProcess& proxy, pid_t next) {
  INFO(proxy.diagnostics());
  REQUIRE(proxy.waitForStderr("switchyard: upgrade: new process pid=" + std::to_string(next) +
                                  " is ready; this process stops accepting and drains",
                              milliseconds(10000)));
}

// The old process exits 0 after draining; then `proxy` follows the new one.
void oldExitsThenFollow(ProxyProcess& proxy, pid_t next) {
  std::optional<int> status = proxy.waitExit(milliseconds(10000));
  INFO(proxy.diagnostics());
  REQUIRE_MESSAGE(status.has_value(), "the old process did not exit within 10 s of the hand-over");
  CHECK(*status == 0);
  REQUIRE(proxy.follow(next));
}

// The whole hand-over: the old process says the new one is ready, drains,
// exits 0, and `proxy` follows the new one.
void handOver(ProxyProcess& proxy, pid_t next) {
  waitHandedOver(proxy, next);
  oldExitsThenFollow(proxy, next);
}

std::vector<std::string> linesWith(const ProxyProcess& proxy, const std::string& needle) {
  std::vector<std::string> out;
  for (const std::string& line : proxy.stderrLines()) {
    if (line.find(needle) != std::string::npos) out.push_back(line);
  }
  return out;
}

// The new process stops on SIGTERM like any other; one upgrade was started.
void stopAfterOneUpgrade(ProxyProcess& proxy) {
  CHECK(proxy.stop(SIGTERM, milliseconds(5000)) == 0);
  CHECK(linesWith(proxy, "switchyard: upgrade: started new process pid=").size() == 1);
}

// switchyard_downstream_connections_open{listener="public"} from /metrics, or -1.
long openConnections(uint16_t admin_port) {
  Response r = httpGet(admin_port, "/metrics", "127.0.0.1");
  static const std::string kMetric = "switchyard_downstream_connections_open{listener=\"public\"} ";
  size_t at = r.body().find(kMetric);
  if (r.status() != 200 || at == std::string::npos) return -1;
  return std::stol(r.body().substr(at + kMetric.size()));
}

// A failure on a reused keep-alive connection before any response byte: the
// proxy closed it as idle while the request was on its way. A client retries
// such a request once on a new connection (RFC 9112 §9.3.1).
bool closedBeforeResponse(const Response& r) {
  return !r.complete && r.msg.status == 0 &&
         (r.io == IoStatus::kEof || r.io == IoStatus::kReset || r.io == IoStatus::kError);
}

} // namespace

TEST_SUITE_BEGIN("e2e");

TEST_CASE("upgrade: under continuous load the new process takes over and no request fails") {
  FakeUpstream up("app");
  ProxyConfig cfg = singleUpstream(up.port());
  cfg.workers = "2";
  ProxyProcess proxy;
  startOrFail(proxy, cfg);
  const uint16_t port = proxy.port();
  const pid_t old = proxy.pid();

  std::atomic<bool> stop{false};
  std::atomic<int> retried{0}, sent{0};
  LoadTally tally;
  constexpr int kPerThread = 20000; // bounded in count as well as in time
  // Keep-alive: requests on one connection, a new one after "Connection: close".
  auto keepAlive = [&] {
    std::optional<RawClient> c;
    bool reused = false;
    for (int i = 0; i < kPerThread && !stop; ++i) {
      const std::string request = makeRequest("GET", "/k" + std::to_string(i));
      sent++;
      for (int attempt = 0;; ++attempt) {
        if (!c) {
          c.emplace(port);
          reused = false;
        }
        Response r = c->roundTrip(request);
        if (r.status() == 200) {
          tally.ok();
          reused = !r.headers().hasToken("Connection", "close");
          if (!reused) c.reset();
          break;
        }
        c.reset();
        if (reused && attempt == 0 && closedBeforeResponse(r)) {
          retried++;
          continue;
        }
        tally.failed("keep-alive" + std::string(reused ? " (reused)" : "") + ": " + r.describe());
        break;
      }
    }
  };
  // A new connection per request: none of these may ever fail.
  auto fresh = [&] {
    for (int i = 0; i < kPerThread && !stop; ++i) {
      sent++;
      Response r = httpGet(port, "/n" + std::to_string(i));
      if (r.status() == 200) {
        tally.ok();
      } else {
        tally.failed("new connection: " + r.describe());
      }
    }
  };
  // Bursts of new connections, so that some wait in an accept queue at any
  // moment (the ones a closed listening socket would reset).
  auto burst = [&] {
    constexpr int kBurst = 32;
    for (int i = 0; i < kPerThread / kBurst && !stop; ++i) {
      std::vector<RawClient> clients;
      for (int j = 0; j < kBurst; ++j) {
        sent++;
        clients.emplace_back(port);
        if (!clients.back().send(makeRequest("GET", "/b" + std::to_string(j)))) {
          tally.failed("burst: cannot connect or send");
        }
      }
      for (RawClient& c : clients) {
        if (!c.connected()) continue;
        Response r = c.readResponse();
        if (r.status() == 200) {
          tally.ok();
        } else {
          tally.failed("burst connection: " + r.describe());
        }
      }
    }
  };
  std::vector<std::thread> load;
  load.emplace_back(keepAlive);
  load.emplace_back(keepAlive);
  load.emplace_back(fresh);
  load.emplace_back(burst);
  struct Joiner {
    std::atomic<bool>& stop;
    std::vector<std::thread>& threads;
    ~Joiner() {
      stop = true;
      for (std::thread& t : threads)
        t.join();
    }
  } joiner{stop, load};

  CHECK(tally.waitOk(1000, milliseconds(10000)));
  const pid_t next = upgradeStarted(proxy);
  waitHandedOver(proxy, next);
  const int at_hand_over = tally.oks();
  oldExitsThenFollow(proxy, next);
  const int at_old_exit = tally.oks();
  // Only the new process is left: these are its answers, on the same port.
  CHECK(tally.waitOk(at_old_exit + 1000, milliseconds(10000)));
  stop = true;
  for (std::thread& t : load)
    t.join();
  load.clear();

  MESSAGE("upgrade under load: " << sent.load() << " requests sent, " << tally.oks() << " ok, "
                                 << tally.failures() << " failed, " << retried.load()
                                 << " retried once on a new connection after the old process "
                                    "closed an idle keep-alive connection; "
                                 << at_hand_over << " answered before the hand-over, "
                                 << tally.oks() - at_old_exit << " after the old process exited");
  INFO(tally.failureText());
  CHECK(tally.failures() == 0);
  CHECK(tally.oks() + tally.failures() == sent.load());
  const std::string adopted = "switchyard: upgrade: pid=" + std::to_string(next) +
                              " adopted 2 listening sockets from pid=" + std::to_string(old);
  CHECK(!linesWith(proxy, adopted).empty());
  CHECK(!linesWith(proxy, "switchyard: upgrade: pid=" + std::to_string(next) +
                              " is ready; told pid=" + std::to_string(old) + " to drain")
             .empty());
  stopAfterOneUpgrade(proxy);
}

TEST_CASE("upgrade: a config with errors leaves the old process serving; a fixed one upgrades") {
  FakeUpstream a("a");
  FakeUpstream b("b");
  ProxyProcess proxy;
  startOrFail(proxy, singleUpstream(a.port()));
  const uint16_t port = proxy.port();

  rewrite(proxy, singleUpstream(b.port()).render() + "  - {name: bad, pool: nowhere}\n");
  const pid_t bad = upgradeStarted(proxy);
  INFO(proxy.diagnostics());
  REQUIRE(proxy.waitForStderr("switchyard: upgrade: new process pid=" + std::to_string(bad) +
                                  " exited with status 1 before it was ready; still serving",
                              milliseconds(5000)));
  CHECK(proxy.waitForStderr("routes[1].pool: unknown pool 'nowhere'", milliseconds(0)));
  CHECK_FALSE(proxy.waitExit(milliseconds(0)).has_value()); // the old one runs on
  Response r = httpGet(port, "/still");
  CHECK(r.status() == 200);
  CHECK(r.body() == "a");

  rewrite(proxy, singleUpstream(b.port()).render());
  const pid_t next = upgradeStarted(proxy);
  CHECK(next != bad);
  handOver(proxy, next);
  Response after = httpGet(port, "/new");
  INFO(after.describe());
  CHECK(after.status() == 200);
  CHECK(after.body() == "b"); // the new process, on the fixed config
  CHECK(proxy.stop(SIGTERM, milliseconds(5000)) == 0);
}

TEST_CASE("upgrade: requests on the old process finish after the hand-over; SIGUSR2 is refused") {
  FakeUpstream up("app", [](const UpstreamRequest& r) {
    if (r.message.target == "/slow") return Reply::ok("slow-done").holdFor(milliseconds(10000));
    return Reply::ok("fast");
  });
  ProxyConfig cfg = singleUpstream(up.port());
  cfg.extra_top = "admin: {address: 127.0.0.1:0}\n";
  ProxyProcess proxy;
  startOrFail(proxy, cfg);
  const uint16_t port = proxy.port();
  const uint16_t admin = adminPort(proxy);
  REQUIRE(admin != 0);

  RawClient busy(port); // in flight when the upgrade starts
  REQUIRE(busy.send(makeRequest("GET", "/slow")));
  REQUIRE(up.waitForRequests(1, milliseconds(3000)));
  // Accepted by the old process but no request sent yet: it must be answered too.
  RawClient early(port);
  REQUIRE(early.connected());
  Deadline accepted(milliseconds(3000));
  while (openConnections(admin) < 2 && !accepted.expired()) {
  }
  REQUIRE(openConnections(admin) == 2);

  const pid_t next = upgradeStarted(proxy);
  waitHandedOver(proxy, next);
  proxy.signal(SIGUSR2); // the old process is draining: nothing more to hand over
  CHECK(proxy.waitForStderr("switchyard: upgrade: refused: already handed over to pid=" +
                                std::to_string(next) + "; this process is draining",
                            milliseconds(5000)));

  Response first = early.roundTrip(makeRequest("GET", "/early"));
  INFO(first.describe());
  CHECK(first.status() == 200);
  CHECK(first.headers().hasToken("Connection", "close"));   // from the draining old process
  CHECK(httpGet(port, "/meanwhile").status() == 200);       // the new process
  CHECK_FALSE(proxy.waitExit(milliseconds(0)).has_value()); // still draining /slow

  up.release();
  Response slow = busy.readResponse(milliseconds(5000));
  INFO(slow.describe());
  CHECK(slow.status() == 200);
  CHECK(slow.body() == "slow-done");
  CHECK(slow.headers().hasToken("Connection", "close"));
  busy.close();
  early.close();
  oldExitsThenFollow(proxy, next);
  CHECK(httpGet(port, "/after").body() == "fast");
  stopAfterOneUpgrade(proxy);
}

TEST_CASE("upgrade: the new process listens on the same port (port 0) and admin port") {
  FakeUpstream up("app");
  ProxyConfig cfg = singleUpstream(up.port());
  cfg.workers = "2";
  cfg.extra_top = "admin: {address: 127.0.0.1:0}\n";
  ProxyProcess proxy;
  startOrFail(proxy, cfg);
  const uint16_t port = proxy.port();
  const uint16_t admin = adminPort(proxy);
  const pid_t next = upgradeStarted(proxy);
  handOver(proxy, next);

  std::vector<std::string> listening = linesWith(proxy, "switchyard: listening name=public ");
  REQUIRE(listening.size() == 2); // the old process's line, then the new one's
  CHECK(listening[0] == listening[1]);
  CHECK(proxy.port() == port);
  std::vector<std::string> admins = linesWith(proxy, "switchyard: admin listening address=");
  REQUIRE(admins.size() == 2);
  CHECK(admins[0] == admins[1]);
  CHECK(!linesWith(proxy, "switchyard: upgrade: pid=" + std::to_string(next) +
                              " adopted 3 listening sockets")
             .empty());
  CHECK(httpGet(port, "/x").status() == 200);
  CHECK(openConnections(admin) >= 0); // the admin port answers from the new process
  stopAfterOneUpgrade(proxy);
}

TEST_CASE("upgrade: a second SIGUSR2 while the new process starts is refused") {
  FakeUpstream up("app");
  ProxyConfig cfg = singleUpstream(up.port());
  ProxyProcess proxy;
  startOrFail(proxy, cfg);
  // The config becomes a FIFO: the new process blocks reading it until the
  // test writes it, so the upgrade is still in progress for as long as needed.
  const std::string path = proxy.configPath();
  REQUIRE(::unlink(path.c_str()) == 0);
  REQUIRE(::mkfifo(path.c_str(), 0600) == 0);
  const pid_t next = upgradeStarted(proxy);
  proxy.signal(SIGUSR2);
  INFO(proxy.diagnostics());
  REQUIRE(proxy.waitForStderr("switchyard: upgrade: refused: an upgrade is already in progress "
                              "(new process pid=" +
                                  std::to_string(next) + ")",
                              milliseconds(5000)));
  CHECK(httpGet(proxy.port(), "/meanwhile").status() == 200);

  Deadline deadline(milliseconds(5000));
  Fd fifo;
  while (!fifo.valid() && !deadline.expired()) { // ENXIO until the reader opened it
    fifo.reset(::open(path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
    if (!fifo.valid()) std::this_thread::yield();
  }
  REQUIRE(fifo.valid());
  const std::string yaml = cfg.render();
  REQUIRE(::write(fifo.get(), yaml.data(), yaml.size()) == static_cast<ssize_t>(yaml.size()));
  fifo.reset();
  handOver(proxy, next);
  CHECK(httpGet(proxy.port(), "/after").status() == 200);
  stopAfterOneUpgrade(proxy);
}

TEST_CASE("upgrade: with fewer workers the sockets the new process does not use are closed") {
  FakeUpstream up("app");
  ProxyConfig cfg = singleUpstream(up.port());
  cfg.workers = "2";
  ProxyProcess proxy;
  startOrFail(proxy, cfg);
  const uint16_t port = proxy.port();
  cfg.workers = "1";
  rewrite(proxy, cfg.render());
  const pid_t next = upgradeStarted(proxy);
  handOver(proxy, next);
  CHECK(!linesWith(proxy, "switchyard: upgrade: pid=" + std::to_string(next) +
                              " adopted 1 listening sockets")
             .empty());
  CHECK(!linesWith(proxy, "switchyard: upgrade: closed 1 inherited sockets the config does not use")
             .empty());
  CHECK(proxy.readyWorkers() == 1);
  for (int i = 0; i < 20; ++i) { // the closed socket left the port's SO_REUSEPORT group
    Response r = httpGet(port, "/w" + std::to_string(i));
    INFO(r.describe());
    CHECK(r.status() == 200);
  }
  stopAfterOneUpgrade(proxy);
}
