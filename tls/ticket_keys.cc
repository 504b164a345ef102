#include "tls/ticket_keys.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include <cstring>
#include <ctime>

namespace tls {
namespace {

int keysIndex() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

bool hmacBlock(const std::string& secret, uint64_t window, unsigned char counter,
               unsigned char out[32]) {
  unsigned char msg[10 + 8 + 1];
  std::memcpy(msg, "swy-ticket", 10);
  for (int i = 0; i < 8; ++i)
    msg[10 + i] = static_cast<unsigned char>(window >> (56 - 8 * i));
  msg[18] = counter;
  unsigned int len = 0;
  return HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()), msg, sizeof msg, out,
              &len) != nullptr &&
         len == 32;
}

bool setMacKey(EVP_MAC_CTX* hctx, const TicketKeys::Key& key) {
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY,
                                                           const_cast<unsigned char*>(key.hmac),
                                                           sizeof key.hmac),
                         OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                         OSSL_PARAM_construct_end()};
  return EVP_MAC_CTX_set_params(hctx, params) == 1;
}

// OpenSSL contract: 1 = key found (or ticket sealed), 2 = valid but renew the
// ticket, 0 = unknown key name (full handshake), -1 = error.
int onTicketKey(SSL* ssl, unsigned char key_name[16], unsigned char* iv, EVP_CIPHER_CTX* cctx,
                EVP_MAC_CTX* hctx, int enc) noexcept {
  const auto* keys =
      static_cast<const TicketKeys*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), keysIndex()));
  if (keys == nullptr) return -1;
  const uint64_t now = keys->window();
  if (enc) {
    const TicketKeys::Key key = keys->derive(now);
    if (RAND_bytes(iv, 16) != 1) return -1;
    std::memcpy(key_name, key.name, sizeof key.name);
    if (EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), nullptr, key.aes, iv) != 1) return -1;
    return setMacKey(hctx, key) ? 1 : -1;
  }
  for (uint64_t back = 0; back < 2 && back <= now; ++back) {
    const TicketKeys::Key key = keys->derive(now - back);
    if (CRYPTO_memcmp(key_name, key.name, sizeof key.name) != 0) continue;
    if (!setMacKey(hctx, key)) return -1;
    if (EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), nullptr, key.aes, iv) != 1) return -1;
    return back == 0 ? 1 : 2;
  }
  return 0;
}

} // namespace

TicketKeys::TicketKeys(std::string secret, uint64_t rotation_seconds)
    : secret_(std::move(secret)), rotation_(rotation_seconds == 0 ? 3600 : rotation_seconds) {
  if (secret_.empty()) {
    unsigned char random[32];
    if (RAND_bytes(random, sizeof random) == 1) {
      secret_.assign(reinterpret_cast<const char*>(random), sizeof random);
    } else {
      // No entropy: an unguessable secret cannot be made. Derive from the clock
      // and address so tickets still work; they are then only as good as that.
      secret_ =
          std::to_string(std::time(nullptr)) + std::to_string(reinterpret_cast<uintptr_t>(this));
    }
  }
}

TicketKeys::Key TicketKeys::derive(uint64_t window) const {
  Key key{};
  unsigned char block[32];
  if (hmacBlock(secret_, window, 1, block)) std::memcpy(key.name, block, sizeof key.name);
  hmacBlock(secret_, window, 2, key.aes);
  hmacBlock(secret_, window, 3, key.hmac);
  return key;
}

uint64_t TicketKeys::window() const {
  uint64_t now = now_for_test_.load();
  if (now == 0) now = static_cast<uint64_t>(std::time(nullptr));
  return now / rotation_;
}

void TicketKeys::install(SSL_CTX* ctx) const {
  SSL_CTX_set_ex_data(ctx, keysIndex(), const_cast<TicketKeys*>(this));
  SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, onTicketKey);
}

} // namespace tls
