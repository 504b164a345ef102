// fuzz_request: the request path of a downstream session, without the loop.
// Client bytes -> strict request parser -> the checks the session makes
// before routing -> route table (from a fixed config compiled by the real
// loader) -> the head (and re-framed body) that would go upstream.
//
// The input's first byte picks where the rest is split into two socket
// reads. Properties checked:
//  - the route table agrees with a naive reference matcher (one RE2 per
//    condition, evaluated in order) on every request;
//  - what would be sent upstream parses again with the same strict parser,
//    as exactly one message with the same method, target and body, one Host,
//    our X-Forwarded-* fields, no hop-by-hop field, the framing we chose, no
//    sticky cookie and no client-sent identity or variant fields;
//  - the same bytes fed whole or in two reads give the same transcript.
#include <llhttp.h>
#include <netdb.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/config/load.h"
#include "proxy/config/values.h"
#include "proxy/http/parser.h"
#include "proxy/http/request_target.h"
#include "proxy/http/serialize.h"
#include "routing/regex_set.h"
#include "routing/request_fields.h"
#include "routing/route_table.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

using proxy::http::equalsIgnoreCase;
using proxy::http::Framing;
using proxy::http::MessageHead;
using proxy::http::Parser;

// Every kind of condition, several regexes per key (so the RE2::Set path
// runs), and requests that match no route. Numeric addresses only.
constexpr std::string_view kConfig = R"(
listeners:
  - {name: public, address: 127.0.0.1:8080}
pools:
  - name: web
    sticky: {cookie: SWY_SRV, secrets: ['fuzz-sticky-key-0123456789abcdef']}
    servers: [{name: app1, address: 127.0.0.1:9001}]
  - name: api
    servers: [{name: app2, address: 127.0.0.1:9002}]
  - name: v2
    servers: [{name: app3, address: 127.0.0.1:9003}]
routes:
  - {name: health, match: {path: /healthz}, pool: web}
  - {name: admin, match: {host: '^admin\.example\.com$'}, pool: api}
  - {name: static, match: {path_prefix: /static/, methods: [GET, HEAD]}, pool: web}
  - {name: user, match: {path_regex: '/users/[0-9]+'}, pool: api}
  - {name: api-v, match: {path_regex: '/api/v[0-9]+/.*', methods: [POST, PUT]}, pool: api}
  - name: canary
    match:
      methods: [GET, POST]
      headers: {X-Canary: '(?i)(1|true|yes)', X-Region: '^eu-.*'}
    pool: api
  - name: canary-two
    match: {headers: {x-canary: '^(2|two)$'}, cookies: {beta: 'x.*'}}
    pool: web
  - {name: beta, match: {cookies: {beta: '^(on|1)$'}, path_prefix: /app}, pool: api}
  - {name: variant, match: {query: {variant: '^b$', q: '.*x y.*'}}, pool: api}
  - {name: variant-c, match: {query: {variant: 'c|d'}}, pool: web}
  - name: mobile
    match:
      host: '(www\.)?example\.(com|org)'
      headers: {User-Agent: '.*(Android|iPhone).*'}
    pool: web
  - name: checkout
    match: {path_prefix: /checkout}
    split:
      experiment: checkout-v2
      key: cookie:uid
      variants:
        - {name: control, pool: web, weight: 90}
        - {name: v2, pool: v2, weight: 10}
  - {name: default, match: {methods: [GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH]}, pool: web}
)";

constexpr std::string_view kClientIp = "192.0.2.7";
constexpr std::string_view kIdentityFields[2] = {"X-Client-Subject", "X-Client-Fingerprint"};
constexpr std::string_view kAlwaysHopByHop[] = {
    "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding",
};

// No DNS, ever: the config only names numeric addresses.
int noResolver(const char*, const addrinfo*, addrinfo**) { return EAI_NONAME; }

// One route's conditions compiled one RE2 each: the reference the RE2::Set
// based table must agree with.
struct ReferenceRoute {
  const routing::MatchDef* def = nullptr;
  std::unique_ptr<RE2> host, path;
  std::vector<std::pair<std::string, std::unique_ptr<RE2>>> headers, cookies, query;
};

struct Env {
  std::shared_ptr<const proxy::config::Snapshot> snapshot;
  std::vector<ReferenceRoute> reference;
  routing::MatchScratch scratch;
};

using Named = std::vector<std::pair<std::string, std::string>>;

void compileNamed(const Named& in, std::vector<std::pair<std::string, std::unique_ptr<RE2>>>* out) {
  for (const auto& [name, pattern] : in)
    out->emplace_back(name, std::make_unique<RE2>(pattern, routing::regexOptions(false)));
}

Env* makeEnv() {
  proxy::config::setHostResolverForTest(&noResolver);
  auto* env = new Env;
  proxy::config::LoadResult loaded = proxy::config::loadString(kConfig, "fuzz_request.yaml");
  for (const auto& e : loaded.errors)
    std::fprintf(stderr, "%s\n", e.str().c_str());
  FUZZ_CHECK(loaded.ok());
  env->snapshot = loaded.snapshot;
  const routing::RouteTable& table = *env->snapshot->routes;
  env->reference.resize(table.size());
  for (size_t i = 0; i < table.size(); ++i) {
    ReferenceRoute& r = env->reference[i];
    r.def = &table.route(i).match;
    if (!r.def->host_regex.empty())
      r.host = std::make_unique<RE2>(r.def->host_regex, routing::regexOptions(true));
    if (r.def->path_kind == routing::PathKind::kRegex)
      r.path = std::make_unique<RE2>(r.def->path, routing::regexOptions(false));
    compileNamed(r.def->headers, &r.headers);
    compileNamed(r.def->cookies, &r.cookies);
    compileNamed(r.def->query, &r.query);
  }
  return env;
}

Env& env() {
  static Env* e = makeEnv();
  return *e;
}

bool fullMatch(std::string_view text, const RE2& re) {
  return RE2::FullMatch(re2::StringPiece(text.data(), text.size()), re);
}

bool referenceHolds(const ReferenceRoute& r, const routing::RequestView& req) {
  const routing::MatchDef& m = *r.def;
  if (!m.methods.empty()) {
    bool any = false;
    for (const std::string& method : m.methods)
      any = any || method == req.method;
    if (!any) return false;
  }
  if (m.path_kind == routing::PathKind::kExact && req.path != m.path) return false;
  if (m.path_kind == routing::PathKind::kPrefix && !req.path.starts_with(m.path)) return false;
  if (r.path && !fullMatch(req.path, *r.path)) return false;
  if (r.host && !fullMatch(req.host, *r.host)) return false;
  for (const auto& [name, re] : r.headers) {
    bool any = false; // a repeated header holds if any occurrence matches
    for (const routing::Header& h : req.headers)
      any = any || (equalsIgnoreCase(h.name, name) && fullMatch(h.value, *re));
    if (!any) return false;
  }
  for (const auto& [name, re] : r.cookies) {
    std::string_view value;
    bool found = false; // the first Cookie field that has it
    for (const routing::Header& h : req.headers) {
      if (!found && equalsIgnoreCase(h.name, "cookie"))
        found = routing::findCookie(h.value, name, &value);
    }
    if (!found || !fullMatch(value, *re)) return false;
  }
  for (const auto& [name, re] : r.query) {
    std::string_view raw;
    std::string decoded;
    if (!routing::findQueryParam(req.query, name, &raw)) return false;
    routing::decodeQueryValue(raw, &decoded);
    if (!fullMatch(decoded, *re)) return false;
  }
  return true;
}

int referenceMatch(const routing::RequestView& req) {
  const std::vector<ReferenceRoute>& routes = env().reference;
  for (size_t i = 0; i < routes.size(); ++i) {
    if (referenceHolds(routes[i], req)) return static_cast<int>(i);
  }
  return -1;
}

bool isAlwaysHopByHop(std::string_view name) {
  for (std::string_view h : kAlwaysHopByHop) {
    if (equalsIgnoreCase(name, h)) return true;
  }
  return false;
}

bool listedInConnection(const MessageHead& head, std::string_view name) {
  for (int c = head.find("connection"); c >= 0; c = head.find("connection", c + 1)) {
    if (proxy::http::listHasToken(head.value(static_cast<size_t>(c)), name)) return true;
  }
  return false;
}

// The upstream head as the upstream parses it, against the client's.
void checkUpstreamHead(const MessageHead& client, const proxy::http::UpstreamRequest& info,
                       const MessageHead& up) {
  FUZZ_CHECK(up.method == client.method);
  FUZZ_CHECK(up.target() == info.target);
  FUZZ_CHECK(up.version_major == 1 && up.version_minor == 1);
  FUZZ_CHECK(up.count("host") == 1 && up.value(static_cast<size_t>(up.find("host"))) == info.host);
  FUZZ_CHECK(up.chunked == (info.framing == Framing::kChunked));
  FUZZ_CHECK(up.count("transfer-encoding") == (info.framing == Framing::kChunked ? 1u : 0u));
  FUZZ_CHECK(up.has_content_length == (info.framing == Framing::kContentLength));
  if (up.has_content_length) FUZZ_CHECK(up.content_length == client.content_length);
  FUZZ_CHECK(up.count("connection") == (info.upgrade ? 1u : 0u));
  FUZZ_CHECK(up.upgrade == info.upgrade);
  FUZZ_CHECK(up.count("x-forwarded-for") == 1 && up.count("x-forwarded-proto") == 1 &&
             up.count("x-forwarded-host") == 1);
  std::string_view xff = up.value(static_cast<size_t>(up.find("x-forwarded-for")));
  FUZZ_CHECK(xff.ends_with(kClientIp));
  FUZZ_CHECK(up.count(proxy::http::kVariantHeader) == (info.variant.empty() ? 0u : 1u));
  FUZZ_CHECK(up.count(kIdentityFields[0]) == 0 && up.count(kIdentityFields[1]) == 0);
  for (size_t i = 0; i < up.fieldCount(); ++i) {
    std::string_view name = up.name(i);
    std::string_view value = up.value(i);
    bool framing = (equalsIgnoreCase(name, "transfer-encoding") && value == "chunked") ||
                   (equalsIgnoreCase(name, "connection") && value == "upgrade");
    FUZZ_CHECK(framing || !isAlwaysHopByHop(name));
    // A client's Connection option names its own fields, not those the proxy sets.
    bool ours =
        framing || equalsIgnoreCase(name, "host") || equalsIgnoreCase(name, "x-forwarded-for") ||
        equalsIgnoreCase(name, "x-forwarded-proto") || equalsIgnoreCase(name, "x-forwarded-host") ||
        equalsIgnoreCase(name, proxy::http::kVariantHeader) ||
        equalsIgnoreCase(name, "content-length"); // frames the body: always kept
    bool upgrade_field = info.upgrade && equalsIgnoreCase(name, "upgrade");
    FUZZ_CHECK(ours || upgrade_field || !listedInConnection(client, name));
    if (!info.upgrade) FUZZ_CHECK(!equalsIgnoreCase(name, "upgrade"));
    std::string_view sticky;
    if (!info.strip_cookie.empty() && equalsIgnoreCase(name, "cookie"))
      FUZZ_CHECK(!routing::findCookie(value, info.strip_cookie, &sticky));
  }
}

// One downstream connection: parses client bytes, routes each request, and
// builds what would be forwarded. Records a transcript of everything it
// would send, for the split-invariance check.
class RequestSink final : public Parser::Handler {
public:
  RequestSink() : parser_(Parser::Type::kRequest, this, limits()) {}

  Parser& parser() { return parser_; }
  std::string transcript;

  int onHeadersComplete(MessageHead& head) noexcept override {
    fuzz::checkHead(head);
    upstream_.clear();
    body_.clear();
    routed_ = false;
    // The session's own preparation (proxy/http/request_target.cc).
    if (const char* why = proxy::http::prepareRequestTarget(head, &prepared_)) {
      parser_.fail(proxy::ErrorKind::kBadRequest, why);
      return Parser::kFail;
    }
    route(head);
    return prepared_.framing == Framing::kNone ? Parser::kProceed : Parser::kPause;
  }

  int onBody(const char* data, size_t length) noexcept override {
    body_.append(data, length);
    if (!routed_) return Parser::kProceed;
    if (prepared_.framing == Framing::kChunked) {
      char hdr[24];
      upstream_.append(hdr, proxy::http::chunkHeader(length, hdr));
      upstream_.append(data, length);
      upstream_.append(proxy::http::kChunkTrailer);
    } else {
      upstream_.append(data, length);
    }
    return Parser::kProceed;
  }

  int onMessageComplete() noexcept override {
    const MessageHead& head = parser_.head();
    fuzz::checkHead(head);
    if (head.has_content_length) FUZZ_CHECK(parser_.bodyBytes() == head.content_length);
    FUZZ_CHECK(parser_.bodyBytes() == body_.size());
    if (routed_) {
      if (prepared_.framing == Framing::kChunked) upstream_.append(proxy::http::kLastChunk);
      checkUpstreamMessage(head);
      transcript.append(upstream_head_).append("|body ").append(body_);
    }
    transcript.append("|complete|");
    return head.upgrade ? Parser::kProceed : Parser::kPause;
  }

private:
  static proxy::http::HeadLimits limits() {
    const proxy::config::Limits& l = env().snapshot->limits;
    return {l.max_header_bytes, l.max_headers, l.max_uri_bytes};
  }

  void route(const MessageHead& head) {
    const proxy::config::Snapshot& snap = *env().snapshot;
    headers_.clear();
    for (size_t i = 0; i < head.fieldCount(); ++i)
      headers_.push_back({head.name(i), head.value(i)});
    auto method = llhttp_method_name(static_cast<llhttp_method_t>(head.method));
    routing::RequestView view{method, prepared_.path, prepared_.query, prepared_.host, headers_};
    int route = snap.routes->match(view, env().scratch);
    FUZZ_CHECK(route == referenceMatch(view));
    transcript.append("|route ").append(std::to_string(route)).append("|");
    if (route < 0) return; // 404
    const proxy::config::RouteAction& action = snap.actions[static_cast<size_t>(route)];
    proxy::http::UpstreamRequest info;
    uint32_t pool = action.pool;
    if (action.kind == proxy::config::RouteAction::Kind::kSplit) {
      const proxy::config::SplitVariant& v = snap.splits[action.split].variants[0];
      pool = v.pool;
      info.variant = v.name;
    }
    info.method = method;
    info.target = prepared_.target;
    info.host = prepared_.forward_host;
    info.client_ip = kClientIp;
    info.proto = "http";
    info.framing = prepared_.framing;
    info.upgrade = head.upgrade;
    if (snap.pools[pool].sticky.enabled) info.strip_cookie = snap.pools[pool].sticky.cookie;
    info.drop_fields[0] = kIdentityFields[0]; // as on an mTLS listener
    info.drop_fields[1] = kIdentityFields[1];
    proxy::http::serializeRequest(head, info, &upstream_);
    upstream_head_ = upstream_;
    info_ = info;
    routed_ = true;
  }

  // Parses everything that would be sent upstream for this request.
  void checkUpstreamMessage(const MessageHead& client) {
    fuzz::Capture capture;
    Parser up(Parser::Type::kRequest, &capture, {1u << 20, 100000, 1u << 20});
    Parser::Outcome o = up.execute(upstream_.data(), upstream_.size());
    bool parsed = o.state == Parser::State::kPaused || o.state == Parser::State::kUpgrade;
    if (!parsed || o.consumed != upstream_.size()) {
      std::fprintf(stderr, "upstream parser: %s, consumed %zu\n",
                   parsed ? "stopped early" : up.errorReason(), o.consumed);
      fuzz::dump("sent upstream", upstream_);
      FUZZ_CHECK(!"the upstream parses exactly one request");
    }
    FUZZ_CHECK(capture.messages == 1 && capture.completes == 1);
    FUZZ_CHECK(capture.body == body_);
    checkUpstreamHead(client, info_, up.head());
  }

  Parser parser_;
  proxy::http::RequestTarget prepared_;
  std::vector<routing::Header> headers_;
  proxy::http::UpstreamRequest info_;
  std::string upstream_;      // head and re-framed body that would be sent upstream
  std::string upstream_head_; // the head alone (body framing depends on the reads)
  std::string body_;          // body as received
  bool routed_ = false;
};

// Runs one connection over `reads`; returns its transcript.
std::string run(const std::vector<std::string_view>& reads) {
  RequestSink sink;
  Parser::Outcome o{Parser::State::kOk, 0};
  for (std::string_view read : reads) {
    if (read.empty()) continue; // a socket never delivers zero bytes
    o = fuzz::feed(sink.parser(), read);
    if (o.state != Parser::State::kOk) break;
  }
  switch (o.state) {
  case Parser::State::kError: {
    // The status, not the reason: llhttp or our own check may see a bad
    // byte first depending on where a read ends. For the same reason a head
    // that is both over a size limit and malformed may get 414/431 or 400:
    // llhttp checks each byte before it hands over the span holding it, and a
    // read that ends mid-span hands over the part before the end, so the size
    // check can run before or after the byte check. Either way the head is
    // refused before anything is forwarded; the transcript says "refused".
    int status = proxy::statusFor(sink.parser().errorKind());
    sink.transcript.append("|error ");
    sink.transcript.append(status == 400 || status == 414 || status == 431
                               ? std::string("head refused")
                               : std::to_string(status));
    break;
  }
  case Parser::State::kUpgrade: sink.transcript.append("|upgrade|"); break;
  default: break;
  }
  return sink.transcript;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  size_t split = bytes.size() * data[0] / 255;
  std::string whole = run({bytes});
  std::string split_run = run({bytes.substr(0, split), bytes.substr(split)});
  if (whole != split_run) {
    std::fprintf(stderr, "split at %zu changes the outcome\n", split);
    fuzz::dump("whole", whole);
    fuzz::dump("split", split_run);
    FUZZ_CHECK(!"the same bytes give the same result in any split");
  }
  return 0;
}
