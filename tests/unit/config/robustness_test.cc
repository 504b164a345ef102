// Whatever the input, loading never throws or crashes, and a rejected config
// always says why.
#include <doctest/doctest.h>

#include <cstdint>
#include <string>

#include "tests/unit/config/test_util.h"

namespace proxy::config {
namespace {

using test::allErrors;
using test::load;
using test::minimal;

void checkRejected(std::string_view yaml) {
  LoadResult r = load(yaml);
  INFO(yaml);
  INFO(allErrors(r));
  CHECK_FALSE(r.ok());
  CHECK_FALSE(r.errors.empty());
}

TEST_CASE("not a mapping at the top, empty files, several documents") {
  checkRejected("");
  checkRejected("\n\n# only a comment\n");
  checkRejected("~");
  checkRejected("42");
  checkRejected("[1, 2]");
  checkRejected("- a\n- b\n");
  checkRejected(minimal() + "---\n" + minimal());
  CHECK(test::hasError(load(minimal() + "---\nworkers: 2\n"),
                       "test.yaml:10:1: a second YAML document starts here; the config must be "
                       "one document"));
  CHECK(test::hasError(load(""), "test.yaml:1:1: the config is empty: expected a mapping with "
                                 "listeners, pools and routes"));
  CHECK(test::hasError(load("- a\n"), "test.yaml:1:1: the config must be a mapping (key: value) "
                                      "with listeners, pools and routes"));
}

// yaml-cpp 0.7's LoadAll loops forever, allocating, on a stray ',' at the
// start of a document (jbeder/yaml-cpp#1040).
TEST_CASE("a stray comma is a syntax error, not an endless loop") {
  CHECK(test::hasError(load(","), "test.yaml:1:1: YAML syntax error: unexpected ','"));
  CHECK(test::hasError(load(", workers: 1\n"), "test.yaml:1:1: YAML syntax error: unexpected ','"));
  CHECK(
      test::hasError(load("# comment\n  ,\n"), "test.yaml:2:3: YAML syntax error: unexpected ','"));
  CHECK(test::hasError(load("---\n,"), "test.yaml:2:1: YAML syntax error: unexpected ','"));
  CHECK(test::hasError(load("a: 1\n---\n, b"), "test.yaml:3:1: YAML syntax error: unexpected ','"));
  checkRejected(minimal() + "---\n" + minimal() + "---\n,\n");
}

TEST_CASE("garbage text") {
  for (std::string_view text :
       {"{", "}", "[", "]]]", ": :", "a: b: c", "'unterminated", "\"unterminated", "&a", "*a",
        "!!binary x", "%YAML 9.9\n---\na: 1", "\t\t", "key: value\n  bad indent: x\n", "? ? ?",
        "a: &x 1\nb: *y\n", "\xff\xfe\x00\x01", "listeners: [", "{{{{{{{{{{{{{{{{{{"}) {
    checkRejected(text);
  }
}

TEST_CASE("weird shapes where mappings, lists or scalars are expected") {
  checkRejected("listeners: 5\npools: x\nroutes: {a: 1}\n");
  checkRejected("listeners: [[1]]\npools: [null]\nroutes: [~, [], {}]\n");
  checkRejected("listeners: [{name: [a], address: {x: 1}}]\n");
  checkRejected(std::string(test::kListenersAndPool) +
                "routes: [{name: r, pool: app, match: {headers: [a], cookies: x, query: ~}}]\n");
  checkRejected(std::string(test::kListenersAndPool) +
                "routes: [{name: r, pool: app, match: {methods: {GET: 1}, headers: {a: [x]}}}]\n");
  checkRejected(std::string(test::kListenersAndPool) +
                "routes: [{name: r, pool: app, match: {methods: [[GET], ~, {a: b}]}}]\n");
  checkRejected("? [complex, key]\n: 1\n" + minimal());
  checkRejected("access_log: [off]\n" + minimal());
  checkRejected("timeouts: [1s]\nlimits: 5\n" + minimal());
  checkRejected("pools: [{name: p, servers: [{name: s, address: '127.0.0.1:1', weight: [1]}]}]\n");
  std::string servers = "servers: [{name: s, address: '127.0.0.1:1'}]";
  std::string tail = "routes: [{name: r, pool: p}]\n";
  for (std::string_view pool_keys :
       {"sticky: [1]", "sticky: ~", "sticky: {secrets: {a: 1}}", "sticky: {secrets: [[a]]}",
        "sticky: {ttl: [], httponly: {}, cookie: ~}", "hash_key: [a], balance: hash",
        "balance: {hash: 1}"}) {
    checkRejected("listeners: [{name: l, address: '127.0.0.1:0'}]\npools: [{name: p, " +
                  std::string(pool_keys) + ", " + servers + "}]\n" + tail);
  }
  std::string pools =
      "listeners: [{name: l, address: '127.0.0.1:0'}]\npools: [{name: p, " + servers + "}]\n";
  for (std::string_view split :
       {"[x]", "~", "{variants: 5}", "{experiment: [e], key: {a: b}, variants: [[1], ~, x]}",
        "{experiment: e, key: client_ip, variants: [{name: a, pool: [p], weight: {}}]}"}) {
    checkRejected(pools + "routes: [{name: r, split: " + std::string(split) + "}]\n");
  }
}

TEST_CASE("anchors and aliases, including a self-referencing one") {
  LoadResult shared = load(R"(listeners: [{name: l, address: '127.0.0.1:0'}]
pools:
  - name: a
    servers: &servers [{name: s, address: '127.0.0.1:1'}]
  - name: b
    servers: *servers
routes: [{name: r, pool: a}, {name: r2, pool: b, match: {path: /b}}]
)");
  INFO(allErrors(shared));
  CHECK(shared.ok());
  checkRejected("listeners: &l [*l]\n" + minimal().substr(minimal().find("pools")));
  checkRejected("routes: &r [{name: x, pool: app, match: *r}]\n");
  checkRejected("a: &m {b: *m}\nlisteners: *m\n");
  checkRejected("<<: {workers: 2}\n" + minimal()); // merge keys are not supported
}

TEST_CASE("deep nesting does not overflow the stack") {
  std::string deep(100000, '[');
  checkRejected(deep);
  checkRejected("listeners: " + std::string(5000, '[') + std::string(5000, ']') + "\n");
  std::string maps;
  for (int i = 0; i < 3000; ++i)
    maps += "{a: ";
  checkRejected(maps);
}

TEST_CASE("many errors are capped") {
  std::string yaml = minimal();
  for (int i = 0; i < 500; ++i)
    yaml += "bogus" + std::to_string(i) + ": 1\n";
  LoadResult r = load(yaml);
  REQUIRE(r.errors.size() == 101);
  CHECK(r.errors.back().str() == "test.yaml:0:0: too many errors; 400 more not shown");
}

// xorshift64: a fixed sequence, so a failure reproduces.
class Random {
public:
  uint64_t next() {
    state_ ^= state_ << 13;
    state_ ^= state_ >> 7;
    state_ ^= state_ << 17;
    return state_;
  }

private:
  uint64_t state_ = 0x9E3779B97F4A7C15ull;
};

// 1 to 4 edits: a byte replaced by a YAML-significant one, bytes deleted, or
// a slice of the text copied elsewhere.
std::string mutate(std::string text, Random& random) {
  static const std::string kAlphabet = "{}[]:,-'\"&*!|>%#? \n\tazAZ09./\\";
  int edits = 1 + static_cast<int>(random.next() % 4);
  for (int e = 0; e < edits && !text.empty(); ++e) {
    size_t at = random.next() % text.size();
    switch (random.next() % 3) {
    case 0: text[at] = kAlphabet[random.next() % kAlphabet.size()]; break;
    case 1: text.erase(at, 1 + random.next() % 8); break;
    default:
      text.insert(at, text.substr(random.next() % text.size(), 1 + random.next() % 16));
      break;
    }
  }
  return text;
}

constexpr std::string_view kMutationBase = R"(workers: auto
access_log: {format: json, path: stderr}
listeners:
  - {name: public, address: '[::1]:0'}
timeouts: {connect: 2s, drain: 10s}
limits: {max_header_bytes: 32k}
pools:
  - name: app
    balance: hash
    hash_key: cookie:sid
    sticky: {cookie: S, ttl: 1h, secure: auto, samesite: Strict, secrets: [literal-key-0123456789]}
    servers:
      - {name: a, address: 127.0.0.1:9001, weight: 3}
  - name: v2
    servers: [{name: b, address: 127.0.0.1:9002}]
routes:
  - name: beta
    match: {host: '^a$', path_regex: '/x.*', headers: {A: b}, cookies: {c: d}, query: {e: f}}
    pool: app
  - name: ab
    match: {path_prefix: /ab}
    split:
      experiment: e
      key: header:U
      override: cookie:o
      variants: [{name: a, pool: app, weight: 1}, {name: b, pool: v2, weight: 0}]
  - {name: default, pool: app}
)";

// Each mutant must load or be rejected with a reason, never crash or hang.
TEST_CASE("mutated configs never crash") {
  test::OfflineResolver offline; // mutated addresses may turn into host names
  REQUIRE(load(kMutationBase).ok());
  Random random;
  int accepted = 0;
  for (int round = 0; round < 3000; ++round) {
    std::string text = mutate(std::string(kMutationBase), random);
    LoadResult r = load(text);
    INFO(text);
    if (r.ok()) {
      ++accepted;
      REQUIRE(r.errors.empty());
    } else {
      REQUIRE_FALSE(r.errors.empty());
    }
  }
  // Both outcomes occur, so the loop exercises the compiler and the reporters.
  CHECK(accepted > 10);
  CHECK(accepted < 2900);
}

} // namespace
} // namespace proxy::config
