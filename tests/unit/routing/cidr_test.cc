#include "routing/cidr.h"

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

using routing::Cidr;
using routing::CidrTable;
using routing::formatCidr;
using routing::formatIp;
using routing::IpAddress;
using routing::ipFromSockaddr;
using routing::parseCidr;
using routing::parseIp;

namespace {

IpAddress ip(const char* text) {
  auto a = parseIp(text);
  REQUIRE_MESSAGE(a, text);
  return *a;
}

Cidr cidr(const char* text) {
  std::string error;
  auto c = parseCidr(text, &error);
  REQUIRE_MESSAGE(c, text, ": ", error);
  return *c;
}

// The error parseCidr gives for `text` ("" if it parsed).
std::string cidrError(const char* text) {
  std::string error;
  return parseCidr(text, &error) ? std::string() : error;
}

std::string roundTrip(const char* text) { return formatIp(ip(text)); }

CidrTable table(std::initializer_list<std::pair<const char*, int>> entries) {
  CidrTable t;
  for (const auto& [text, value] : entries)
    REQUIRE(t.add(cidr(text), value));
  return t;
}

} // namespace

TEST_CASE("cidr: IPv4 addresses parse strictly and print as dotted quads") {
  CHECK(roundTrip("10.1.2.3") == "10.1.2.3");
  CHECK(roundTrip("0.0.0.0") == "0.0.0.0");
  CHECK(roundTrip("255.255.255.255") == "255.255.255.255");
  const IpAddress a = ip("192.168.0.1");
  CHECK(a.is_v4);
  const std::array<uint8_t, 16> mapped = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 168, 0, 1};
  CHECK(a.bytes == mapped);
  for (const char* bad :
       {"10.0.0", "10.0.0.1.2", "10", "1..2.3", ".1.2.3", "1.2.3.", "256.0.0.1", "1.2.3.1000",
        "0x0a.0.0.1", "10.0.0.-1", "010.0.0.1", "10.00.0.1", "+1.2.3.4", "1.2.3.4a"}) {
    INFO(bad);
    CHECK_FALSE(parseIp(bad));
  }
}

TEST_CASE("cidr: IPv6 addresses parse per RFC 4291 and print per RFC 5952") {
  CHECK(roundTrip("2001:DB8:0:0:0:0:0:1") == "2001:db8::1");
  CHECK(roundTrip("2001:0db8:0000:0000:0000:0000:0000:0001") == "2001:db8::1");
  CHECK(roundTrip("::") == "::");
  CHECK(roundTrip("::1") == "::1");
  CHECK(roundTrip("1::") == "1::");
  CHECK(roundTrip("1:2:3:4:5:6:7::") == "1:2:3:4:5:6:7:0"); // one zero group is not "::"
  CHECK(roundTrip("::2:3:4:5:6:7:8") == "0:2:3:4:5:6:7:8");
  CHECK(roundTrip("2001:db8:0:0:1:0:0:1") == "2001:db8::1:0:0:1"); // first of equal runs
  CHECK(roundTrip("2001:0:0:1:0:0:0:1") == "2001:0:0:1::1");       // longest run wins
  CHECK(roundTrip("fe80::1:2") == "fe80::1:2");
  CHECK(roundTrip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff") ==
        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
  CHECK(roundTrip("1:2:3:4:5:6:1.2.3.4") == "1:2:3:4:5:6:102:304");
  CHECK(roundTrip("::1.2.3.4") == "::102:304"); // deprecated IPv4-compatible: plain IPv6
  CHECK_FALSE(ip("::1.2.3.4").is_v4);
  for (const char* bad : {"",
                          ":",
                          ":::",
                          "1:2:3:4:5:6:7:8:9",
                          "1:2:3:4:5:6:7",
                          "1::2::3",
                          ":1::",
                          "1::2:",
                          ":1:2:3:4:5:6:7:8",
                          "1:2:3:4:5:6:7:8:",
                          "1:2:3:4:5:6:7:8::",
                          "::1:2:3:4:5:6:7:8",
                          "12345::",
                          "g::",
                          "::1.2.3",
                          "::1.2.3.4:5",
                          "1.2.3.4::",
                          "1:2:3:4:5:6:7:1.2.3.4",
                          "::ffff:010.0.0.1",
                          "::-1"}) {
    INFO(bad);
    CHECK_FALSE(parseIp(bad));
  }
}

TEST_CASE("cidr: brackets, ports, zone ids and whitespace are rejected with a reason") {
  for (const char* bad : {"[::1]", "[2001:db8::1]:443", "10.0.0.1:80", "fe80::1%eth0", " 10.0.0.1",
                          "10.0.0.1 ", "10.0.0.1\n", "2001:db8:: 1", "\t::1"}) {
    INFO(bad);
    CHECK_FALSE(parseIp(bad));
    CHECK_FALSE(parseCidr(bad, nullptr));
  }
  CHECK(cidrError("[2001:db8::]/32") ==
        "brackets are not allowed: write the bare address, e.g. 2001:db8::1");
  CHECK(cidrError("10.0.0.1:80") == "ports are not allowed");
  CHECK(cidrError("fe80::1%eth0") == "zone id \"%eth0\" is not allowed");
  CHECK(cidrError("fe80::%eth0/64") == "zone id \"%eth0\" is not allowed");
  CHECK(cidrError("10.0.0.0/8 ") == "whitespace in address");
  CHECK(cidrError("10.0.0.0/ 8") == "whitespace in address");
}

TEST_CASE("cidr: prefixes parse, print, and default to a single host") {
  CHECK(formatCidr(cidr("10.0.0.0/8")) == "10.0.0.0/8");
  CHECK(formatCidr(cidr("2001:db8::/32")) == "2001:db8::/32");
  CHECK(formatCidr(cidr("0.0.0.0/0")) == "0.0.0.0/0");
  CHECK(formatCidr(cidr("::/0")) == "::/0");
  CHECK(formatCidr(cidr("10.1.2.3")) == "10.1.2.3/32");
  CHECK(formatCidr(cidr("2001:db8::1")) == "2001:db8::1/128");
  CHECK(formatCidr(cidr("10.1.2.3/32")) == "10.1.2.3/32");
  CHECK(formatCidr(cidr("2001:db8::1/128")) == "2001:db8::1/128");
  CHECK(cidr("10.0.0.0/8").prefix_len == 8);
  CHECK(cidr("10.0.0.0/8").base.is_v4);
  CHECK_FALSE(cidr("::/0").base.is_v4);
}

TEST_CASE("cidr: errors say what to fix") {
  CHECK(cidrError("10.0.0.0/33") == "prefix length 33 is over 32 for IPv4");
  CHECK(cidrError("2001:db8::/129") == "prefix length 129 is over 128 for IPv6");
  CHECK(cidrError("10.0.0.0/99999999999") == "prefix length 99999999999 is over 32 for IPv4");
  CHECK(cidrError("10.0.0.0/") == "missing prefix length after '/'");
  CHECK(cidrError("10.0.0.0/x") == "prefix length \"x\" is not a number");
  CHECK(cidrError("10.0.0.0/-1") == "prefix length \"-1\" is not a number");
  CHECK(cidrError("10.0.0.0/8/9") == "prefix length \"8/9\" is not a number");
  CHECK(cidrError("10.0.0.0/08") == "leading zero in prefix length \"08\"");
  CHECK(cidrError("010.0.0.1") == "leading zero in IPv4 octet \"010\" (octal or decimal?)");
  CHECK(cidrError("10.0.0.256/32") == "IPv4 octet 256 is over 255");
  CHECK(cidrError("::ffff:10.0.0.256") == "IPv4 octet 256 is over 255");
  CHECK(cidrError("example.com/8") == "not an IPv4 or IPv6 address");
  CHECK(cidrError("/8") == "empty address");
  CHECK(cidrError("") == "empty address");
  CHECK(cidrError("2001:db8::g/32") == "not an IPv4 or IPv6 address");
  CHECK(cidrError("0.0.0.0/0").empty());
}

TEST_CASE("cidr: host bits set is an error that suggests the network") {
  CHECK(cidrError("10.1.2.3/8") == "host bits set: did you mean 10.0.0.0/8?");
  CHECK(cidrError("10.0.0.1/31") == "host bits set: did you mean 10.0.0.0/31?");
  CHECK(cidrError("1.2.3.4/0") == "host bits set: did you mean 0.0.0.0/0?");
  CHECK(cidrError("2001:db8::1/32") == "host bits set: did you mean 2001:db8::/32?");
  CHECK(cidrError("2001:db8:ffff::/33") == "host bits set: did you mean 2001:db8:8000::/33?");
  CHECK(cidrError("::1/127") == "host bits set: did you mean ::/127?");
  CHECK(cidrError("10.0.0.0/7").empty());
  CHECK(cidrError("11.0.0.0/7") == "host bits set: did you mean 10.0.0.0/7?");
}

TEST_CASE("cidr: v4-mapped IPv6 is IPv4") {
  const IpAddress mapped = ip("::ffff:10.1.2.3");
  CHECK(mapped.is_v4);
  CHECK(mapped == ip("10.1.2.3"));
  CHECK(ip("::FFFF:a01:203") == ip("10.1.2.3"));
  CHECK(formatIp(mapped) == "10.1.2.3");
  // A mapped prefix of /96 or longer is the IPv4 prefix it maps.
  CHECK(cidr("::ffff:10.0.0.0/104") == cidr("10.0.0.0/8"));
  CHECK(cidr("::ffff:0.0.0.0/96") == cidr("0.0.0.0/0"));
  CHECK(cidr("::ffff:10.1.2.3") == cidr("10.1.2.3/32"));
  CHECK(cidrError("::ffff:10.1.0.0/104") == "host bits set: did you mean 10.0.0.0/8?");
  // Shorter than /96 it is an IPv6 prefix, and the ffff are host bits.
  CHECK(cidrError("::ffff:0.0.0.0/80") == "host bits set: did you mean ::/80?");

  // The table goes by the bytes: mapped bytes without is_v4 still count as IPv4.
  CidrTable t = table({{"10.0.0.0/8", 1}, {"::/0", 6}});
  IpAddress raw = ip("10.9.9.9");
  raw.is_v4 = false;
  CHECK(t.lookup(raw) == 1);
  CHECK(t.lookup(ip("::ffff:11.0.0.1")) == std::nullopt); // ::/0 is IPv6 only
  int existing = 0;
  CHECK_FALSE(t.add(cidr("::ffff:10.0.0.0/104"), 2, &existing));
  CHECK(existing == 1);
}

TEST_CASE("cidr: sockaddr conversion for AF_INET, AF_INET6 and v4-mapped peers") {
  sockaddr_storage ss{};
  auto* in = reinterpret_cast<sockaddr_in*>(&ss);
  in->sin_family = AF_INET;
  in->sin_port = htons(8080);
  REQUIRE(inet_pton(AF_INET, "192.0.2.7", &in->sin_addr) == 1);
  auto a = ipFromSockaddr(reinterpret_cast<const sockaddr*>(&ss));
  REQUIRE(a);
  CHECK(a->is_v4);
  CHECK(*a == ip("192.0.2.7"));

  ss = {};
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
  in6->sin6_family = AF_INET6;
  in6->sin6_scope_id = 3;
  REQUIRE(inet_pton(AF_INET6, "2001:db8::42", &in6->sin6_addr) == 1);
  a = ipFromSockaddr(reinterpret_cast<const sockaddr*>(&ss));
  REQUIRE(a);
  CHECK_FALSE(a->is_v4);
  CHECK(formatIp(*a) == "2001:db8::42");

  REQUIRE(inet_pton(AF_INET6, "::ffff:192.0.2.7", &in6->sin6_addr) == 1);
  a = ipFromSockaddr(reinterpret_cast<const sockaddr*>(&ss));
  REQUIRE(a);
  CHECK(a->is_v4);
  CHECK(*a == ip("192.0.2.7"));
  CHECK(table({{"192.0.2.0/24", 4}}).lookup(*a) == 4);

  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  CHECK_FALSE(ipFromSockaddr(reinterpret_cast<const sockaddr*>(&un)));
  CHECK_FALSE(ipFromSockaddr(nullptr));
}

TEST_CASE("cidr: the longest matching prefix decides (allow /8, deny /16, allow /32)") {
  constexpr int kDeny = 0, kAllow = 1;
  // Added in an order that is neither longest- nor shortest-first.
  const CidrTable t = table({{"10.1.0.0/16", kDeny},
                             {"10.1.2.3/32", kAllow},
                             {"10.0.0.0/8", kAllow},
                             {"10.1.2.0/24", kDeny},
                             {"10.1.128.0/17", kAllow}});
  CHECK(t.size() == 5);
  CHECK(t.lookup(ip("10.0.0.1")) == kAllow);
  CHECK(t.lookup(ip("10.255.255.255")) == kAllow);
  CHECK(t.lookup(ip("10.1.0.0")) == kDeny);
  CHECK(t.lookup(ip("10.1.2.2")) == kDeny);
  CHECK(t.lookup(ip("10.1.2.3")) == kAllow);
  CHECK(t.lookup(ip("10.1.2.4")) == kDeny);
  CHECK(t.lookup(ip("10.1.127.255")) == kDeny);
  CHECK(t.lookup(ip("10.1.128.0")) == kAllow);
  CHECK(t.lookup(ip("10.2.0.0")) == kAllow);
  CHECK(t.lookup(ip("9.255.255.255")) == std::nullopt);
  CHECK(t.lookup(ip("11.0.0.0")) == std::nullopt);
  CHECK(t.lookup(ip("2001:db8::1")) == std::nullopt);
}

TEST_CASE("cidr: /0, /32 and /128 at the ends of the address space") {
  CidrTable t = table({{"0.0.0.0/0", 1}, {"255.255.255.255/32", 2}, {"0.0.0.0/32", 3}});
  CHECK(t.lookup(ip("0.0.0.0")) == 3);
  CHECK(t.lookup(ip("0.0.0.1")) == 1);
  CHECK(t.lookup(ip("255.255.255.254")) == 1);
  CHECK(t.lookup(ip("255.255.255.255")) == 2);
  CHECK(t.lookup(ip("::")) == std::nullopt); // 0.0.0.0/0 is IPv4 only
  CHECK(t.lookup(ip("2001:db8::1")) == std::nullopt);

  CidrTable t6 = table({{"::/0", 1},
                        {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 2},
                        {"::", 3},
                        {"::1", 4},
                        {"0:0:0:1::/64", 5},
                        {"::ffff:ffff:ffff:ffff/128", 6}});
  CHECK(t6.lookup(ip("::")) == 3);
  CHECK(t6.lookup(ip("::1")) == 4);
  CHECK(t6.lookup(ip("::2")) == 1);
  CHECK(t6.lookup(ip("0:0:0:0:ffff:ffff:ffff:fffe")) == 1);
  CHECK(t6.lookup(ip("0:0:0:0:ffff:ffff:ffff:ffff")) == 6); // the key before the /64
  CHECK(t6.lookup(ip("0:0:0:1::")) == 5);                   // a carry from lo into hi
  CHECK(t6.lookup(ip("0:0:0:1:ffff:ffff:ffff:ffff")) == 5);
  CHECK(t6.lookup(ip("0:0:0:2::")) == 1);
  CHECK(t6.lookup(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe")) == 1);
  CHECK(t6.lookup(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")) == 2);
  CHECK(t6.lookup(ip("10.0.0.1")) == std::nullopt);         // ::/0 is IPv6 only
  CHECK(t6.lookup(ip("::ffff:ffff:ffff")) == std::nullopt); // that is 255.255.255.255

  CidrTable empty;
  CHECK(empty.empty());
  CHECK(empty.size() == 0);
  CHECK(empty.lookup(ip("10.0.0.1")) == std::nullopt);
  CHECK(empty.lookup(ip("::1")) == std::nullopt);
}

TEST_CASE("cidr: IPv4 and IPv6 prefixes never match the other family") {
  // ::a00:0/104 is the deprecated IPv4-compatible form of 10.0.0.0/8: IPv6.
  const CidrTable t = table({{"::a00:0/104", 6}, {"10.0.0.0/8", 4}});
  CHECK(t.lookup(ip("10.1.2.3")) == 4);
  CHECK(t.lookup(ip("::10.1.2.3")) == 6);
  CHECK(t.lookup(ip("::ffff:10.1.2.3")) == 4);
  CidrTable only6 = table({{"::/0", 1}});
  CHECK(only6.lookup(ip("10.1.2.3")) == std::nullopt);
  CidrTable only4 = table({{"0.0.0.0/0", 1}});
  CHECK(only4.lookup(ip("::10.1.2.3")) == std::nullopt);
  CHECK(only4.lookup(ip("::")) == std::nullopt);
}

TEST_CASE("cidr: adding the same prefix twice is refused and reports the first value") {
  CidrTable t;
  CHECK(t.add(cidr("10.0.0.0/8"), 1));
  int existing = -1;
  CHECK_FALSE(t.add(cidr("10.0.0.0/8"), 0, &existing));
  CHECK(existing == 1);
  CHECK_FALSE(t.add(cidr("10.0.0.0/8"), 1)); // existing may be null
  CHECK(t.lookup(ip("10.2.3.4")) == 1);      // the first value stays
  CHECK(t.add(cidr("10.0.0.0/9"), 2));       // same base, other length
  CHECK(t.add(cidr("0.0.0.0/0"), 3));
  CHECK(t.add(cidr("::/0"), 4)); // not the IPv4 /0
  CHECK(t.add(cidr("2001:db8::/32"), 5));
  existing = -1;
  CHECK_FALSE(t.add(cidr("2001:db8::/32"), 9, &existing));
  CHECK(existing == 5);
  CHECK(t.size() == 5);
  CHECK_FALSE(t.empty());
}

TEST_CASE("cidr: neighbours with the same outcome share one range") {
  for (bool ascending : {true, false}) {
    CidrTable t;
    for (int i = 0; i < 256; ++i) {
      const int third = ascending ? i : 255 - i;
      REQUIRE(t.add(cidr(("10.0." + std::to_string(third) + ".0/24").c_str()), 1));
    }
    CHECK(t.rangeCountForTest() == 3);    // below 10.0.0.0, 10.0.0.0/16, above 10.0.255.255
    CHECK(t.add(cidr("10.0.0.0/16"), 1)); // shorter: decides nothing new
    CHECK(t.rangeCountForTest() == 3);
    CHECK_FALSE(t.add(cidr("10.0.7.0/24"), 1));
    CHECK(t.add(cidr("10.0.7.128/25"), 2));
    CHECK(t.rangeCountForTest() == 5);
  }
}

namespace {

struct Entry {
  IpAddress base;
  int len = 0; // in the family's own bits
  int value = 0;
};

bool isMappedForTest(const IpAddress& a) {
  static const uint8_t kPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return std::memcmp(a.bytes.data(), kPrefix, 12) == 0;
}

bool contains(const Entry& e, const IpAddress& a) {
  const bool v4 = isMappedForTest(e.base);
  if (v4 != isMappedForTest(a)) return false;
  const int offset = v4 ? 96 : 0;
  for (int bit = 0; bit < e.len; ++bit) {
    const int b = offset + bit;
    const int mask = 0x80 >> (b % 8);
    if ((e.base.bytes[b / 8] & mask) != (a.bytes[b / 8] & mask)) return false;
  }
  return true;
}

std::optional<int> bruteForce(const std::vector<Entry>& entries, const IpAddress& a) {
  int best_len = -1;
  std::optional<int> best;
  for (const Entry& e : entries)
    if (e.len > best_len && contains(e, a)) best_len = e.len, best = e.value;
  return best;
}

// Random addresses near a few seeds, so that prefixes nest and collide.
IpAddress randomAddress(std::mt19937_64& rng, bool v4, const std::vector<IpAddress>& seeds) {
  IpAddress a = seeds[rng() % seeds.size()];
  const int first = v4 ? 12 : 0;
  const int flip = static_cast<int>(rng() % (v4 ? 33 : 129)); // keep this many leading bits
  for (int b = flip; b < (v4 ? 32 : 128); ++b)
    if (rng() & 1) a.bytes[first + b / 8] ^= static_cast<uint8_t>(0x80 >> (b % 8));
  return a;
}

Cidr randomCidr(std::mt19937_64& rng, bool v4, const std::vector<IpAddress>& seeds) {
  const IpAddress a = randomAddress(rng, v4, seeds);
  const int width = v4 ? 32 : 128;
  // Lengths cluster on the usual boundaries but cover every value.
  static const int kV4[] = {0, 8, 12, 16, 20, 24, 28, 30, 31, 32};
  static const int kV6[] = {0, 16, 32, 48, 56, 63, 64, 65, 96, 112, 127, 128};
  int len;
  if (rng() % 2)
    len = static_cast<int>(rng() % (width + 1));
  else if (v4)
    len = kV4[rng() % std::size(kV4)];
  else
    len = kV6[rng() % std::size(kV6)];
  const std::string text = formatIp(a) + "/" + std::to_string(len);
  std::string error;
  if (auto c = parseCidr(text, &error)) return *c;
  // Host bits set: take the suggestion parseCidr made.
  const size_t at = error.find("did you mean ");
  REQUIRE(at != std::string::npos);
  std::string suggestion = error.substr(at + 13);
  suggestion.pop_back(); // '?'
  auto c = parseCidr(suggestion, nullptr);
  REQUIRE(c);
  return *c;
}

} // namespace

TEST_CASE("cidr: random tables agree with a linear scan (fixed seed)") {
  std::mt19937_64 rng(20240611);
  std::vector<IpAddress> seeds = {ip("10.0.0.0"),
                                  ip("192.168.1.0"),
                                  ip("0.0.0.0"),
                                  ip("255.255.255.255"),
                                  ip("2001:db8::"),
                                  ip("::"),
                                  ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
                                  ip("fe80::1")};
  for (int i = 0; i < 8; ++i) {
    IpAddress a;
    for (auto& byte : a.bytes)
      byte = static_cast<uint8_t>(rng());
    seeds.push_back(a);
    seeds.push_back(ip(("10." + std::to_string(rng() % 256) + ".0.1").c_str()));
  }
  for (auto& s : seeds)
    s.is_v4 = isMappedForTest(s);
  std::vector<IpAddress> v4_seeds, v6_seeds;
  for (const auto& s : seeds)
    (s.is_v4 ? v4_seeds : v6_seeds).push_back(s);

  CidrTable t;
  std::vector<Entry> entries;
  int duplicates = 0, checks = 0;
  auto checkAgainstScan = [&](int probes) {
    for (int i = 0; i < probes; ++i) {
      IpAddress a = randomAddress(rng, rng() % 2, rng() % 2 ? v4_seeds : v6_seeds);
      // Probe the edges of a known prefix too: its first and last address and one past.
      if (!entries.empty() && i % 3 == 0) {
        const Entry& e = entries[rng() % entries.size()];
        a = e.base;
        const bool v4 = isMappedForTest(a);
        const int width = v4 ? 32 : 128, first = v4 ? 12 : 0;
        if (rng() % 2)
          for (int b = e.len; b < width; ++b)
            a.bytes[first + b / 8] |= static_cast<uint8_t>(0x80 >> (b % 8));
        if (rng() % 2) // one past: increment as a big-endian number
          for (int k = 15; k >= first && ++a.bytes[k] == 0; --k) {
          }
        a.is_v4 = isMappedForTest(a);
      }
      REQUIRE_MESSAGE(t.lookup(a) == bruteForce(entries, a), formatIp(a));
      ++checks;
    }
  };
  for (int n = 0; n < 4000; ++n) {
    const bool v4 = rng() % 2;
    const Cidr c = randomCidr(rng, v4, v4 ? v4_seeds : v6_seeds);
    const int value = static_cast<int>(rng() % 7);
    const Entry* same = nullptr;
    for (const Entry& e : entries)
      if (e.base.bytes == c.base.bytes && e.len == c.prefix_len) same = &e;
    int existing = -1;
    const bool added = t.add(c, value, &existing);
    REQUIRE(added == (same == nullptr));
    if (added) {
      entries.push_back({c.base, c.prefix_len, value});
    } else {
      REQUIRE(existing == same->value);
      ++duplicates;
    }
    REQUIRE(t.size() == entries.size());
    REQUIRE(t.rangeCountForTest() <= 2 * entries.size() + 2);
    if (n % 200 == 0) checkAgainstScan(200);
  }
  checkAgainstScan(20000);
  MESSAGE(entries.size(), " prefixes, ", duplicates, " duplicates refused, ", checks, " lookups");
  CHECK(duplicates > 0);
}
