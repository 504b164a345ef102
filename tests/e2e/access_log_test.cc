// Access log (issue 2 §9): one line per exchange; JSON fields and the
// termination codes; text format; off; a file path.
#include <doctest/doctest.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "tests/support/e2e_checks.h"

using namespace swytest;
using std::chrono::milliseconds;

TEST_SUITE_BEGIN("e2e");

TEST_CASE("access log: JSON fields of a normal request") {
  FakeUpstream up("app", [](const UpstreamRequest&) { return Reply::ok("twelve bytes"); });
  ProxyConfig cfg;
  cfg.addPool("web", {{"web1", up.port()}});
  cfg.addRoute("{name: main, pool: web}");
  ProxyProcess proxy;
  startOrFail(proxy, cfg);
  RawClient c(proxy.port());
  std::string request = makeRequest("POST", "/x?y=1", "example.test", "", "0123456789");
  REQUIRE(c.roundTrip(request).status() == 200);
  JsonLine l = logLineAt(proxy, 0);
  CHECK(l.isString("time"));
  CHECK_FALSE(l.str("time").empty());
  CHECK(l.isNumber("cid"));
  CHECK(l.str("client") == "127.0.0.1:" + std::to_string(c.localPort()));
  CHECK(l.str("listener") == "public");
  CHECK(l.str("method") == "POST");
  CHECK(l.str("uri") == "/x?y=1");
  CHECK(l.str("proto") == "HTTP/1.1");
  CHECK(l.num("status") == 200);
  CHECK(l.num("bytes_in") >= 10);
  CHECK(l.num("bytes_in") <= request.size() + 0.0);
  CHECK(l.num("bytes_out") >= 12);
  CHECK(l.str("route") == "main");
  CHECK(l.str("pool") == "web");
  CHECK(l.str("server") == "web1");
  CHECK(l.str("upstream") == up.address());
  CHECK(l.isNumber("ttfb_ms"));
  CHECK(l.isNumber("total_ms"));
  CHECK(l.num("ttfb_ms") >= 0);
  CHECK(l.num("total_ms") >= l.num("ttfb_ms"));
  CHECK(l.num("retries") == 0);
  CHECK(l.str("term") == "--");
}

TEST_CASE("access log: one line per request, same cid on one connection, new cid on another") {
  FakeUpstream up("app");
  ProxyProcess proxy;
  startOrFail(proxy, singleUpstream(up.port()));
  RawClient a(proxy.port());
  REQUIRE(a.roundTrip(makeRequest("GET", "/1")).status() == 200);
  REQUIRE(a.roundTrip(makeRequest("GET", "/2")).status() == 200);
  REQUIRE(httpGet(proxy.port(), "/3").status() == 200);
  std::vector<JsonLine> logs = proxy.waitForAccessLog(3);
  REQUIRE(logs.size() == 3);
  CHECK(logs[0].str("uri") == "/1");
  CHECK(logs[2].str("uri") == "/3");
  CHECK(logs[0].num("cid") == logs[1].num("cid"));
  CHECK(logs[0].num("cid") != logs[2].num("cid"));
  CHECK(proxy.stdoutLines().size() == 3);
}

TEST_CASE("access log: a client aborting while waiting for the response is CH") {
  FakeUpstream up("app", [](const UpstreamRequest&) { return Reply::silent(); });
  ProxyProcess proxy;
  startOrFail(proxy, singleUpstream(up.port()));
  RawClient c(proxy.port());
  REQUIRE(c.send(makeRequest("GET", "/wait")));
  REQUIRE(up.waitForRequests(1, milliseconds(2000)));
  c.reset(); // unambiguously gone (a FIN alone could be a half-close)
  JsonLine l = logLineAt(proxy, 0, milliseconds(2000));
  CHECK(l.str("term") == "CH");
  CHECK(up.waitForPeerClosed(1, milliseconds(2000))); // upstream connection released too
}

TEST_CASE("access log: a client aborting mid response body is CD") {
  FakeUpstream up("app", [](const UpstreamRequest&) {
    Reply reply = Reply::send("HTTP/1.1 200 OK\r\nContent-Length: 67108864\r\n\r\n");
    reply.takeover = [](UpstreamConn& conn) {
      conn.write(payloadBytes(1, 0, 64 * 1024));
      std::string rest;
      // Longer than the test waits: the proxy has to notice the client itself.
      conn.readToEof(&rest, milliseconds(10000));
      return false;
    };
    return reply;
  });
  ProxyProcess proxy;
  startOrFail(proxy, singleUpstream(up.port()));
  RawClient c(proxy.port());
  REQUIRE(c.send(makeRequest("GET", "/big")));
  REQUIRE(c.readAtLeast(1000) == IoStatus::kOk);
  c.reset();
  JsonLine l = logLineAt(proxy, 0, milliseconds(2000));
  CHECK(l.str("term") == "CD");
  CHECK(l.num("status") == 200);
  CHECK(up.waitForPeerClosed(1, milliseconds(2000)));
}

TEST_CASE("access log: a bad request is logged with 400 and PR") {
  FakeUpstream up("app");
  ProxyProcess proxy;
  startOrFail(proxy, singleUpstream(up.port()));
  RawClient c(proxy.port());
  REQUIRE(c.send("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"));
  CHECK(c.readResponse().status() == 400);
  JsonLine l = logLineAt(proxy, 0);
  CHECK(l.num("status") == 400);
  CHECK(l.str("term") == "PR");
  CHECK(l.str("server") == "-");
}

TEST_CASE("access log: text format writes one non-JSON line per request") {
  FakeUpstream up("app");
  ProxyConfig cfg = singleUpstream(up.port());
  cfg.access_log = "{format: text, path: stdout}";
  ProxyProcess proxy;
  startOrFail(proxy, cfg);
  REQUIRE(httpGet(proxy.port(), "/text-check?x=1").status() == 200);
  REQUIRE(proxy.waitForStdoutLines(1, milliseconds(3000)));
  std::string line = proxy.stdoutLines()[0];
  INFO(line);
  CHECK(line.rfind("{", 0) != 0);
  CHECK(line.find("GET /text-check?x=1 HTTP/1.1") != std::string::npos);
  CHECK(line.find(" 200 ") != std::string::npos);
}

TEST_CASE("access log: off writes nothing") {
  FakeUpstream up("app");
  ProxyConfig cfg = singleUpstream(up.port());
  cfg.access_log = "off";
  ProxyProcess proxy;
  startOrFail(proxy, cfg);
  REQUIRE(httpGet(proxy.port(), "/").status() == 200);
  std::optional<int> status = proxy.stop(SIGTERM, milliseconds(3000));
  REQUIRE(status.has_value());
  CHECK(*status == 0);
  CHECK(proxy.stdoutLines().empty());
}

TEST_CASE("access log: a file path receives the JSON lines") {
  FakeUpstream up("app");
  TempDir dir;
  std::string file = dir.write("access.log", "");
  ProxyConfig cfg = singleUpstream(up.port());
  cfg.access_log = "{format: json, path: '" + file + "'}";
  ProxyProcess proxy;
  startOrFail(proxy, cfg);
  REQUIRE(httpGet(proxy.port(), "/to-file").status() == 200);
  REQUIRE(proxy.stop(SIGTERM, milliseconds(3000)).has_value());
  std::ifstream in(file);
  std::stringstream content;
  content << in.rdbuf();
  INFO(content.str());
  std::optional<JsonLine> l = JsonLine::parse(content.str());
  REQUIRE(l.has_value());
  CHECK(l->str("uri") == "/to-file");
  CHECK(proxy.stdoutLines().empty());
}

TEST_SUITE_END();

TEST_CASE("access log: SIGUSR1 reopens the file after logrotate moved it") {
  FakeUpstream up("app1");
  TempDir dir;
  const std::string path = dir.path() + "/access.log";
  ProxyConfig cfg = singleUpstream(up.port());
  cfg.access_log = "{format: json, path: " + path + "}";
  ProxyProcess proxy;
  startOrFail(proxy, cfg);
  auto readAll = [](const std::string& file) {
    std::ifstream in(file);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  };
  // The line of an exchange is written before the next request on the same
  // connection is read: after the "/sync" answer, `target`'s line is there.
  RawClient c(proxy.port());
  auto logged = [&](const std::string& target) {
    REQUIRE(c.roundTrip(makeRequest("GET", target)).status() == 200);
    REQUIRE(c.roundTrip(makeRequest("GET", "/sync")).status() == 200);
  };
  logged("/before-rotate");
  CHECK(readAll(path).find("/before-rotate") != std::string::npos);
  REQUIRE(std::rename(path.c_str(), (path + ".1").c_str()) == 0); // what logrotate does
  logged("/still-old-file");
  proxy.signal(SIGUSR1);
  REQUIRE(proxy.waitForStderr("switchyard: reopened access log " + path, milliseconds(3000)));
  logged("/after-rotate");
  const std::string rotated = readAll(path + ".1");
  const std::string fresh = readAll(path);
  CHECK(rotated.find("/before-rotate") != std::string::npos);
  CHECK(rotated.find("/still-old-file") != std::string::npos);
  CHECK(rotated.find("/after-rotate") == std::string::npos);
  CHECK(fresh.find("/after-rotate") != std::string::npos);
  CHECK(fresh.find("/before-rotate") == std::string::npos);
  std::remove((path + ".1").c_str());
  std::remove(path.c_str());
}
