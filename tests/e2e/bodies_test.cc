// Bodies (issue 2 §6): Content-Length and chunked request bodies, big bodies
// streamed both ways with backpressure (bounded proxy memory), checked by size
// and checksum.
#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>
#include <thread>

#include "tests/support/e2e_checks.h"
#include "tests/support/progress.h"

using namespace swytest;
using std::chrono::milliseconds;

namespace {

constexpr uint64_t kBig = 64ull << 20;
// A proxy that buffered a whole 64 MiB body would exceed this peak RSS.
constexpr long kMaxPeakRssKiB = 40 * 1024;

// Checks the proxy's peak RSS, except in sanitizer builds where shadow memory
// and the ASan quarantine make RSS say nothing about buffering.
void checkPeakRss(pid_t pid) {
  long peak = peakRssKiB(pid);
  MESSAGE("proxy peak RSS: " << peak << " KiB");
  CHECK(peak > 0);
  const char* sanitize = std::getenv("SWITCHYARD_SANITIZE");
  if (sanitize && std::string(sanitize) != "none" && *sanitize) return;
  CHECK(peak < kMaxPeakRssKiB);
}

Reply describeBody(const UpstreamRequest& r) {
  return Reply::ok(std::to_string(r.message.body_size) + " " + hex64(r.message.body_hash));
}

struct Rig {
  FakeUpstream up;
  ProxyProcess proxy;
  explicit Rig(FakeUpstream::Handler handler) : up("app", std::move(handler)) {
    startOrFail(proxy, singleUpstream(up.port()));
  }
};

} // namespace

TEST_SUITE_BEGIN("e2e");

TEST_CASE("bodies: a Content-Length request body is forwarded with Content-Length") {
  Rig rig(describeBody);
  RawClient c(rig.proxy.port());
  Response r = c.roundTrip(makeRequest("POST", "/cl", "example.test", "", "hello world"));
  CHECK(r.status() == 200);
  REQUIRE(rig.up.requestCount() == 1);
  const HttpMessage m = rig.up.requests()[0].message;
  CHECK(m.body == "hello world");
  CHECK(m.headers.valueOr("Content-Length") == "11");
  CHECK_FALSE(m.headers.has("Transfer-Encoding"));
}

TEST_CASE("bodies: a chunked request body stays chunked (sent in pieces)") {
  Rig rig(describeBody);
  RawClient c(rig.proxy.port());
  REQUIRE(
      c.send("POST /chunked HTTP/1.1\r\nHost: example.test\r\nTransfer-Encoding: chunked\r\n\r\n"));
  REQUIRE(c.send("5\r\nhello\r\n"));
  REQUIRE(c.send("1\r\n \r\n"));
  REQUIRE(c.send("5\r\nworld\r\n0\r\n\r\n"));
  Response r = c.readResponse();
  CHECK(r.status() == 200);
  REQUIRE(rig.up.requestCount() == 1);
  const HttpMessage m = rig.up.requests()[0].message;
  CHECK(m.framing == Framing::kChunked);
  CHECK(m.body == "hello world");
  CHECK_FALSE(m.headers.has("Content-Length"));
  CHECK(c.roundTrip(makeRequest("GET", "/next")).status() == 200);
}

TEST_CASE("bodies: a chunked request body of 8 MiB streams through intact") {
  Rig rig(describeBody);
  RawClient c(rig.proxy.port());
  REQUIRE(c.send("POST /up HTTP/1.1\r\nHost: example.test\r\nTransfer-Encoding: chunked\r\n\r\n"));
  constexpr uint64_t kSize = 8 << 20, kChunk = 256 * 1024;
  for (uint64_t off = 0; off < kSize; off += kChunk) {
    REQUIRE(c.send(chunked(payloadBytes(5, off, kChunk), kChunk).substr(0, kChunk + 9)));
  }
  REQUIRE(c.send("0\r\n\r\n"));
  Response r = c.readResponse(milliseconds(10000));
  CHECK(r.status() == 200);
  CHECK(r.body() == std::to_string(kSize) + " " + hex64(payloadHash(5, kSize)));
}

TEST_CASE("bodies: 64 MiB upload streams with backpressure and arrives intact") {
  Progress sent;
  std::atomic<uint64_t> sent_when_upstream_read{0};
  Rig rig(describeBody);
  // The upstream reads nothing until the client has sent everything or 300 ms
  // passed: a proxy without backpressure swallows the whole upload meanwhile.
  rig.up.setHeadHook([&](const HttpMessage&) {
    sent.waitAtLeast(kBig, milliseconds(300));
    sent_when_upstream_read = sent.get();
    return std::string();
  });
  RawClient c(rig.proxy.port());
  REQUIRE(c.send("POST /big HTTP/1.1\r\nHost: example.test\r\nContent-Length: " +
                 std::to_string(kBig) + "\r\n\r\n"));
  std::thread writer([&] {
    constexpr uint64_t kBlock = 1 << 20;
    for (uint64_t off = 0; off < kBig; off += kBlock) {
      if (!c.send(payloadBytes(9, off, kBlock), milliseconds(20000))) return;
      sent.set(off + kBlock);
    }
  });
  Response resp = c.readResponse(milliseconds(30000));
  writer.join();
  CHECK(sent.get() == kBig);
  MESSAGE("upload: client had sent " << sent_when_upstream_read.load()
                                     << " bytes when the upstream started reading");
  CHECK(sent_when_upstream_read.load() < kBig);
  INFO(resp.describe());
  CHECK(resp.status() == 200);
  CHECK(resp.body() == std::to_string(kBig) + " " + hex64(payloadHash(9, kBig)));
  REQUIRE(rig.up.requestCount() == 1);
  CHECK(rig.up.requests()[0].message.headers.valueOr("Content-Length") == std::to_string(kBig));
  checkPeakRss(rig.proxy.pid());
}

TEST_CASE("bodies: 64 MiB download streams with backpressure and arrives intact") {
  Progress written;
  Rig rig([&](const UpstreamRequest&) {
    Reply reply =
        Reply::send("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(kBig) + "\r\n\r\n");
    reply.takeover = [&](UpstreamConn& conn) {
      constexpr uint64_t kBlock = 1 << 20;
      for (uint64_t off = 0; off < kBig; off += kBlock) {
        if (conn.write(payloadBytes(11, off, kBlock), milliseconds(20000)) != IoStatus::kOk) {
          return false;
        }
        written.set(off + kBlock);
      }
      return true;
    };
    return reply;
  });
  RawClient c(rig.proxy.port());
  REQUIRE(c.send(makeRequest("GET", "/big")));
  // The client does not read until the upstream wrote everything or 300 ms
  // passed: with backpressure the upstream must be stuck well before 64 MiB.
  written.waitAtLeast(kBig, milliseconds(300));
  uint64_t written_before_read = written.get();
  Response r = c.readResponse(milliseconds(30000));
  MESSAGE("download: upstream had written " << written_before_read
                                            << " bytes before the client started reading");
  CHECK(written_before_read < kBig);
  INFO(r.describe());
  CHECK(r.status() == 200);
  CHECK(r.msg.body_size == kBig);
  CHECK(r.msg.body_hash == payloadHash(11, kBig));
  checkPeakRss(rig.proxy.pid());
}

TEST_CASE("bodies: a chunked 8 MiB response streams through intact") {
  Rig rig([](const UpstreamRequest&) {
    Reply reply = Reply::send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    reply.takeover = [](UpstreamConn& conn) {
      constexpr uint64_t kSize = 8 << 20, kChunk = 64 * 1024;
      for (uint64_t off = 0; off < kSize; off += kChunk) {
        std::string c = chunked(payloadBytes(13, off, kChunk), kChunk);
        if (conn.write(c.substr(0, c.size() - 5)) != IoStatus::kOk) return false;
      }
      return conn.write("0\r\n\r\n") == IoStatus::kOk;
    };
    return reply;
  });
  RawClient c(rig.proxy.port());
  Response r = c.roundTrip(makeRequest("GET", "/chunks"), milliseconds(10000));
  CHECK(r.status() == 200);
  CHECK(r.msg.framing == Framing::kChunked);
  CHECK(r.msg.body_size == (8u << 20));
  CHECK(r.msg.body_hash == payloadHash(13, 8u << 20));
}

TEST_SUITE_END();
