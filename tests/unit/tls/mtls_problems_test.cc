// Client certificates (mTLS) and the problems ServerContext reports for bad
// TLS material.
#include <doctest/doctest.h>
#include <openssl/ssl.h>

#include <algorithm>

#include "tests/unit/tls/tls_harness.h"

using namespace tlstest;
using Status = tls::Engine::Status;

namespace {

std::unique_ptr<tls::ServerContext> mtlsServer(tls::ClientAuth mode) {
  auto options = serverOptions(material().a, material().b);
  options.client_auth = mode;
  options.client_ca = material().client_ca.cert_path;
  return makeServer(options);
}

bool reported(const std::vector<tls::Problem>& problems, const std::string& file,
              const std::string& text) {
  return std::any_of(problems.begin(), problems.end(), [&](const tls::Problem& p) {
    return p.file == file && p.message.find(text) != std::string::npos;
  });
}

} // namespace

TEST_CASE("mTLS required: only a valid client certificate from the CA passes") {
  auto server = mtlsServer(tls::ClientAuth::kRequired);
  for (int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
    CAPTURE(version);
    Connection good = connect(*server, *makeClient(version, &material().client_good), "a.test");
    REQUIRE(good.ok());
    good.client->write("ping", 4);
    good.link->run();
    CHECK(good.link->server_got == "ping");
    CHECK(good.server->peerSubject() == "CN=client client-good,O=Switchyard Test");
    CHECK(good.server->peerFingerprint().size() == 64);

    struct Bad {
      const Issued* cert;
      const char* why;
    };
    for (Bad bad : {Bad{nullptr, "did not return a certificate"},
                    Bad{&material().client_foreign, "self-signed certificate in certificate chain"},
                    Bad{&material().client_expired, "certificate has expired"},
                    Bad{&material().client_server_eku, "unsuitable certificate purpose"}}) {
      CAPTURE(std::string(bad.why));
      Connection c = connect(*server, *makeClient(version, bad.cert), "a.test");
      c.client->write("must not arrive", 15);
      c.link->run();
      CHECK_FALSE(c.server->handshakeDone());
      CHECK(c.link->server_status == Status::kError);
      CHECK(c.link->server_got.empty());
      CHECK_MESSAGE(c.server->error().find(bad.why) != std::string::npos, c.server->error());
      CHECK(c.server->peerSubject().empty());
    }
  }
}

TEST_CASE("mTLS optional: no certificate passes, a bad one fails") {
  auto server = mtlsServer(tls::ClientAuth::kOptional);
  Connection none = connect(*server, *makeClient(), "a.test");
  REQUIRE(none.ok());
  CHECK(none.server->peerSubject().empty());
  Connection good = connect(*server, *makeClient(0, &material().client_good), "a.test");
  REQUIRE(good.ok());
  CHECK_FALSE(good.server->peerFingerprint().empty());
  CHECK_FALSE(connect(*server, *makeClient(0, &material().client_foreign), "a.test").ok());
}

TEST_CASE("every problem with the TLS material is reported with its file") {
  const Material& m = material();
  std::string encrypted = m.pki.path("a-encrypted.key");
  const_cast<Pki&>(m.pki).writeEncryptedKey(m.a, "a-encrypted.key");
  std::string missing = m.pki.path("missing.pem");
  tls::ServerOptions options;
  options.certificates = {{m.a.cert_path, m.b.key_path},
                          {m.expired.cert_path, m.expired.key_path},
                          {m.not_yet.cert_path, m.not_yet.key_path},
                          {m.a.cert_path, encrypted},
                          {missing, m.b.key_path},
                          {m.b.cert_path, m.b.cert_path}};
  std::vector<tls::Problem> problems;
  CHECK(tls::ServerContext::create(options, &problems) == nullptr);
  for (const auto& p : problems)
    MESSAGE(p.file << ": " << p.message);
  CHECK(reported(problems, m.b.key_path, "private key does not match the certificate"));
  CHECK(reported(problems, m.expired.cert_path, "certificate has expired"));
  CHECK(reported(problems, m.expired.cert_path, "GMT"));
  CHECK(reported(problems, m.not_yet.cert_path, "not yet valid"));
  CHECK(reported(problems, encrypted, "encrypted private keys are not supported: decrypt it"));
  CHECK(reported(problems, missing, "No such file or directory"));
  CHECK(reported(problems, m.b.cert_path, "no PEM private key"));
  CHECK(problems.size() == 6);
}

TEST_CASE("option problems and a CN-only certificate") {
  const Material& m = material();
  tls::ServerOptions options = serverOptions(m.cn_only, m.a);
  std::vector<tls::Problem> problems;
  auto server = tls::ServerContext::create(options, &problems);
  REQUIRE(server != nullptr); // CN is used when there is no SAN
  Connection c = connect(*server, *makeClient(), "cn.test");
  REQUIRE(c.ok());
  CHECK(peerCommonName(*c.client) == "cn.test");

  options.min_version = "TLSv1.1";
  options.client_auth = tls::ClientAuth::kRequired;
  CHECK(tls::ServerContext::create(options, &problems) == nullptr);
  CHECK(reported(problems, "", "min_version"));
  CHECK(reported(problems, "", "client_ca"));
}
