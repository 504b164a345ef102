#include "routing/stable_hash.h"

#include <doctest/doctest.h>

#include <bit>
#include <cstdint>
#include <set>
#include <string>

using routing::stableHash;

namespace {

// xxHash's own sanity buffer (xxhsum.c, BMK_sanityCheck): 101 bytes.
std::string sanityBuffer() {
  std::string buf;
  uint32_t gen = 2654435761U;
  for (int i = 0; i < 101; ++i) {
    buf.push_back(static_cast<char>(gen >> 24));
    gen *= gen;
  }
  return buf;
}

} // namespace

TEST_CASE("stableHash is XXH64: the reference vectors, every code path, with and without seed") {
  const uint64_t prime = 2654435761U;
  const std::string buf = sanityBuffer();
  CHECK(stableHash("") == 0xEF46DB3751D8E999ULL);
  CHECK(stableHash("", prime) == 0xAC75FDA2929B17EFULL);
  CHECK(stableHash(std::string_view(buf).substr(0, 1)) == 0x4FCE394CC88952D8ULL);
  CHECK(stableHash(std::string_view(buf).substr(0, 1), prime) == 0x739840CB819FA723ULL);
  CHECK(stableHash(std::string_view(buf).substr(0, 14)) == 0xCFFA8DB881BC3A3DULL);
  CHECK(stableHash(std::string_view(buf).substr(0, 14), prime) == 0x5B9611585EFCC9CBULL);
  CHECK(stableHash(buf) == 0x0EAB543384F878ADULL);
  CHECK(stableHash(buf, prime) == 0xCAA65939306F1E21ULL);
  CHECK(stableHash("a") == 0xD24EC4F1A98C6E5BULL);
  CHECK(stableHash("abc") == 0x44BC2CF5AD770999ULL);
  CHECK(stableHash("Nobody inspects the spammish repetition") == 0xFBCEA83C8A378BF1ULL);
}

TEST_CASE("stableHash reads unaligned input the same as aligned input") {
  const std::string buf = "x" + sanityBuffer();
  CHECK(stableHash(std::string_view(buf).substr(1)) == 0x0EAB543384F878ADULL);
}

TEST_CASE("stableHash: embedded NULs count, and one flipped bit flips about half the output") {
  using namespace std::string_literals;
  CHECK(stableHash("a\0b"s) != stableHash("ab"s));
  CHECK(stableHash("a\0"s) != stableHash("a"s));
  // Avalanche: over 64 inputs x every input bit, the mean number of output
  // bits flipped is close to 32.
  uint64_t flipped = 0, trials = 0;
  for (int n = 0; n < 64; ++n) {
    std::string s = "key-" + std::to_string(n * 7919);
    const uint64_t h = stableHash(s);
    for (size_t byte = 0; byte < s.size(); ++byte) {
      for (int bit = 0; bit < 8; ++bit) {
        std::string t = s;
        t[byte] = static_cast<char>(t[byte] ^ (1 << bit));
        flipped += static_cast<uint64_t>(std::popcount(h ^ stableHash(t)));
        ++trials;
      }
    }
  }
  const double mean = static_cast<double>(flipped) / static_cast<double>(trials);
  CHECK(mean > 31.5);
  CHECK(mean < 32.5);
}

TEST_CASE("stableHash: 200k distinct short keys give distinct hashes") {
  std::set<uint64_t> seen;
  for (int i = 0; i < 200000; ++i)
    seen.insert(stableHash("user-" + std::to_string(i)));
  CHECK(seen.size() == 200000);
}
