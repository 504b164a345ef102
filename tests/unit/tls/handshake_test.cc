// Handshakes engine-to-engine in memory: versions, data in every split, SNI,
// certificate types, ciphers, ALPN, renegotiation, close_notify.
#include <doctest/doctest.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "tests/unit/tls/tls_harness.h"

using namespace tlstest;
using Status = tls::Engine::Status;

TEST_CASE("TLS 1.2 and 1.3 handshakes carry data both ways in any split") {
  auto server = makeServer(serverOptions(material().a, material().b));
  for (int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
    auto client = makeClient(version);
    for (size_t chunk : {size_t{0}, size_t{1}, size_t{7}, size_t{100}}) {
      CAPTURE(version);
      CAPTURE(chunk);
      Connection c = connect(*server, *client, "a.test", "", chunk);
      REQUIRE(c.ok());
      CHECK(c.server->version() == (version == TLS1_3_VERSION ? "TLSv1.3" : "TLSv1.2"));
      CHECK(c.client->version() == c.server->version());
      CHECK(c.server->serverName() == "a.test");
      std::string big(100000, 'x');
      for (size_t i = 0; i < big.size(); ++i)
        big[i] = static_cast<char>('a' + i % 26);
      CHECK(c.client->write("GET / HTTP/1.1\r\n\r\n", 18) == Status::kOk);
      CHECK(c.server->write(big.data(), big.size()) == Status::kOk);
      c.link->run();
      CHECK(c.link->server_got == "GET / HTTP/1.1\r\n\r\n");
      CHECK(c.link->client_got == big);
    }
  }
}

TEST_CASE("data written before the handshake completes is sent after it") {
  auto server = makeServer(serverOptions(material().a, material().b));
  auto client = makeClient();
  auto ce = tls::Engine::client(*client, "a.test");
  auto se = tls::Engine::server(*server);
  CHECK(ce->write("early", 5) == Status::kOk);
  Link link(ce.get(), se.get());
  link.run();
  REQUIRE(link.ok());
  CHECK(link.server_got == "early");
}

TEST_CASE("a TLS 1.1 client is refused") {
  auto server = makeServer(serverOptions(material().a, material().b));
  auto client = makeClient(TLS1_1_VERSION);
  SSL_CTX_set_min_proto_version(client->get(), TLS1_1_VERSION);
  SSL_CTX_set_security_level(client->get(), 0); // let the client really offer 1.1
  SSL_CTX_set_cipher_list(client->get(), "ALL:@SECLEVEL=0");
  Connection c = connect(*server, *client, "a.test");
  CHECK_FALSE(c.ok());
  CHECK(c.link->server_status == Status::kError);
  CHECK(c.server->error().find("unsupported protocol") != std::string::npos);
  CHECK(c.link->client_status == Status::kError);
}

TEST_CASE("SNI selects the certificate; unknown or no SNI gets the default") {
  auto options = serverOptions(material().a, material().b);
  options.certificates.push_back({material().wildcard.cert_path, material().wildcard.key_path});
  auto server = makeServer(options);
  auto client = makeClient();
  struct Case {
    const char* sni;
    const char* cn;
  };
  for (Case k : {Case{"a.test", "a.test"}, Case{"b.test", "b.test"}, Case{"WWW.B.Test", "b.test"},
                 Case{"x.w.test", "wild"}, Case{"X.W.TEST", "wild"}}) {
    CAPTURE(k.sni);
    Connection c = connect(*server, *client, k.sni);
    REQUIRE(c.ok());
    CHECK(peerCommonName(*c.client) == k.cn);
  }
  // The default certificate does not match these names: connect without
  // host name verification and check which certificate came back.
  tls::ClientOptions lax;
  lax.verify = false;
  std::vector<tls::Problem> problems;
  auto unverified = tls::ClientContext::create(lax, &problems);
  for (const char* sni : {"unknown.test", "a.b.w.test", "w.test", ""}) {
    CAPTURE(sni);
    Connection c = connect(*server, *unverified, sni);
    REQUIRE(c.ok());
    CHECK(peerCommonName(*c.client) == "a.test");
  }
}

TEST_CASE("strict_sni refuses unknown and missing names") {
  auto options = serverOptions(material().a, material().b);
  options.strict_sni = true;
  auto server = makeServer(options);
  tls::ClientOptions lax;
  lax.verify = false;
  std::vector<tls::Problem> problems;
  auto client = tls::ClientContext::create(lax, &problems);
  CHECK(connect(*server, *client, "b.test").ok());
  for (const char* sni : {"unknown.test", ""}) {
    CAPTURE(sni);
    Connection c = connect(*server, *client, sni);
    CHECK_FALSE(c.ok());
    CHECK(c.link->server_status == Status::kError);
    CHECK(c.client->error().find("unrecognized name") != std::string::npos);
  }
}

TEST_CASE("RSA and ECDSA certificates for the same name are both served") {
  auto server = makeServer(serverOptions(material().dual_ec, material().dual_rsa));
  auto client = makeClient(TLS1_2_VERSION);
  SSL_CTX_set_cipher_list(client->get(), "ECDHE-RSA-AES128-GCM-SHA256");
  Connection rsa = connect(*server, *client, "dual.test");
  REQUIRE(rsa.ok());
  CHECK(peerKeyType(*rsa.client) == EVP_PKEY_RSA);
  CHECK(rsa.server->cipher() == "ECDHE-RSA-AES128-GCM-SHA256");
  SSL_CTX_set_cipher_list(client->get(), "ECDHE-ECDSA-AES256-GCM-SHA384");
  Connection ec = connect(*server, *client, "dual.test");
  REQUIRE(ec.ok());
  CHECK(peerKeyType(*ec.client) == EVP_PKEY_EC);

  auto client13 = makeClient(TLS1_3_VERSION);
  SSL_CTX_set1_sigalgs_list(client13->get(), "rsa_pss_rsae_sha256");
  Connection rsa13 = connect(*server, *client13, "dual.test");
  REQUIRE(rsa13.ok());
  CHECK(peerKeyType(*rsa13.client) == EVP_PKEY_RSA);
  SSL_CTX_set1_sigalgs_list(client13->get(), "ecdsa_secp256r1_sha256");
  Connection ec13 = connect(*server, *client13, "dual.test");
  REQUIRE(ec13.ok());
  CHECK(peerKeyType(*ec13.client) == EVP_PKEY_EC);
}

TEST_CASE("TLS 1.2 negotiates only ECDHE with AEAD") {
  auto server = makeServer(serverOptions(material().dual_rsa, material().a));
  auto client = makeClient(TLS1_2_VERSION);
  Connection good = connect(*server, *client, "dual.test");
  REQUIRE(good.ok());
  std::string cipher(good.server->cipher());
  CHECK(cipher.rfind("ECDHE-", 0) == 0);
  CHECK((cipher.find("GCM") != std::string::npos || cipher.find("CHACHA20") != std::string::npos));
  for (const char* weak : {"AES128-SHA", "AES256-GCM-SHA384", "DHE-RSA-AES128-GCM-SHA256",
                           "ECDHE-RSA-AES128-SHA", "ECDHE-RSA-AES256-SHA384"}) {
    CAPTURE(weak);
    REQUIRE(SSL_CTX_set_cipher_list(client->get(), weak) == 1);
    Connection c = connect(*server, *client, "dual.test");
    CHECK_FALSE(c.ok());
    CHECK(c.server->error().find("no shared cipher") != std::string::npos);
  }
}

TEST_CASE("the server's suite order decides, except for clients that put ChaCha20 first") {
  auto server = makeServer(serverOptions(material().a, material().b));
  auto client = makeClient(TLS1_2_VERSION);
  REQUIRE(SSL_CTX_set_cipher_list(
              client->get(), "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256") == 1);
  Connection ours = connect(*server, *client, "a.test");
  REQUIRE(ours.ok());
  CHECK(std::string(ours.server->cipher()) == "ECDHE-ECDSA-AES128-GCM-SHA256");
  REQUIRE(SSL_CTX_set_cipher_list(
              client->get(), "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256") == 1);
  Connection mobile = connect(*server, *client, "a.test");
  REQUIRE(mobile.ok());
  CHECK(std::string(mobile.server->cipher()) == "ECDHE-ECDSA-CHACHA20-POLY1305");
  auto client13 = makeClient();
  REQUIRE(SSL_CTX_set_ciphersuites(client13->get(),
                                   "TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256") == 1);
  Connection v13 = connect(*server, *client13, "a.test");
  REQUIRE(v13.ok());
  CHECK(std::string(v13.server->cipher()) == "TLS_AES_128_GCM_SHA256");
}

TEST_CASE("modern profile is TLS 1.3 only") {
  auto options = serverOptions(material().a, material().b);
  options.ciphers = "modern";
  auto server = makeServer(options);
  CHECK_FALSE(connect(*server, *makeClient(TLS1_2_VERSION), "a.test").ok());
  Connection c = connect(*server, *makeClient(), "a.test");
  REQUIRE(c.ok());
  CHECK(c.server->version() == "TLSv1.3");
}

TEST_CASE("ALPN: the server's first protocol the client offers; no overlap is not fatal") {
  auto server = makeServer(serverOptions(material().a, material().b));
  auto client = makeClient(); // offers h2, http/1.1
  Connection c = connect(*server, *client, "a.test");
  REQUIRE(c.ok());
  CHECK(c.server->alpn() == "http/1.1");
  CHECK(c.client->alpn() == "http/1.1");

  auto options = serverOptions(material().a, material().b);
  options.alpn = {"h2", "http/1.1"};
  auto both = makeServer(options);
  CHECK(connect(*both, *client, "a.test").server->alpn() == "h2");

  tls::ClientOptions other;
  other.ca = material().ca.cert_path;
  other.alpn = {"spdy/3"};
  std::vector<tls::Problem> problems;
  auto spdy = tls::ClientContext::create(other, &problems);
  Connection none = connect(*server, *spdy, "a.test");
  REQUIRE(none.ok());
  CHECK(none.server->alpn().empty());
}

TEST_CASE("client-initiated renegotiation is refused") {
  auto server = makeServer(serverOptions(material().a, material().b));
  auto client = makeClient(TLS1_2_VERSION);
  SSL_CTX_clear_options(client->get(), SSL_OP_NO_RENEGOTIATION);
  Connection c = connect(*server, *client, "a.test");
  REQUIRE(c.ok());
  SSL* ssl = c.client->sslForTest();
  REQUIRE(SSL_renegotiate(ssl) == 1);
  SSL_do_handshake(ssl); // queues the renegotiation ClientHello
  c.link->run();
  // The server answered with a no_renegotiation alert instead of a handshake.
  CHECK(SSL_renegotiate_pending(ssl) == 1);
  CHECK(c.client->error().find("no renegotiation") != std::string::npos);
  CHECK(SSL_renegotiate_pending(c.server->sslForTest()) == 0);
}

TEST_CASE("close_notify ends the connection with kClosed") {
  auto server = makeServer(serverOptions(material().a, material().b));
  for (int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
    Connection c = connect(*server, *makeClient(version), "a.test");
    REQUIRE(c.ok());
    c.client->write("bye", 3);
    c.client->shutdown();
    c.link->run();
    CHECK(c.link->server_got == "bye");
    CHECK(c.link->server_status == Status::kClosed);
    char buf[16];
    size_t n = 1;
    CHECK(c.server->read(buf, sizeof buf, &n) == Status::kClosed);
    CHECK(n == 0);
  }
}

TEST_CASE("a verifying client refuses a wrong host name and an unknown CA") {
  auto server = makeServer(serverOptions(material().a, material().b));
  Connection wrong_name = connect(*server, *makeClient(), "unknown.test");
  CHECK_FALSE(wrong_name.ok());
  CHECK(wrong_name.link->client_status == Status::kError);
  CHECK(wrong_name.client->error().find("hostname mismatch") != std::string::npos);

  tls::ClientOptions options;
  options.ca = material().other_ca.cert_path;
  std::vector<tls::Problem> problems;
  auto foreign = tls::ClientContext::create(options, &problems);
  Connection untrusted = connect(*server, *foreign, "a.test");
  CHECK_FALSE(untrusted.ok());
  CHECK(untrusted.client->error().find("certificate verify failed") != std::string::npos);
}
