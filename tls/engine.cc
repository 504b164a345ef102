#include "tls/engine.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <new>

#include "tls/openssl_util.h"
#include "tls/server_context.h"

namespace tls {
namespace {

SSL* newSsl(SSL_CTX* ctx) {
  ERR_clear_error();
  SSL* ssl = SSL_new(ctx);
  if (ssl == nullptr) return nullptr;
  BIO* in = BIO_new(BIO_s_mem()); // an empty memory BIO reads as "retry", not EOF
  BIO* out = BIO_new(BIO_s_mem());
  if (in == nullptr || out == nullptr) {
    BIO_free(in);
    BIO_free(out);
    SSL_free(ssl);
    return nullptr;
  }
  SSL_set_bio(ssl, in, out);
  return ssl;
}

bool isRetry(int error) { return error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE; }

} // namespace

Engine::Engine(SSL* ssl, bool client) : ssl_(ssl), client_(client) {}

Engine::~Engine() {
  // SSL_free drops a session from the server cache unless the connection was
  // shut down; since TLS 1.1 a close without close_notify must not prevent
  // resumption (RFC 5246 s7.2.1). Fatal errors already removed their session.
  if (!failed_ && SSL_is_init_finished(ssl_))
    SSL_set_shutdown(ssl_, SSL_get_shutdown(ssl_) | SSL_SENT_SHUTDOWN);
  SSL_free(ssl_);
}

std::unique_ptr<Engine> Engine::server(const ServerContext& context) {
  SSL* ssl = newSsl(context.initial());
  if (ssl == nullptr) return nullptr;
  SSL_set_accept_state(ssl);
  Engine* engine = new (std::nothrow) Engine(ssl, false);
  if (engine == nullptr) SSL_free(ssl);
  return std::unique_ptr<Engine>(engine);
}

std::unique_ptr<Engine> Engine::client(const ClientContext& context, std::string_view sni) {
  SSL* ssl = newSsl(context.get());
  if (ssl == nullptr) return nullptr;
  SSL_set_connect_state(ssl);
  const bool verify = (SSL_CTX_get_verify_mode(context.get()) & SSL_VERIFY_PEER) != 0;
  std::string name;
  try {
    name.assign(sni.substr(0, sni.find('\0')));
  } catch (const std::bad_alloc&) {
    SSL_free(ssl);
    return nullptr;
  }
  bool ok = true;
  if (!name.empty()) {
    // An IP literal is checked against the certificate's IP SANs and, per
    // RFC 6066 s3, never sent as SNI.
    if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name.c_str()) != 1) {
      ERR_clear_error();
      SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      ok = SSL_set_tlsext_host_name(ssl, name.c_str()) == 1 &&
           (!verify || SSL_set1_host(ssl, name.c_str()) == 1);
    }
  }
  Engine* engine = ok ? new (std::nothrow) Engine(ssl, true) : nullptr;
  if (engine == nullptr) SSL_free(ssl);
  return std::unique_ptr<Engine>(engine);
}

Engine::Status Engine::fail() {
  failed_ = true;
  std::string text = drainErrors();
  long verify = SSL_get_verify_result(ssl_);
  if (verify != X509_V_OK) {
    if (!text.empty()) text += "; ";
    text += "certificate verification: ";
    text += X509_verify_cert_error_string(verify);
  }
  error_ = text.empty() ? "TLS failure" : std::move(text);
  return Status::kError;
}

Engine::Status Engine::drive() {
  if (failed_) return Status::kError;
  if (SSL_is_init_finished(ssl_)) return flushPending();
  started_ = true;
  ERR_clear_error();
  int r = SSL_do_handshake(ssl_);
  if (r == 1) return flushPending();
  int error = SSL_get_error(ssl_, r);
  if (isRetry(error)) return Status::kWantMore;
  if (error == SSL_ERROR_ZERO_RETURN) return Status::kClosed;
  return fail();
}

// Without SSL_MODE_ENABLE_PARTIAL_WRITE a write completes whole or must be
// retried with the same length; inflight_ remembers that length while more
// bytes queue up behind it.
Engine::Status Engine::flushPending() {
  while (!pending_plain_.empty()) {
    if (inflight_ == 0) inflight_ = pending_plain_.size();
    ERR_clear_error();
    size_t written = 0;
    int r = SSL_write_ex(ssl_, pending_plain_.data(), inflight_, &written);
    if (r == 1) {
      pending_plain_.erase(0, inflight_);
      inflight_ = 0;
      continue;
    }
    int error = SSL_get_error(ssl_, r);
    if (isRetry(error)) return Status::kOk;
    if (error == SSL_ERROR_ZERO_RETURN) return Status::kClosed;
    return fail();
  }
  return Status::kOk;
}

Engine::Status Engine::feed(const char* data, size_t length) {
  if (failed_) return Status::kError;
  size_t done = 0;
  if (length > 0 && BIO_write_ex(SSL_get_rbio(ssl_), data, length, &done) != 1) return fail();
  if (SSL_is_init_finished(ssl_)) return Status::kOk; // records are decrypted by read()
  return drive();
}

Engine::Status Engine::read(char* buf, size_t capacity, size_t* n) {
  *n = 0;
  if (failed_) return Status::kError;
  if (!SSL_is_init_finished(ssl_)) {
    Status status = drive();
    if (status != Status::kOk || !SSL_is_init_finished(ssl_)) return status;
  }
  ERR_clear_error();
  int r = SSL_read_ex(ssl_, buf, capacity, n);
  if (r == 1) return Status::kOk;
  *n = 0;
  int error = SSL_get_error(ssl_, r);
  if (error == SSL_ERROR_WANT_READ) return Status::kWantMore;
  if (error == SSL_ERROR_WANT_WRITE) return Status::kOk;
  if (error == SSL_ERROR_ZERO_RETURN) return Status::kClosed;
  return fail();
}

Engine::Status Engine::write(const char* data, size_t length) {
  std::string_view part(data, length);
  return write(&part, 1);
}

Engine::Status Engine::write(const std::string_view* parts, size_t count) {
  if (failed_) return Status::kError;
  size_t before = pending_plain_.size();
  try {
    for (size_t i = 0; i < count; ++i)
      pending_plain_.append(parts[i]);
  } catch (const std::bad_alloc&) {
    error_ = "out of memory";
    failed_ = true;
    return Status::kError;
  }
  if (pending_plain_.size() == before) return Status::kOk;
  return SSL_is_init_finished(ssl_) ? flushPending() : Status::kOk;
}

void Engine::takeOutput(std::string* out) {
  if (client_ && !started_ && !failed_) drive(); // produces the ClientHello
  BIO* bio = SSL_get_wbio(ssl_);
  size_t pending = BIO_ctrl_pending(bio);
  if (pending == 0) return;
  try {
    size_t old = out->size();
    out->resize(old + pending);
    size_t got = 0;
    if (BIO_read_ex(bio, out->data() + old, pending, &got) != 1) got = 0;
    out->resize(old + got);
  } catch (const std::bad_alloc&) {
    error_ = "out of memory";
    failed_ = true;
  }
}

bool Engine::hasOutput() const {
  return (client_ && !started_ && !failed_) || BIO_ctrl_pending(SSL_get_wbio(ssl_)) > 0;
}

void Engine::shutdown() {
  if (failed_ || !SSL_is_init_finished(ssl_)) return;
  flushPending();
  ERR_clear_error();
  SSL_shutdown(ssl_); // 0 = close_notify queued, the peer's not seen yet
  ERR_clear_error();
}

bool Engine::handshakeDone() const { return !failed_ && SSL_is_init_finished(ssl_); }

bool Engine::resumed() const { return SSL_session_reused(ssl_) == 1; }

std::string_view Engine::serverName() const {
  const char* name = SSL_get_servername(ssl_, TLSEXT_NAMETYPE_host_name);
  return name ? std::string_view(name) : std::string_view();
}

std::string_view Engine::alpn() const {
  const unsigned char* p = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(ssl_, &p, &len);
  return p ? std::string_view(reinterpret_cast<const char*>(p), len) : std::string_view();
}

std::string_view Engine::version() const { return SSL_get_version(ssl_); }

std::string_view Engine::cipher() const {
  const SSL_CIPHER* c = SSL_get_current_cipher(ssl_);
  return c ? std::string_view(SSL_CIPHER_get_name(c)) : std::string_view();
}

std::string Engine::peerSubject() const {
  X509* cert = SSL_get0_peer_certificate(ssl_);
  if (cert == nullptr || SSL_get_verify_result(ssl_) != X509_V_OK) return "";
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio == nullptr) return "";
  std::string text;
  if (X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253) >= 0) {
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    if (n > 0) text.assign(data, static_cast<size_t>(n));
  }
  BIO_free(bio);
  return text;
}

std::string Engine::peerFingerprint() const {
  X509* cert = SSL_get0_peer_certificate(ssl_);
  if (cert == nullptr || SSL_get_verify_result(ssl_) != X509_V_OK) return "";
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_digest(cert, EVP_sha256(), md, &len) != 1) return "";
  static const char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned i = 0; i < len; ++i) {
    hex.push_back(kHex[md[i] >> 4]);
    hex.push_back(kHex[md[i] & 15]);
  }
  return hex;
}

std::string Engine::saveSession() const {
  SSL_SESSION* session = SSL_get1_session(ssl_);
  std::string out;
  int len = session != nullptr && SSL_SESSION_is_resumable(session)
                ? i2d_SSL_SESSION(session, nullptr)
                : 0;
  try {
    out.resize(static_cast<size_t>(std::max(len, 0)));
  } catch (const std::bad_alloc&) {
    len = 0;
  }
  auto* p = reinterpret_cast<unsigned char*>(out.data());
  if (len > 0 && i2d_SSL_SESSION(session, &p) != len) out.clear();
  SSL_SESSION_free(session);
  return out;
}

bool Engine::loadSession(std::string_view saved) {
  if (!client_ || started_ || saved.empty()) return false;
  const auto* p = reinterpret_cast<const unsigned char*>(saved.data());
  SSL_SESSION* session = d2i_SSL_SESSION(nullptr, &p, static_cast<long>(saved.size()));
  if (session == nullptr) {
    ERR_clear_error();
    return false;
  }
  bool ok = SSL_set_session(ssl_, session) == 1;
  SSL_SESSION_free(session);
  return ok;
}

} // namespace tls
