#include "tests/unit/tls/tls_harness.h"

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <stdexcept>

namespace tlstest {
namespace {

void feedAll(tls::Engine* to, const std::string& bytes, size_t chunk, tls::Engine::Status* status) {
  size_t step = chunk == 0 ? bytes.size() : chunk;
  for (size_t at = 0; at < bytes.size(); at += step) {
    tls::Engine::Status s = to->feed(bytes.data() + at, std::min(step, bytes.size() - at));
    if (s == tls::Engine::Status::kError || s == tls::Engine::Status::kClosed) *status = s;
  }
}

void readAll(tls::Engine* from, std::string* got, tls::Engine::Status* status) {
  char buf[4096];
  for (;;) {
    size_t n = 0;
    tls::Engine::Status s = from->read(buf, sizeof buf, &n);
    got->append(buf, n);
    if (s == tls::Engine::Status::kError || s == tls::Engine::Status::kClosed) *status = s;
    if (n == 0) return;
  }
}

} // namespace

const Material& material() {
  // Destroyed at exit, which removes the temporary directory.
  static const std::unique_ptr<Material> m = [] {
    auto mat = std::make_unique<Material>();
    Pki& pki = mat->pki;
    mat->ca = pki.makeCa("ca");
    mat->other_ca = pki.makeCa("other-ca");
    mat->client_ca = pki.makeCa("client-ca");
    auto server = [&](std::string cn, std::vector<std::string> dns, std::string file,
                      bool rsa = false, long from = -1, long until = 30) {
      CertSpec spec;
      spec.cn = cn;
      spec.dns = dns;
      spec.eku = "serverAuth";
      spec.rsa = rsa;
      spec.valid_from_days = from;
      spec.valid_until_days = until;
      return pki.issue(mat->ca, spec, file);
    };
    mat->a = server("a.test", {"a.test"}, "a");
    mat->b = server("b.test", {"b.test", "www.b.test"}, "b");
    mat->wildcard = server("wild", {"*.w.test"}, "wild");
    mat->dual_ec = server("dual-ec", {"dual.test"}, "dual-ec");
    mat->dual_rsa = server("dual-rsa", {"dual.test"}, "dual-rsa", true);
    mat->expired = server("expired.test", {"expired.test"}, "expired", false, -30, -1);
    mat->not_yet = server("later.test", {"later.test"}, "later", false, 2, 30);
    mat->cn_only = server("cn.test", {}, "cn-only");
    auto client = [&](const Issued& ca, std::string eku, std::string file, long until = 30) {
      CertSpec spec;
      spec.cn = "client " + file;
      spec.eku = eku;
      spec.valid_from_days = until < 0 ? -30 : -1;
      spec.valid_until_days = until;
      return pki.issue(ca, spec, file);
    };
    mat->client_good = client(mat->client_ca, "clientAuth", "client-good");
    mat->client_expired = client(mat->client_ca, "clientAuth", "client-expired", -1);
    mat->client_server_eku = client(mat->client_ca, "serverAuth", "client-server-eku");
    mat->client_foreign = client(mat->other_ca, "clientAuth", "client-foreign");
    return mat;
  }();
  return *m;
}

tls::ServerOptions serverOptions(const Issued& first, const Issued& second) {
  tls::ServerOptions options;
  options.certificates = {{first.cert_path, first.key_path}, {second.cert_path, second.key_path}};
  options.ticket_secret = "test secret";
  return options;
}

std::unique_ptr<tls::ServerContext> makeServer(const tls::ServerOptions& options) {
  std::vector<tls::Problem> problems;
  auto server = tls::ServerContext::create(options, &problems);
  if (!server) {
    std::string text;
    for (const auto& p : problems)
      text += p.file + ": " + p.message + "\n";
    throw std::runtime_error("server context: " + text);
  }
  return server;
}

std::unique_ptr<tls::ClientContext> makeClient(int max_version, const Issued* client_cert) {
  tls::ClientOptions options;
  options.ca = material().ca.cert_path;
  options.alpn = {"h2", "http/1.1"};
  if (client_cert != nullptr) {
    options.cert = client_cert->cert_path;
    options.key = client_cert->key_path;
  }
  std::vector<tls::Problem> problems;
  auto client = tls::ClientContext::create(options, &problems);
  if (!client) throw std::runtime_error("client context failed");
  if (max_version != 0) SSL_CTX_set_max_proto_version(client->get(), max_version);
  return client;
}

void Link::run() {
  for (int round = 0; round < 100; ++round) {
    std::string to_server, to_client;
    client->takeOutput(&to_server);
    if (round == 0) first_client_flight = to_server;
    feedAll(server, to_server, chunk, &server_status);
    readAll(server, &server_got, &server_status);
    server->takeOutput(&to_client);
    feedAll(client, to_client, chunk, &client_status);
    readAll(client, &client_got, &client_status);
    if (to_server.empty() && to_client.empty() && !client->hasOutput() && !server->hasOutput())
      return;
  }
  throw std::runtime_error("link did not settle");
}

Connection connect(const tls::ServerContext& server, const tls::ClientContext& client,
                   const std::string& sni, const std::string& session, size_t chunk) {
  Connection c;
  c.client = tls::Engine::client(client, sni);
  c.server = tls::Engine::server(server);
  if (!session.empty() && !c.client->loadSession(session))
    throw std::runtime_error("loadSession failed");
  c.link = std::make_unique<Link>(c.client.get(), c.server.get(), chunk);
  c.link->run();
  return c;
}

std::string peerCommonName(const tls::Engine& client) {
  X509* cert = SSL_get0_peer_certificate(client.sslForTest());
  if (cert == nullptr) return "";
  char buf[256] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, sizeof buf);
  return buf;
}

int peerKeyType(const tls::Engine& client) {
  X509* cert = SSL_get0_peer_certificate(client.sslForTest());
  return cert ? EVP_PKEY_get_base_id(X509_get0_pubkey(cert)) : 0;
}

} // namespace tlstest
