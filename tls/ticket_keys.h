// Session ticket keys (RFC 5077 format, produced by OpenSSL), derived
// deterministically from a secret and the time window n = floor(now / rotation):
//   block_i = HMAC-SHA256(secret, "swy-ticket" || be64(n) || i), i = 1..3
//   key name = block_1[0..16), AES-256-CBC key = block_2, HMAC-SHA256 key = block_3.
// Tickets are sealed with window n and accepted from windows n and n-1, so keys
// rotate on schedule with no shared mutable state and no lock: every worker and
// every instance holding the same secret derives the same keys.
// Immutable after construction except for the test clock; thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

typedef struct ssl_ctx_st SSL_CTX;

namespace tls {

class TicketKeys {
public:
  struct Key {
    unsigned char name[16];
    unsigned char aes[32];
    unsigned char hmac[32];
  };

  // An empty secret is replaced by 32 random bytes (keys then differ per process).
  TicketKeys(std::string secret, uint64_t rotation_seconds);

  Key derive(uint64_t window) const;
  uint64_t window() const; // floor(now / rotation)
  uint64_t rotationSeconds() const { return rotation_; }

  // Installs the ticket key callback on `ctx`; `this` must outlive `ctx`.
  void install(SSL_CTX* ctx) const;

  // Pins the clock (unix seconds); 0 returns to the real clock.
  void setNowForTest(uint64_t unix_seconds) { now_for_test_.store(unix_seconds); }

private:
  std::string secret_;
  uint64_t rotation_;
  std::atomic<uint64_t> now_for_test_{0};
};

} // namespace tls
