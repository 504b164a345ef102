#include "routing/cidr.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace routing {

using cidr_detail::Family;
using cidr_detail::Prefix;
using cidr_detail::Range;
using cidr_detail::U128;

namespace {

using Bytes = std::array<uint8_t, 16>;

constexpr char kNotAnAddress[] = "not an IPv4 or IPv6 address";

bool isV4Mapped(const Bytes& b) {
  for (int i = 0; i < 10; ++i)
    if (b[i] != 0) return false;
  return b[10] == 0xff && b[11] == 0xff;
}

IpAddress fromBytes(const Bytes& b) { return IpAddress{b, isV4Mapped(b)}; }

void setError(std::string* error, std::string message) {
  if (error) *error = std::move(message);
}

bool fail(std::string* error, std::string message) {
  setError(error, std::move(message));
  return false;
}

bool isDigit(char c) { return c >= '0' && c <= '9'; }

int hexValue(char c) {
  if (isDigit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool allDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), isDigit);
}

// Strict dotted quad: four decimal octets, no leading zeros.
bool parseV4(std::string_view s, uint8_t* out, std::string* error) {
  size_t i = 0;
  for (int part = 0; part < 4; ++part) {
    size_t j = i;
    while (j < s.size() && isDigit(s[j]))
      ++j;
    const std::string_view digits = s.substr(i, j - i);
    if (digits.empty()) return fail(error, kNotAnAddress);
    if (digits.size() > 1 && digits[0] == '0')
      return fail(error,
                  "leading zero in IPv4 octet \"" + std::string(digits) + "\" (octal or decimal?)");
    int value = 0;
    for (char c : digits.substr(0, 4))
      value = value * 10 + (c - '0');
    if (value > 255) return fail(error, "IPv4 octet " + std::string(digits) + " is over 255");
    out[part] = static_cast<uint8_t>(value);
    const bool last = part == 3;
    if (last ? j != s.size() : (j >= s.size() || s[j] != '.')) return fail(error, kNotAnAddress);
    i = j + 1;
  }
  return true;
}

// RFC 4291 section 2.2 text forms: eight groups, one "::" for one or more zero
// groups, an optional dotted quad for the last two groups.
bool parseV6(std::string_view s, Bytes& out, std::string* error) {
  uint16_t groups[8] = {};
  int n = 0;
  int gap = -1; // group index where "::" stands
  size_t i = 0;
  if (s.substr(0, 2) == "::") {
    gap = 0;
    i = 2;
  }
  while (i < s.size()) {
    const size_t end = std::min(s.find(':', i), s.size());
    const std::string_view piece = s.substr(i, end - i);
    if (piece.find('.') != std::string_view::npos) {
      uint8_t quad[4];
      if (end != s.size() || n > 6 || !parseV4(piece, quad, error)) return false;
      groups[n++] = static_cast<uint16_t>(quad[0] << 8 | quad[1]);
      groups[n++] = static_cast<uint16_t>(quad[2] << 8 | quad[3]);
      break;
    }
    if (piece.empty() || piece.size() > 4 || n == 8) return false;
    int value = 0;
    for (char c : piece) {
      const int h = hexValue(c);
      if (h < 0) return false;
      value = value * 16 + h;
    }
    groups[n++] = static_cast<uint16_t>(value);
    if (end == s.size()) break;
    i = end + 1;
    if (i < s.size() && s[i] == ':') {
      if (gap >= 0) return false;
      gap = n;
      ++i;
    } else if (i == s.size()) {
      return false; // a single trailing colon
    }
  }
  if (gap < 0 ? n != 8 : n > 7) return false;
  const int zeros = 8 - n;
  int g = 0;
  for (int k = 0; k < n; ++k) {
    if (k == gap) g += zeros;
    out[2 * g] = static_cast<uint8_t>(groups[k] >> 8);
    out[2 * g + 1] = static_cast<uint8_t>(groups[k] & 0xff);
    ++g;
  }
  return true;
}

// Pointed messages for the usual copy-paste mistakes, before the grammar.
bool checkForeignSyntax(std::string_view s, std::string* error) {
  if (s.empty()) return fail(error, "empty address");
  for (char c : s)
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f')
      return fail(error, "whitespace in address");
  if (s.find_first_of("[]") != std::string_view::npos)
    return fail(error, "brackets are not allowed: write the bare address, e.g. 2001:db8::1");
  if (const size_t pct = s.find('%'); pct != std::string_view::npos)
    return fail(error, "zone id \"" + std::string(s.substr(pct, s.find('/', pct) - pct)) +
                           "\" is not allowed");
  return true;
}

// Parses one address; *written_v4 tells whether it was a dotted quad rather
// than IPv6 text (prefix lengths count in the written family).
std::optional<IpAddress> parseAddress(std::string_view s, bool* written_v4, std::string* error) {
  if (!checkForeignSyntax(s, error)) return std::nullopt;
  Bytes bytes{};
  const size_t colon = s.find(':');
  *written_v4 = colon == std::string_view::npos;
  if (*written_v4) {
    bytes[10] = bytes[11] = 0xff;
    if (!parseV4(s, bytes.data() + 12, error)) return std::nullopt;
    return fromBytes(bytes);
  }
  // IPv6 text never has a '.' before its first ':'; "10.0.0.1:80" is a port.
  const std::string_view head = s.substr(0, colon);
  if (head.find('.') != std::string_view::npos) {
    uint8_t quad[4];
    if (parseV4(head, quad, nullptr) && allDigits(s.substr(colon + 1))) {
      setError(error, "ports are not allowed");
      return std::nullopt;
    }
    setError(error, kNotAnAddress);
    return std::nullopt;
  }
  std::string detail;
  if (!parseV6(s, bytes, &detail)) {
    setError(error, detail.empty() ? kNotAnAddress : detail);
    return std::nullopt;
  }
  return fromBytes(bytes);
}

// Decimal, no sign or leading zero, at most the written family's width.
bool parsePrefixLength(std::string_view digits, bool written_v4, int* len, std::string* error) {
  if (digits.empty()) return fail(error, "missing prefix length after '/'");
  if (!allDigits(digits))
    return fail(error, "prefix length \"" + std::string(digits) + "\" is not a number");
  if (digits.size() > 1 && digits[0] == '0')
    return fail(error, "leading zero in prefix length \"" + std::string(digits) + "\"");
  const int width = written_v4 ? 32 : 128;
  int value = 0;
  for (char c : digits.substr(0, 4))
    value = value * 10 + (c - '0');
  if (value > width)
    return fail(error, "prefix length " + std::string(digits) + " is over " +
                           std::to_string(width) + (written_v4 ? " for IPv4" : " for IPv6"));
  *len = value;
  return true;
}

// Clears the bits after the first `len` bits of b[from..16).
Bytes masked(Bytes b, int from, int len) {
  for (int i = from; i < 16; ++i) {
    const int keep = std::clamp(len - 8 * (i - from), 0, 8);
    b[i] &= static_cast<uint8_t>(0xff00 >> keep);
  }
  return b;
}

// --- keys: the address as an unsigned integer in address order ---

uint32_t v4Key(const Bytes& b) {
  return uint32_t{b[12]} << 24 | uint32_t{b[13]} << 16 | uint32_t{b[14]} << 8 | b[15];
}

U128 v6Key(const Bytes& b) {
  U128 k;
  for (int i = 0; i < 8; ++i) {
    k.hi = k.hi << 8 | b[i];
    k.lo = k.lo << 8 | b[i + 8];
  }
  return k;
}

template <class Key> Key hostBits(int len);
template <> uint32_t hostBits<uint32_t>(int len) { return len >= 32 ? 0 : ~uint32_t{0} >> len; }
template <> U128 hostBits<U128>(int len) {
  if (len >= 128) return U128{};
  if (len >= 64) return U128{0, ~uint64_t{0} >> (len - 64)};
  return U128{~uint64_t{0} >> len, ~uint64_t{0}};
}

uint32_t withBits(uint32_t k, uint32_t bits) { return k | bits; }
U128 withBits(U128 k, U128 bits) { return U128{k.hi | bits.hi, k.lo | bits.lo}; }
uint32_t withoutBits(uint32_t k, uint32_t bits) { return k & ~bits; }
U128 withoutBits(U128 k, U128 bits) { return U128{k.hi & ~bits.hi, k.lo & ~bits.lo}; }
bool isMax(uint32_t k) { return k == ~uint32_t{0}; }
bool isMax(U128 k) { return k.hi == ~uint64_t{0} && k.lo == ~uint64_t{0}; }
uint32_t successor(uint32_t k) { return k + 1; }
U128 successor(U128 k) { return k.lo == ~uint64_t{0} ? U128{k.hi + 1, 0} : U128{k.hi, k.lo + 1}; }

// Index of the last range starting at or below `key` (ranges[0].start is the
// lowest key, so there is one). Branchless halving: the probes of a lookup are
// unpredictable, and a conditional move beats a mispredicted branch per step.
template <class Key> size_t rangeIndex(const std::vector<Range<Key>>& ranges, const Key& key) {
  const Range<Key>* base = ranges.data();
  for (size_t n = ranges.size(); n > 1; n -= n / 2)
    base = key < base[n / 2].start ? base : base + n / 2;
  return static_cast<size_t>(base - ranges.data());
}

// Makes `at` the start of a range; returns that range's index.
template <class Key> size_t splitAt(std::vector<Range<Key>>& ranges, Key at) {
  const size_t i = rangeIndex(ranges, at);
  if (ranges[i].start == at) return i;
  Range<Key> tail = ranges[i];
  tail.start = at;
  ranges.insert(ranges.begin() + static_cast<ptrdiff_t>(i) + 1, tail);
  return i + 1;
}

// Merges neighbours with the same label in ranges[from, to).
template <class Key> void coalesce(std::vector<Range<Key>>& ranges, size_t from, size_t to) {
  size_t out = from + 1;
  for (size_t i = from + 1; i < to; ++i) {
    const Range<Key>& prev = ranges[out - 1];
    if (ranges[i].value != prev.value || ranges[i].len != prev.len) ranges[out++] = ranges[i];
  }
  ranges.erase(ranges.begin() + static_cast<ptrdiff_t>(out),
               ranges.begin() + static_cast<ptrdiff_t>(to));
}

// Every range keeps the label of the longest prefix covering it. A new
// prefix covers whole ranges after two splits, and wins in those whose label
// is shorter; a longer label there belongs to a prefix nested inside it.
template <class Key> bool addTo(Family<Key>& f, Key base, int len, int value, int* existing) {
  const Key host = hostBits<Key>(len);
  base = withoutBits(base, host);
  auto it = std::lower_bound(f.prefixes.begin(), f.prefixes.end(), base,
                             [len](const Prefix<Key>& p, const Key& b) {
                               return p.base < b || (p.base == b && p.len < len);
                             });
  if (it != f.prefixes.end() && it->base == base && it->len == len) {
    if (existing) *existing = it->value;
    return false;
  }
  f.prefixes.insert(it, Prefix<Key>{base, static_cast<int16_t>(len), value});

  auto& ranges = f.ranges;
  if (ranges.empty()) ranges.push_back(Range<Key>{});
  const Key last = withBits(base, host);
  const size_t first = splitAt(ranges, base);
  const size_t end = isMax(last) ? ranges.size() : splitAt(ranges, successor(last));
  for (size_t i = first; i < end; ++i) {
    if (ranges[i].len < len) {
      ranges[i].value = value;
      ranges[i].len = static_cast<int16_t>(len);
    }
  }
  coalesce(ranges, first == 0 ? 0 : first - 1, std::min(end + 1, ranges.size()));
  return true;
}

template <class Key> std::optional<int> lookupIn(const Family<Key>& f, const Key& key) noexcept {
  if (f.ranges.empty()) return std::nullopt;
  const Range<Key>& r = f.ranges[rangeIndex(f.ranges, key)];
  if (r.len < 0) return std::nullopt;
  return r.value;
}

} // namespace

std::optional<IpAddress> parseIp(std::string_view text) {
  bool written_v4 = false;
  return parseAddress(text, &written_v4, nullptr);
}

std::optional<IpAddress> ipFromSockaddr(const sockaddr* sa) {
  if (!sa) return std::nullopt;
  Bytes bytes{};
  if (sa->sa_family == AF_INET) {
    sockaddr_in in;
    std::memcpy(&in, sa, sizeof in);
    bytes[10] = bytes[11] = 0xff;
    std::memcpy(bytes.data() + 12, &in.sin_addr.s_addr, 4); // network order = text order
    return fromBytes(bytes);
  }
  if (sa->sa_family == AF_INET6) {
    sockaddr_in6 in6;
    std::memcpy(&in6, sa, sizeof in6);
    std::memcpy(bytes.data(), in6.sin6_addr.s6_addr, 16);
    return fromBytes(bytes);
  }
  return std::nullopt;
}

size_t formatIp(const IpAddress& addr, char* out) {
  const Bytes& b = addr.bytes;
  char* p = out;
  if (isV4Mapped(b)) {
    for (int i = 12; i < 16; ++i) {
      if (i > 12) *p++ = '.';
      p = std::to_chars(p, out + kMaxIpText, b[i]).ptr;
    }
    return static_cast<size_t>(p - out);
  }
  unsigned groups[8];
  for (int i = 0; i < 8; ++i)
    groups[i] = unsigned{b[2 * i]} << 8 | b[2 * i + 1];
  // RFC 5952 section 4.2: "::" replaces the first longest run of two or more zero groups.
  int best = -1, best_len = 1;
  for (int i = 0; i < 8;) {
    int j = i;
    while (j < 8 && groups[j] == 0)
      ++j;
    if (j - i > best_len) {
      best = i;
      best_len = j - i;
    }
    i = j == i ? i + 1 : j;
  }
  for (int i = 0; i < 8; ++i) {
    if (i == best) {
      *p++ = ':';
      *p++ = ':';
      i += best_len - 1;
      continue;
    }
    if (i > 0 && i != best + best_len) *p++ = ':';
    p = std::to_chars(p, out + kMaxIpText, groups[i], 16).ptr;
  }
  return static_cast<size_t>(p - out);
}

std::string formatIp(const IpAddress& addr) {
  char buf[kMaxIpText];
  return std::string(buf, formatIp(addr, buf));
}

std::optional<Cidr> parseCidr(std::string_view text, std::string* error) {
  if (!checkForeignSyntax(text, error)) return std::nullopt;
  const size_t slash = text.find('/');
  bool written_v4 = false;
  auto addr = parseAddress(text.substr(0, slash), &written_v4, error);
  if (!addr) return std::nullopt;
  int len = written_v4 ? 32 : 128;
  if (slash != std::string_view::npos &&
      !parsePrefixLength(text.substr(slash + 1), written_v4, &len, error))
    return std::nullopt;
  // ::ffff:0:0/96 and longer is IPv4 space. A shorter prefix of a v4-mapped
  // base is IPv6 and has host bits set (the ffff), reported below.
  bool v4 = written_v4;
  if (!written_v4 && addr->is_v4 && len >= 96) {
    v4 = true;
    len -= 96;
  }
  const Bytes want = masked(addr->bytes, v4 ? 12 : 0, len);
  if (want != addr->bytes) {
    const Cidr suggestion{fromBytes(want), static_cast<uint8_t>(len)};
    setError(error, "host bits set: did you mean " + formatCidr(suggestion) + "?");
    return std::nullopt;
  }
  return Cidr{*addr, static_cast<uint8_t>(len)};
}

std::string formatCidr(const Cidr& cidr) {
  return formatIp(cidr.base) + "/" + std::to_string(cidr.prefix_len);
}

bool CidrTable::add(const Cidr& cidr, int value, int* existing) {
  const Bytes& b = cidr.base.bytes;
  if (isV4Mapped(b))
    return addTo(v4_, v4Key(b), std::min<int>(cidr.prefix_len, 32), value, existing);
  return addTo(v6_, v6Key(b), std::min<int>(cidr.prefix_len, 128), value, existing);
}

std::optional<int> CidrTable::lookup(const IpAddress& addr) const noexcept {
  const Bytes& b = addr.bytes;
  return isV4Mapped(b) ? lookupIn(v4_, v4Key(b)) : lookupIn(v6_, v6Key(b));
}

} // namespace routing
