#include "tests/support/tls_probe.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>

namespace swytest {

namespace {

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

int connectLoopback(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

std::string drainErrors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out;
}

std::string alpnWire(const std::vector<std::string>& protocols) {
  std::string wire;
  for (const std::string& p : protocols) {
    wire.push_back(static_cast<char>(p.size()));
    wire += p;
  }
  return wire;
}

SSL_CTX* makeContext(const TlsProbe& probe) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == nullptr) return nullptr;
  // Security level 0 so the client offers whatever a test asks for (TLS 1.0,
  // RSA key exchange, CBC): refusing it must be the server's doing.
  std::string list = (probe.ciphers.empty() ? "DEFAULT" : probe.ciphers) + ":@SECLEVEL=0";
  bool ok = SSL_CTX_set_cipher_list(ctx, list.c_str()) == 1;
  if (!probe.ciphersuites.empty())
    ok = ok && SSL_CTX_set_ciphersuites(ctx, probe.ciphersuites.c_str()) == 1;
  if (probe.min_version != 0) ok = ok && SSL_CTX_set_min_proto_version(ctx, probe.min_version);
  if (probe.max_version != 0) ok = ok && SSL_CTX_set_max_proto_version(ctx, probe.max_version);
  if (!probe.tickets) SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
  // Off: with the client cache on, OpenSSL marks a session not resumable once
  // a newer ticket replaces it, and tests reuse one saved session many times.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  if (!probe.alpn.empty()) {
    std::string wire = alpnWire(probe.alpn);
    ok = ok && SSL_CTX_set_alpn_protos(ctx, reinterpret_cast<const unsigned char*>(wire.data()),
                                       static_cast<unsigned>(wire.size())) == 0;
  }
  if (!probe.verify_name.empty()) {
    ok = ok && SSL_CTX_load_verify_locations(ctx, probe.ca_file.c_str(), nullptr) == 1;
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  }
  if (!ok) {
    SSL_CTX_free(ctx);
    return nullptr;
  }
  return ctx;
}

bool headComplete(const std::string& bytes, size_t* body_start, size_t* content_length) {
  size_t end = bytes.find("\r\n\r\n");
  if (end == std::string::npos) return false;
  *body_start = end + 4;
  *content_length = 0;
  std::string lower = bytes.substr(0, end);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  size_t at = lower.find("\r\ncontent-length:");
  if (at != std::string::npos)
    *content_length = std::strtoull(lower.c_str() + at + 17, nullptr, 10);
  return true;
}

// Writes each request as its own record into memory, then sends the records
// with one send(): the server gets them in one read, several records deep.
bool sendPipelined(SSL* ssl, int fd, const std::vector<std::string>& requests) {
  BIO* mem = BIO_new(BIO_s_mem());
  if (mem == nullptr) return false;
  SSL_set0_wbio(ssl, mem); // the socket BIO stays the read side
  bool ok = true;
  for (const std::string& r : requests)
    ok = ok && SSL_write(ssl, r.data(), static_cast<int>(r.size())) > 0;
  char* data = nullptr;
  long left = BIO_get_mem_data(mem, &data);
  while (ok && left > 0) {
    ssize_t n = ::send(fd, data, static_cast<size_t>(left), MSG_NOSIGNAL);
    ok = n > 0;
    data += n > 0 ? n : 0;
    left -= n > 0 ? n : 0;
  }
  SSL_set0_wbio(ssl, BIO_new_socket(fd, BIO_NOCLOSE));
  return ok;
}

// Up to `count` responses (head + Content-Length body each).
void readResponses(SSL* ssl, size_t count, TlsOutcome* out) {
  std::string bytes;
  char buf[16384];
  size_t body_start = 0, length = 0;
  while (out->responses.size() < count) {
    if (headComplete(bytes, &body_start, &length) && bytes.size() >= body_start + length) {
      out->responses.push_back(bytes.substr(0, body_start + length));
      bytes.erase(0, body_start + length);
      continue;
    }
    int n = SSL_read(ssl, buf, sizeof buf);
    if (n <= 0) return;
    bytes.append(buf, static_cast<size_t>(n));
  }
}

void readResponse(SSL* ssl, TlsOutcome* out) {
  char buf[16384];
  size_t body_start = 0, length = 0;
  for (;;) {
    if (headComplete(out->response, &body_start, &length) &&
        out->response.size() >= body_start + length)
      return;
    int n = SSL_read(ssl, buf, sizeof buf);
    if (n <= 0) return;
    out->response.append(buf, static_cast<size_t>(n));
  }
}

std::string subjectOf(SSL* ssl) {
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (cert == nullptr) return "";
  char line[512];
  X509_NAME_oneline(X509_get_subject_name(cert), line, sizeof line);
  X509_free(cert);
  return line;
}

} // namespace

TlsOutcome tlsProbe(uint16_t port, const TlsProbe& probe) {
  TlsOutcome out;
  ERR_clear_error();
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(makeContext(probe), SSL_CTX_free);
  if (!ctx) {
    out.error = "client context: " + drainErrors();
    return out;
  }
  Fd fd{connectLoopback(port)};
  if (fd.fd < 0) {
    out.error = std::string("connect: ") + std::strerror(errno);
    return out;
  }
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(ctx.get()), SSL_free);
  SSL_set_fd(ssl.get(), fd.fd);
  if (!probe.sni.empty()) SSL_set_tlsext_host_name(ssl.get(), probe.sni.c_str());
  if (!probe.verify_name.empty()) SSL_set1_host(ssl.get(), probe.verify_name.c_str());
  if (probe.resume) SSL_set_session(ssl.get(), probe.resume.get());
  if (SSL_connect(ssl.get()) != 1) {
    out.error = drainErrors();
    if (out.error.empty()) out.error = "handshake failed (connection closed)";
    return out;
  }
  out.handshake_ok = true;
  out.version = SSL_get_version(ssl.get());
  out.cipher = SSL_get_cipher_name(ssl.get());
  const unsigned char* alpn = nullptr;
  unsigned alpn_len = 0;
  SSL_get0_alpn_selected(ssl.get(), &alpn, &alpn_len);
  out.alpn.assign(reinterpret_cast<const char*>(alpn), alpn_len);
  out.reused = SSL_session_reused(ssl.get()) == 1;
  out.peer_subject = subjectOf(ssl.get());
  if (!probe.pipelined.empty()) {
    if (sendPipelined(ssl.get(), fd.fd, probe.pipelined))
      readResponses(ssl.get(), probe.pipelined.size(), &out);
  } else if (!probe.request.empty()) {
    if (SSL_write(ssl.get(), probe.request.data(), static_cast<int>(probe.request.size())) > 0)
      readResponse(ssl.get(), &out);
  }
  out.session = TlsSession(SSL_get1_session(ssl.get()), SSL_SESSION_free);
  out.has_ticket = out.session && SSL_SESSION_has_ticket(out.session.get()) == 1;
  SSL_shutdown(ssl.get());
  return out;
}

std::vector<std::string> allTls12CipherNames() {
  std::vector<std::string> names;
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == nullptr) return names;
  SSL_CTX_set_cipher_list(ctx, "ALL:COMPLEMENTOFALL:@SECLEVEL=0");
  SSL* ssl = SSL_new(ctx);
  STACK_OF(SSL_CIPHER)* list = SSL_get_ciphers(ssl);
  for (int i = 0; i < sk_SSL_CIPHER_num(list); ++i) {
    const SSL_CIPHER* c = sk_SSL_CIPHER_value(list, i);
    if (std::strcmp(SSL_CIPHER_get_version(c), "TLSv1.3") != 0)
      names.emplace_back(SSL_CIPHER_get_name(c));
  }
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  return names;
}

} // namespace swytest
