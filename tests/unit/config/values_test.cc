// Scalar conversions: durations, sizes, integers, socket addresses, cookie
// lifetimes, key sources; sticky secrets.
#include "proxy/config/values.h"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>

#include "proxy/config/load.h"
#include "proxy/config/secrets.h"

namespace proxy::config {
namespace {

uint64_t duration(std::string_view text) {
  uint64_t ms = 12345;
  REQUIRE(parseDuration(text, &ms));
  return ms;
}

bool badDuration(std::string_view text) {
  uint64_t ms = 0;
  return !parseDuration(text, &ms) && !durationError(text).empty();
}

TEST_CASE("durations: ms, s, m, h") {
  CHECK(duration("250ms") == 250);
  CHECK(duration("0ms") == 0);
  CHECK(duration("2s") == 2000);
  CHECK(duration("1m") == 60000);
  CHECK(duration("1h") == 3600000);
  CHECK(duration("007s") == 7000);
  CHECK(durationError("2s").empty());
}

TEST_CASE("durations: bare numbers and anything else are errors") {
  for (std::string_view text :
       {"", "2", "s", "ms", "1.5s", "-1s", "2 s", " 2s", "2S", "2sec", "2d", "1e3ms", "2s ",
        "18446744073709551615h", "99999999999999999999ms"}) {
    CAPTURE(text);
    CHECK(badDuration(text));
  }
  CHECK(durationError("30") == "a duration needs a unit: write '30s' or '30ms'");
}

TEST_CASE("sizes and integers") {
  uint64_t v = 0;
  CHECK(parseUint("0", &v));
  CHECK(v == 0);
  CHECK(parseUint("18446744073709551615", &v));
  CHECK(v == UINT64_MAX);
  CHECK_FALSE(parseUint("18446744073709551616", &v));
  CHECK_FALSE(parseUint("", &v));
  CHECK_FALSE(parseUint("+1", &v));
  CHECK_FALSE(parseUint("0x10", &v));
  CHECK(parseSize("32k", &v));
  CHECK(v == 32768);
  CHECK(parseSize("2M", &v));
  CHECK(v == 2097152);
  CHECK(parseSize("100", &v));
  CHECK(v == 100);
  CHECK_FALSE(parseSize("1g", &v));
  CHECK_FALSE(parseSize("kb", &v));
  CHECK_FALSE(parseSize("1kb", &v));
  CHECK_FALSE(parseSize("18446744073709551615k", &v));
}

std::string parsed(std::string_view text, SocketAddress* out) {
  return parseSocketAddress(text, out);
}

TEST_CASE("addresses: IPv4, bracketed IPv6, port 0, localhost") {
  SocketAddress a;
  REQUIRE(parsed("127.0.0.1:8080", &a) == "");
  CHECK(a.storage.ss_family == AF_INET);
  CHECK(a.length == sizeof(sockaddr_in));
  CHECK(addressPort(a) == 8080);
  CHECK(a.text == "127.0.0.1:8080");
  CHECK(reinterpret_cast<const sockaddr_in*>(a.sa())->sin_addr.s_addr == htonl(INADDR_LOOPBACK));

  REQUIRE(parsed("[::1]:443", &a) == "");
  CHECK(a.storage.ss_family == AF_INET6);
  CHECK(a.length == sizeof(sockaddr_in6));
  CHECK(addressPort(a) == 443);
  CHECK(a.text == "[::1]:443");

  REQUIRE(parsed("0.0.0.0:0", &a) == "");
  CHECK(addressPort(a) == 0);
  REQUIRE(parsed("[::]:80", &a) == "");
  CHECK(a.storage.ss_family == AF_INET6);
  REQUIRE(parsed("localhost:9001", &a) == "");
  CHECK(a.storage.ss_family == AF_INET);
  CHECK(addressPort(a) == 9001);
  REQUIRE(parsed("LocalHost:1", &a) == "");
}

TEST_CASE("addresses: what is wrong is said") {
  SocketAddress a;
  a.text = "untouched";
  CHECK(parsed("", &a).find("empty address") == 0);
  CHECK(parsed("127.0.0.1", &a).find("missing port") == 0);
  CHECK(parsed("127.0.0.1:", &a) == "port must be a number between 0 and 65535");
  CHECK(parsed("127.0.0.1:http", &a) == "port must be a number between 0 and 65535");
  CHECK(parsed("127.0.0.1:65536", &a) == "port must be a number between 0 and 65535");
  CHECK(parsed("127.0.0.1:-1", &a) == "port must be a number between 0 and 65535");
  CHECK(parsed("::1:80", &a).find("brackets") != std::string::npos);
  CHECK(parsed("[::1]", &a).find("missing port") == 0);
  CHECK(parsed("[::1]80", &a).find("missing port") == 0);
  CHECK(parsed("[127.0.0.1]:80", &a) == "'127.0.0.1' is not a valid IPv6 address");
  CHECK(parsed("1.2.3:80", &a) == "'1.2.3' is not a valid IPv4 address");
  CHECK(parsed("1:80", &a) == "'1' is not a valid IPv4 address");
  CHECK(parsed("exa mple:80", &a) == "'exa mple' is not a valid host name");
  CHECK(parsed(":80", &a).find("missing host") == 0);
  CHECK(a.text == "untouched"); // failures leave the output alone

  AddressRules server;
  server.allow_port_zero = false;
  CHECK(parseAddress("127.0.0.1:0", server, &a) == "port must be a number between 1 and 65535");
  CHECK(parseAddress("127.0.0.1:65535", server, &a) == "");
  AddressRules listener;
  listener.allow_port_zero = true;
  listener.allow_hostnames = false;
  CHECK(parseAddress("localhost:0", listener, &a) == "");
  CHECK(parseAddress("[::1]:0", listener, &a) == "");
  CHECK(parseAddress("example.com:80", listener, &a).find("is not allowed here") !=
        std::string::npos);
}

TEST_CASE("cookie lifetimes: 0 or s, m, h, d") {
  uint64_t seconds = 99;
  CHECK(parseTtl("0", &seconds) == "");
  CHECK(seconds == 0);
  CHECK(parseTtl("90s", &seconds) == "");
  CHECK(seconds == 90);
  CHECK(parseTtl("2d", &seconds) == "");
  CHECK(seconds == 172800);
  CHECK(parseTtl("5", &seconds) == "a duration needs a unit: write '5s', or 0 for a session "
                                   "cookie");
  for (std::string_view text : {"", "d", "1ms", "1w", "1.5h", "-1d", "1 d", "99999999999999999d"})
    CHECK(parseTtl(text, &seconds).find("expected 0 or a duration") == 0);
}

TEST_CASE("key sources: each form, restricted to the kinds a key accepts") {
  KeyKinds all{true, true, true, true};
  KeySource key;
  CHECK(parseKeySource("header:X-A", all, &key) == "");
  CHECK((key.kind == KeySource::Kind::kHeader && key.name == "X-A"));
  CHECK(parseKeySource("cookie:sid", all, &key) == "");
  CHECK((key.kind == KeySource::Kind::kCookie && key.name == "sid"));
  CHECK(parseKeySource("client_ip", all, &key) == "");
  CHECK((key.kind == KeySource::Kind::kClientIp && key.name.empty()));
  CHECK(parseKeySource("path", all, &key) == "");
  CHECK(key.kind == KeySource::Kind::kPath);
  KeyKinds names{true, true, false, false};
  CHECK(parseKeySource("path", names, &key) ==
        "'path' is not accepted here; expected header:NAME or cookie:NAME");
  CHECK(key.kind == KeySource::Kind::kPath); // failures leave the output alone
  CHECK(parseKeySource("header:", names, &key) ==
        "'header:' needs a header name, e.g. header:X-User-Id");
  CHECK(parseKeySource("heder:X", names, &key) ==
        "unknown key source 'heder:X' (did you mean 'header'?); expected header:NAME or "
        "cookie:NAME");
  CHECK(parseKeySource("Client_IP", all, &key).find("unknown key source") == 0);
  CHECK(parseKeySource("cookie:a=b", all, &key) ==
        "'a=b' is not a valid cookie name (RFC 6265 4.1.1: a token)");
}

TEST_CASE("secrets: literal text, and generated keys of 32 random bytes") {
  ResolvedSecret secret;
  CHECK(resolveSecret("0123456789abcdef", &secret) == "");
  CHECK(secret.literal);
  CHECK(secret.bytes == "0123456789abcdef");
  CHECK(resolveSecret("0123456789abcde", &secret).find("is 15 bytes") != std::string::npos);
  CHECK(resolveSecret("file:", &secret) ==
        "'file:' needs a path, e.g. file:/etc/switchyard/sticky.key");
  CHECK(resolveSecret("file:/tmp", &secret) == "cannot read secret file '/tmp': Is a directory");
  std::string a;
  std::string b;
  REQUIRE(randomSecret(&a) == "");
  REQUIRE(randomSecret(&b) == "");
  CHECK(a.size() == kGeneratedSecretBytes);
  CHECK(a != b);
}

} // namespace
} // namespace proxy::config
