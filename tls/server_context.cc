#include "tls/server_context.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cstring>
#include <string_view>
#include <unordered_map>

#include "tls/certificate.h"
#include "tls/openssl_util.h"
#include "tls/ticket_keys.h"

namespace tls {
namespace {

// Mozilla "intermediate" (v5.7) for TLS 1.2: ECDHE with AEAD only. No DHE, so
// scanners have no weak-DH finding; no CBC, no RSA key exchange.
constexpr const char* kIntermediateTls12 =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr const char* kTls13Suites =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
constexpr const char* kGroups = "X25519:prime256v1:secp384r1";

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// The SNI name the connection was accepted under, as an SSL ex_data slot
// owning a heap std::string (freed with the SSL).
void freeName(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
  delete static_cast<std::string*>(ptr);
}
int nameIndex() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, freeName);
  return index;
}
int implIndex() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}
const std::string* acceptedName(SSL* ssl) {
  return static_cast<const std::string*>(SSL_get_ex_data(ssl, nameIndex()));
}
bool setAcceptedName(SSL* ssl, std::string name) {
  auto* old = static_cast<std::string*>(SSL_get_ex_data(ssl, nameIndex()));
  if (old != nullptr) {
    *old = std::move(name);
    return true;
  }
  auto* fresh = new std::string(std::move(name));
  if (SSL_set_ex_data(ssl, nameIndex(), fresh) == 1) return true;
  delete fresh;
  return false;
}

// host_name from the raw server_name extension (RFC 6066 s3). False when
// the extension is malformed; *name stays empty when there is none.
bool sniFromHello(SSL* ssl, std::string* name) {
  const unsigned char* p = nullptr;
  size_t len = 0;
  if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &p, &len) != 1) return true;
  if (len < 2 || static_cast<size_t>((p[0] << 8) | p[1]) != len - 2) return false;
  size_t at = 2;
  while (at + 3 <= len) {
    unsigned type = p[at];
    size_t n = static_cast<size_t>((p[at + 1] << 8) | p[at + 2]);
    at += 3;
    if (at + n > len) return false;
    if (type == TLSEXT_NAMETYPE_host_name) {
      *name = lower(std::string_view(reinterpret_cast<const char*>(p + at), n));
      return !name->empty() && name->find('\0') == std::string::npos;
    }
    at += n;
  }
  return at == len;
}

// Binds sessions to the SNI name (and to the client-auth settings, so a
// session verified under another CA never resumes after a reload): the
// session id context is a digest of both, and OpenSSL treats a session id or
// ticket (TLS 1.2 and 1.3) with another context as unknown.
bool setSessionContext(SSL* ssl, const std::string& salt, const std::string& name) {
  std::string input = "swy-sni:" + salt + '\0' + name;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  if (EVP_Digest(input.data(), input.size(), md, &md_len, EVP_sha256(), nullptr) != 1) return false;
  static_assert(SSL_MAX_SID_CTX_LENGTH >= 32);
  return SSL_set_session_id_context(ssl, md, md_len) == 1;
}

} // namespace

struct ServerContext::Impl {
  struct Site {
    SSL_CTX* ctx = nullptr;
    std::vector<std::string> names;
    std::vector<std::pair<int, std::string>> loaded; // key type, cert file
  };
  std::vector<Site> sites;                           // sites[0] is the default
  std::unordered_map<std::string, size_t> exact;     // "a.example.com" -> site
  std::unordered_map<std::string, size_t> wildcards; // ".example.com" -> site
  std::string alpn_wire;
  std::string session_salt; // client-auth mode + CA bundle, part of the session id context
  bool strict_sni = false;
  std::unique_ptr<TicketKeys> tickets;

  ~Impl() {
    for (Site& site : sites)
      SSL_CTX_free(site.ctx);
  }

  // Exact names first, then a wildcard covering exactly the left-most label.
  int find(const std::string& name) const {
    if (auto it = exact.find(name); it != exact.end()) return static_cast<int>(it->second);
    size_t dot = name.find('.');
    if (dot == 0 || dot == std::string::npos) return -1;
    if (auto it = wildcards.find(name.substr(dot)); it != wildcards.end())
      return static_cast<int>(it->second);
    return -1;
  }
};

namespace {

using Impl = ServerContext::Impl;

// Runs before session lookup and extension processing, so the SNI name is
// known when a session id or ticket is considered (unlike the servername
// callback, which TLS 1.3 PSK processing precedes).
int onClientHello(SSL* ssl, int* alert, void* arg) noexcept {
  try {
    const auto* impl = static_cast<const Impl*>(arg);
    std::string name;
    if (!sniFromHello(ssl, &name)) {
      *alert = SSL_AD_DECODE_ERROR;
      return SSL_CLIENT_HELLO_ERROR;
    }
    int site = name.empty() ? -1 : impl->find(name);
    if (site < 0) {
      if (impl->strict_sni) {
        *alert = SSL_AD_UNRECOGNIZED_NAME;
        return SSL_CLIENT_HELLO_ERROR;
      }
      site = 0;
    }
    SSL_CTX* ctx = impl->sites[static_cast<size_t>(site)].ctx;
    if (SSL_get_SSL_CTX(ssl) != ctx && SSL_set_SSL_CTX(ssl, ctx) == nullptr) {
      *alert = SSL_AD_INTERNAL_ERROR;
      return SSL_CLIENT_HELLO_ERROR;
    }
    if (!setSessionContext(ssl, impl->session_salt, name) ||
        !setAcceptedName(ssl, std::move(name))) {
      *alert = SSL_AD_INTERNAL_ERROR;
      return SSL_CLIENT_HELLO_ERROR;
    }
    return SSL_CLIENT_HELLO_SUCCESS;
  } catch (...) {
    *alert = SSL_AD_INTERNAL_ERROR;
    return SSL_CLIENT_HELLO_ERROR;
  }
}

// Acknowledges SNI (the name was already used by onClientHello).
int onServerName(SSL*, int*, void*) noexcept { return SSL_TLSEXT_ERR_OK; }

// Server preference: the first of our protocols the client offers; no
// overlap means no ALPN rather than a failed handshake.
int onAlpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
           unsigned int inlen, void* arg) noexcept {
  const auto* impl = static_cast<const Impl*>(arg);
  const auto* ours = reinterpret_cast<const unsigned char*>(impl->alpn_wire.data());
  for (size_t i = 0; i < impl->alpn_wire.size(); i += 1 + ours[i]) {
    for (unsigned j = 0; j < inlen; j += 1u + in[j]) {
      if (j + 1u + in[j] > inlen) break;
      if (in[j] == ours[i] && std::memcmp(in + j + 1, ours + i + 1, ours[i]) == 0) {
        *out = in + j + 1;
        *outlen = in[j];
        return SSL_TLSEXT_ERR_OK;
      }
    }
  }
  return SSL_TLSEXT_ERR_NOACK;
}

// Tickets carry the SNI name they were issued under (RFC 6066 s3: a session
// must not resume under another name). Checked for TLS 1.2 and 1.3 tickets.
int onTicketGenerate(SSL* ssl, void*) noexcept {
  try {
    const std::string* name = acceptedName(ssl);
    std::string tag = "sni:" + (name ? *name : std::string());
    return SSL_SESSION_set1_ticket_appdata(SSL_get0_session(ssl), tag.data(), tag.size());
  } catch (...) {
    return 0;
  }
}

SSL_TICKET_RETURN onTicketDecrypt(SSL* ssl, SSL_SESSION* session, const unsigned char*, size_t,
                                  SSL_TICKET_STATUS status, void*) noexcept {
  switch (status) {
  case SSL_TICKET_SUCCESS:
  case SSL_TICKET_SUCCESS_RENEW: break;
  case SSL_TICKET_FATAL_ERR_MALLOC:
  case SSL_TICKET_FATAL_ERR_OTHER: return SSL_TICKET_RETURN_ABORT;
  default: return SSL_TICKET_RETURN_IGNORE_RENEW;
  }
  void* data = nullptr;
  size_t len = 0;
  const std::string* name = acceptedName(ssl);
  if (name == nullptr || SSL_SESSION_get0_ticket_appdata(session, &data, &len) != 1)
    return SSL_TICKET_RETURN_IGNORE_RENEW;
  std::string_view tag(static_cast<const char*>(data), len);
  if (tag.size() != 4 + name->size() || tag.substr(0, 4) != "sni:" || tag.substr(4) != *name)
    return SSL_TICKET_RETURN_IGNORE_RENEW;
  return status == SSL_TICKET_SUCCESS ? SSL_TICKET_RETURN_USE : SSL_TICKET_RETURN_USE_RENEW;
}

void configure(SSL_CTX* ctx, const ServerOptions& options, Impl* impl,
               std::vector<Problem>* problems) {
  const int min = options.min_version == "TLSv1.3" || options.ciphers == "modern" ? TLS1_3_VERSION
                                                                                  : TLS1_2_VERSION;
  uint64_t opts = SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION;
  if (!options.session_tickets) opts |= SSL_OP_NO_TICKET;
  SSL_CTX_set_options(ctx, opts);
  // Our order decides (AES-128-GCM first: strong and the cheapest with AES-NI),
  // except that a client listing ChaCha20 first (typically one without AES
  // hardware) gets it. Every suite offered is strong, but with no server order
  // a scanner (testssl.sh) flags the cipher order.
  SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_PRIORITIZE_CHACHA);
  SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
  if (SSL_CTX_set_min_proto_version(ctx, min) != 1 ||
      SSL_CTX_set_cipher_list(ctx, kIntermediateTls12) != 1 ||
      SSL_CTX_set_ciphersuites(ctx, kTls13Suites) != 1 ||
      SSL_CTX_set1_groups_list(ctx, kGroups) != 1) {
    problems->push_back({"", "cannot configure protocols and ciphers: " + drainErrors()});
  }
  SSL_CTX_set_max_early_data(ctx, 0); // no 0-RTT: it is replayable
  SSL_CTX_set_recv_max_early_data(ctx, 0);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
  SSL_CTX_set_timeout(ctx, static_cast<long>(impl->tickets->rotationSeconds()));
  static const unsigned char kDefaultSid[] = "swy-sni:";
  SSL_CTX_set_session_id_context(ctx, kDefaultSid, sizeof kDefaultSid - 1);
  SSL_CTX_set_client_hello_cb(ctx, onClientHello, impl);
  SSL_CTX_set_tlsext_servername_callback(ctx, onServerName);
  SSL_CTX_set_alpn_select_cb(ctx, onAlpn, impl);
  SSL_CTX_set_session_ticket_cb(ctx, onTicketGenerate, onTicketDecrypt, impl);
  SSL_CTX_set_ex_data(ctx, implIndex(), impl);
  impl->tickets->install(ctx);
  if (options.client_auth != ClientAuth::kNone && !options.client_ca.empty()) {
    int mode = SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE;
    if (options.client_auth == ClientAuth::kRequired) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    SSL_CTX_set_verify(ctx, mode, nullptr);
    SSL_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(options.client_ca.c_str());
    if (SSL_CTX_load_verify_file(ctx, options.client_ca.c_str()) != 1 || names == nullptr) {
      problems->push_back({options.client_ca, "no usable CA certificate: " + drainErrors()});
      sk_X509_NAME_pop_free(names, X509_NAME_free);
    } else {
      SSL_CTX_set_client_CA_list(ctx, names);
    }
  }
}

bool checkOptions(const ServerOptions& options, std::vector<Problem>* problems) {
  if (options.certificates.empty()) problems->push_back({"", "no certificate configured"});
  if (options.min_version != "TLSv1.2" && options.min_version != "TLSv1.3")
    problems->push_back({"", "min_version must be TLSv1.2 or TLSv1.3, not " + options.min_version});
  if (options.ciphers != "intermediate" && options.ciphers != "modern")
    problems->push_back({"", "ciphers must be intermediate or modern, not " + options.ciphers});
  for (const std::string& p : options.alpn)
    if (p.empty() || p.size() > 255) problems->push_back({"", "invalid ALPN protocol name"});
  if (options.client_auth != ClientAuth::kNone && options.client_ca.empty())
    problems->push_back({"", "client_auth needs a client_ca bundle"});
  return problems->empty();
}

// Client-auth mode and CA bundle bytes: sessions are bound to them.
bool sessionSalt(const ServerOptions& options, std::string* salt, std::vector<Problem>* problems) {
  *salt = std::to_string(static_cast<int>(options.client_auth));
  if (options.client_auth == ClientAuth::kNone || options.client_ca.empty()) return true;
  std::string bundle;
  if (!readFile(options.client_ca, &bundle, problems)) return false;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  if (EVP_Digest(bundle.data(), bundle.size(), md, &md_len, EVP_sha256(), nullptr) != 1)
    return false;
  salt->append(reinterpret_cast<const char*>(md), md_len);
  return true;
}

std::string joinedNames(std::vector<std::string> names) {
  std::sort(names.begin(), names.end());
  std::string key;
  for (const std::string& n : names)
    key += n + ",";
  return key;
}

// Adds a loaded entry to the site serving its exact set of names (RSA and
// ECDSA certificates for one name share an SSL_CTX; OpenSSL picks per client).
bool addToSite(LoadedCertificate& cert, Impl::Site* site, std::vector<Problem>* problems) {
  for (const auto& [type, file] : site->loaded) {
    if (type == cert.key_type) {
      problems->push_back({cert.files.cert, "same names and key type as " + file});
      return false;
    }
  }
  SSL_CTX* ctx = site->ctx;
  if (ctx == nullptr) return false;
  bool ok = SSL_CTX_use_certificate(ctx, cert.leaf.get()) == 1 && SSL_CTX_clear_chain_certs(ctx);
  for (const X509Ptr& extra : cert.chain)
    ok = ok && SSL_CTX_add1_chain_cert(ctx, extra.get());
  ok =
      ok && SSL_CTX_use_PrivateKey(ctx, cert.key.get()) == 1 && SSL_CTX_check_private_key(ctx) == 1;
  if (!ok) {
    problems->push_back({cert.files.cert, "cannot use certificate: " + drainErrors()});
    return false;
  }
  site->loaded.emplace_back(cert.key_type, cert.files.cert);
  return true;
}

} // namespace

std::unique_ptr<ServerContext> ServerContext::create(const ServerOptions& options,
                                                     std::vector<Problem>* problems) {
  try {
    std::vector<Problem> found;
    ERR_clear_error();
    bool ok = checkOptions(options, &found);
    auto impl = std::make_unique<Impl>();
    ok = sessionSalt(options, &impl->session_salt, &found) && ok;
    impl->strict_sni = options.strict_sni;
    impl->tickets =
        std::make_unique<TicketKeys>(options.ticket_secret, options.ticket_rotation_seconds);
    for (const std::string& p : options.alpn) {
      impl->alpn_wire.push_back(static_cast<char>(p.size() & 0xff));
      impl->alpn_wire += p;
    }
    std::unordered_map<std::string, size_t> by_names;
    for (const CertificateFiles& files : options.certificates) {
      LoadedCertificate cert;
      if (!loadCertificate(files, &cert, &found)) continue;
      auto [it, fresh] = by_names.emplace(joinedNames(cert.names), impl->sites.size());
      if (fresh) {
        Impl::Site site;
        site.ctx = SSL_CTX_new(TLS_server_method());
        site.names = cert.names;
        impl->sites.push_back(std::move(site));
        if (impl->sites.back().ctx == nullptr)
          found.push_back({files.cert, "cannot create a TLS context: " + drainErrors()});
        else
          configure(impl->sites.back().ctx, options, impl.get(), &found);
      }
      addToSite(cert, &impl->sites[it->second], &found);
    }
    for (size_t i = 0; i < impl->sites.size(); ++i) {
      for (const std::string& name : impl->sites[i].names) {
        if (name.size() > 2 && name.compare(0, 2, "*.") == 0)
          impl->wildcards.emplace(name.substr(1), i);
        else
          impl->exact.emplace(name, i);
      }
    }
    problems->insert(problems->end(), found.begin(), found.end());
    if (!ok || !found.empty() || impl->sites.empty()) return nullptr;
    return std::unique_ptr<ServerContext>(new ServerContext(std::move(impl)));
  } catch (const std::exception& e) {
    problems->push_back({"", std::string("cannot build TLS contexts: ") + e.what()});
    return nullptr;
  }
}

ServerContext::ServerContext(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ServerContext::~ServerContext() = default;

SSL_CTX* ServerContext::initial() const { return impl_->sites.front().ctx; }

void ServerContext::setNowForTest(uint64_t unix_seconds) {
  impl_->tickets->setNowForTest(unix_seconds);
}

} // namespace tls
