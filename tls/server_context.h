// TLS contexts: OpenSSL 3 behind a small API. No libuv, no routing, no
// sockets. A context is built once per config (never per connection) and is
// immutable afterwards, so every worker thread may use it concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

typedef struct ssl_ctx_st SSL_CTX;

namespace tls {

struct CertificateFiles {
  std::string cert; // PEM: leaf first, then the chain
  std::string key;  // PEM private key (RSA or ECDSA); encrypted keys are refused
};

enum class ClientAuth { kNone, kOptional, kRequired };

struct ServerOptions {
  std::vector<CertificateFiles> certificates; // SNI picks by SAN (wildcards too); first = default
  std::string min_version = "TLSv1.2";        // TLSv1.2 or TLSv1.3; never lower
  std::string ciphers = "intermediate";       // Mozilla "intermediate" or "modern"
  std::vector<std::string> alpn = {"http/1.1"};
  bool session_tickets = true;
  uint64_t ticket_rotation_seconds = 3600; // a new ticket key every period
  std::string ticket_secret;               // shared by workers/instances; empty = random
  bool strict_sni = false;                 // refuse a handshake for an unknown name
  ClientAuth client_auth = ClientAuth::kNone;
  std::string client_ca; // PEM bundle, required unless kNone
};

// One problem with the TLS material, for `switchyard -t`: which file and why
// (cert/key mismatch, expired or not yet valid, encrypted key, unreadable,
// not PEM, no SAN/CN, ...).
struct Problem {
  std::string file;
  std::string message;
};

class ServerContext {
public:
  // Builds the contexts; on failure returns nullptr and fills `problems`
  // with every problem found (not only the first).
  static std::unique_ptr<ServerContext> create(const ServerOptions& options,
                                               std::vector<Problem>* problems);
  ~ServerContext();
  ServerContext(const ServerContext&) = delete;
  ServerContext& operator=(const ServerContext&) = delete;

  // The SSL_CTX new connections start on (the SNI callback may switch it).
  SSL_CTX* initial() const;

  // Pins the clock the ticket keys use (unix seconds; 0 = real clock).
  void setNowForTest(uint64_t unix_seconds);

  struct Impl;

private:
  explicit ServerContext(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Client side (re-encryption to TLS upstreams, and tests).
struct ClientOptions {
  std::string ca;     // PEM bundle to verify the server; empty = system default store
  bool verify = true; // verify chain and host name
  std::vector<std::string> alpn;
  std::string cert, key; // optional client certificate (mTLS tests)
};

class ClientContext {
public:
  static std::unique_ptr<ClientContext> create(const ClientOptions& options,
                                               std::vector<Problem>* problems);
  ~ClientContext();
  ClientContext(const ClientContext&) = delete;
  ClientContext& operator=(const ClientContext&) = delete;
  SSL_CTX* get() const { return ctx_; }

private:
  explicit ClientContext(SSL_CTX* ctx) : ctx_(ctx) {}
  SSL_CTX* ctx_;
};

} // namespace tls
