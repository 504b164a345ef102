// IPv4/IPv6 addresses, CIDR prefixes and a longest-prefix-match table, for
// route `match: {source: [...]}` conditions and listener `allow:`/`deny:` lists.
//
// One address form serves both families: IPv4 is stored IPv4-mapped
// (::ffff:a.b.c.d, RFC 4291 section 2.5.5.2). Anything whose bytes are
// v4-mapped *is* IPv4 here, whatever its `is_v4` says: parseIp("::ffff:1.2.3.4"),
// an AF_INET6 peer that is v4-mapped (dual-stack listener) and 1.2.3.4 are the
// same client. The families never meet in a table: IPv4 prefixes match only
// IPv4 addresses and IPv6 prefixes only IPv6 ones, so 0.0.0.0/0 is "all of
// IPv4" and ::/0 is "all of IPv6" (::/0 does not match a v4-mapped peer).
//
// Parsing is strict, as config input should be: dotted quads only (no
// "10.1", no hex or octal, no leading zeros: "010.0.0.1" is octal to inet_aton
// and decimal to others), no brackets, ports, zone ids ("fe80::1%eth0") or
// whitespace. A prefix with host bits set is an error that suggests the
// masked form, as firewalls and most proxies warn.
//
// CidrTable data structure: the address space of each family is flattened
// into sorted, disjoint ranges, each labelled with the value of the longest
// prefix covering it (or none). lookup() is one branchless binary search over
// that vector: O(log n) whatever the mix of prefix lengths (probing per length
// costs up to 33 or 129 probes), no pointer chasing as in a bit trie, nothing
// allocated; about 25-70 ns for 100 to 10k IPv4 prefixes. add() splits at most
// two ranges and relabels the ranges inside the new prefix whose label is
// shorter: O(n) memmove at worst, so building n prefixes is O(n^2) bytes moved
// (1k: under 1 ms, 10k: ~30-70 ms), fine at config compile. At most 2n + 1
// ranges per family.
//
// Threading: a built table is immutable; const lookups from any number of
// threads are safe (it lives in the config snapshot). add() is not.
#pragma once

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct sockaddr;

namespace routing {

// 16-byte form. For every value made here, is_v4 == (bytes are v4-mapped).
struct IpAddress {
  std::array<uint8_t, 16> bytes{};
  bool is_v4 = false;
  bool operator==(const IpAddress&) const = default;
};

// "10.1.2.3", "2001:db8::1", "::ffff:10.1.2.3" (becomes IPv4). nullopt if not
// exactly one address (see the strictness rules above).
std::optional<IpAddress> parseIp(std::string_view text);
// AF_INET or AF_INET6 (v4-mapped peers count as IPv4; the scope id is
// dropped). nullopt for null or any other family. `sa` must point at a whole
// sockaddr_in / sockaddr_in6 (e.g. a sockaddr_storage from uv_tcp_getpeername).
std::optional<IpAddress> ipFromSockaddr(const sockaddr* sa);
// Dotted quad for IPv4; RFC 5952 text for IPv6 (lowercase, longest zero run
// of two or more groups as "::").
std::string formatIp(const IpAddress& addr);
// The same into `out` (at least kMaxIpText bytes, not NUL-terminated) with no
// allocation; returns the length. The proxy formats each request's peer.
constexpr size_t kMaxIpText = 40; // 8 groups of 4 hex digits and 7 colons
size_t formatIp(const IpAddress& addr, char* out);

struct Cidr {
  IpAddress base;         // host bits are zero
  uint8_t prefix_len = 0; // in the address's own family: 0-32 for IPv4, 0-128 for IPv6
  bool operator==(const Cidr&) const = default;
};

// "10.0.0.0/8", "2001:db8::/32", or a bare address (= /32 or /128). A
// v4-mapped IPv6 prefix of /96 or longer is the IPv4 prefix it maps
// ("::ffff:10.0.0.0/104" is 10.0.0.0/8). On failure returns nullopt and, if
// `error` is not null, sets it to a short message a user can act on.
std::optional<Cidr> parseCidr(std::string_view text, std::string* error);
std::string formatCidr(const Cidr& cidr);

namespace cidr_detail {

// A 128-bit key in address order (hi = first 8 bytes, big-endian).
struct U128 {
  uint64_t hi = 0;
  uint64_t lo = 0;
  auto operator<=>(const U128&) const = default;
};

template <class Key> struct Prefix {
  Key base{};
  int16_t len = 0;
  int value = 0;
};

// [start, next range's start) is covered best by a prefix of length `len`
// carrying `value`; len -1: by none.
template <class Key> struct Range {
  Key start{};
  int value = 0;
  int16_t len = -1;
};

template <class Key> struct Family {
  std::vector<Prefix<Key>> prefixes; // sorted by (base, len): duplicates, size()
  std::vector<Range<Key>> ranges;    // sorted by start; empty or ranges[0].start == 0
};

} // namespace cidr_detail

// Longest-prefix-match table: each prefix carries an int (1 = allow, 0 = deny,
// an index, ...). Copyable; see the top of the file for cost and threading.
class CidrTable {
public:
  // Returns false if the same prefix was already added (setting *existing to
  // its value when `existing` is not null) so config can report duplicates
  // and conflicts. Expects a parseCidr result; otherwise host bits are
  // ignored and a prefix_len over the family's width is taken as that width.
  bool add(const Cidr& cidr, int value, int* existing = nullptr);
  // Value of the longest prefix containing addr, or nullopt. Allocation-free.
  std::optional<int> lookup(const IpAddress& addr) const noexcept;
  bool empty() const noexcept { return size() == 0; }
  size_t size() const noexcept { return v4_.prefixes.size() + v6_.prefixes.size(); }
  size_t rangeCountForTest() const noexcept { return v4_.ranges.size() + v6_.ranges.size(); }

private:
  cidr_detail::Family<uint32_t> v4_;
  cidr_detail::Family<cidr_detail::U128> v6_;
};

} // namespace routing
