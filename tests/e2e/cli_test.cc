// CLI contract (issue 2 §3): -t, --version, --help, readiness lines,
// SIGTERM drain and SIGINT fast exit.
#include <doctest/doctest.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>

#include "tests/support/e2e_checks.h"

using namespace swytest;
using std::chrono::milliseconds;

namespace {

// Splits "L:C: key.path: message" (after the "file:" prefix); false if malformed.
bool parseDiagnostic(const std::string& rest, int* line, std::string* key, std::string* message) {
  size_t c1 = rest.find(':');
  if (c1 == std::string::npos || c1 == 0) return false;
  size_t c2 = rest.find(':', c1 + 1);
  if (c2 == std::string::npos || c2 == c1 + 1) return false;
  std::string l = rest.substr(0, c1), c = rest.substr(c1 + 1, c2 - c1 - 1);
  if (l.find_first_not_of("0123456789") != std::string::npos) return false;
  if (c.find_first_not_of("0123456789") != std::string::npos) return false;
  if (rest.compare(c2, 2, ": ") != 0) return false;
  size_t k_end = rest.find(": ", c2 + 2);
  if (k_end == std::string::npos || k_end == c2 + 2) return false;
  *line = std::atoi(l.c_str());
  *key = rest.substr(c2 + 2, k_end - c2 - 2);
  *message = rest.substr(k_end + 2);
  return !message->empty() && key->find(' ') == std::string::npos;
}

std::vector<std::string> splitLines(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    out.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}

// A config with one error per marked line.
const char* kBadConfig = "workers: 1\n"                                      // 1
                         "listeners:\n"                                      // 2
                         "  - {name: public, address: 127.0.0.1:0}\n"        // 3
                         "bogus_key: 1\n"                                    // 4: unknown key
                         "timeouts: {connect: 5 parsecs}\n"                  // 5: bad duration
                         "pools:\n"                                          // 6
                         "  - name: app\n"                                   // 7
                         "    servers:\n"                                    // 8
                         "      - {name: app1, address: 'not-an-address'}\n" // 9: bad address
                         "routes:\n"                                         // 10
                         "  - name: r1\n"                                    // 11
                         "    match:\n"                                      // 12
                         "      headers: {X-Beta: '(unclosed'}\n"            // 13: bad regex
                         "    pool: app\n"                                   // 14
                         "  - {name: r2, pool: missing}\n"                   // 15: missing pool
                         "  - {name: r2, pool: app}\n";                      // 16: duplicate name

} // namespace

TEST_SUITE_BEGIN("e2e");

TEST_CASE("cli: -t accepts a valid config and exits 0") {
  FakeUpstream up;
  TempDir dir;
  std::string file = dir.write("ok.yaml", singleUpstream(up.port()).render());
  RunResult r = runSwitchyard({"-t", "-c", file});
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.exited);
  CHECK(r.exit_code == 0);
  CHECK(up.connectionCount() == 0);
}

TEST_CASE("cli: -t accepts every shipped config under conf/") {
  const char* root = std::getenv("SWITCHYARD_SOURCE_ROOT");
  REQUIRE(root != nullptr);
  std::vector<std::string> files;
  for (const char* dir : {"/conf", "/conf/examples"}) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(std::string(root) + dir, ec)) {
      if (entry.path().extension() == ".yaml") files.push_back(entry.path().string());
    }
  }
  CHECK_FALSE(files.empty());
  // Shipped configs name files relative to the directory switchyard starts
  // from (conf/certs/*.pem, made by conf/certs/make-demo-certs): run from a
  // scratch directory holding a fresh demo PKI, so -t loads real certificates.
  TempDir dir;
  struct Cleanup {
    std::filesystem::path previous = std::filesystem::current_path();
    std::filesystem::path conf;
    ~Cleanup() {
      std::error_code ec;
      std::filesystem::current_path(previous, ec);
      std::filesystem::remove_all(conf, ec);
    }
  } cleanup;
  cleanup.conf = dir.path() + "/conf";
  std::string script = std::string(root) + "/conf/certs/make-demo-certs";
  std::string command = "'" + script + "' '" + dir.path() + "/conf/certs' >/dev/null";
  REQUIRE(std::system(command.c_str()) == 0);
  std::filesystem::current_path(dir.path());
  for (const std::string& file : files) {
    RunResult r = runSwitchyard({"-t", "-c", file});
    INFO(file << "\nstderr: " << r.err);
    CHECK(r.exited);
    CHECK(r.exit_code == 0);
  }
}

TEST_CASE("cli: -t reports every error as file:line:col: key.path: message and exits 1") {
  TempDir dir;
  std::string file = dir.write("bad.yaml", kBadConfig);
  RunResult r = runSwitchyard({"-t", "-c", file});
  INFO("stderr:\n" << r.err);
  REQUIRE(r.exited);
  CHECK(r.exit_code == 1);
  struct Expected {
    int line;
    const char* key_part;
  };
  const Expected expected[] = {{4, "bogus_key"}, {5, "connect"}, {9, "address"},
                               {13, "headers"},  {15, "pool"},   {16, "name"}};
  std::vector<std::string> lines = splitLines(r.err);
  size_t well_formed = 0;
  for (const Expected& e : expected) {
    bool found = false;
    for (const std::string& l : lines) {
      if (l.rfind(file + ":", 0) != 0) continue;
      int line = 0;
      std::string key, message;
      if (!parseDiagnostic(l.substr(file.size() + 1), &line, &key, &message)) continue;
      if (line == e.line && key.find(e.key_part) != std::string::npos) found = true;
    }
    CHECK_MESSAGE(found, "no diagnostic for line " << e.line << " with key containing '"
                                                   << e.key_part << "'");
  }
  for (const std::string& l : lines) {
    int line = 0;
    std::string key, message;
    if (l.rfind(file + ":", 0) == 0 &&
        parseDiagnostic(l.substr(file.size() + 1), &line, &key, &message)) {
      ++well_formed;
    }
  }
  CHECK(well_formed >= 6);
}

TEST_CASE("cli: -c with an invalid config exits 1 without becoming ready") {
  ProxyProcess proxy;
  CHECK_FALSE(proxy.start(kBadConfig));
  std::optional<int> status = proxy.waitExit(milliseconds(3000));
  INFO(proxy.diagnostics());
  REQUIRE(status.has_value());
  CHECK(*status == 1);
  CHECK(proxy.waitForStderr("bogus_key", milliseconds(0)));
}

TEST_CASE("cli: -t on a missing file exits 1 and names the file") {
  RunResult r = runSwitchyard({"-t", "-c", "/nonexistent/switchyard.yaml"});
  REQUIRE(r.exited);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("/nonexistent/switchyard.yaml") != std::string::npos);
}

TEST_CASE("cli: --version prints 'switchyard <version>' and exits 0") {
  RunResult r = runSwitchyard({"--version"});
  REQUIRE(r.exited);
  CHECK(r.exit_code == 0);
  const char* version = std::getenv("SWITCHYARD_VERSION");
  REQUIRE(version != nullptr);
  CHECK(r.out == std::string("switchyard ") + version + "\n");
}

TEST_CASE("cli: --help prints usage naming -c and -t and exits 0") {
  RunResult r = runSwitchyard({"--help"});
  REQUIRE(r.exited);
  CHECK(r.exit_code == 0);
  std::string all = toLower(r.out + r.err);
  CHECK(all.find("usage") != std::string::npos);
  CHECK(all.find("-c") != std::string::npos);
  CHECK(all.find("-t") != std::string::npos);
}

TEST_CASE("cli: an unknown option exits non-zero") {
  RunResult r = runSwitchyard({"--no-such-option"});
  REQUIRE(r.exited);
  CHECK(r.exit_code != 0);
}

TEST_CASE("cli: one listening line per listener with the bound port, then ready") {
  FakeUpstream up("app");
  ProxyConfig cfg = singleUpstream(up.port());
  cfg.listeners = {"{name: public, address: 127.0.0.1:0}", "{name: second, address: 127.0.0.1:0}"};
  ProxyProcess proxy;
  startOrFail(proxy, cfg);
  CHECK(proxy.readyWorkers() == 1);
  uint16_t p1 = proxy.port("public"), p2 = proxy.port("second");
  CHECK(p1 != 0);
  CHECK(p2 != 0);
  CHECK(p1 != p2);
  CHECK(proxy.listenerAddresses().at("public").rfind("127.0.0.1:", 0) == 0);
  std::vector<std::string> err = proxy.stderrLines();
  size_t ready_at = err.size(), last_listen = 0;
  for (size_t i = 0; i < err.size(); ++i) {
    if (err[i].rfind("switchyard: listening ", 0) == 0) last_listen = i;
    if (err[i].rfind("switchyard: ready ", 0) == 0 && ready_at == err.size()) ready_at = i;
  }
  CHECK(last_listen < ready_at);
  CHECK(httpGet(p1, "/").body() == "app");
  CHECK(httpGet(p2, "/").body() == "app");
}

TEST_CASE("cli: SIGTERM drains: idle closed, new connects refused, in-flight completes, exit 0") {
  FakeUpstream up("app", [](const UpstreamRequest& r) {
    if (r.message.target == "/slow") return Reply::ok("slow-done").holdFor(milliseconds(5000));
    return Reply::ok("fast");
  });
  ProxyConfig cfg = singleUpstream(up.port());
  ProxyProcess proxy;
  startOrFail(proxy, cfg);
  uint16_t port = proxy.port();

  RawClient idle(port);
  REQUIRE(idle.roundTrip(makeRequest("GET", "/fast")).status() == 200);
  RawClient busy(port);
  REQUIRE(busy.send(makeRequest("GET", "/slow")));
  REQUIRE(up.waitForRequests(2, milliseconds(2000)));

  proxy.signal(SIGTERM);
  IoStatus idle_state = idle.waitClosed(milliseconds(2000));
  INFO("idle keep-alive connection: " << ioStatusName(idle_state));
  CHECK((idle_state == IoStatus::kEof || idle_state == IoStatus::kReset));

  // The listener goes away: a connect is refused (a probe that still got in
  // must at least be closed by the draining proxy, which is the event we wait on).
  bool refused = false;
  Deadline deadline(milliseconds(2000));
  while (!refused && !deadline.expired()) {
    RawClient probe(port);
    if (!probe.connected()) {
      refused = probe.connectError() == ECONNREFUSED;
      break;
    }
    probe.waitClosed(milliseconds(200));
  }
  CHECK(refused);
  CHECK_FALSE(proxy.waitExit(milliseconds(0)).has_value()); // still draining

  up.release();
  Response r = busy.readResponse(milliseconds(3000));
  INFO(r.describe());
  CHECK(r.status() == 200);
  CHECK(r.body() == "slow-done");
  CHECK(r.headers().hasToken("Connection", "close"));
  CHECK(busy.waitClosed(milliseconds(2000)) != IoStatus::kTimeout);
  busy.close(); // as a client does on EOF; the proxy may linger until then (RFC 9112 §9.6)
  std::optional<int> status = proxy.waitExit(milliseconds(3000));
  REQUIRE(status.has_value());
  CHECK(*status == 0);
  CHECK(proxy.accessLog().size() == 2);
  // Every worker loop closed with no handle left behind (uv_loop_close() == 0).
  for (const std::string& line : proxy.stderrLines()) {
    CHECK(line.find("live handles") == std::string::npos);
  }
  bool stopped = false;
  for (const std::string& line : proxy.stderrLines()) stopped |= line == "switchyard: stopped";
  CHECK(stopped);
}

TEST_CASE("cli: SIGTERM gives up on in-flight requests after timeouts.drain and exits 0") {
  FakeUpstream up("app", [](const UpstreamRequest&) { return Reply::silent(); });
  ProxyConfig cfg = singleUpstream(up.port());
  cfg.timeouts = "{connect: 1s, client_header: 5s, upstream_response: 10s, drain: 300ms}";
  ProxyProcess proxy;
  startOrFail(proxy, cfg);
  RawClient busy(proxy.port());
  REQUIRE(busy.send(makeRequest("GET", "/held")));
  REQUIRE(up.waitForRequests(1, milliseconds(2000)));
  proxy.signal(SIGTERM);
  std::optional<int> status = proxy.waitExit(milliseconds(1300));
  REQUIRE_MESSAGE(status.has_value(), "still running 1.3 s after SIGTERM with drain: 300ms");
  CHECK(*status == 0);
  busy.readResponse(milliseconds(1000)); // a 5xx is allowed; then it must be closed
  CHECK(busy.waitClosed(milliseconds(1000)) != IoStatus::kTimeout);
  JsonLine log = logLineAt(proxy, 0);
  CHECK(log.str("term") == "DH");
}

TEST_CASE("cli: SIGINT exits promptly even with a request in flight") {
  FakeUpstream up("app", [](const UpstreamRequest&) { return Reply::silent(); });
  ProxyProcess proxy;
  startOrFail(proxy, singleUpstream(up.port()));
  RawClient busy(proxy.port());
  REQUIRE(busy.send(makeRequest("GET", "/held")));
  REQUIRE(up.waitForRequests(1, milliseconds(2000)));
  proxy.signal(SIGINT);
  std::optional<int> status = proxy.waitExit(milliseconds(1000));
  REQUIRE_MESSAGE(status.has_value(), "still running 1 s after SIGINT");
  CHECK(busy.waitClosed(milliseconds(1000)) != IoStatus::kTimeout);
}

TEST_SUITE_END();
