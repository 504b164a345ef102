// listeners[].tls: a valid block compiles into a shared TLS context; every
// problem with a certificate, key or CA file is reported at the key naming
// the file ("<file>: <problem>"), and key, type and value mistakes are
// reported like the rest of the loader. Certificates are generated at test
// time (tests/unit/tls/test_pki).
#include <doctest/doctest.h>

#include <string>

#include "tests/unit/config/test_util.h"
#include "tests/unit/tls/test_pki.h"

namespace proxy::config {
namespace {

using test::allErrors;
using test::hasErrorAt;
using test::load;

// Lines 1-4: listener "https" up to "    tls:"; `keys` (6-space indented)
// start at line 5, followed by a pool and a route.
std::string withTls(std::string_view keys) {
  return "listeners:\n"
         "  - name: https\n"
         "    address: 127.0.0.1:0\n"
         "    tls:\n" +
         std::string(keys) +
         "pools: [{name: app, servers: [{name: s1, address: 127.0.0.1:9001}]}]\n"
         "routes: [{name: r, pool: app}]\n";
}

// A CA and leaves for a.example.test (EC) and b.example.test (RSA).
struct Certs {
  tlstest::Pki pki;
  tlstest::Issued ca = pki.makeCa("ca");
  tlstest::Issued a = pki.issue(ca, {"a", {"a.example.test"}, "serverAuth"}, "a");
  tlstest::Issued b = pki.issue(ca, {"b", {"b.example.test"}, "serverAuth", false, true}, "b");
};

// "        - {cert: C, key: K}\n": the `key` key's column (1-based).
int keyColumn(const std::string& cert) { return 12 + 6 + static_cast<int>(cert.size()) + 2; }

std::string certLine(const std::string& cert, const std::string& key) {
  return "        - {cert: " + cert + ", key: " + key + "}\n";
}

TEST_CASE("tls: a valid block compiles into a context with its hsts value") {
  Certs certs;
  LoadResult r = load(withTls("      certificates:\n" +                       // 5
                              certLine(certs.a.cert_path, certs.a.key_path) + // 6
                              certLine(certs.b.cert_path, certs.b.key_path) + // 7
                              "      min_version: TLSv1.3\n"
                              "      ciphers: modern\n"
                              "      alpn: [http/1.1]\n"
                              "      session_tickets: true\n"
                              "      ticket_rotation: 30m\n"
                              "      strict_sni: true\n"
                              "      client_auth: {ca: " +
                              certs.ca.cert_path +
                              ", mode: optional}\n"
                              "      hsts: {max_age: 63072000}\n"));
  INFO(allErrors(r));
  REQUIRE(r.ok());
  REQUIRE(r.snapshot->listeners.size() == 1);
  const Listener& listener = r.snapshot->listeners[0];
  CHECK(listener.tls != nullptr);
  CHECK(listener.tls->initial() != nullptr);
  CHECK(listener.hsts_max_age == 63072000);
}

TEST_CASE("tls: defaults, hsts as a duration, and plain listeners stay plain") {
  Certs certs;
  LoadResult r = load("listeners:\n"
                      "  - {name: plain, address: 127.0.0.1:0}\n"
                      "  - name: https\n"
                      "    address: 127.0.0.1:0\n"
                      "    tls:\n"
                      "      certificates: [{cert: " +
                      certs.a.cert_path + ", key: " + certs.a.key_path +
                      "}]\n"
                      "      hsts: {max_age: 730d}\n"
                      "pools: [{name: app, servers: [{name: s1, address: 127.0.0.1:9001}]}]\n"
                      "routes: [{name: r, pool: app}]\n");
  INFO(allErrors(r));
  REQUIRE(r.ok());
  REQUIRE(r.snapshot->listeners.size() == 2);
  CHECK(r.snapshot->listeners[0].tls == nullptr);
  CHECK(r.snapshot->listeners[0].hsts_max_age == 0);
  CHECK(r.snapshot->listeners[1].tls != nullptr);
  CHECK(r.snapshot->listeners[1].hsts_max_age == 730ull * 24 * 60 * 60);
}

TEST_CASE("tls: a key that does not match its certificate is reported with the file") {
  Certs certs;
  LoadResult r = load(withTls("      certificates:\n" +                        // 5
                              certLine(certs.a.cert_path, certs.b.key_path))); // 6
  INFO(allErrors(r));
  CHECK_FALSE(r.ok());
  CHECK(hasErrorAt(r, "listeners[0].tls.certificates[0].key", 6, keyColumn(certs.a.cert_path),
                   certs.b.key_path + ": private key does not match the certificate"));
}

TEST_CASE("tls: missing files are reported at their keys, every one") {
  Certs certs;
  const std::string missing_cert = certs.pki.path("nope.pem");
  const std::string missing_key = certs.pki.path("nope.key");
  const std::string missing_ca = certs.pki.path("nope-ca.pem");
  LoadResult r = load(withTls("      certificates:\n" +                          // 5
                              certLine(missing_cert, certs.a.key_path) +         // 6
                              certLine(certs.b.cert_path, missing_key) +         // 7
                              "      client_auth: {ca: " + missing_ca + "}\n")); // 8
  INFO(allErrors(r));
  CHECK_FALSE(r.ok());
  CHECK(hasErrorAt(r, "listeners[0].tls.certificates[0].cert", 6, 12, missing_cert + ": "));
  CHECK(hasErrorAt(r, "listeners[0].tls.certificates[1].key", 7, keyColumn(certs.b.cert_path),
                   missing_key + ": "));
  CHECK(hasErrorAt(r, "listeners[0].tls.client_auth.ca", 8, 21, missing_ca + ": "));
}

TEST_CASE("tls: expired certificates and encrypted keys are reported with the file") {
  Certs certs;
  tlstest::CertSpec old{"old", {"old.example.test"}, "serverAuth"};
  old.valid_from_days = -30;
  old.valid_until_days = -1;
  tlstest::Issued expired = certs.pki.issue(certs.ca, old, "expired");
  std::string encrypted = certs.pki.writeEncryptedKey(certs.a, "a-encrypted.key");
  LoadResult r = load(withTls("      certificates:\n" +                       // 5
                              certLine(expired.cert_path, expired.key_path) + // 6
                              certLine(certs.a.cert_path, encrypted)));       // 7
  INFO(allErrors(r));
  CHECK_FALSE(r.ok());
  CHECK(hasErrorAt(r, "listeners[0].tls.certificates[0].cert", 6, 12, expired.cert_path + ": "));
  CHECK(hasErrorAt(r, "listeners[0].tls.certificates[1].key", 7, keyColumn(certs.a.cert_path),
                   encrypted + ": "));
}

TEST_CASE("tls: unknown keys, wrong types and bad values are all reported") {
  Certs certs;
  LoadResult r = load(withTls("      certificates:\n" +                           // 5
                              certLine(certs.a.cert_path, certs.a.key_path) +     // 6
                              "      min_verison: TLSv1.3\n"                      // 7
                              "      ciphers: old\n"                              // 8
                              "      alpn: [h2]\n"                                // 9
                              "      session_tickets: maybe\n"                    // 10
                              "      ticket_rotation: 30s\n"                      // 11
                              "      strict_sni: [true]\n"                        // 12
                              "      client_auth: {ca: x.pem, mode: sometimes}\n" // 13
                              "      hsts: {max_age: 0}\n"));                     // 14
  INFO(allErrors(r));
  CHECK_FALSE(r.ok());
  CHECK(hasErrorAt(r, "listeners[0].tls.min_verison", 7, 7, "did you mean 'min_version'"));
  CHECK(hasErrorAt(r, "listeners[0].tls.ciphers", 8, 16, "unknown ciphers 'old'"));
  CHECK(hasErrorAt(r, "listeners[0].tls.alpn[0]", 9, 14, "HTTP/1.1 only"));
  CHECK(hasErrorAt(r, "listeners[0].tls.session_tickets", 10, 24, "expected true or false"));
  CHECK(hasErrorAt(r, "listeners[0].tls.ticket_rotation", 11, 24, "between 1m and 24h"));
  CHECK(hasErrorAt(r, "listeners[0].tls.strict_sni", 12, 19, "expected true or false"));
  CHECK(hasErrorAt(r, "listeners[0].tls.client_auth.mode", 13, 38, "unknown mode 'sometimes'"));
  CHECK(hasErrorAt(r, "listeners[0].tls.hsts.max_age", 14, 23, "must be between 1 and"));
  CHECK(r.errors.size() == 8);
}

TEST_CASE("tls: min_version accepts TLSv1.2 and TLSv1.3 only") {
  Certs certs;
  std::string certificates =
      "      certificates:\n" + certLine(certs.a.cert_path, certs.a.key_path);
  LoadResult old = load(withTls(certificates + "      min_version: TLSv1.1\n")); // 7
  INFO(allErrors(old));
  CHECK(hasErrorAt(old, "listeners[0].tls.min_version", 7, 20, "never offered"));
  LoadResult typo = load(withTls(certificates + "      min_version: TLSv1.4\n"));
  INFO(allErrors(typo));
  CHECK(hasErrorAt(typo, "listeners[0].tls.min_version", 7, 20,
                   "unknown min_version 'TLSv1.4' (did you mean"));
}

TEST_CASE("tls: certificates are required and not empty") {
  LoadResult absent = load(withTls("      strict_sni: true\n"));
  INFO(allErrors(absent));
  CHECK(hasErrorAt(absent, "listeners[0].tls", 5, 7, "missing required key 'certificates'"));
  LoadResult empty = load(withTls("      certificates: []\n"));
  INFO(allErrors(empty));
  CHECK(hasErrorAt(empty, "listeners[0].tls.certificates", 5, 7, "at least one certificate"));
}

TEST_CASE("tls: client_auth identity header names are compiled and must be tokens") {
  Certs certs;
  std::string certificates =
      "      certificates:\n" + certLine(certs.a.cert_path, certs.a.key_path);
  LoadResult ok = load(withTls(certificates + "      client_auth: {ca: " + certs.ca.cert_path +
                               ", subject_header: X-Client-Subject, fingerprint_header: "
                               "X-Client-Fp}\n"));
  INFO(allErrors(ok));
  REQUIRE(ok.ok());
  CHECK(ok.snapshot->listeners[0].mtls_subject_header == "X-Client-Subject");
  CHECK(ok.snapshot->listeners[0].mtls_fingerprint_header == "X-Client-Fp");
  LoadResult bad = load(withTls(certificates + "      client_auth: {ca: " + certs.ca.cert_path +
                                ", subject_header: 'X Client'}\n"));
  INFO(allErrors(bad));
  CHECK_FALSE(bad.ok());
  CHECK(allErrors(bad).find("listeners[0].tls.client_auth.subject_header") != std::string::npos);
  CHECK(allErrors(bad).find("not a valid header name") != std::string::npos);
}

} // namespace
} // namespace proxy::config
