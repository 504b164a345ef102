// Engine-to-engine TLS in memory: a shared test PKI and a link that moves
// ciphertext between a client and a server engine.
#pragma once

#include <memory>
#include <string>

#include "tests/unit/tls/test_pki.h"
#include "tls/engine.h"
#include "tls/server_context.h"

namespace tlstest {

// Generated once per test run.
struct Material {
  Pki pki;
  Issued ca, other_ca, client_ca;
  Issued a, b, wildcard, dual_ec, dual_rsa, expired, not_yet, cn_only;
  Issued client_good, client_expired, client_server_eku, client_foreign;
};
const Material& material();

tls::ServerOptions serverOptions(const Issued& first, const Issued& second);
std::unique_ptr<tls::ServerContext> makeServer(const tls::ServerOptions& options);
// A verifying client trusting `material().ca`; max_version 0 = library default.
std::unique_ptr<tls::ClientContext> makeClient(int max_version = 0,
                                               const Issued* client_cert = nullptr);

// Moves bytes in both directions (in `chunk`-sized feeds, 0 = whole) and
// reads all plaintext, until neither side has output.
struct Link {
  Link(tls::Engine* c, tls::Engine* s, size_t chunk = 0) : client(c), server(s), chunk(chunk) {}
  void run();
  bool ok() const { return client->handshakeDone() && server->handshakeDone(); }

  tls::Engine* client;
  tls::Engine* server;
  size_t chunk;
  std::string client_got, server_got; // plaintext received by each side
  tls::Engine::Status client_status = tls::Engine::Status::kOk;
  tls::Engine::Status server_status = tls::Engine::Status::kOk;
  std::string first_client_flight; // the ClientHello (to see what was offered)
};

// One full connection: handshake with `sni` (optionally resuming `session`).
struct Connection {
  std::unique_ptr<tls::Engine> client, server;
  std::unique_ptr<Link> link;
  bool ok() const { return link->ok(); }
};
Connection connect(const tls::ServerContext& server, const tls::ClientContext& client,
                   const std::string& sni, const std::string& session = "", size_t chunk = 0);

// Peer certificate facts seen by the client.
std::string peerCommonName(const tls::Engine& client);
int peerKeyType(const tls::Engine& client);

} // namespace tlstest
