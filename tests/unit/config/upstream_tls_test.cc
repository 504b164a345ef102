// pools[].tls (re-encryption to the servers): a valid block builds one client
// context per pool and keeps the SNI name; problems with the CA file are
// reported at the `ca` key naming the file; verify: false loads but warns.
// Certificates are generated at test time (tests/unit/tls/test_pki).
#include <doctest/doctest.h>

#include <string>

#include "tests/unit/config/test_util.h"
#include "tests/unit/tls/test_pki.h"

namespace proxy::config {
namespace {

using test::allErrors;
using test::hasErrorAt;
using test::load;

// Lines 1-5: a listener and pool "app" up to "    tls:" (or `tls_line`);
// `keys` (6-space indented) start at line 6, followed by servers and a route.
std::string withPoolTls(std::string_view keys, std::string_view tls_line = "    tls:\n") {
  return "listeners:\n"
         "  - {name: l, address: 127.0.0.1:0}\n"
         "pools:\n"
         "  - name: app\n" +
         std::string(tls_line) + std::string(keys) +
         "    servers:\n"
         "      - {name: s1, address: 127.0.0.1:9001}\n"
         "routes:\n"
         "  - {name: r, pool: app}\n";
}

bool hasWarning(const LoadResult& r, std::string_view prefix, std::string_view text) {
  for (const std::string& w : r.warnings) {
    if (w.rfind(prefix, 0) == 0 && w.find(text) != std::string::npos) return true;
  }
  return false;
}

TEST_CASE("pool tls: ca, sni and verify build a client context") {
  tlstest::Pki pki;
  tlstest::Issued ca = pki.makeCa("ca");
  LoadResult r = load(withPoolTls("      ca: " + ca.cert_path +
                                  "\n"
                                  "      sni: app.internal\n"
                                  "      verify: true\n"));
  INFO(allErrors(r));
  REQUIRE(r.ok());
  CHECK(r.warnings.empty());
  const Pool& pool = r.snapshot->pools.at(0);
  REQUIRE(pool.tls != nullptr);
  CHECK(pool.tls->get() != nullptr);
  CHECK(pool.tls_sni == "app.internal");
}

TEST_CASE("pool tls: {} means TLS with defaults; pools without tls stay plain") {
  LoadResult r = load("listeners:\n"
                      "  - {name: l, address: 127.0.0.1:0}\n"
                      "pools:\n"
                      "  - {name: app, tls: {}, servers: [{name: s1, address: 127.0.0.1:9001}]}\n"
                      "  - {name: old, servers: [{name: s1, address: 127.0.0.1:9002}]}\n"
                      "routes:\n"
                      "  - {name: a, match: {path: /a}, pool: old}\n"
                      "  - {name: r, pool: app}\n");
  INFO(allErrors(r));
  REQUIRE(r.ok());
  REQUIRE(r.snapshot->pools.size() == 2);
  CHECK(r.snapshot->pools[0].tls != nullptr);
  CHECK(r.snapshot->pools[0].tls_sni.empty()); // each server's host as written
  CHECK(r.snapshot->pools[1].tls == nullptr);
  CHECK(r.snapshot->pools[1].tls_sni.empty());
}

TEST_CASE("pool tls: an unusable ca file is reported at the ca key with the file") {
  tlstest::Pki pki;
  const std::string missing = pki.path("nope-ca.pem");
  LoadResult r = load(withPoolTls("      ca: " + missing + "\n")); // 6
  INFO(allErrors(r));
  CHECK_FALSE(r.ok());
  CHECK(hasErrorAt(r, "pools[0].tls.ca", 6, 7, missing + ": "));
}

TEST_CASE("pool tls: every pool's ca problem is reported") {
  tlstest::Pki pki;
  const std::string one = pki.path("one.pem");
  const std::string two = pki.path("two.pem");
  LoadResult r = load("listeners:\n"
                      "  - {name: l, address: 127.0.0.1:0}\n"
                      "pools:\n"
                      "  - {name: a, tls: {ca: " +
                      one +
                      "}, servers: [{name: s1, address: 127.0.0.1:9001}]}\n"
                      "  - {name: b, tls: {ca: " +
                      two +
                      "}, servers: [{name: s1, address: 127.0.0.1:9002}]}\n"
                      "routes:\n"
                      "  - {name: a, match: {path: /a}, pool: a}\n"
                      "  - {name: b, pool: b}\n");
  INFO(allErrors(r));
  CHECK_FALSE(r.ok());
  CHECK(hasErrorAt(r, "pools[0].tls.ca", 4, 21, one + ": "));
  CHECK(hasErrorAt(r, "pools[1].tls.ca", 5, 21, two + ": "));
}

TEST_CASE("pool tls: verify: false loads but warns that the upstream is not authenticated") {
  LoadResult r = load(withPoolTls("      verify: false\n")); // 6
  INFO(allErrors(r));
  REQUIRE(r.ok());
  CHECK(r.snapshot->pools[0].tls != nullptr);
  CHECK(hasWarning(r, "test.yaml:6:15: pools[0].tls.verify: ", "NOT authenticated"));
}

TEST_CASE("pool tls: unknown keys, wrong types and bad values are reported") {
  LoadResult r = load(withPoolTls("      alpn: [h2]\n"        // 6
                                  "      verify: sometimes\n" // 7
                                  "      sni: app:443\n"      // 8
                                  "      ca: ''\n"));         // 9
  INFO(allErrors(r));
  CHECK_FALSE(r.ok());
  CHECK(hasErrorAt(r, "pools[0].tls.alpn", 6, 7, "unknown key 'alpn'"));
  CHECK(hasErrorAt(r, "pools[0].tls.verify", 7, 15, "expected true or false"));
  CHECK(hasErrorAt(r, "pools[0].tls.sni", 8, 12, "expected a DNS host name"));
  CHECK(hasErrorAt(r, "pools[0].tls.ca", 9, 11, "expected a file path"));
  CHECK(r.errors.size() == 4);
  LoadResult ip = load(withPoolTls("      sni: 10.0.0.1\n"));
  CHECK(hasErrorAt(ip, "pools[0].tls.sni", 6, 12, "not an IP address"));
  LoadResult scalar = load(withPoolTls("", "    tls: yes\n"));
  CHECK(hasErrorAt(scalar, "pools[0].tls", 5, 10, "expected a mapping"));
}

} // namespace
} // namespace proxy::config
