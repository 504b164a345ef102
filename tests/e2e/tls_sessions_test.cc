// TLS sessions, suites and ALPN through the real proxy (issue 4), seen from a
// client that reports what was agreed: tickets (TLS 1.3 and 1.2) and session
// ids resume on any worker but never under another SNI name (RFC 6066 s3),
// only ECDHE with AEAD suites are accepted, TLS 1.0/1.1 are refused by the
// server (the probe offers them), ALPN picks http/1.1.
#include <openssl/ssl.h>

#include <doctest/doctest.h>

#include "tests/e2e/tls_fixture.h"
#include "tests/support/e2e_checks.h"
#include "tests/support/tls_probe.h"

using namespace swytest;

namespace {

struct Setup {
  Tls tls;
  FakeUpstream up{"app"};
  ProxyProcess proxy;

  explicit Setup(const std::string& workers = "1", const std::string& extra = "") {
    ProxyConfig cfg = singleUpstream(up.port());
    cfg.workers = workers;
    cfg.listeners = {tls.listener(extra)};
    startOrFail(proxy, cfg);
  }

  // A request for `name` over a fresh connection, verifying the certificate
  // for that name.
  TlsOutcome probe(const std::string& name, TlsProbe p = {}) {
    p.sni = name;
    if (!name.empty()) {
      p.verify_name = name;
      p.ca_file = tls.pki.path("ca.pem");
    }
    p.request = "GET /s HTTP/1.1\r\nHost: " + (name.empty() ? "x" : name) + "\r\n\r\n";
    return tlsProbe(proxy.port(), p);
  }
};

bool answered(const TlsOutcome& o) { return o.response.rfind("HTTP/1.1 200 ", 0) == 0; }

// A session saved under a.example.test resumes there on every try (with two
// workers, connections land on both), and never under b.example.test or
// without SNI: those complete a full handshake with their own certificate.
void checkResumption(Setup& s, const TlsProbe& base, bool want_ticket) {
  TlsOutcome first = s.probe("a.example.test", base);
  REQUIRE_MESSAGE(first.handshake_ok, first.error);
  CHECK(answered(first));
  CHECK_FALSE(first.reused);
  REQUIRE(first.session);
  CHECK(first.has_ticket == want_ticket);

  TlsProbe again = base;
  again.resume = first.session;
  int reused = 0;
  for (int i = 0; i < 8; ++i) {
    TlsOutcome o = s.probe("a.example.test", again);
    CHECK(answered(o));
    reused += o.reused ? 1 : 0;
  }
  CHECK(reused == 8);

  TlsOutcome other = s.probe("b.example.test", again);
  REQUIRE_MESSAGE(other.handshake_ok, other.error);
  CHECK_FALSE(other.reused);
  CHECK(other.peer_subject.find("CN=b") != std::string::npos);
  CHECK(answered(other));

  TlsOutcome no_sni = s.probe("", again);
  REQUIRE_MESSAGE(no_sni.handshake_ok, no_sni.error);
  CHECK_FALSE(no_sni.reused);
  CHECK(s.up.requestCount() == 11);
}

} // namespace

TEST_SUITE_BEGIN("e2e");

TEST_CASE("tls sessions: TLS 1.3 tickets resume on every worker, only under their own name") {
  Setup s("2");
  TlsProbe p;
  p.min_version = p.max_version = TLS1_3_VERSION;
  checkResumption(s, p, true);
}

TEST_CASE("tls sessions: TLS 1.2 tickets resume on every worker, only under their own name") {
  Setup s("2");
  TlsProbe p;
  p.min_version = p.max_version = TLS1_2_VERSION;
  checkResumption(s, p, true);
}

TEST_CASE("tls sessions: TLS 1.2 session ids resume on every worker, only under their own name") {
  Setup s("2");
  TlsProbe p;
  p.min_version = p.max_version = TLS1_2_VERSION;
  p.tickets = false;
  checkResumption(s, p, false);
}

TEST_CASE(
    "tls sessions: with session_tickets off, TLS 1.2 clients get no ticket and still resume") {
  Setup s("1", ", session_tickets: false");
  TlsProbe p;
  p.min_version = p.max_version = TLS1_2_VERSION;
  checkResumption(s, p, false);
}

TEST_CASE(
    "tls suites: only ECDHE with an AEAD cipher is accepted, for every suite a client offers") {
  Setup s;
  std::vector<std::string> accepted, tried;
  for (const std::string& name : allTls12CipherNames()) {
    TlsProbe p;
    p.min_version = TLS1_VERSION;
    p.max_version = TLS1_2_VERSION;
    p.ciphers = name;
    tried.push_back(name);
    TlsOutcome o = s.probe("", p);
    if (o.handshake_ok) accepted.push_back(o.cipher);
  }
  INFO("tried " << tried.size() << " suites");
  CHECK(tried.size() > 40);
  CHECK(accepted.size() >= 2);
  for (const std::string& c : accepted) {
    INFO(c);
    CHECK(c.rfind("ECDHE-", 0) == 0);
    CHECK(
        (c.find("-GCM-") != std::string::npos || c.find("CHACHA20-POLY1305") != std::string::npos));
  }
  std::vector<std::string> accepted13;
  for (const char* suite :
       {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256",
        "TLS_AES_128_CCM_SHA256", "TLS_AES_128_CCM_8_SHA256"}) {
    TlsProbe p;
    p.min_version = TLS1_3_VERSION;
    p.ciphersuites = suite;
    TlsOutcome o = s.probe("", p);
    if (o.handshake_ok) accepted13.push_back(o.cipher);
  }
  CHECK(accepted13 == std::vector<std::string>{"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
                                               "TLS_CHACHA20_POLY1305_SHA256"});
}

TEST_CASE("tls versions: the server refuses TLS 1.0 and 1.1 that the client offers") {
  Setup s;
  for (int version : {TLS1_VERSION, TLS1_1_VERSION}) {
    TlsProbe p;
    p.min_version = p.max_version = version;
    TlsOutcome o = s.probe("a.example.test", p);
    INFO(o.error);
    CHECK_FALSE(o.handshake_ok);
    // The refusal is the server's alert, not the client's own policy.
    CHECK(o.error.find("alert protocol version") != std::string::npos);
  }
  CHECK(s.up.requestCount() == 0);
  TlsOutcome modern = s.probe("a.example.test");
  CHECK(modern.version == "TLSv1.3");
  CHECK(answered(modern));
}

TEST_CASE("tls ALPN: http/1.1 is agreed when offered; no overlap or no ALPN still serves") {
  Setup s;
  TlsProbe both;
  both.alpn = {"h2", "http/1.1"};
  TlsOutcome o = s.probe("a.example.test", both);
  CHECK(o.alpn == "http/1.1");
  CHECK(answered(o));
  TlsProbe h2_only;
  h2_only.alpn = {"h2"};
  TlsOutcome none = s.probe("a.example.test", h2_only);
  REQUIRE_MESSAGE(none.handshake_ok, none.error);
  CHECK(none.alpn.empty());
  CHECK(answered(none));
  TlsOutcome plain = s.probe("a.example.test");
  CHECK(plain.alpn.empty());
  CHECK(answered(plain));
}

// Several requests in one read, each in its own TLS record: the engine hands
// them over one record at a time, and a request answered at once by the proxy
// (here a 404: no route) leaves the connection idle, its request state given
// back, before the next record is read. That next record must find a
// connection ready for it (it once found none, and the proxy crashed).
TEST_CASE("tls pipelining: records read together, answered at once or proxied, in order") {
  Tls tls;
  FakeUpstream up{"app"};
  ProxyProcess proxy;
  ProxyConfig cfg = singleUpstream(up.port());
  cfg.routes = {"{name: app, match: {path_prefix: /app}, pool: app}"};
  cfg.listeners = {tls.listener()};
  startOrFail(proxy, cfg);
  TlsProbe p;
  p.sni = "a.example.test";
  for (const char* path : {"/missing-1", "/missing-2", "/app/x", "/missing-3"})
    p.pipelined.push_back(std::string("GET ") + path + " HTTP/1.1\r\nHost: a.example.test\r\n\r\n");
  TlsOutcome o = tlsProbe(proxy.port(), p);
  REQUIRE_MESSAGE(o.handshake_ok, o.error);
  REQUIRE(o.responses.size() == 4);
  CHECK(o.responses[0].rfind("HTTP/1.1 404 ", 0) == 0);
  CHECK(o.responses[1].rfind("HTTP/1.1 404 ", 0) == 0);
  CHECK(o.responses[2].rfind("HTTP/1.1 200 ", 0) == 0);
  CHECK(o.responses[3].rfind("HTTP/1.1 404 ", 0) == 0);
  CHECK(up.requestCount() == 1);
  // Still serving: a new connection is answered too.
  TlsProbe again;
  again.sni = "a.example.test";
  again.request = "GET /app/y HTTP/1.1\r\nHost: a.example.test\r\n\r\n";
  CHECK(tlsProbe(proxy.port(), again).response.rfind("HTTP/1.1 200 ", 0) == 0);
}
