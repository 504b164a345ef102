// Scalar conversions: durations, sizes, integers, socket addresses.
#include "proxy/config/values.h"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>

#include "proxy/config/load.h"

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

} // namespace
} // namespace proxy::config
