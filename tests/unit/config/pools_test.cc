// pools[]: balance, hash_key and sticky load into the Snapshot with their
// defaults; secrets come from the environment, a file or (with a warning) the
// config itself, or are generated with a warning; every mistake is reported
// at its key.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "routing/sticky.h"
#include "tests/unit/config/test_util.h"

namespace proxy::config {
namespace {

using test::allErrors;
using test::hasError;
using test::hasErrorAt;
using test::load;

// Lines 1-3: listener, "pools:", "  - name: app"; `keys` (4-space indented)
// start at line 4, followed by two servers and one route.
std::string withPool(std::string_view keys) {
  return "listeners: [{name: l, address: '127.0.0.1:0'}]\n"
         "pools:\n"
         "  - name: app\n" +
         std::string(keys) +
         "    servers:\n"
         "      - {name: s1, address: 127.0.0.1:9001}\n"
         "      - {name: s2, address: 127.0.0.1:9002, weight: 3}\n"
         "routes: [{name: r, pool: app}]\n";
}

const Pool& loadedPool(const LoadResult& r) {
  REQUIRE(r.ok());
  REQUIRE(r.snapshot->pools.size() == 1);
  return r.snapshot->pools[0];
}

// Sets an environment variable for one test case.
class ScopedEnv {
public:
  ScopedEnv(const char* name, const char* value) : name_(name) { setenv(name, value, 1); }
  ~ScopedEnv() { unsetenv(name_); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

private:
  const char* name_;
};

constexpr std::string_view kGeneratedWarning =
    "no secrets: a random key is generated for this process, so stickiness will not survive "
    "restarts or span instances; set sticky.secrets";

TEST_CASE("a pool without the new keys: round robin, no hash key, not sticky, server ids") {
  LoadResult r = load(withPool(""));
  INFO(allErrors(r));
  const Pool& pool = loadedPool(r);
  CHECK(pool.balance == Balance::kRoundRobin);
  CHECK(pool.hash_key.kind == KeySource::Kind::kNone);
  CHECK_FALSE(pool.sticky.enabled);
  CHECK(pool.sticky.secrets.empty());
  CHECK(r.warnings.empty());
  REQUIRE(pool.server_ids.size() == 2);
  CHECK(pool.server_ids[0] == routing::stickyServerId("app", "s1"));
  CHECK(pool.server_ids[1] == routing::stickyServerId("app", "s2"));
  CHECK(pool.server_ids[0] != pool.server_ids[1]);
}

TEST_CASE("every balance algorithm is accepted") {
  CHECK(loadedPool(load(withPool("    balance: round_robin\n"))).balance == Balance::kRoundRobin);
  CHECK(loadedPool(load(withPool("    balance: least_conn\n"))).balance == Balance::kLeastConn);
  CHECK(loadedPool(load(withPool("    balance: random_two\n"))).balance == Balance::kRandomTwo);
  LoadResult hash = load(withPool("    balance: hash\n    hash_key: client_ip\n"));
  INFO(allErrors(hash));
  CHECK(loadedPool(hash).balance == Balance::kHash);
}

TEST_CASE("hash_key: header, cookie, client_ip or path") {
  struct Case {
    std::string_view text;
    KeySource::Kind kind;
    std::string_view name;
  };
  for (const Case& c : {Case{"header:X-User-Id", KeySource::Kind::kHeader, "X-User-Id"},
                        Case{"cookie:JSESSIONID", KeySource::Kind::kCookie, "JSESSIONID"},
                        Case{"client_ip", KeySource::Kind::kClientIp, ""},
                        Case{"path", KeySource::Kind::kPath, ""}}) {
    LoadResult r = load(withPool("    balance: hash\n    hash_key: " + std::string(c.text) + "\n"));
    INFO(c.text);
    INFO(allErrors(r));
    const Pool& pool = loadedPool(r);
    CHECK(pool.hash_key.kind == c.kind);
    CHECK(pool.hash_key.name == c.name);
  }
}

TEST_CASE("balance and hash_key mistakes") {
  CHECK(hasError(load(withPool("    balance: least_con\n")),
                 "test.yaml:4:14: pools[0].balance: unknown balance 'least_con' (did you mean "
                 "'least_conn'?); expected round_robin, least_conn, random_two or hash"));
  CHECK(hasError(load(withPool("    hash_key: client_ip\n")),
                 "test.yaml:4:15: pools[0].hash_key: hash_key is only used with balance: hash "
                 "(balance defaults to round_robin)"));
  CHECK(hasErrorAt(load(withPool("    balance: least_conn\n    hash_key: path\n")),
                   "pools[0].hash_key", 5, 15, "(balance is least_conn)"));
  CHECK(hasError(load(withPool("    balance: hash\n")),
                 "test.yaml:4:14: pools[0].balance: balance: hash needs a hash_key: header:NAME, "
                 "cookie:NAME, client_ip or path"));
  LoadResult bad = load(withPool("    balance: hash\n    hash_key: query:q\n"));
  INFO(allErrors(bad));
  REQUIRE(bad.errors.size() == 1); // not also "needs a hash_key"
  CHECK(bad.errors[0].str() ==
        "test.yaml:5:15: pools[0].hash_key: unknown key source 'query:q'; expected header:NAME, "
        "cookie:NAME, client_ip or path");
  CHECK(hasError(load(withPool("    balance: hash\n    hash_key: cookie\n")),
                 "test.yaml:5:15: pools[0].hash_key: 'cookie:' needs a cookie name, e.g. "
                 "cookie:uid"));
  CHECK(hasErrorAt(load(withPool("    balance: hash\n    hash_key: cooki:sid\n")),
                   "pools[0].hash_key", 5, 15, "(did you mean 'cookie'?)"));
  CHECK(hasErrorAt(load(withPool("    balance: hash\n    hash_key: 'header:X User'\n")),
                   "pools[0].hash_key", 5, 15,
                   "'X User' is not a valid header name (RFC 9110 5.6.2: a token)"));
}

TEST_CASE("sticky: {} takes every default and a generated key, with a warning") {
  LoadResult r = load(withPool("    sticky: {}\n"));
  INFO(allErrors(r));
  const Pool& pool = loadedPool(r);
  const Sticky& s = pool.sticky;
  CHECK(s.enabled);
  CHECK(s.cookie == "SWY_SRV");
  CHECK(s.ttl_seconds == 0);
  CHECK(s.secure == Sticky::Secure::kAuto);
  CHECK(s.httponly);
  CHECK(s.samesite == "Lax");
  CHECK(s.generated_secret);
  REQUIRE(s.secrets.size() == 1);
  CHECK(s.secrets[0].size() == 32);
  CHECK(s.secrets[0] != std::string(32, '\0'));
  REQUIRE(r.warnings.size() == 1);
  CHECK(r.warnings[0] == "test.yaml:4:13: pools[0].sticky: " + std::string(kGeneratedWarning));
  LoadResult empty = load(withPool("    sticky: {secrets: []}\n"));
  REQUIRE(empty.warnings.size() == 1);
  CHECK(empty.warnings[0] ==
        "test.yaml:4:14: pools[0].sticky.secrets: " + std::string(kGeneratedWarning));
  CHECK(loadedPool(empty).sticky.generated_secret);
}

TEST_CASE("a generated key lasts the process: a reload keeps it, another pool gets its own") {
  std::string two = "listeners: [{name: l, address: '127.0.0.1:0'}]\n"
                    "pools:\n"
                    "  - {name: a, sticky: {}, servers: [{name: s, address: '127.0.0.1:1'}]}\n"
                    "  - {name: b, sticky: {}, servers: [{name: s, address: '127.0.0.1:1'}]}\n"
                    "routes: [{name: r, pool: a, match: {path: /}}, {name: q, pool: b}]\n";
  LoadResult first = load(two);
  LoadResult second = load(two);
  INFO(allErrors(first));
  REQUIRE(first.ok());
  REQUIRE(second.ok());
  const std::vector<Pool>& a = first.snapshot->pools;
  const std::vector<Pool>& b = second.snapshot->pools;
  CHECK(a[0].sticky.secrets == b[0].sticky.secrets);
  CHECK(a[1].sticky.secrets == b[1].sticky.secrets);
  CHECK(a[0].sticky.secrets != a[1].sticky.secrets);
  CHECK(first.warnings.size() == 2);
}

TEST_CASE("sticky: every key written, secrets from the environment in order") {
  ScopedEnv new_key("SWY_TEST_KEY_NEW", "new-key-0123456789abcdef");
  ScopedEnv old_key("SWY_TEST_KEY_OLD", "old-key-0123456789abcdef");
  LoadResult r = load(withPool(R"(    sticky:
      cookie: SRV_ID
      ttl: 7d
      secure: true
      httponly: false
      samesite: strict
      secrets: [env:SWY_TEST_KEY_NEW, env:SWY_TEST_KEY_OLD]
)"));
  INFO(allErrors(r));
  const Sticky& s = loadedPool(r).sticky;
  CHECK(s.enabled);
  CHECK(s.cookie == "SRV_ID");
  CHECK(s.ttl_seconds == 7 * 24 * 3600);
  CHECK(s.secure == Sticky::Secure::kAlways);
  CHECK_FALSE(s.httponly);
  CHECK(s.samesite == "Strict"); // canonical spelling
  CHECK(s.secrets ==
        std::vector<std::string>{"new-key-0123456789abcdef", "old-key-0123456789abcdef"});
  CHECK_FALSE(s.generated_secret);
  CHECK(r.warnings.empty());
}

TEST_CASE("sticky ttl units and secure: false") {
  struct Case {
    std::string_view ttl;
    uint64_t seconds;
  };
  for (const Case& c : {Case{"0", 0}, Case{"0s", 0}, Case{"45s", 45}, Case{"30m", 1800},
                        Case{"12h", 43200}, Case{"400d", 400 * 86400}}) {
    LoadResult r = load(withPool("    sticky: {ttl: " + std::string(c.ttl) + ", secure: false}\n"));
    INFO(c.ttl);
    INFO(allErrors(r));
    const Sticky& s = loadedPool(r).sticky;
    CHECK(s.ttl_seconds == c.seconds);
    CHECK(s.secure == Sticky::Secure::kNever);
  }
}

TEST_CASE("sticky secrets from a file lose one trailing newline; literals warn") {
  char path[] = "/tmp/switchyard-secret-test-XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  std::string key = "file-key-0123456789\n";
  REQUIRE(write(fd, key.data(), key.size()) == static_cast<ssize_t>(key.size()));
  close(fd);
  LoadResult r = load(withPool("    sticky:\n      secrets:\n        - file:" + std::string(path) +
                               "\n        - literal-key-0123456789\n"));
  unlink(path);
  INFO(allErrors(r));
  const Sticky& s = loadedPool(r).sticky;
  CHECK(s.secrets == std::vector<std::string>{"file-key-0123456789", "literal-key-0123456789"});
  REQUIRE(r.warnings.size() == 1);
  CHECK(r.warnings[0] == "test.yaml:7:11: pools[0].sticky.secrets[1]: a literal secret in the "
                         "config file; secrets belong in env:NAME or file:PATH");
  LoadResult scalar = load(withPool("    sticky: {secrets: literal-key-0123456789}\n"));
  INFO(allErrors(scalar));
  CHECK(loadedPool(scalar).sticky.secrets == std::vector<std::string>{"literal-key-0123456789"});
}

TEST_CASE("sticky secrets: unset, empty, short or unreadable are errors at the entry") {
  ScopedEnv empty("SWY_TEST_EMPTY", "");
  ScopedEnv short_key("SWY_TEST_SHORT", "0123456789");
  unsetenv("SWY_TEST_UNSET");
  LoadResult r = load(withPool(R"(    sticky:
      secrets:
        - env:SWY_TEST_UNSET
        - env:SWY_TEST_EMPTY
        - env:SWY_TEST_SHORT
        - file:/nonexistent/sticky.key
        - tooshort
        - 'env:'
)"));
  INFO(allErrors(r));
  CHECK(r.errors.size() == 6);
  CHECK(hasError(r, "test.yaml:6:11: pools[0].sticky.secrets[0]: environment variable "
                    "SWY_TEST_UNSET is not set"));
  CHECK(hasError(r, "test.yaml:7:11: pools[0].sticky.secrets[1]: environment variable "
                    "SWY_TEST_EMPTY is empty"));
  CHECK(hasError(r, "test.yaml:8:11: pools[0].sticky.secrets[2]: the secret from "
                    "env:SWY_TEST_SHORT is 10 bytes; a secret must be at least 16 bytes (32 "
                    "random bytes are best)"));
  CHECK(hasError(r, "test.yaml:9:11: pools[0].sticky.secrets[3]: cannot read secret file "
                    "'/nonexistent/sticky.key': No such file or directory"));
  CHECK(hasErrorAt(r, "pools[0].sticky.secrets[4]", 10, 11, "the literal secret is 8 bytes"));
  CHECK(hasErrorAt(r, "pools[0].sticky.secrets[5]", 11, 11, "'env:' needs a variable name"));
  for (const Diagnostic& d : r.errors)
    CHECK(d.message.find("0123456789") == std::string::npos); // never echo key bytes
}

TEST_CASE("sticky attribute mistakes") {
  LoadResult r = load(withPool(R"(    sticky:
      cookie: 'SWY SRV'
      ttl: 12
      secure: yes
      httponly: maybe
      samesite: Laxx
      htponly: true
)"));
  INFO(allErrors(r));
  CHECK(r.errors.size() == 6);
  CHECK(hasError(r, "test.yaml:5:15: pools[0].sticky.cookie: 'SWY SRV' is not a valid cookie "
                    "name (RFC 6265 4.1.1: a token)"));
  CHECK(hasError(r, "test.yaml:6:12: pools[0].sticky.ttl: a duration needs a unit: write '12s', "
                    "or 0 for a session cookie"));
  CHECK(hasError(r, "test.yaml:7:15: pools[0].sticky.secure: unknown secure 'yes'; expected "
                    "auto, true or false"));
  CHECK(hasError(r, "test.yaml:8:17: pools[0].sticky.httponly: expected true or false, got "
                    "'maybe'"));
  CHECK(hasError(r, "test.yaml:9:17: pools[0].sticky.samesite: unknown samesite 'Laxx' (did you "
                    "mean 'Lax'?); expected Strict, Lax or None"));
  CHECK(hasErrorAt(r, "pools[0].sticky.htponly", 10, 7, "(did you mean 'httponly'?)"));
  CHECK(hasError(load(withPool("    sticky: {ttl: 401d}\n")),
                 "test.yaml:4:19: pools[0].sticky.ttl: must be at most 400d (34560000s): "
                 "browsers cap cookie lifetimes at 400 days; got 34646400s"));
  CHECK(hasErrorAt(load(withPool("    sticky: {ttl: 1w}\n")), "pools[0].sticky.ttl", 4, 19,
                   "expected 0 or a duration such as 30m, 12h or 7d"));
  CHECK(hasErrorAt(load(withPool("    sticky: on\n")), "pools[0].sticky", 4, 13,
                   "expected a mapping"));
}

TEST_CASE("samesite: None needs Secure: an error with secure: false, a warning with auto") {
  CHECK(hasError(load(withPool("    sticky: {samesite: None, secure: false}\n")),
                 "test.yaml:4:24: pools[0].sticky.samesite: samesite: None requires a Secure "
                 "cookie (browsers drop it otherwise); set secure: true, or choose Lax or "
                 "Strict"));
  LoadResult auto_secure = load(withPool("    sticky: {samesite: none}\n"));
  INFO(allErrors(auto_secure));
  CHECK(loadedPool(auto_secure).sticky.samesite == "None");
  REQUIRE(auto_secure.warnings.size() == 2); // and the generated key
  CHECK(auto_secure.warnings[1] ==
        "test.yaml:4:24: pools[0].sticky.samesite: samesite: None with secure: auto: on a "
        "plain-HTTP listener the cookie is not Secure and browsers drop it; set secure: true "
        "if that is intended");
  LoadResult secure = load(withPool("    sticky: {samesite: None, secure: true}\n"));
  INFO(allErrors(secure));
  CHECK(loadedPool(secure).sticky.samesite == "None");
  CHECK(secure.warnings.size() == 1); // only the generated key
}

TEST_CASE("sticky works with any balance, hash included") {
  LoadResult r =
      load(withPool("    balance: hash\n    hash_key: cookie:JSESSIONID\n    sticky: {}\n"));
  INFO(allErrors(r));
  const Pool& pool = loadedPool(r);
  CHECK(pool.balance == Balance::kHash);
  CHECK(pool.sticky.enabled);
}

} // namespace
} // namespace proxy::config
