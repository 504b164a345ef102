#include "routing/stable_hash.h"
#include "routing/sticky.h"

#include <doctest/doctest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdio>
#include <limits>
#include <set>
#include <string>
#include <vector>

using routing::StickyCodec;
using routing::stickyServerId;
using Verdict = routing::StickyCodec::Verdict;

namespace {

int g_mac_calls = 0;

void opensslHmac(std::string_view key, std::string_view data, uint8_t out[32]) {
  ++g_mac_calls;
  unsigned len = 32;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
}

constexpr uint64_t kNow = 1700000000;
const std::string kId = stickyServerId("app", "app-1");

StickyCodec codec(std::vector<std::string> secrets, uint64_t ttl = 0) {
  return StickyCodec(std::move(secrets), opensslHmac, ttl);
}

Verdict decode(const StickyCodec& c, std::string_view value, uint64_t now = kNow) {
  std::string_view id;
  return c.decode(value, now, &id);
}

bool isCookieOctet(unsigned char c) { // RFC 6265 section 4.1.1
  return c == 0x21 || (c >= 0x23 && c <= 0x2B) || (c >= 0x2D && c <= 0x3A) ||
         (c >= 0x3C && c <= 0x5B) || (c >= 0x5D && c <= 0x7E);
}

} // namespace

TEST_CASE("sticky: server ids are 16 hex chars of stableHash(pool NUL server), opaque") {
  const std::string addr = "10.0.0.7:8080";
  const std::string id = stickyServerId("app", addr);
  REQUIRE(id.size() == 16);
  for (char c : id)
    CHECK(((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')));
  char expected[17];
  std::snprintf(
      expected, sizeof expected, "%016llx",
      static_cast<unsigned long long>(routing::stableHash(std::string("app\0", 4) + addr)));
  CHECK(id == expected);
  CHECK(id.find(addr) == std::string::npos);
  CHECK(id == stickyServerId("app", addr));
  CHECK(id != stickyServerId("app2", addr));
  CHECK(id != stickyServerId("app", "10.0.0.8:8080"));
  CHECK(stickyServerId("ab", "c") != stickyServerId("a", "bc"));
  CHECK(stickyServerId("", "") != "ef46db3751d8e999"); // the NUL separator is hashed
  const std::string value = codec({"k"}).encode(id, kNow);
  CHECK(value.find(addr) == std::string::npos);
  CHECK(value.find("10.0.0.7") == std::string::npos);
}

TEST_CASE("sticky: round trip; the id is a view into the value") {
  const StickyCodec c = codec({"secret-1"});
  const std::string value = c.encode(kId, kNow);
  CHECK(value.rfind("1." + kId + "." + std::to_string(kNow) + ".", 0) == 0);
  CHECK(value.size() == 2 + 16 + 1 + 10 + 1 + 22);
  std::string_view id;
  REQUIRE(c.decode(value, kNow, &id) == Verdict::kValid);
  CHECK(id == kId);
  CHECK(id.data() >= value.data());
  CHECK(id.data() + id.size() <= value.data() + value.size());
  CHECK(c.decode(value, kNow, nullptr) == Verdict::kValid);
  // Extremes of the issue time.
  const uint64_t max = std::numeric_limits<uint64_t>::max();
  CHECK(decode(c, c.encode(kId, 0), 0) == Verdict::kValid);
  CHECK(decode(c, c.encode(kId, max), max) == Verdict::kValid);
}

TEST_CASE("sticky: values use only RFC 6265 cookie-octets and URL-safe characters") {
  const StickyCodec c = codec({"secret-1"});
  for (int i = 0; i < 2000; ++i) {
    const std::string value = c.encode(stickyServerId("p", std::to_string(i)), kNow + i * 977u);
    for (char ch : value) {
      CHECK(isCookieOctet(static_cast<unsigned char>(ch)));
      CHECK(ch != ',');
      CHECK(ch != '%');
    }
  }
}

TEST_CASE("sticky: every single-character change, deletion or insertion is rejected") {
  const StickyCodec c = codec({"secret-1", "secret-0"});
  const std::string value = c.encode(kId, kNow);
  REQUIRE(decode(c, value) == Verdict::kValid);
  auto rejected = [&](const std::string& v) {
    Verdict r = decode(c, v);
    return r == Verdict::kBadSignature || r == Verdict::kMalformed;
  };
  for (size_t pos = 0; pos < value.size(); ++pos) {
    CAPTURE(pos);
    for (int b = 0; b < 256; ++b) {
      if (static_cast<char>(b) == value[pos]) continue;
      std::string t = value;
      t[pos] = static_cast<char>(b);
      CAPTURE(b);
      REQUIRE(rejected(t));
    }
    CHECK(rejected(value.substr(0, pos) + value.substr(pos + 1)));
    for (char ins : {'0', 'a', 'A', '.', '-', '_'})
      CHECK(rejected(value.substr(0, pos) + ins + value.substr(pos)));
  }
  CHECK(rejected(value + "A"));
}

TEST_CASE("sticky: wrong key -> bad signature; an older key -> valid, old key") {
  const std::string by_old = codec({"old"}).encode(kId, kNow);
  CHECK(decode(codec({"new"}), by_old) == Verdict::kBadSignature);
  std::string_view id;
  CHECK(codec({"new", "old"}).decode(by_old, kNow, &id) == Verdict::kValidOldKey);
  CHECK(id == kId);
  CHECK(decode(codec({"new", "old"}), codec({"new"}).encode(kId, kNow)) == Verdict::kValid);
  // After rotation the old key is dropped: its cookies no longer verify.
  CHECK(decode(codec({"new"}), by_old) == Verdict::kBadSignature);
}

TEST_CASE("sticky: expiry after ttl; issue times beyond the clock skew are refused") {
  const StickyCodec c = codec({"k"}, 3600);
  const std::string value = c.encode(kId, kNow);
  CHECK(decode(c, value, kNow + 3600) == Verdict::kValid);
  CHECK(decode(c, value, kNow + 3601) == Verdict::kExpired);
  CHECK(decode(c, value, kNow - 300) == Verdict::kValid);
  CHECK(decode(c, value, kNow - 301) == Verdict::kExpired);
  // ttl 0: no proxy-side expiry, but the future check still holds.
  const StickyCodec session = codec({"k"}, 0);
  CHECK(decode(session, session.encode(kId, 5), kNow) == Verdict::kValid);
  CHECK(decode(session, session.encode(kId, kNow + 301), kNow) == Verdict::kExpired);
  // Signature first: a forged, expired value is a bad signature.
  CHECK(decode(c, codec({"other"}).encode(kId, 5)) == Verdict::kBadSignature);
}

TEST_CASE("sticky: garbage and empty values are malformed") {
  const StickyCodec c = codec({"k"});
  const std::string mac(22, 'A');
  for (const std::string& v : {std::string(),
                               std::string("."),
                               std::string("..."),
                               std::string("1"),
                               std::string("1."),
                               std::string("1..."),
                               std::string("abc"),
                               std::string("1.") + kId + ".." + mac,
                               "2." + kId + ".1." + mac,
                               "1." + kId + ".01." + mac,
                               "1." + kId + ".+1." + mac,
                               "1." + kId + ".-1." + mac,
                               "1." + kId + ".99999999999999999999." + mac,
                               "1." + kId + ".1." + mac + "=",
                               "1." + kId + ".1." + mac.substr(1),
                               "1." + kId + ".1." + mac.substr(1) + "+",
                               "1." + kId + ".1." + mac.substr(1) + "/",
                               "1.ABCDEF0123456789.1." + mac,
                               "1." + kId.substr(1) + ".1." + mac,
                               "1." + kId + ".1.2." + mac,
                               " 1." + kId + ".1." + mac,
                               std::string("1.\0", 3)}) {
    CAPTURE(v);
    CHECK(decode(c, v) == Verdict::kMalformed);
  }
  // Well formed but signed with nothing we know.
  CHECK(decode(c, "1." + kId + ".1." + mac) == Verdict::kBadSignature);
}

TEST_CASE("sticky: a 10 KB value is malformed before any MAC is computed") {
  const StickyCodec c = codec({"k"});
  std::string huge = c.encode(kId, kNow);
  huge.resize(10 * 1024, 'A');
  g_mac_calls = 0;
  CHECK(decode(c, huge) == Verdict::kMalformed);
  CHECK(decode(c, std::string(257, '1')) == Verdict::kMalformed);
  CHECK(g_mac_calls == 0);
}

TEST_CASE("sticky: no secret -> nothing encodes and nothing verifies") {
  const StickyCodec none = codec({});
  CHECK(none.encode(kId, kNow).empty());
  CHECK(decode(none, codec({"k"}).encode(kId, kNow)) == Verdict::kBadSignature);
  // encode() only takes stickyServerId()s.
  CHECK(codec({"k"}).encode("10.0.0.7:8080", kNow).empty());
  CHECK(codec({"k"}).encode("", kNow).empty());
}
