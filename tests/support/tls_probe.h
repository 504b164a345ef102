// TlsProbe: a blocking OpenSSL client for e2e tests that need more than
// libcurl shows — which protocol and suite were agreed, ALPN, whether a
// session resumed, the peer's certificate — and that resume a session saved
// from an earlier connection. One connection per call, 127.0.0.1 only, every
// socket operation bounded by a 5 s timeout.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

typedef struct ssl_session_st SSL_SESSION;

namespace swytest {

using TlsSession = std::shared_ptr<SSL_SESSION>;

struct TlsProbe {
  std::string sni;     // server name sent; empty = no SNI
  int min_version = 0; // TLS1_2_VERSION etc.; 0 = library default
  int max_version = 0;
  std::string ciphers;      // TLS <= 1.2 cipher list; empty = library default
  std::string ciphersuites; // TLS 1.3 suites; empty = library default
  bool tickets = true;      // false: offer no ticket (TLS 1.2 then resumes by session id)
  std::vector<std::string> alpn;
  TlsSession resume; // offered for resumption when set
  std::string ca_file;
  std::string verify_name; // verify the chain against ca_file and this host name; empty = no check
  std::string request;     // sent after the handshake; the response is read when non-empty
  // Instead of `request`: each its own TLS record, all sent in one TCP write
  // (so the server reads them together); their responses go to `responses`.
  std::vector<std::string> pipelined;
};

struct TlsOutcome {
  bool handshake_ok = false;
  std::string error; // OpenSSL's reason when the handshake failed
  std::string version, cipher, alpn;
  bool reused = false;
  bool has_ticket = false;            // the saved session carries a ticket (else: a session id)
  std::string peer_subject;           // one-line subject of the server certificate
  std::string response;               // the whole response (head + Content-Length body)
  std::vector<std::string> responses; // to `pipelined`, in order, as many as arrived
  TlsSession session;                 // after the response was read (TLS 1.3 tickets arrive late)
};

TlsOutcome tlsProbe(uint16_t port, const TlsProbe& probe);

// Names of every TLS <= 1.2 suite this OpenSSL build knows (security level 0).
std::vector<std::string> allTls12CipherNames();

} // namespace swytest
