// Hardening against clients (issue 5) over real sockets: route `source`
// conditions, listener allow/deny lists (a denied connection is closed
// before anything is read, and the upstream sees nothing), max_connections
// and max_connections_per_ip (the excess is closed at once; closing one
// frees its place), and a slowloris crowd that neither starves normal
// clients nor outlives timeouts.client_header.
//
// Two clients in one test: every 127.0.0.0/8 address reaches the loopback
// interface, so a Peer bound to 127.0.0.2 is another client than the
// RawClient (127.0.0.1).
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <chrono>
#include <string>
#include <vector>

#include "tests/support/e2e_checks.h"

using namespace swytest;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

namespace {

// A client connection from a chosen loopback source address.
class Peer {
public:
  Peer(const char* source, uint16_t port) {
    fd_ = Fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    inet_pton(AF_INET, source, &addr.sin_addr);
    if (::bind(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      fd_.reset();
      return;
    }
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    addr.sin_port = htons(port);
    if (::connect(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) fd_.reset();
  }
  bool connected() const { return fd_.valid(); }

  // Sends a GET and reads its response (keep-alive).
  Response get(const std::string& target, milliseconds timeout = milliseconds(3000)) {
    Response r;
    std::string request = "GET " + target + " HTTP/1.1\r\nHost: example.test\r\n\r\n";
    Deadline deadline(timeout);
    if (!fd_.valid() || writeAll(fd_.get(), request, deadline) != IoStatus::kOk) {
      r.io = IoStatus::kError;
      return r;
    }
    MessageParser parser(MessageParser::Kind::kResponse);
    for (;;) {
      buffer_.erase(0, parser.feed(buffer_));
      if (parser.done() || parser.failed()) break;
      IoStatus st = readSome(fd_.get(), &buffer_, deadline);
      if (st != IoStatus::kOk) {
        r.io = st;
        break;
      }
    }
    r.complete = parser.done();
    r.error = parser.error();
    r.msg = std::move(parser.message());
    return r;
  }

private:
  Fd fd_;
  std::string buffer_;
};

// A GET on a fresh connection from `source`.
Response getFrom(const char* source, uint16_t port, const std::string& target) {
  Peer peer(source, port);
  REQUIRE_MESSAGE(peer.connected(), "cannot connect from " << source);
  return peer.get(target);
}

// A connection the proxy refused: closed (FIN or reset) well before any
// timeout of the config could have closed it, and nothing was sent to us.
void checkRefused(RawClient& client, bool send_request) {
  REQUIRE(client.connected());
  if (send_request) client.send("GET /refused HTTP/1.1\r\nHost: example.test\r\n\r\n");
  Clock::time_point start = Clock::now();
  IoStatus st = client.waitClosed(milliseconds(2000));
  INFO("refused connection: "
       << ioStatusName(st) << " after "
       << std::chrono::duration_cast<milliseconds>(Clock::now() - start).count() << " ms");
  CHECK((st == IoStatus::kEof || st == IoStatus::kReset));
  CHECK(client.buffer().empty());
}

// Keep-alive connections that each completed one request: the proxy has
// admitted them and still holds them open.
std::vector<RawClient> openAdmitted(uint16_t port, int n) {
  std::vector<RawClient> out;
  for (int i = 0; i < n; ++i) {
    RawClient c(port);
    REQUIRE(c.connected());
    Response r = c.roundTrip("GET /held HTTP/1.1\r\nHost: example.test\r\n\r\n");
    INFO("held connection " << i << ": " << r.describe());
    REQUIRE(r.status() == 200);
    out.push_back(std::move(c));
  }
  return out;
}

// Closes `client` from our side and waits until the proxy has closed its
// end too: from then on the proxy no longer counts it.
void closeAndWait(RawClient& client) {
  client.shutdownWrite();
  IoStatus st = client.waitClosed(milliseconds(3000));
  REQUIRE((st == IoStatus::kEof || st == IoStatus::kReset));
  client.close();
}

} // namespace

TEST_SUITE_BEGIN("e2e");

TEST_CASE("access: route source matches loopback clients; an excluded address falls through") {
  FakeUpstream a("a"), b("b");
  ProxyConfig cfg;
  cfg.addPool("a", {{"a1", a.port()}});
  cfg.addPool("b", {{"b1", b.port()}});
  cfg.addRoute("{name: not-dot-one, match: {path_prefix: /x, source: ['!127.0.0.1/32', "
               "127.0.0.0/8]}, pool: a}");
  cfg.addRoute("{name: loopback, match: {path_prefix: /x, source: [127.0.0.0/8]}, pool: b}");
  cfg.addRoute("{name: only-others, match: {path: /y, source: ['!127.0.0.1/32', 127.0.0.0/8]}, "
               "pool: a}");
  ProxyProcess proxy;
  startOrFail(proxy, cfg);
  const uint16_t port = proxy.port();

  Response r = httpGet(port, "/x1"); // from 127.0.0.1: excluded by the first route
  INFO(r.describe());
  CHECK(r.status() == 200);
  CHECK(r.body() == "b");
  CHECK(logLineAt(proxy, 0).str("route") == "loopback");

  Response none = httpGet(port, "/y"); // 127.0.0.1 is excluded and no other route matches
  CHECK(none.status() == 404);
  CHECK(logLineAt(proxy, 1).str("route") == "-");

  Response other = getFrom("127.0.0.2", port, "/x2");
  INFO(other.describe());
  CHECK(other.status() == 200);
  CHECK(other.body() == "a");
  JsonLine line = logLineAt(proxy, 2);
  CHECK(line.str("route") == "not-dot-one");
  CHECK(line.str("client").starts_with("127.0.0.2:"));
  CHECK(getFrom("127.0.0.2", port, "/y").status() == 200);
  CHECK(logLineAt(proxy, 3).str("route") == "only-others");
  CHECK(a.requestCount() == 2);
  CHECK(b.requestCount() == 1);
}

TEST_CASE("access: a denied client is closed before anything is read; allow admits") {
  FakeUpstream up("up");
  ProxyConfig cfg = singleUpstream(up.port());
  cfg.listeners = {"{name: public, address: 127.0.0.1:0, deny: [127.0.0.1/32]}",
                   "{name: inside, address: 127.0.0.1:0, allow: [127.0.0.0/8]}",
                   "{name: dot-two, address: 127.0.0.1:0, allow: [127.0.0.2/32]}"};
  ProxyProcess proxy;
  startOrFail(proxy, cfg);

  // Denied, with and without a request sent: closed, no response.
  RawClient silent(proxy.port("public"));
  checkRefused(silent, false);
  RawClient talker(proxy.port("public"));
  checkRefused(talker, true);
  CHECK(proxy.waitForStderr("switchyard: listener=public refused 1 connection from denied "
                            "addresses (last 127.0.0.1)",
                            milliseconds(3000)));
  // allow-only: everyone not listed is refused.
  RawClient outsider(proxy.port("dot-two"));
  checkRefused(outsider, true);
  CHECK(proxy.waitForStderr("listener=dot-two refused 1 connection from denied addresses",
                            milliseconds(3000)));

  // Everyone else is served.
  CHECK(getFrom("127.0.0.2", proxy.port("public"), "/a").status() == 200);
  CHECK(httpGet(proxy.port("inside"), "/b").status() == 200);
  CHECK(getFrom("127.0.0.2", proxy.port("dot-two"), "/c").status() == 200);
  CHECK(up.requestCount() == 3);
  std::vector<JsonLine> log = proxy.waitForAccessLog(3);
  REQUIRE(log.size() == 3);
  CHECK(log[0].str("uri") == "/a");
  CHECK(log[1].str("uri") == "/b");
  CHECK(log[2].str("uri") == "/c");
  // Nothing of the refused connections reached the upstream or the log.
  CHECK(up.allRawReceived().find("/refused") == std::string::npos);
  CHECK(proxy.stdoutLines().size() == 3);
}

TEST_CASE("access: max_connections_per_ip refuses the excess at once; closing one frees a place") {
  FakeUpstream up("up");
  ProxyConfig cfg = singleUpstream(up.port());
  cfg.listeners = {"{name: public, address: 127.0.0.1:0, max_connections_per_ip: 2}"};
  ProxyProcess proxy;
  startOrFail(proxy, cfg);
  const uint16_t port = proxy.port();

  std::vector<RawClient> held = openAdmitted(port, 2);
  RawClient third(port);
  checkRefused(third, true);
  CHECK(proxy.waitForStderr("switchyard: listener=public refused 1 connection over "
                            "max_connections_per_ip=2 (last 127.0.0.1)",
                            milliseconds(3000)));
  // Per address: another client still gets in.
  CHECK(getFrom("127.0.0.2", port, "/other").status() == 200);
  // The held ones are untouched.
  CHECK(held[1].roundTrip("GET /again HTTP/1.1\r\nHost: example.test\r\n\r\n").status() == 200);

  closeAndWait(held[0]);
  RawClient next(port);
  Response r = next.roundTrip("GET /next HTTP/1.1\r\nHost: example.test\r\n\r\n");
  INFO(r.describe());
  CHECK(r.status() == 200);
  RawClient fourth(port); // held[1] and next: full again
  checkRefused(fourth, false);
}

TEST_CASE("access: max_connections counts every client; closing one frees a place") {
  FakeUpstream up("up");
  ProxyConfig cfg = singleUpstream(up.port());
  cfg.listeners = {"{name: public, address: 127.0.0.1:0, max_connections: 2}"};
  ProxyProcess proxy;
  startOrFail(proxy, cfg);
  const uint16_t port = proxy.port();

  std::vector<RawClient> held = openAdmitted(port, 1);
  Peer dot_two("127.0.0.2", port);
  REQUIRE(dot_two.get("/dot-two").status() == 200);
  RawClient third(port);
  checkRefused(third, true);
  Peer dot_three("127.0.0.3", port);
  CHECK_FALSE(dot_three.get("/dot-three", milliseconds(2000)).complete);
  // The first refusal is logged at once; the second, within the same
  // second, on the next line a second later.
  CHECK(proxy.waitForStderr("switchyard: listener=public refused 1 connection over "
                            "max_connections=2 (last 127.0.0.1)",
                            milliseconds(3000)));
  CHECK(proxy.waitForStderr("switchyard: listener=public refused 1 connection over "
                            "max_connections=2 (last 127.0.0.3)",
                            milliseconds(3000)));

  closeAndWait(held[0]);
  CHECK(getFrom("127.0.0.3", port, "/next").status() == 200);
  CHECK(dot_two.get("/still").status() == 200);
}

TEST_CASE("access: max_connections is per process, shared by every worker") {
  FakeUpstream up("up");
  ProxyConfig cfg = singleUpstream(up.port());
  cfg.workers = "4";
  cfg.listeners = {"{name: public, address: 127.0.0.1:0, max_connections: 3}"};
  ProxyProcess proxy;
  startOrFail(proxy, cfg);
  REQUIRE(proxy.readyWorkers() == 4);
  const uint16_t port = proxy.port();
  // Connections land on the workers as the kernel hashes them: with a count
  // per worker, some of the extra ones would be admitted.
  std::vector<RawClient> held = openAdmitted(port, 3);
  for (int i = 0; i < 8; ++i) {
    CAPTURE(i);
    RawClient extra(port);
    checkRefused(extra, true);
  }
  CHECK(up.requestCount() == 3);
}

TEST_CASE("access: a slowloris crowd does not starve normal clients and is cut off by "
          "client_header") {
  constexpr int kSlow = 200;
  constexpr int kNormal = 20;
  FakeUpstream up("up");
  ProxyConfig cfg = singleUpstream(up.port());
  cfg.timeouts = "{connect: 1s, client_header: 1s, client_idle: 10s, upstream_response: 5s, "
                 "drain: 5s}";
  ProxyProcess proxy;
  startOrFail(proxy, cfg);
  const uint16_t port = proxy.port();

  // Each slow client starts a request head and then holds it.
  std::vector<RawClient> slow;
  slow.reserve(kSlow);
  for (int i = 0; i < kSlow; ++i) {
    slow.emplace_back(port);
    REQUIRE(slow.back().connected());
    REQUIRE(slow.back().send("GET /slow HTTP/1.1\r\n"));
  }
  // Normal clients are served meanwhile, each at once.
  for (int i = 0; i < kNormal; ++i) {
    Response r = httpGet(port, "/normal" + std::to_string(i));
    INFO("normal GET " << i << ": " << r.describe());
    CHECK(r.status() == 200);
  }
  // A few more bytes do not extend the deadline (client_header bounds the
  // whole head, not the gap between bytes).
  for (RawClient& c : slow)
    c.send("Host: sl");
  // Every slow client gets a 408 and a close, within client_header plus margin.
  Deadline deadline(milliseconds(8000));
  int timed_out = 0;
  for (int i = 0; i < kSlow; ++i) {
    Response r = slow[static_cast<size_t>(i)].readResponse(milliseconds(deadline.pollMs()));
    if (r.status() == 408) {
      IoStatus st = slow[static_cast<size_t>(i)].waitClosed(milliseconds(deadline.pollMs()));
      timed_out += (st == IoStatus::kEof || st == IoStatus::kReset) ? 1 : 0;
    } else {
      INFO("slow client " << i << ": " << r.describe());
      CHECK(r.status() == 408);
    }
  }
  CHECK(timed_out == kSlow);
  CHECK(up.requestCount() == kNormal);
  // The normal requests were logged first: they finished before any slow
  // client was cut off. Then one line per slow client, 408, term cR.
  std::vector<JsonLine> log = proxy.waitForAccessLog(kNormal + kSlow, milliseconds(5000));
  REQUIRE(log.size() == static_cast<size_t>(kNormal + kSlow));
  for (int i = 0; i < kNormal + kSlow; ++i) {
    const JsonLine& line = log[static_cast<size_t>(i)];
    CAPTURE(i);
    if (i < kNormal) {
      CHECK(line.num("status") == 200);
      CHECK(line.str("term") == "--");
    } else {
      CHECK(line.num("status") == 408);
      CHECK(line.str("term") == "cR");
    }
  }
}
