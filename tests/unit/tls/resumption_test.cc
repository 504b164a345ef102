// Session resumption (TLS 1.3 tickets, TLS 1.2 tickets, TLS 1.2 session ids),
// its binding to the SNI name (RFC 6066 s3), and ticket key rotation.
#include <doctest/doctest.h>
#include <openssl/ssl.h>

#include "tests/unit/tls/tls_harness.h"

using namespace tlstest;

namespace {

struct Kind {
  const char* name;
  int version;
  bool tickets;
};
constexpr Kind kKinds[] = {{"TLS1.3 ticket", TLS1_3_VERSION, true},
                           {"TLS1.2 ticket", TLS1_2_VERSION, true},
                           {"TLS1.2 session id", TLS1_2_VERSION, false},
                           {"TLS1.3 stateful ticket", TLS1_3_VERSION, false}};

// The bytes of the session the client offers: its ticket, or its id.
std::string offered(const std::string& saved) {
  const auto* p = reinterpret_cast<const unsigned char*>(saved.data());
  SSL_SESSION* s = d2i_SSL_SESSION(nullptr, &p, static_cast<long>(saved.size()));
  REQUIRE(s != nullptr);
  std::string out;
  const unsigned char* tick = nullptr;
  size_t len = 0;
  SSL_SESSION_get0_ticket(s, &tick, &len);
  if (len > 0) {
    out.assign(reinterpret_cast<const char*>(tick), len);
  } else {
    unsigned int id_len = 0;
    const unsigned char* id = SSL_SESSION_get_id(s, &id_len);
    out.assign(reinterpret_cast<const char*>(id), id_len);
  }
  SSL_SESSION_free(s);
  return out;
}

std::string firstSession(const tls::ServerContext& server, const tls::ClientContext& client,
                         const char* sni) {
  Connection c = connect(server, client, sni);
  REQUIRE(c.ok());
  CHECK_FALSE(c.client->resumed());
  std::string saved = c.client->saveSession();
  REQUIRE_FALSE(saved.empty());
  return saved;
}

} // namespace

TEST_CASE("sessions resume under their own name and never under another") {
  for (const Kind& kind : kKinds) {
    CAPTURE(std::string(kind.name));
    auto options = serverOptions(material().a, material().b);
    options.session_tickets = kind.tickets;
    auto server = makeServer(options);
    auto client = makeClient(kind.version);
    if (!kind.tickets) SSL_CTX_set_options(client->get(), SSL_OP_NO_TICKET);
    std::string saved = firstSession(*server, *client, "a.test");
    std::string offer = offered(saved);
    REQUIRE_FALSE(offer.empty());

    Connection again = connect(*server, *client, "a.test", saved);
    REQUIRE(again.ok());
    CHECK(again.client->resumed());
    CHECK(again.server->resumed());
    CHECK(again.link->first_client_flight.find(offer) != std::string::npos);

    // Same session offered under b.test (whose certificate the client
    // trusts): a full handshake with b.test's certificate, not a resumption.
    Connection other = connect(*server, *client, "b.test", saved);
    REQUIRE(other.ok());
    CHECK(other.link->first_client_flight.find(offer) != std::string::npos);
    CHECK_FALSE(other.server->resumed());
    CHECK_FALSE(other.client->resumed());
    CHECK(peerCommonName(*other.client) == "b.test");

    // Case does not make a different name.
    Connection upper = connect(*server, *client, "A.TEST", saved);
    REQUIRE(upper.ok());
    CHECK(upper.server->resumed());
  }
}

TEST_CASE("ticket keys rotate: a ticket resumes in the next window, not two windows later") {
  for (int version : {TLS1_3_VERSION, TLS1_2_VERSION}) {
    CAPTURE(version);
    auto options = serverOptions(material().a, material().b);
    options.ticket_rotation_seconds = 100;
    auto server = makeServer(options);
    auto client = makeClient(version);
    const uint64_t base = 1'700'000'000 / 100 * 100;
    server->setNowForTest(base + 10);
    std::string saved = firstSession(*server, *client, "a.test");

    server->setNowForTest(base + 99);
    CHECK(connect(*server, *client, "a.test", saved).server->resumed());
    server->setNowForTest(base + 150); // next window: previous key still accepted
    CHECK(connect(*server, *client, "a.test", saved).server->resumed());
    server->setNowForTest(base + 200); // two windows on: gone
    Connection late = connect(*server, *client, "a.test", saved);
    REQUIRE(late.ok());
    CHECK_FALSE(late.server->resumed());
  }
}

TEST_CASE("the same ticket secret gives the same keys in another server context") {
  auto options = serverOptions(material().a, material().b);
  auto first = makeServer(options);
  auto second = makeServer(options);
  auto client = makeClient(TLS1_3_VERSION);
  std::string saved = firstSession(*first, *client, "a.test");
  CHECK(connect(*second, *client, "a.test", saved).server->resumed());

  options.ticket_secret = "another secret";
  auto third = makeServer(options);
  Connection c = connect(*third, *client, "a.test", saved);
  REQUIRE(c.ok());
  CHECK_FALSE(c.server->resumed());
}

TEST_CASE("a session does not resume under different client-auth settings") {
  auto plain_options = serverOptions(material().a, material().b);
  auto mtls_options = plain_options;
  mtls_options.client_auth = tls::ClientAuth::kOptional;
  mtls_options.client_ca = material().client_ca.cert_path;
  auto plain = makeServer(plain_options);
  auto mtls = makeServer(mtls_options);
  for (int version : {TLS1_3_VERSION, TLS1_2_VERSION}) {
    CAPTURE(version);
    auto client = makeClient(version);
    std::string saved = firstSession(*plain, *client, "a.test");
    CHECK(connect(*plain, *client, "a.test", saved).server->resumed());
    Connection c = connect(*mtls, *client, "a.test", saved);
    REQUIRE(c.ok());
    CHECK_FALSE(c.server->resumed());
  }
}
