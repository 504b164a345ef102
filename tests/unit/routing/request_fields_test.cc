#include "routing/request_fields.h"

#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include "routing/route_table.h"

using routing::findCookie;
using routing::findQueryParam;

namespace {

// Returns the cookie's value, or "<absent>".
std::string cookie(std::string_view header, std::string_view name) {
  std::string_view value;
  return findCookie(header, name, &value) ? std::string(value) : "<absent>";
}

std::string param(std::string_view query, std::string_view name) {
  std::string_view value;
  return findQueryParam(query, name, &value) ? std::string(value) : "<absent>";
}

std::string decode(std::string_view raw) {
  std::string out = "stale";
  routing::decodeQueryValue(raw, &out);
  return out;
}

} // namespace

TEST_CASE("findCookie: plain pairs, spacing, first occurrence") {
  CHECK(cookie("a=1; b=2", "a") == "1");
  CHECK(cookie("a=1; b=2", "b") == "2");
  CHECK(cookie("a=1;b=2", "b") == "2");
  CHECK(cookie("  a=1 ;\tb=2  ", "b") == "2");
  CHECK(cookie("a=1 ; b=2", "a") == "1");
  CHECK(cookie("b=first; b=second", "b") == "first");
  CHECK(cookie("a=; b=2", "a") == "");
  CHECK(cookie("a=x=y", "a") == "x=y");
}

TEST_CASE("findCookie: whole names only, case-sensitive, absent") {
  CHECK(cookie("xbeta=1", "beta") == "<absent>");
  CHECK(cookie("betax=1", "beta") == "<absent>");
  CHECK(cookie("xbeta=1; beta=2", "beta") == "2");
  CHECK(cookie("Beta=1", "beta") == "<absent>");
  CHECK(cookie("", "a") == "<absent>");
  CHECK(cookie(";;", "a") == "<absent>");
  CHECK(cookie("a; b=2", "a") == "<absent>"); // a pair without '=' is ignored
  CHECK(cookie("c=a=1", "a") == "<absent>");  // '=' inside a value is not a name
}

TEST_CASE("findQueryParam: names, bare keys, first occurrence") {
  CHECK(param("a=1&b=2&c", "a") == "1");
  CHECK(param("a=1&b=2&c", "b") == "2");
  CHECK(param("a=1&b=2&c", "c") == "");
  CHECK(param("a=1&b=2&c", "d") == "<absent>");
  CHECK(param("a=1&a=2", "a") == "1");
  CHECK(param("xa=1&a=2", "a") == "2");
  CHECK(param("ab=1", "a") == "<absent>");
  CHECK(param("&&a=%20x&", "a") == "%20x"); // raw, not decoded
  CHECK(param("", "a") == "<absent>");
  CHECK(param("q=a=b", "q") == "a=b");
}

TEST_CASE("decodeQueryValue: escapes, plus, malformed escapes") {
  CHECK(decode("") == "");
  CHECK(decode("plain") == "plain");
  CHECK(decode("a+b") == "a b");
  CHECK(decode("%41%62c") == "Abc");
  CHECK(decode("%2b%2B") == "++");
  CHECK(decode("100%") == "100%");
  CHECK(decode("%4") == "%4");
  CHECK(decode("%zz%4g") == "%zz%4g");
  CHECK(decode("%e2%82%ac") == "\xe2\x82\xac");
  CHECK(decode("%00").size() == 1);
}

TEST_CASE("decodeQueryValue reuses the buffer") {
  std::string out;
  routing::decodeQueryValue("a fairly long value that needs a real allocation", &out);
  const char* data = out.data();
  routing::decodeQueryValue("short", &out);
  CHECK(out == "short");
  CHECK(out.data() == data);
}

TEST_CASE("equalsLowercase and toLowerAscii") {
  CHECK(routing::equalsLowercase("X-User", "x-user"));
  CHECK(routing::equalsLowercase("COOKIE", "cookie"));
  CHECK_FALSE(routing::equalsLowercase("x-users", "x-user"));
  CHECK_FALSE(routing::equalsLowercase("x-usez", "x-user"));
  CHECK(routing::toLowerAscii("X-Forwarded-FOR") == "x-forwarded-for");
}
