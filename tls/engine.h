// Engine: one TLS connection over memory BIOs. Ciphertext in (feed), plaintext
// out (read), plaintext in (write), ciphertext out (takeOutput). No sockets and
// no event loop: proxy/ adapts it to a libuv stream; tests run two engines
// against each other in memory. Single-threaded; owned by one connection.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

typedef struct ssl_st SSL;

namespace tls {

class ServerContext;
class ClientContext;

class Engine {
public:
  enum class Status {
    kOk,       // progress made (or nothing to do)
    kWantMore, // needs more ciphertext from the peer
    kClosed,   // the peer sent close_notify
    kError,    // fatal: alert sent (if any) is in the output; see error()
  };

  static std::unique_ptr<Engine> server(const ServerContext& context);
  static std::unique_ptr<Engine> client(const ClientContext& context, std::string_view sni);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Ciphertext received from the network. Drives the handshake.
  Status feed(const char* data, size_t length);
  // Decrypted bytes into `buf` (up to `capacity`); *n = 0 when none is ready.
  Status read(char* buf, size_t capacity, size_t* n);
  // Encrypts `length` bytes (all of them, or error; records are queued as
  // output). Before the handshake completes, the bytes are buffered and sent
  // once it does.
  Status write(const char* data, size_t length);
  // The same for several pieces, encrypted together: a response head and its
  // body go out as one record (when they fit in one) instead of one each.
  Status write(const std::string_view* parts, size_t count);
  // Ciphertext waiting to go to the network (handshake messages, records,
  // alerts); appends it to `out` and clears it.
  void takeOutput(std::string* out);
  bool hasOutput() const;
  // Queues close_notify.
  void shutdown();

  bool handshakeDone() const;
  bool resumed() const;
  std::string_view serverName() const; // SNI the client sent ("" if none)
  std::string_view alpn() const;       // agreed protocol ("" if none)
  std::string_view version() const;    // e.g. "TLSv1.3"
  std::string_view cipher() const;
  // Verified client certificate (mTLS): RFC 2253 subject and SHA-256
  // fingerprint (hex); empty when there is none.
  std::string peerSubject() const;
  std::string peerFingerprint() const;
  // What went wrong (OpenSSL's error queue drained into text) after kError.
  const std::string& error() const { return error_; }

  // Client side: session resumption between engines of one ClientContext.
  // (Opaque handle; the server side needs nothing.)
  std::string saveSession() const;          // serialised SSL_SESSION, "" if none
  bool loadSession(std::string_view saved); // before the first feed/takeOutput

  // The underlying connection, for tests that need OpenSSL directly.
  SSL* sslForTest() const { return ssl_; }

private:
  Engine(SSL* ssl, bool client);
  Status drive();
  Status flushPending();
  Status fail();
  SSL* ssl_;
  bool client_;
  bool started_ = false;      // client: ClientHello produced
  bool failed_ = false;       // kError returned once; every later call returns it
  size_t inflight_ = 0;       // length of an SSL_write_ex to retry after WANT_WRITE
  std::string pending_plain_; // written before the handshake finished
  std::string error_;
};

} // namespace tls
