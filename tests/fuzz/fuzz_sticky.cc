// fuzz_sticky: the sticky cookie codec (routing/sticky.h) and the cookie /
// query field readers (routing/request_fields.h, findCookie/findQueryParam).
//
// The input supplies two keys, a ttl, a clock, a pool and server name, one
// edit to apply to a freshly encoded cookie, a cookie name, and a tail used
// as an arbitrary cookie value, Cookie header and query string. The HMAC is
// a deterministic keyed stub (the codec only needs a keyed function; real
// HMAC-SHA256 would only slow the fuzzer down). Properties:
//  - server ids are 16 lowercase hex digits; encode -> decode round-trips
//    (valid, old key after rotation, bad signature under a foreign key,
//    expiry exactly after ttl and beyond the clock skew);
//  - no edited or arbitrary value ever verifies unless it is the one
//    canonical encoding; decode never reads outside its input;
//  - findCookie/findQueryParam return views into their input, trimmed and
//    without separators, and the proxy strips exactly the cookie it reads
//    (appendCookiesWithout, proxy/http/serialize.h).
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "proxy/http/serialize.h"
#include "routing/request_fields.h"
#include "routing/route_table.h"
#include "routing/sticky.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using routing::StickyCodec;
using Verdict = routing::StickyCodec::Verdict;

constexpr uint64_t kSkew = 300; // routing/sticky.cc kClockSkew

uint64_t finalize(uint64_t h) { // splitmix64's finalizer
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  return h ^ (h >> 31);
}

// Deterministic keyed stand-in for HMAC-SHA256: four FNV-1a lanes over
// (key length, key, data), each finalized. Not cryptographic.
void stubMac(std::string_view key, std::string_view data, uint8_t out[32]) {
  for (uint64_t lane = 0; lane < 4; ++lane) {
    uint64_t h = 0xcbf29ce484222325ULL ^ finalize(lane + 1);
    auto mix = [&h](unsigned char c) {
      h ^= c;
      h *= 0x100000001b3ULL;
    };
    for (size_t i = 0, n = key.size(); i < 8; ++i, n >>= 8)
      mix(static_cast<unsigned char>(n));
    for (char c : key)
      mix(static_cast<unsigned char>(c));
    for (char c : data)
      mix(static_cast<unsigned char>(c));
    h = finalize(h);
    for (int b = 0; b < 8; ++b)
      out[lane * 8 + b] = static_cast<uint8_t>(h >> (8 * b));
  }
}

bool isLowerHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }
bool isCookieSafe(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' ||
         c == '_' || c == '-';
}
bool isToken(std::string_view s) { // RFC 9110 section 5.6.2
  if (s.empty()) return false;
  for (char c : s) {
    bool ok = isCookieSafe(c) || std::string_view("!#$%&'*+^`|~").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}
bool within(std::string_view part, std::string_view whole) {
  if (part.empty()) return true;
  return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}
bool validId(std::string_view id) {
  if (id.size() != 16) return false;
  for (char c : id)
    if (!isLowerHex(c)) return false;
  return true;
}

void checkServerId(const std::string& pool, const std::string& server) {
  std::string id = routing::stickyServerId(pool, server);
  FUZZ_CHECK(validId(id));
  FUZZ_CHECK(id == routing::stickyServerId(pool, server));
}

// encode -> decode under the signing key, after a rotation, under a foreign
// key, and at the edges of the ttl and of the clock skew.
void checkRoundTrip(const std::string& k0, const std::string& k1, uint64_t ttl, uint64_t now,
                    const std::string& id, const std::string& enc) {
  StickyCodec codec({k0}, &stubMac, ttl);
  FUZZ_CHECK(!enc.empty() && enc.size() <= 256);
  for (char c : enc)
    FUZZ_CHECK(isCookieSafe(c));
  std::string_view sid;
  FUZZ_CHECK(codec.decode(enc, now, &sid) == Verdict::kValid);
  FUZZ_CHECK(sid == id && within(sid, enc));
  StickyCodec rotated({k1, k0}, &stubMac, ttl);
  FUZZ_CHECK(rotated.decode(enc, now, nullptr) ==
             (k1 == k0 ? Verdict::kValid : Verdict::kValidOldKey));
  if (k1 != k0) {
    StickyCodec foreign({k1}, &stubMac, ttl);
    FUZZ_CHECK(foreign.decode(enc, now, nullptr) == Verdict::kBadSignature);
  }
  StickyCodec keyless({}, &stubMac, ttl);
  FUZZ_CHECK(keyless.encode(id, now).empty());
  FUZZ_CHECK(keyless.decode(enc, now, nullptr) == Verdict::kBadSignature);
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  if (ttl > 0 && ttl < kMax && now <= kMax - ttl - 1) {
    FUZZ_CHECK(codec.decode(enc, now + ttl, nullptr) == Verdict::kValid);
    FUZZ_CHECK(codec.decode(enc, now + ttl + 1, nullptr) == Verdict::kExpired);
  }
  if (now > kSkew) {
    FUZZ_CHECK(codec.decode(enc, now - kSkew, nullptr) == Verdict::kValid);
    FUZZ_CHECK(codec.decode(enc, now - kSkew - 1, nullptr) == Verdict::kExpired);
  }
}

// A value that verifies must be the canonical encoding of what it names.
void checkDecode(const StickyCodec& codec, std::string_view value, uint64_t now) {
  std::string_view sid;
  Verdict v = codec.decode(value, now, &sid);
  FUZZ_CHECK(codec.decode(value, now, nullptr) == v);
  if (v != Verdict::kValid && v != Verdict::kValidOldKey) return;
  FUZZ_CHECK(validId(sid) && within(sid, value));
  // "1.<id>.<issued>.<mac>": issued sits between the 2nd and 3rd dots.
  size_t start = 2 + 16 + 1;
  size_t end = value.find('.', start);
  FUZZ_CHECK(value.substr(0, 2) == "1." && end != std::string_view::npos);
  uint64_t issued = 0;
  for (char c : value.substr(start, end - start))
    issued = issued * 10 + static_cast<uint64_t>(c - '0');
  if (v == Verdict::kValid) FUZZ_CHECK(codec.encode(sid, issued) == value);
}

std::string edited(std::string enc, uint8_t kind, size_t pos, char byte) {
  pos = enc.empty() ? 0 : pos % (enc.size() + 1);
  switch (kind % 5) {
  case 0:
    if (pos < enc.size()) enc[pos] = byte;
    break;
  case 1: enc.insert(pos, 1, byte); break;
  case 2:
    if (pos < enc.size()) enc.erase(pos, 1);
    break;
  case 3: enc.resize(pos); break;
  default: enc.append(1, byte); break;
  }
  return enc;
}

void checkCookies(std::string_view header, const std::string& name) {
  std::string_view value;
  if (routing::findCookie(header, name, &value)) {
    FUZZ_CHECK(within(value, header));
    FUZZ_CHECK(value.find(';') == std::string_view::npos);
    FUZZ_CHECK(value.empty() || (value.front() != ' ' && value.front() != '\t'));
    FUZZ_CHECK(value.empty() || (value.back() != ' ' && value.back() != '\t'));
  }
  if (!isToken(name)) return; // config validation only admits token cookie names
  // What the proxy forwards upstream must not carry the cookie it reads.
  std::string stripped;
  if (proxy::http::appendCookiesWithout(header, name, &stripped)) {
    std::string_view left;
    FUZZ_CHECK(!routing::findCookie(stripped, name, &left));
  } else {
    FUZZ_CHECK(stripped.empty());
  }
}

void checkQuery(std::string_view query, const std::string& name) {
  std::string_view value;
  if (routing::findQueryParam(query, name, &value)) {
    FUZZ_CHECK(within(value, query));
    FUZZ_CHECK(value.find('&') == std::string_view::npos);
    if (!value.empty()) {
      auto at = static_cast<size_t>(value.data() - query.data());
      FUZZ_CHECK(at > name.size() &&
                 query.substr(at - name.size() - 1, name.size() + 1) == name + "=");
    }
    std::string decoded;
    routing::decodeQueryValue(value, &decoded);
    FUZZ_CHECK(decoded.size() <= value.size());
    if (value.find_first_of("%+") == std::string_view::npos) FUZZ_CHECK(decoded == value);
  }
  std::string lower = routing::toLowerAscii(query);
  FUZZ_CHECK(lower.size() == query.size() && routing::equalsLowercase(query, lower));
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  std::string k0 = in.ConsumeRandomLengthString(48);
  std::string k1 = in.ConsumeRandomLengthString(48);
  uint64_t ttl = in.ConsumeIntegral<uint64_t>();
  uint64_t now = in.ConsumeIntegral<uint64_t>();
  std::string pool = in.ConsumeRandomLengthString(32);
  std::string server = in.ConsumeRandomLengthString(32);
  uint8_t edit_kind = in.ConsumeIntegral<uint8_t>();
  size_t edit_pos = in.ConsumeIntegral<uint8_t>();
  char edit_byte = in.ConsumeIntegral<char>();
  std::string name = in.ConsumeRandomLengthString(16);
  std::string tail = in.ConsumeRemainingBytesAsString();

  checkServerId(pool, server);
  std::string id = routing::stickyServerId(pool, server);
  StickyCodec codec({k0}, &stubMac, ttl);
  std::string enc = codec.encode(id, now);
  checkRoundTrip(k0, k1, ttl, now, id, enc);
  FUZZ_CHECK(codec.encode(pool, now).empty() == !validId(pool));

  std::string changed = edited(enc, edit_kind, edit_pos, edit_byte);
  StickyCodec rotated({k1, k0}, &stubMac, ttl);
  Verdict v = codec.decode(changed, now, nullptr);
  if (v == Verdict::kValid || v == Verdict::kValidOldKey) FUZZ_CHECK(changed == enc);
  checkDecode(codec, changed, now);
  checkDecode(rotated, changed, now);
  checkDecode(codec, tail, now);

  checkCookies(tail, name);
  if (isToken(name) && name != "x") {
    std::string header = "x=1; " + name + "=" + enc + "; " + tail;
    std::string_view found;
    FUZZ_CHECK(routing::findCookie(header, name, &found) && found == enc);
    checkCookies(header, name);
  }
  checkQuery(tail, name);
  return 0;
}
