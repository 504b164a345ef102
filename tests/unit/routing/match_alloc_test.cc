// Counts heap allocations around RouteTable::match to check the steady-state
// promise of route_table.h. Replacing the global operator new affects the
// whole test binary; it only counts, so other tests are unaffected.
#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include "routing/route_table.h"

namespace {
std::atomic<long> g_allocations{0};
} // namespace

// g++ 12 inlines these replacements into std::allocator and then flags the
// malloc/free pair as mismatched new/delete; they are a matched pair here.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(std::size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size ? size : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop

using routing::Header;
using routing::MatchScratch;
using routing::RequestView;
using routing::RouteDef;
using routing::RouteTable;

TEST_CASE("match does not allocate once the scratch has grown (single pattern per key)") {
  std::vector<RouteDef> routes(3);
  routes[0].match.host_regex = "admin\\.example\\.com";
  routes[1].match.headers = {{"x-user", "[a-z]+"}};
  routes[1].match.cookies = {{"sid", "[0-9a-f]+"}};
  routes[2].match.query = {{"q", "hello world"}};
  std::string error;
  auto table = RouteTable::build(std::move(routes), &error);
  REQUIRE(table);
  const Header headers[] = {{"X-User", "bob"}, {"Cookie", "a=1; sid=zz"}};
  RequestView request{"GET", "/search", "x=1&q=hello%20world", "www.example.com", headers};
  MatchScratch scratch;
  REQUIRE(table->match(request, scratch) == 2); // warms the scratch and RE2's DFA caches
  long before = g_allocations.load();
  int wins = 0;
  for (int i = 0; i < 100; ++i)
    wins += table->match(request, scratch) == 2 ? 1 : 0;
  long allocations = g_allocations.load() - before;
  CHECK(wins == 100);
  CHECK(allocations == 0);
}

TEST_CASE("source conditions do not allocate, with or without regexes in the table") {
  std::string error;
  auto cidr = [](const char* text) { return *routing::parseCidr(text, nullptr); };
  for (bool with_regex : {false, true}) {
    std::vector<RouteDef> routes(3);
    routes[0].match.sources = {{cidr("10.0.0.0/8"), false}, {cidr("10.1.0.0/16"), true}};
    routes[1].match.sources = {{cidr("2001:db8::/32"), false}};
    if (with_regex) routes[1].match.host_regex = "www\\.example\\.com";
    routes[2].match.sources = {{cidr("0.0.0.0/0"), false}};
    auto table = RouteTable::build(std::move(routes), &error);
    REQUIRE(table);
    const routing::IpAddress client = *routing::parseIp("10.1.2.3");
    RequestView request{"GET", "/", "", "www.example.com", {}};
    request.client = &client;
    MatchScratch scratch;
    REQUIRE(table->match(request, scratch) == 2);
    long before = g_allocations.load();
    int wins = 0;
    for (int i = 0; i < 100; ++i)
      wins += table->match(request, scratch) == 2 ? 1 : 0;
    CHECK(wins == 100);
    CHECK(g_allocations.load() - before == 0);
  }
}

TEST_CASE("the allocation counter sees allocations") {
  long before = g_allocations.load();
  auto* leak_check = new std::string(100, 'x');
  CHECK(g_allocations.load() > before);
  delete leak_check;
}

TEST_CASE("with several patterns per key, allocations per match stay bounded") {
  // RE2::Set::Match allocates its match list (three blocks in RE2 2022-06)
  // on each call that asks for the indices: per set pass, never per route.
  std::vector<RouteDef> routes(100);
  for (size_t i = 0; i < routes.size(); ++i) {
    routes[i].match.host_regex = "svc" + std::to_string(i) + "\\.example\\.com";
    routes[i].match.headers = {{"x-shard", std::to_string(i) + "|any"}};
  }
  std::string error;
  auto table = RouteTable::build(std::move(routes), &error);
  REQUIRE(table);
  const Header headers[] = {{"X-Shard", "any"}, {"x-shard", "7"}};
  RequestView request{"GET", "/", "", "svc99.example.com", headers};
  MatchScratch scratch;
  REQUIRE(table->match(request, scratch) == 99);
  long before = g_allocations.load();
  int wins = 0;
  for (int i = 0; i < 100; ++i)
    wins += table->match(request, scratch) == 99 ? 1 : 0;
  long allocations = g_allocations.load() - before;
  CHECK(wins == 100);
  // Three set passes per match (host once, x-shard twice), at most three
  // RE2-internal blocks each; one per route would be 100 or more.
  CHECK(allocations <= 100 * 3 * 3);
}
