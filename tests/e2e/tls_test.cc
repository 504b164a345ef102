// TLS termination over real sockets (issue 4): a real client (libcurl) speaks
// TLS 1.2 and 1.3 to the proxy, SNI picks the certificate, old protocols are
// refused, plain HTTP to the TLS port reaches nothing, and the upstream is
// told the request came over https. Certificates are generated at test time.
#include <curl/curl.h>
#include <doctest/doctest.h>

#include "tests/e2e/tls_fixture.h"
#include "tests/support/e2e_checks.h"
#include "tests/support/metrics_text.h"

using namespace swytest;
using std::chrono::milliseconds;

namespace {

struct CurlGlobal {
  CurlGlobal() { curl_global_init(CURL_GLOBAL_DEFAULT); }
  ~CurlGlobal() { curl_global_cleanup(); }
};
CurlGlobal curl_global;

size_t collect(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

struct Result {
  CURLcode rc = CURLE_OK;
  long status = 0;
  std::string headers, body;
};

// GET https://<name>:<port>/path through the proxy, resolving <name> to
// 127.0.0.1 and verifying the certificate against the test CA.
Result get(const Tls& tls, uint16_t port, const std::string& name, const std::string& path,
           long max_version = CURL_SSLVERSION_MAX_DEFAULT, long min_version = 0,
           bool verify = true) {
  Result r;
  CURL* easy = curl_easy_init();
  std::string url = "https://" + name + ":" + std::to_string(port) + path;
  std::string resolve = name + ":" + std::to_string(port) + ":127.0.0.1";
  curl_slist* resolves = curl_slist_append(nullptr, resolve.c_str());
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy, CURLOPT_RESOLVE, resolves);
  curl_easy_setopt(easy, CURLOPT_CAINFO, tls.pki.path("ca.pem").c_str());
  curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, verify ? 1L : 0L);
  curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, verify ? 2L : 0L);
  curl_easy_setopt(easy, CURLOPT_SSLVERSION, min_version | max_version);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, collect);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, &r.headers);
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  r.rc = curl_easy_perform(easy);
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &r.status);
  curl_slist_free_all(resolves);
  curl_easy_cleanup(easy);
  return r;
}

ProxyConfig tlsConfig(const Tls& tls, uint16_t upstream, const std::string& extra = "") {
  ProxyConfig cfg = singleUpstream(upstream);
  cfg.listeners = {tls.listener(extra)};
  return cfg;
}

} // namespace

TEST_SUITE_BEGIN("e2e");

TEST_CASE("tls: TLS 1.2 and 1.3 terminate; the upstream sees plain HTTP marked https") {
  Tls tls;
  FakeUpstream up("app", [](const UpstreamRequest& r) {
    return Reply::ok(r.message.headers.valueOr("X-Forwarded-Proto"));
  });
  ProxyProcess proxy;
  startOrFail(proxy, tlsConfig(tls, up.port()));
  Result v12 = get(tls, proxy.port(), "a.example.test", "/12", CURL_SSLVERSION_MAX_TLSv1_2,
                   CURL_SSLVERSION_TLSv1_2);
  CHECK(v12.rc == CURLE_OK);
  CHECK(v12.status == 200);
  CHECK(v12.body == "https");
  Result v13 = get(tls, proxy.port(), "a.example.test", "/13", CURL_SSLVERSION_MAX_TLSv1_3,
                   CURL_SSLVERSION_TLSv1_3);
  CHECK(v13.rc == CURLE_OK);
  CHECK(v13.status == 200);
  CHECK(up.requestCount() == 2);
}

TEST_CASE("tls: with splice: true a TLS listener still encrypts every body byte") {
  // Splicing would put plaintext on the wire; the TLS path must never take it.
  constexpr size_t kSize = 4u << 20;
  Tls tls;
  FakeUpstream up("app",
                  [](const UpstreamRequest&) { return Reply::ok(payloadBytes(31, 0, kSize)); });
  ProxyProcess proxy;
  ProxyConfig cfg = tlsConfig(tls, up.port());
  cfg.extra_top = "splice: true\nadmin: {address: 127.0.0.1:0}\n";
  startOrFail(proxy, cfg);
  Result r = get(tls, proxy.port(), "a.example.test", "/big");
  CHECK(r.rc == CURLE_OK);
  CHECK(r.status == 200);
  CHECK(r.body.size() == kSize);
  CHECK(r.body == payloadBytes(31, 0, kSize));
  CHECK(fetchMetrics(adminPort(proxy)).at("switchyard_response_bytes_spliced_total") == 0);
}

TEST_CASE("tls: SNI picks each name's certificate; unknown names get the default") {
  Tls tls;
  FakeUpstream up("app");
  ProxyProcess proxy;
  startOrFail(proxy, tlsConfig(tls, up.port()));
  // Host name verification passes only if the proxy presented that name's cert.
  CHECK(get(tls, proxy.port(), "a.example.test", "/").status == 200);
  CHECK(get(tls, proxy.port(), "b.example.test", "/").status == 200);
  Result unknown = get(tls, proxy.port(), "c.example.test", "/");
  CHECK(unknown.rc == CURLE_PEER_FAILED_VERIFICATION); // the default cert is a's
  Result unverified =
      get(tls, proxy.port(), "c.example.test", "/", CURL_SSLVERSION_MAX_DEFAULT, 0, false);
  CHECK(unverified.status == 200);
}

TEST_CASE("tls: TLS 1.1 is refused and nothing reaches the upstream") {
  Tls tls;
  FakeUpstream up("app");
  ProxyProcess proxy;
  startOrFail(proxy, tlsConfig(tls, up.port()));
  Result old = get(tls, proxy.port(), "a.example.test", "/", CURL_SSLVERSION_MAX_TLSv1_1,
                   CURL_SSLVERSION_TLSv1);
  CHECK(old.rc != CURLE_OK);
  CHECK(old.status == 0);
  CHECK(up.requestCount() == 0);
}

TEST_CASE("tls: plain HTTP sent to the TLS port is closed and never proxied") {
  Tls tls;
  FakeUpstream up("app");
  ProxyProcess proxy;
  startOrFail(proxy, tlsConfig(tls, up.port()));
  RawClient c(proxy.port());
  REQUIRE(c.send(makeRequest("GET", "/plain")));
  IoStatus st = c.waitClosed(milliseconds(3000));
  CHECK((st == IoStatus::kEof || st == IoStatus::kReset));
  CHECK(c.buffer().find("HTTP/1.1 200") == std::string::npos);
  CHECK(up.requestCount() == 0);
  // The proxy is still fine.
  CHECK(get(tls, proxy.port(), "a.example.test", "/after").status == 200);
}

TEST_CASE("tls: HSTS on TLS responses, and a sticky cookie becomes Secure") {
  Tls tls;
  FakeUpstream up("app");
  ProxyConfig cfg = tlsConfig(tls, up.port(), ", hsts: {max_age: 63072000}");
  cfg.pools = {"{name: app, sticky: {secrets: ['0123456789abcdef0123456789abcdef']}, servers: "
               "[{name: app1, address: 127.0.0.1:" +
               std::to_string(up.port()) + "}]}"};
  ProxyProcess proxy;
  startOrFail(proxy, cfg);
  Result r = get(tls, proxy.port(), "a.example.test", "/");
  CHECK(r.status == 200);
  CHECK(r.headers.find("Strict-Transport-Security: max-age=63072000\r\n") != std::string::npos);
  size_t cookie = r.headers.find("Set-Cookie: SWY_SRV=");
  REQUIRE(cookie != std::string::npos);
  std::string line = r.headers.substr(cookie, r.headers.find("\r\n", cookie) - cookie);
  CHECK(line.find("; Secure") != std::string::npos);
}

namespace {

// Proxy B terminates TLS (certificates of `tls`) in front of `up`; proxy A
// re-encrypts to B with `pool_tls` as its pool's `tls:` block.
ProxyConfig reencryptingConfig(uint16_t tls_proxy_port, const std::string& pool_tls) {
  ProxyConfig cfg;
  cfg.pools = {"{name: app, tls: " + pool_tls + ", servers: [{name: b, address: 127.0.0.1:" +
               std::to_string(tls_proxy_port) + "}]}"};
  cfg.addRoute("{name: all, pool: app}");
  return cfg;
}

} // namespace

TEST_CASE("tls upstream: re-encryption verifies the server and carries the exchange") {
  Tls tls;
  FakeUpstream up("app", [](const UpstreamRequest& r) {
    return Reply::ok(r.message.target + " " + r.message.headers.valueOr("X-Forwarded-Proto"));
  });
  ProxyProcess terminator;
  startOrFail(terminator, tlsConfig(tls, up.port()));
  ProxyProcess front;
  startOrFail(front, reencryptingConfig(terminator.port(), "{ca: " + tls.pki.path("ca.pem") +
                                                               ", sni: a.example.test}"));
  for (int i = 0; i < 3; ++i) {
    Response r = httpGet(front.port(), "/enc" + std::to_string(i));
    INFO(r.describe());
    CHECK(r.status() == 200);
    CHECK(r.body() == "/enc" + std::to_string(i) + " https");
  }
  CHECK(up.requestCount() == 3);
  JsonLine log = logLineAt(front, 0);
  CHECK(log.str("term") == "--");
}

TEST_CASE("tls upstream: a server whose certificate does not verify gets nothing (502 SC)") {
  Tls tls;
  tlstest::Issued other_ca = tls.pki.makeCa("other-ca");
  FakeUpstream up("app");
  ProxyProcess terminator;
  startOrFail(terminator, tlsConfig(tls, up.port()));
  SUBCASE("foreign CA") {
    ProxyProcess front;
    startOrFail(front,
                reencryptingConfig(terminator.port(), "{ca: " + tls.pki.path("other-ca.pem") +
                                                          ", sni: a.example.test}"));
    Response r = httpGet(front.port(), "/x");
    CHECK(r.status() == 502);
    CHECK(logLineAt(front, 0).str("term") == "SC");
  }
  SUBCASE("name mismatch") {
    ProxyProcess front;
    startOrFail(front, reencryptingConfig(terminator.port(), "{ca: " + tls.pki.path("ca.pem") +
                                                                 ", sni: c.example.test}"));
    Response r = httpGet(front.port(), "/x");
    CHECK(r.status() == 502);
    CHECK(logLineAt(front, 0).str("term") == "SC");
  }
  CHECK(up.requestCount() == 0);
}

TEST_CASE("redirect: a plain listener sends clients to https with the same host and target") {
  FakeUpstream up("app");
  ProxyConfig cfg = singleUpstream(up.port());
  cfg.routes = {"{name: to-https, redirect: {scheme: https, status: 308, port: 8443}}"};
  ProxyProcess proxy;
  startOrFail(proxy, cfg);
  RawClient c(proxy.port());
  Response r = c.roundTrip(makeRequest("GET", "/cart?id=7", "shop.example.test:8080"));
  CHECK(r.status() == 308);
  CHECK(r.headers().valueOr("Location") == "https://shop.example.test:8443/cart?id=7");
  // No body was sent, so the connection stays usable.
  Response again = c.roundTrip(makeRequest("GET", "/", "shop.example.test"));
  CHECK(again.status() == 308);
  CHECK(again.headers().valueOr("Location") == "https://shop.example.test:8443/");
  CHECK(up.requestCount() == 0);
  CHECK(logLineAt(proxy, 0).str("term") == "LR");
}

TEST_CASE("mTLS: a verified client's identity goes upstream; no certificate, no request") {
  Tls tls;
  tlstest::Issued client = tls.pki.issue(tls.ca, {"client", {}, "clientAuth"}, "client");
  FakeUpstream up("app", [](const UpstreamRequest& r) {
    return Reply::ok(r.message.headers.valueOr("X-Client-Subject") + "|" +
                     r.message.headers.valueOr("X-Client-Fingerprint"));
  });
  ProxyProcess proxy;
  startOrFail(proxy, tlsConfig(tls, up.port(),
                               ", client_auth: {ca: " + tls.pki.path("ca.pem") +
                                   ", mode: required, subject_header: X-Client-Subject, "
                                   "fingerprint_header: X-Client-Fingerprint}"));
  auto request = [&](bool with_cert) {
    Result r;
    CURL* easy = curl_easy_init();
    std::string url = "https://a.example.test:" + std::to_string(proxy.port()) + "/who";
    std::string resolve = "a.example.test:" + std::to_string(proxy.port()) + ":127.0.0.1";
    curl_slist* resolves = curl_slist_append(nullptr, resolve.c_str());
    curl_slist* headers = curl_slist_append(nullptr, "X-Client-Subject: CN=forged");
    curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
    curl_easy_setopt(easy, CURLOPT_RESOLVE, resolves);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(easy, CURLOPT_CAINFO, tls.pki.path("ca.pem").c_str());
    if (with_cert) {
      curl_easy_setopt(easy, CURLOPT_SSLCERT, client.cert_path.c_str());
      curl_easy_setopt(easy, CURLOPT_SSLKEY, client.key_path.c_str());
    }
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &r.body);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    r.rc = curl_easy_perform(easy);
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &r.status);
    curl_slist_free_all(headers);
    curl_slist_free_all(resolves);
    curl_easy_cleanup(easy);
    return r;
  };
  Result anonymous = request(false);
  CHECK(anonymous.rc != CURLE_OK);
  CHECK(anonymous.status == 0);
  CHECK(up.requestCount() == 0);
  Result known = request(true);
  CHECK(known.rc == CURLE_OK);
  CHECK(known.status == 200);
  INFO(known.body);
  CHECK(known.body.find("CN=client") == 0); // the verified subject, not the forged one
  CHECK(known.body.find("forged") == std::string::npos);
  CHECK(known.body.size() > known.body.find('|') + 60); // a SHA-256 fingerprint follows
  CHECK(up.requestCount() == 1);
}
