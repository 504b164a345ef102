// Sticky sessions (issue 3): the proxy's signed SWY_SRV cookie pins a client
// to one server of a pool; failover rewrites it; tampered, garbage and
// foreign-key cookies are replaced; the cookie never reaches the app; key
// rotation and several instances sharing a key keep every user's server.
// Which server answered is read from the body (the fake upstream's name) and
// cross-checked with the request counts at the fake upstreams.
#include <doctest/doctest.h>

#include <cctype>
#include <map>
#include <memory>
#include <set>

#include "tests/support/e2e_checks.h"
#include "tests/support/http_session.h"

using namespace swytest;
using std::chrono::milliseconds;

namespace {

// HMAC keys handed to the proxy through its environment (>= 16 bytes).
const std::string kKeyA = "sticky-e2e-key-A-0123456789abcdef";
const std::string kKeyB = "sticky-e2e-key-B-fedcba9876543210";
const std::string kKeyOld = "sticky-e2e-key-OLD-000111222333444";
const std::string kKeyNew = "sticky-e2e-key-NEW-555666777888999";

std::string stickyOptions(const std::string& secrets, const std::string& extra = "") {
  std::string s = "sticky: {cookie: SWY_SRV, ttl: 0, secure: auto, httponly: true, samesite: Lax";
  if (!secrets.empty()) s += ", secrets: [" + secrets + "]";
  if (!extra.empty()) s += ", " + extra;
  return s + "}";
}

// Fake upstreams app1..appN; each answers 200 with its name as the body.
struct Servers {
  std::vector<std::unique_ptr<FakeUpstream>> ups;

  explicit Servers(int n, FakeUpstream::Handler (*make)(const std::string&) = nullptr) {
    for (int i = 1; i <= n; ++i) {
      std::string name = "app" + std::to_string(i);
      ups.push_back(std::make_unique<FakeUpstream>(name, make ? make(name) : nullptr));
    }
  }
  std::vector<ServerSpec> specs() const {
    std::vector<ServerSpec> out;
    for (const auto& u : ups)
      out.push_back({u->name(), u->port()});
    return out;
  }
  FakeUpstream* byName(const std::string& name) {
    for (auto& u : ups) {
      if (u && u->name() == name) return u.get();
    }
    return nullptr;
  }
  // Request counts per server name (stopped servers keep their last count).
  std::map<std::string, size_t> counts() const {
    std::map<std::string, size_t> out;
    for (const auto& u : ups) {
      if (u) out[u->name()] = u->requestCount();
    }
    return out;
  }
};

ProxyConfig stickyConfig(const Servers& servers, const std::string& options) {
  ProxyConfig cfg;
  cfg.addPool("app", servers.specs(), options);
  cfg.addRoute("{name: all, pool: app}");
  return cfg;
}

void startWithEnv(ProxyProcess& proxy, const ProxyConfig& cfg,
                  const std::vector<std::pair<std::string, std::string>>& env) {
  for (const auto& [name, value] : env)
    proxy.setEnv(name, value);
  startOrFail(proxy, cfg);
}

std::string cookieHeader(const std::string& value) {
  return "Cookie: SWY_SRV=" + value + "\r\n";
}

// One GET, with `cookie_header` ("Cookie: ...\r\n") or none.
struct Visit {
  Response r;
  std::string server;              // the body: which upstream answered
  std::vector<SetCookie> sticky;   // SWY_SRV Set-Cookie headers in the response
  std::string newCookie() const { return sticky.empty() ? "" : sticky.front().value; }
};

Visit visit(KeepAliveClient& client, const std::string& cookie_header,
            const std::string& target = "/") {
  Visit v;
  v.r = client.get(target, cookie_header);
  v.server = v.r.status() == 200 ? v.r.body() : "(" + v.r.describe() + ")";
  v.sticky = setCookiesNamed(v.r.headers(), "SWY_SRV");
  return v;
}

// A fresh client's first visit: 200 with exactly one SWY_SRV cookie.
Visit firstVisit(uint16_t port, const std::string& target = "/") {
  KeepAliveClient client(port);
  Visit v = visit(client, "", target);
  INFO("first visit: " << v.r.describe());
  REQUIRE(v.r.status() == 200);
  REQUIRE(v.sticky.size() == 1);
  REQUIRE(!v.newCookie().empty());
  return v;
}

// `n` requests with `cookie` all reach `server` and set no new cookie.
void checkSticks(uint16_t port, const std::string& cookie, const std::string& server, int n) {
  KeepAliveClient client(port);
  int same = 0, reissued = 0;
  std::set<std::string> seen;
  for (int i = 0; i < n; ++i) {
    Visit v = visit(client, cookieHeader(cookie));
    seen.insert(v.server);
    if (v.server == server) ++same;
    if (!v.sticky.empty()) ++reissued;
  }
  INFO("cookie " << cookie << " expected on " << server << ", seen on " << seen.size()
                 << " server(s), first " << *seen.begin());
  CHECK(same == n);
  CHECK(reissued == 0);
}

// A cookie the proxy must refuse: the request is served (200) and the
// response sets a different, working SWY_SRV cookie.
void checkReplaced(uint16_t port, const std::string& bad, const std::string& what) {
  INFO(what << ": sent SWY_SRV=" << bad.substr(0, 120));
  KeepAliveClient client(port);
  Visit v = visit(client, cookieHeader(bad));
  REQUIRE(v.r.status() == 200);
  REQUIRE(v.sticky.size() == 1);
  CHECK(v.newCookie() != bad);
  CHECK(!v.newCookie().empty());
  // The replacement is a valid cookie for the server that just answered.
  checkSticks(port, v.newCookie(), v.server, 3);
}

// Cookies from fresh clients until every server of `servers` has one (or
// `max_visits` visits): server name -> cookie.
std::map<std::string, std::string> cookiePerServer(uint16_t port, size_t servers,
                                                   int max_visits = 12) {
  std::map<std::string, std::string> out;
  for (int i = 0; i < max_visits && out.size() < servers; ++i) {
    Visit v = firstVisit(port);
    out.emplace(v.server, v.newCookie());
  }
  return out;
}

// One character changed to another of the same class (digit, lower, upper),
// so the result still looks like the encoding the proxy uses.
std::string tamperAt(std::string s, size_t i) {
  char& c = s[i];
  if (c >= '0' && c <= '9') {
    c = c == '9' ? '0' : c + 1;
  } else if (c >= 'a' && c <= 'f') {
    c = c == 'f' ? 'a' : c + 1; // stays hex
  } else if (c >= 'a' && c <= 'z') {
    c = c == 'z' ? 'g' : c + 1;
  } else if (c >= 'A' && c <= 'Z') {
    c = c == 'Z' ? 'A' : c + 1;
  } else {
    c = c == '-' ? '_' : '-';
  }
  return s;
}

// Index of an alphanumeric character at or after `from` (wrapping).
size_t alnumFrom(const std::string& s, size_t from) {
  for (size_t k = 0; k < s.size(); ++k) {
    size_t i = (from + k) % s.size();
    if (std::isalnum(static_cast<unsigned char>(s[i]))) return i;
  }
  return from;
}

} // namespace

TEST_SUITE_BEGIN("e2e");

TEST_CASE("sticky: the first response sets an opaque cookie and 20 requests with it reach one "
          "server") {
  Servers servers(3);
  ProxyProcess proxy;
  startWithEnv(proxy, stickyConfig(servers, stickyOptions("env:SWY_E2E_KEY")),
               {{"SWY_E2E_KEY", kKeyA}});

  Visit first = firstVisit(proxy.port());
  const SetCookie& c = first.sticky.front();
  INFO("Set-Cookie: " << c.raw);
  CHECK(c.attr("Path") == "/");
  CHECK(c.has("HttpOnly"));
  CHECK(c.attr("SameSite") == "Lax");
  CHECK(!c.has("Max-Age")); // ttl: 0 is a session cookie
  CHECK(!c.has("Expires"));
  CHECK(!c.has("Secure")); // secure: auto on a plain listener
  // Opaque: the server's address is not in it.
  CHECK(c.value.find("127.0.0.1") == std::string::npos);
  for (const auto& u : servers.ups)
    CHECK(c.value.find(std::to_string(u->port())) == std::string::npos);

  // Without the cookie the pool balances (round robin), so sticking below is
  // the cookie's doing.
  std::set<std::string> spread;
  for (int i = 0; i < 3; ++i)
    spread.insert(firstVisit(proxy.port()).server);
  CHECK(spread.size() >= 2);

  std::map<std::string, size_t> before = servers.counts();
  checkSticks(proxy.port(), c.value, first.server, 20);
  std::map<std::string, size_t> after = servers.counts();
  for (const auto& [name, n] : after) {
    INFO("server " << name);
    CHECK(n - before[name] == (name == first.server ? 20u : 0u));
  }
}

TEST_CASE("sticky: ttl, httponly and samesite shape the cookie") {
  Servers servers(2);
  ProxyProcess proxy;
  startWithEnv(proxy,
               stickyConfig(servers, "sticky: {cookie: SRV_ID, ttl: 1h, httponly: false, "
                                     "samesite: Strict, secrets: [env:SWY_E2E_KEY]}"),
               {{"SWY_E2E_KEY", kKeyA}});
  KeepAliveClient client(proxy.port());
  Response r = client.get("/");
  REQUIRE(r.status() == 200);
  std::vector<SetCookie> set = setCookiesNamed(r.headers(), "SRV_ID");
  REQUIRE(set.size() == 1);
  INFO("Set-Cookie: " << set[0].raw);
  CHECK(set[0].attr("Max-Age") == "3600");
  CHECK(set[0].attr("Path") == "/");
  CHECK(!set[0].has("HttpOnly"));
  CHECK(set[0].attr("SameSite") == "Strict");
  CHECK(setCookiesNamed(r.headers(), "SWY_SRV").empty());
  // The configured name is the one honoured.
  Response again = client.get("/", "Cookie: SRV_ID=" + set[0].value + "\r\n");
  CHECK(again.body() == r.body());
  CHECK(setCookiesNamed(again.headers(), "SRV_ID").empty());
}

TEST_CASE("sticky: when its server refuses connections the request goes to another and the "
          "cookie is rewritten") {
  Servers servers(3);
  ProxyProcess proxy;
  startWithEnv(proxy, stickyConfig(servers, stickyOptions("env:SWY_E2E_KEY")),
               {{"SWY_E2E_KEY", kKeyA}});

  Visit first = firstVisit(proxy.port());
  checkSticks(proxy.port(), first.newCookie(), first.server, 5);

  // Stop that server: its port now refuses connections.
  std::string dead = first.server;
  for (auto& u : servers.ups) {
    if (u->name() == dead) u.reset();
  }
  std::erase(servers.ups, nullptr);

  KeepAliveClient client(proxy.port());
  Visit moved = visit(client, cookieHeader(first.newCookie()));
  INFO("after stopping " << dead << ": " << moved.r.describe());
  REQUIRE(moved.r.status() == 200);
  CHECK(moved.server != dead);
  REQUIRE(moved.sticky.size() == 1);
  CHECK(moved.newCookie() != first.newCookie());

  // The new cookie names the new server, and keeps naming it.
  std::map<std::string, size_t> before = servers.counts();
  checkSticks(proxy.port(), moved.newCookie(), moved.server, 10);
  std::map<std::string, size_t> after = servers.counts();
  for (const auto& [name, n] : after) {
    INFO("server " << name);
    CHECK(n - before[name] == (name == moved.server ? 10u : 0u));
  }
}

TEST_CASE("sticky: tampered, garbage and foreign-key cookies are ignored and replaced") {
  Servers servers(3);
  ProxyProcess proxy;
  startWithEnv(proxy, stickyConfig(servers, stickyOptions("env:SWY_E2E_KEY")),
               {{"SWY_E2E_KEY", kKeyA}});
  // Same servers, same config, another key.
  ProxyProcess other;
  startWithEnv(other, stickyConfig(servers, stickyOptions("env:SWY_E2E_KEY")),
               {{"SWY_E2E_KEY", kKeyB}});

  std::string good = firstVisit(proxy.port()).newCookie();
  REQUIRE(good.size() >= 4);
  checkReplaced(proxy.port(), tamperAt(good, alnumFrom(good, 0)), "first character tampered");
  checkReplaced(proxy.port(), tamperAt(good, alnumFrom(good, good.size() / 2)),
                "middle character tampered");
  checkReplaced(proxy.port(), tamperAt(good, alnumFrom(good, good.size() - 2)),
                "second-last character tampered");
  checkReplaced(proxy.port(), good.substr(0, good.size() - 1), "truncated");
  checkReplaced(proxy.port(), good + good, "doubled");
  checkReplaced(proxy.port(), "garbage", "garbage");
  checkReplaced(proxy.port(), "", "empty");
  checkReplaced(proxy.port(), "0", "a bare server index");
  checkReplaced(proxy.port(), "app1", "a bare server name");
  checkReplaced(proxy.port(), std::string(1000, 'A'), "1000 bytes");
  checkReplaced(proxy.port(), "%00%ff..==", "odd characters");

  // Every server's cookie from the other key is refused.
  std::map<std::string, std::string> foreign = cookiePerServer(other.port(), 3);
  CHECK(foreign.size() == 3);
  for (const auto& [server, cookie] : foreign)
    checkReplaced(proxy.port(), cookie, "signed with another key (server " + server + ")");
}

TEST_CASE("sticky: the cookie is removed from the Cookie header sent upstream, others keep "
          "their order") {
  // Upstreams that set their own cookie too: both must reach the client.
  Servers servers(2, [](const std::string& name) -> FakeUpstream::Handler {
    return [name](const UpstreamRequest&) {
      return Reply::ok(name, "Set-Cookie: app_session=s1; Path=/\r\n");
    };
  });
  ProxyProcess proxy;
  startWithEnv(proxy, stickyConfig(servers, stickyOptions("env:SWY_E2E_KEY")),
               {{"SWY_E2E_KEY", kKeyA}});

  // What the upstream saw for the request to `target` (unique per request).
  auto upstreamSaw = [&](const std::string& target) -> std::optional<HttpMessage> {
    for (const auto& u : servers.ups) {
      for (const UpstreamRequest& req : u->requests()) {
        if (req.message.target == target) return req.message;
      }
    }
    return std::nullopt;
  };

  KeepAliveClient client(proxy.port());
  Response first = client.get("/s/first", "Cookie: a=1; b=2\r\n");
  REQUIRE(first.status() == 200);
  std::vector<SetCookie> sticky = setCookiesNamed(first.headers(), "SWY_SRV");
  REQUIRE(sticky.size() == 1);
  CHECK(setCookiesNamed(first.headers(), "app_session").size() == 1);
  std::string c = sticky[0].value;
  {
    auto saw = upstreamSaw("/s/first");
    REQUIRE(saw);
    CHECK(saw->headers.count("Cookie") == 1);
    CHECK(parseCookieHeader(saw->headers.valueOr("Cookie")) ==
          std::vector<std::pair<std::string, std::string>>{{"a", "1"}, {"b", "2"}});
  }

  struct Case {
    std::string target;
    std::string cookie; // the client's Cookie header value
    std::vector<std::pair<std::string, std::string>> upstream; // empty: no Cookie header
  };
  std::vector<Case> cases = {
      {"/s/middle", "a=1; SWY_SRV=" + c + "; b=2", {{"a", "1"}, {"b", "2"}}},
      {"/s/only", "SWY_SRV=" + c, {}},
      {"/s/firstpos", "SWY_SRV=" + c + "; z=9; y=8", {{"z", "9"}, {"y", "8"}}},
      {"/s/lastpos", "y=8; x=7; SWY_SRV=" + c, {{"y", "8"}, {"x", "7"}}},
      {"/s/bogus", "k=v; SWY_SRV=bogus-value; j=w", {{"k", "v"}, {"j", "w"}}},
      {"/s/prefix", "SWY_SRVX=keep; SWY_SRV=" + c, {{"SWY_SRVX", "keep"}}},
  };
  for (const Case& tc : cases) {
    INFO("Cookie: " << tc.cookie);
    Response r = client.get(tc.target, "Cookie: " + tc.cookie + "\r\n");
    REQUIRE(r.status() == 200);
    CHECK(setCookiesNamed(r.headers(), "app_session").size() == 1);
    auto saw = upstreamSaw(tc.target);
    REQUIRE(saw);
    INFO("upstream head:\n" << saw->raw_head);
    CHECK(saw->raw_head.find("SWY_SRV=") == std::string::npos);
    if (tc.upstream.empty()) {
      CHECK(!saw->headers.has("Cookie"));
    } else {
      CHECK(saw->headers.count("Cookie") == 1);
      CHECK(parseCookieHeader(saw->headers.valueOr("Cookie")) == tc.upstream);
    }
  }
}

TEST_CASE("sticky: key rotation: a cookie signed with the old key is honoured and re-issued "
          "with the new one") {
  Servers servers(3);
  // A: the old key only. B: the new key signs, the old one still verifies.
  ProxyProcess a, b;
  startWithEnv(a, stickyConfig(servers, stickyOptions("env:SWY_KEY_OLD")),
               {{"SWY_KEY_OLD", kKeyOld}});
  startWithEnv(b, stickyConfig(servers, stickyOptions("env:SWY_KEY_NEW, env:SWY_KEY_OLD")),
               {{"SWY_KEY_NEW", kKeyNew}, {"SWY_KEY_OLD", kKeyOld}});

  std::map<std::string, std::string> old_cookies = cookiePerServer(a.port(), 3);
  REQUIRE(old_cookies.size() == 3);
  // Reverse order, so B's own round robin cannot line up with the cookies.
  for (auto it = old_cookies.rbegin(); it != old_cookies.rend(); ++it) {
    const auto& [server, old_cookie] = *it;
    INFO("old-key cookie for " << server);
    KeepAliveClient client(b.port());
    Visit v = visit(client, cookieHeader(old_cookie));
    REQUIRE(v.r.status() == 200);
    CHECK(v.server == server);
    REQUIRE(v.sticky.size() == 1); // re-issued under the new key
    std::string renewed = v.newCookie();
    CHECK(renewed != old_cookie);
    // B keeps honouring both, and the renewed one needs no more re-issue.
    checkSticks(b.port(), renewed, server, 3);
    Visit again = visit(client, cookieHeader(old_cookie));
    CHECK(again.server == server);
    // A, which knows only the old key, refuses the renewed cookie: it was
    // signed with the new key.
    checkReplaced(a.port(), renewed, "new-key cookie at the old-key proxy");
  }
}

TEST_CASE("sticky: two proxy processes with the same secret honour each other's cookies") {
  Servers servers(3);
  ProxyConfig cfg = stickyConfig(servers, stickyOptions("env:SWY_E2E_KEY"));
  ProxyProcess a, b;
  startWithEnv(a, cfg, {{"SWY_E2E_KEY", kKeyA}});
  startWithEnv(b, cfg, {{"SWY_E2E_KEY", kKeyA}});

  std::map<std::string, std::string> from_a = cookiePerServer(a.port(), 3);
  std::map<std::string, std::string> from_b = cookiePerServer(b.port(), 3);
  REQUIRE(from_a.size() == 3);
  REQUIRE(from_b.size() == 3);
  for (auto it = from_a.rbegin(); it != from_a.rend(); ++it) {
    INFO("A's cookie at B");
    checkSticks(b.port(), it->second, it->first, 4);
  }
  for (auto it = from_b.rbegin(); it != from_b.rend(); ++it) {
    INFO("B's cookie at A");
    checkSticks(a.port(), it->second, it->first, 4);
  }
}

TEST_CASE("sticky: without secrets a per-process key is generated with a warning") {
  Servers servers(2);
  ProxyConfig cfg = stickyConfig(servers, "sticky: {cookie: SWY_SRV}");
  ProxyProcess a, b;
  startOrFail(a, cfg);
  startOrFail(b, cfg);

  Visit first = firstVisit(a.port());
  checkSticks(a.port(), first.newCookie(), first.server, 5);

  for (ProxyProcess* p : {&a, &b}) {
    bool warned = false;
    for (const std::string& line : p->stderrLines()) {
      std::string l = toLower(line);
      // e.g. "FILE:7:47: pools[0].sticky: no secrets: a random key is generated ..."
      bool says_generated =
          l.find("random") != std::string::npos || l.find("generat") != std::string::npos;
      if (says_generated &&
          (l.find("secret") != std::string::npos || l.find("key") != std::string::npos)) {
        warned = true;
      }
    }
    INFO(p->diagnostics());
    CHECK(warned);
  }
  // B generated its own key: A's cookie means nothing there.
  checkReplaced(b.port(), first.newCookie(), "A's cookie at B (both generated keys)");
}

TEST_CASE("sticky: with 2 workers a cookie from one worker is honoured by the other") {
  // Each request on a new connection: SO_REUSEPORT spreads them over both
  // workers, which must share the (here generated) key and the server ids.
  Servers servers(3);
  ProxyConfig cfg = stickyConfig(servers, "sticky: {cookie: SWY_SRV}");
  cfg.workers = "2";
  ProxyProcess proxy;
  startOrFail(proxy, cfg);
  REQUIRE(proxy.readyWorkers() == 2);
  std::map<std::string, std::string> cookies = cookiePerServer(proxy.port(), 3);
  REQUIRE(cookies.size() >= 2);
  for (const auto& [server, cookie] : cookies) {
    int same = 0, reissued = 0;
    for (int i = 0; i < 20; ++i) {
      KeepAliveClient client(proxy.port()); // a new connection each time
      Visit v = visit(client, cookieHeader(cookie));
      if (v.server == server) ++same;
      if (!v.sticky.empty()) ++reissued;
    }
    INFO("cookie for " << server);
    CHECK(same == 20);
    CHECK(reissued == 0);
  }
}

TEST_SUITE_END();
