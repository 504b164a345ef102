// Sticky cookie value format (version 1):
//
//   1.<server_id>.<issued>.<mac>
//
//   server_id  16 lowercase hex chars (stickyServerId())
//   issued     issue time, seconds since the Unix epoch, decimal, no sign and
//              no leading zero (so each time has exactly one spelling)
//   mac        base64url without padding (22 chars) of the first 16 bytes of
//              HMAC-SHA256(secret, "swy1|" + server_id + "|" + issued)
//
// Every character is in [0-9a-zA-Z._-]: a valid RFC 6265 cookie-octet and
// URL-safe. decode() parses strictly without allocating, rejects anything
// longer than kMaxValue before looking at it, verifies the MAC against each
// secret in order (constant-time compare of the encoded MAC, so a
// non-canonical base64 spelling never verifies), and only then reads the time.
#include "routing/sticky.h"
#include "routing/stable_hash.h"

#include <charconv>
#include <cstring>
#include <utility>

namespace routing {
namespace {

constexpr size_t kIdLen = 16;
constexpr size_t kMacBytes = 16;
constexpr size_t kMacLen = 22; // base64 of 16 bytes, unpadded
constexpr size_t kMaxDigits = 20;
constexpr size_t kMaxValue = 256;
constexpr uint64_t kClockSkew = 300;
constexpr std::string_view kMacPrefix = "swy1|";
constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

bool isLowerHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }
bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isB64Url(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || isDigit(c) || c == '-' || c == '_';
}

bool validId(std::string_view id) {
  if (id.size() != kIdLen) return false;
  for (char c : id)
    if (!isLowerHex(c)) return false;
  return true;
}

// Base64url (RFC 4648 section 5) of `n` bytes, no padding, into `out`.
void base64Url(const uint8_t* in, size_t n, char* out) {
  size_t o = 0;
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = uint32_t{in[i]} << 16 | uint32_t{in[i + 1]} << 8 | in[i + 2];
    out[o++] = kB64[v >> 18 & 63];
    out[o++] = kB64[v >> 12 & 63];
    out[o++] = kB64[v >> 6 & 63];
    out[o++] = kB64[v & 63];
  }
  if (n - i == 1) {
    uint32_t v = uint32_t{in[i]} << 16;
    out[o++] = kB64[v >> 18 & 63];
    out[o++] = kB64[v >> 12 & 63];
  } else if (n - i == 2) {
    uint32_t v = uint32_t{in[i]} << 16 | uint32_t{in[i + 1]} << 8;
    out[o++] = kB64[v >> 18 & 63];
    out[o++] = kB64[v >> 12 & 63];
    out[o++] = kB64[v >> 6 & 63];
  }
}

// "swy1|<id>|<issued>" in a fixed buffer: no allocation.
struct MacInput {
  char buf[kMacPrefix.size() + kIdLen + 1 + kMaxDigits];
  size_t len = 0;
  MacInput(std::string_view id, std::string_view issued) {
    std::memcpy(buf, kMacPrefix.data(), kMacPrefix.size());
    std::memcpy(buf + kMacPrefix.size(), id.data(), kIdLen);
    buf[kMacPrefix.size() + kIdLen] = '|';
    std::memcpy(buf + kMacPrefix.size() + kIdLen + 1, issued.data(), issued.size());
    len = kMacPrefix.size() + kIdLen + 1 + issued.size();
  }
  std::string_view view() const { return {buf, len}; }
};

void encodedMac(HmacSha256 mac, std::string_view secret, const MacInput& input, char out[kMacLen]) {
  uint8_t digest[32];
  mac(secret, input.view(), digest);
  base64Url(digest, kMacBytes, out);
}

bool constantTimeEqual(const char* a, const char* b, size_t n) {
  unsigned diff = 0;
  for (size_t i = 0; i < n; ++i)
    diff |= static_cast<unsigned char>(a[i]) ^ static_cast<unsigned char>(b[i]);
  return diff == 0;
}

// Splits off the text up to the next '.', or returns false.
bool takeField(std::string_view& rest, std::string_view& field) {
  size_t dot = rest.find('.');
  if (dot == std::string_view::npos) return false;
  field = rest.substr(0, dot);
  rest.remove_prefix(dot + 1);
  return true;
}

} // namespace

std::string stickyServerId(std::string_view pool, std::string_view server) {
  std::string data;
  data.reserve(pool.size() + 1 + server.size());
  data.append(pool).push_back('\0');
  data.append(server);
  uint64_t h = stableHash(data);
  std::string id(kIdLen, '0');
  for (size_t i = kIdLen; i-- > 0; h >>= 4)
    id[i] = "0123456789abcdef"[h & 15];
  return id;
}

StickyCodec::StickyCodec(std::vector<std::string> secrets, HmacSha256 mac, uint64_t ttl_seconds)
    : secrets_(std::move(secrets)), mac_(mac), ttl_(ttl_seconds) {}

// "" when there is no key or `server_id` is not a stickyServerId().
std::string StickyCodec::encode(std::string_view server_id, uint64_t now_seconds) const {
  if (secrets_.empty() || mac_ == nullptr || !validId(server_id)) return {};
  char issued[kMaxDigits];
  auto [end, ec] = std::to_chars(issued, issued + sizeof issued, now_seconds);
  (void)ec; // 20 digits always fit a uint64_t
  std::string_view issued_text(issued, static_cast<size_t>(end - issued));
  char mac[kMacLen];
  encodedMac(mac_, secrets_[0], MacInput(server_id, issued_text), mac);
  std::string value;
  value.reserve(2 + kIdLen + 1 + issued_text.size() + 1 + kMacLen);
  value.append("1.").append(server_id).push_back('.');
  value.append(issued_text).push_back('.');
  value.append(mac, kMacLen);
  return value;
}

StickyCodec::Verdict StickyCodec::decode(std::string_view value, uint64_t now_seconds,
                                         std::string_view* server_id) const {
  if (value.size() > kMaxValue) return Verdict::kMalformed;
  std::string_view rest = value;
  std::string_view version, id, issued;
  if (!takeField(rest, version) || !takeField(rest, id) || !takeField(rest, issued))
    return Verdict::kMalformed;
  const std::string_view mac = rest;
  if (version != "1" || !validId(id)) return Verdict::kMalformed;
  if (issued.empty() || issued.size() > kMaxDigits || (issued.size() > 1 && issued[0] == '0'))
    return Verdict::kMalformed;
  for (char c : issued)
    if (!isDigit(c)) return Verdict::kMalformed;
  uint64_t issued_at = 0;
  auto [ptr, ec] = std::from_chars(issued.data(), issued.data() + issued.size(), issued_at);
  if (ec != std::errc() || ptr != issued.data() + issued.size()) return Verdict::kMalformed;
  if (mac.size() != kMacLen) return Verdict::kMalformed;
  for (char c : mac)
    if (!isB64Url(c)) return Verdict::kMalformed;

  if (mac_ == nullptr) return Verdict::kBadSignature;
  const MacInput input(id, issued);
  size_t signer = secrets_.size();
  for (size_t k = 0; k < secrets_.size() && signer == secrets_.size(); ++k) {
    char expected[kMacLen];
    encodedMac(mac_, secrets_[k], input, expected);
    if (constantTimeEqual(expected, mac.data(), kMacLen)) signer = k;
  }
  if (signer == secrets_.size()) return Verdict::kBadSignature;

  if (ttl_ > 0 && now_seconds > issued_at && now_seconds - issued_at > ttl_)
    return Verdict::kExpired;
  if (issued_at > now_seconds && issued_at - now_seconds > kClockSkew) return Verdict::kExpired;
  if (server_id != nullptr) *server_id = id;
  return signer == 0 ? Verdict::kValid : Verdict::kValidOldKey;
}

} // namespace routing
