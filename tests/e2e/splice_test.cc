// `splice: true` (issue 7): plain-text Content-Length response bodies move
// from the server's socket to the client's inside the kernel. Each case checks
// the bytes (size and checksum) and the spliced-bytes counter in /metrics, so
// that a proxy that silently stopped splicing fails here as surely as one
// that corrupts or loses bytes.
#include <doctest/doctest.h>

#include <string>

#include "tests/support/e2e_checks.h"
#include "tests/support/metrics_text.h"
#include "tests/support/progress.h"

using namespace swytest;
using std::chrono::milliseconds;

namespace {

constexpr uint64_t kSize = 16ull << 20;
constexpr uint64_t kBig = 64ull << 20; // more than every kernel buffer on the way holds
constexpr uint64_t kBlock = 1 << 20;
// What a response reads the ordinary way: the first read with the head (one
// 64 KiB read buffer), the last 64 KiB, and reads while the head's write was
// still queued (a loaded machine); copying what a full client socket could
// not take would be megabytes here.
constexpr uint64_t kNotSpliced = 512 * 1024;

ProxyConfig spliceConfig(uint16_t upstream, bool splice) {
  ProxyConfig cfg = singleUpstream(upstream);
  cfg.extra_top = std::string("admin: {address: 127.0.0.1:0}\n") + (splice ? "splice: true\n" : "");
  return cfg;
}

double splicedBytes(uint16_t admin) {
  return fetchMetrics(admin).at("switchyard_response_bytes_spliced_total"); // -1: absent
}

// Answers /big with `size` bytes of payload stream `seed` (Content-Length),
// written in 1 MiB blocks; anything else with a short 200.
FakeUpstream::Handler bigBody(uint64_t seed, Progress* written = nullptr, uint64_t size = kSize) {
  return [seed, written, size](const UpstreamRequest& req) {
    if (req.message.target != "/big") return Reply::ok("small");
    Reply reply =
        Reply::send("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(size) + "\r\n\r\n");
    reply.takeover = [seed, written, size](UpstreamConn& conn) {
      for (uint64_t off = 0; off < size; off += kBlock) {
        if (conn.write(payloadBytes(seed, off, kBlock), milliseconds(20000)) != IoStatus::kOk)
          return false;
        if (written != nullptr) written->set(off + kBlock);
      }
      return true;
    };
    return reply;
  };
}

} // namespace

TEST_SUITE_BEGIN("e2e");

TEST_CASE("splice: a 16 MiB body arrives intact, spliced, and both connections carry on") {
  FakeUpstream up("app1", bigBody(21));
  ProxyProcess proxy;
  startOrFail(proxy, spliceConfig(up.port(), true));
  const uint16_t admin = adminPort(proxy);
  REQUIRE(admin != 0);
  CHECK(splicedBytes(admin) == 0);

  RawClient c(proxy.port());
  Response big = c.roundTrip(makeRequest("GET", "/big"), milliseconds(20000));
  INFO(big.describe());
  CHECK(big.status() == 200);
  CHECK(big.msg.body_size == kSize);
  CHECK(big.msg.body_hash == payloadHash(21, kSize));
  const double spliced = splicedBytes(admin);
  MESSAGE("spliced " << spliced << " of " << kSize << " body bytes");
  // All but what kNotSpliced allows for: a full client socket makes the proxy
  // wait, never copy.
  CHECK(spliced >= kSize - kNotSpliced);
  CHECK(spliced < kSize);

  // The parser is where the body ended: the next request on the same client
  // connection is served over the same, reused server connection.
  Response small = c.roundTrip(makeRequest("GET", "/small"));
  CHECK(small.status() == 200);
  CHECK(small.body() == "small");
  CHECK(up.connectionCount() == 1);
  std::vector<JsonLine> log = proxy.waitForAccessLog(2);
  REQUIRE(log.size() == 2);
  CHECK(log[0].num("bytes_out") > static_cast<double>(kSize)); // head + every body byte
  CHECK(log[0].num("bytes_out") < static_cast<double>(kSize) + 512);
  CHECK(log[0].str("term") == "--");
}

TEST_CASE("splice: off by default, and never for chunked bodies or HEAD") {
  SUBCASE("default config") {
    FakeUpstream up("app1", bigBody(22));
    ProxyProcess proxy;
    startOrFail(proxy, spliceConfig(up.port(), false));
    RawClient c(proxy.port());
    Response big = c.roundTrip(makeRequest("GET", "/big"), milliseconds(20000));
    CHECK(big.msg.body_hash == payloadHash(22, kSize));
    CHECK(splicedBytes(adminPort(proxy)) == 0);
  }
  SUBCASE("chunked response and HEAD, with splice: true") {
    FakeUpstream up("app1", [](const UpstreamRequest& req) {
      if (req.message.method == "HEAD") {
        return Reply::send("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(kSize) +
                           "\r\n\r\n");
      }
      Reply reply = Reply::send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
      reply.takeover = [](UpstreamConn& conn) {
        for (uint64_t off = 0; off < (4u << 20); off += kBlock) {
          std::string c = chunked(payloadBytes(23, off, kBlock), kBlock);
          if (conn.write(c.substr(0, c.size() - 5)) != IoStatus::kOk) return false;
        }
        return conn.write("0\r\n\r\n") == IoStatus::kOk;
      };
      return reply;
    });
    ProxyProcess proxy;
    startOrFail(proxy, spliceConfig(up.port(), true));
    RawClient c(proxy.port());
    Response r = c.roundTrip(makeRequest("GET", "/chunks"), milliseconds(10000));
    CHECK(r.status() == 200);
    CHECK(r.msg.body_hash == payloadHash(23, 4u << 20));
    REQUIRE(c.send(makeRequest("HEAD", "/big")));
    Response head = c.readResponse(milliseconds(3000), true);
    CHECK(head.status() == 200);
    CHECK(head.msg.body_size == 0);
    CHECK(splicedBytes(adminPort(proxy)) == 0);
  }
}

TEST_CASE("splice: a client that reads late gets every byte; the server is held back") {
  Progress written;
  FakeUpstream up("app1", bigBody(24, &written, kBig));
  ProxyProcess proxy;
  startOrFail(proxy, spliceConfig(up.port(), true));
  RawClient c(proxy.port());
  REQUIRE(c.send(makeRequest("GET", "/big")));
  // Nothing is read until the server wrote everything or 300 ms passed: the
  // client socket fills, the proxy keeps what its pipe holds and stops
  // reading from the server, which must be stuck well before 64 MiB (the
  // kernel's autotuned buffers on both sides can hold 20 MiB).
  written.waitAtLeast(kBig, milliseconds(300));
  const uint64_t before = written.get();
  Response r = c.readResponse(milliseconds(30000));
  MESSAGE("the server had written " << before << " bytes before the client read");
  CHECK(before < kBig);
  INFO(r.describe());
  CHECK(r.status() == 200);
  CHECK(r.msg.body_size == kBig);
  CHECK(r.msg.body_hash == payloadHash(24, kBig));
  // The client's socket was full for most of the body: the bytes waited in
  // the pipe instead of taking the copying path.
  const double spliced = splicedBytes(adminPort(proxy));
  CHECK(spliced >= kBig - kNotSpliced);
  CHECK(spliced < kBig);
}

TEST_CASE("splice: the server closing mid-body cuts the client off; the proxy serves on") {
  FakeUpstream up("app1", [](const UpstreamRequest& req) {
    if (req.message.target != "/cut") return Reply::ok("small");
    Reply reply =
        Reply::send("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(kSize) + "\r\n\r\n");
    reply.takeover = [](UpstreamConn& conn) {
      for (uint64_t off = 0; off < 4 * kBlock; off += kBlock) {
        if (conn.write(payloadBytes(25, off, kBlock)) != IoStatus::kOk) return false;
      }
      return false; // close with 12 MiB missing
    };
    return reply;
  });
  ProxyProcess proxy;
  startOrFail(proxy, spliceConfig(up.port(), true));
  RawClient c(proxy.port());
  REQUIRE(c.send(makeRequest("GET", "/cut")));
  Response cut = c.readResponse(milliseconds(10000));
  CHECK_FALSE(cut.complete);
  CHECK(c.peerClosed());
  CHECK(c.buffer().size() <= 4 * kBlock + 512); // never more than the server sent
  JsonLine line = logLineAt(proxy, 0);
  CHECK(line.str("term") == "SD");
  CHECK(splicedBytes(adminPort(proxy)) > 0);
  CHECK(httpGet(proxy.port(), "/next").status() == 200);
}

TEST_CASE("splice: a client that goes away mid-body: the server connection is closed") {
  FakeUpstream up("app1", bigBody(26));
  ProxyProcess proxy;
  startOrFail(proxy, spliceConfig(up.port(), true));
  {
    RawClient c(proxy.port());
    REQUIRE(c.send(makeRequest("GET", "/big")));
    REQUIRE(c.readAtLeast(2 * kBlock, milliseconds(10000)) == IoStatus::kOk);
    c.reset();
  }
  // The proxy drops the half-sent response's server connection (never back
  // to the pool) and logs the client's abort.
  CHECK(up.waitForPeerClosed(1, milliseconds(5000)));
  JsonLine line = logLineAt(proxy, 0);
  CHECK(line.str("term") == "CD");
  CHECK(httpGet(proxy.port(), "/next").status() == 200);
  CHECK(up.connectionCount() == 2);
}

TEST_SUITE_END();
