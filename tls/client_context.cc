#include <openssl/err.h>
#include <openssl/ssl.h>

#include "tls/openssl_util.h"
#include "tls/server_context.h"

namespace tls {
namespace {

bool loadClientCertificate(SSL_CTX* ctx, const ClientOptions& options,
                           std::vector<Problem>* problems) {
  if (options.cert.empty() && options.key.empty()) return true;
  if (SSL_CTX_use_certificate_chain_file(ctx, options.cert.c_str()) != 1) {
    problems->push_back({options.cert, "cannot load certificate: " + drainErrors()});
    return false;
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, options.key.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx) != 1) {
    problems->push_back({options.key, "cannot load private key: " + drainErrors()});
    return false;
  }
  return true;
}

} // namespace

std::unique_ptr<ClientContext> ClientContext::create(const ClientOptions& options,
                                                     std::vector<Problem>* problems) {
  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == nullptr) {
    problems->push_back({"", "cannot create a TLS context: " + drainErrors()});
    return nullptr;
  }
  bool ok = SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) == 1;
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (options.verify) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    int loaded = options.ca.empty() ? SSL_CTX_set_default_verify_paths(ctx)
                                    : SSL_CTX_load_verify_file(ctx, options.ca.c_str());
    if (loaded != 1) {
      problems->push_back({options.ca, "no usable CA certificate: " + drainErrors()});
      ok = false;
    }
  }
  if (!options.alpn.empty()) {
    std::string wire;
    for (const std::string& p : options.alpn) {
      wire.push_back(static_cast<char>(p.size() & 0xff));
      wire += p;
    }
    // Note the inverted convention: 0 is success here.
    if (SSL_CTX_set_alpn_protos(ctx, reinterpret_cast<const unsigned char*>(wire.data()),
                                static_cast<unsigned>(wire.size())) != 0) {
      problems->push_back({"", "invalid ALPN list"});
      ok = false;
    }
  }
  ok = loadClientCertificate(ctx, options, problems) && ok;
  if (!ok) {
    SSL_CTX_free(ctx);
    return nullptr;
  }
  return std::unique_ptr<ClientContext>(new ClientContext(ctx));
}

ClientContext::~ClientContext() { SSL_CTX_free(ctx_); }

} // namespace tls
