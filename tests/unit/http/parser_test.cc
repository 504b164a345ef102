// Request/response parsing: every input is fed whole and in every two-way
// split (and byte by byte), and must give the same result.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "proxy/http/parser.h"

using proxy::ErrorKind;
using proxy::http::HeadLimits;
using proxy::http::MessageHead;
using proxy::http::Parser;

namespace {

struct Message {
  std::string method_target; // target (request) or "status reason"
  std::vector<std::pair<std::string, std::string>> fields;
  std::string body;
  bool chunked = false;
  bool keep_alive = false;
};

// Collects messages; never pauses.
class Collector : public Parser::Handler {
public:
  int onHeadersComplete(MessageHead& h) noexcept override {
    Message m;
    m.method_target = std::string(h.target());
    if (h.status != 0) m.method_target = std::to_string(h.status) + " " + m.method_target;
    for (size_t i = 0; i < h.fieldCount(); ++i) {
      m.fields.emplace_back(std::string(h.name(i)), std::string(h.value(i)));
    }
    m.chunked = h.chunked;
    m.keep_alive = h.keep_alive;
    messages.push_back(m);
    return skip_body ? Parser::kSkipBody : Parser::kProceed;
  }
  int onBody(const char* d, size_t n) noexcept override {
    messages.back().body.append(d, n);
    return Parser::kProceed;
  }
  int onMessageComplete() noexcept override {
    ++completed;
    return Parser::kProceed;
  }
  std::vector<Message> messages;
  int completed = 0;
  bool skip_body = false;
};

struct Run {
  std::vector<Message> messages;
  int completed = 0;
  bool error = false;
  ErrorKind kind = ErrorKind::kInternal;
};

Run parseSplit(Parser::Type type, const std::string& input, std::vector<size_t> cuts,
               HeadLimits limits = {}) {
  Collector c;
  Parser p(type, &c, limits);
  Run r;
  size_t at = 0;
  cuts.push_back(input.size());
  for (size_t cut : cuts) {
    Parser::Outcome o = p.execute(input.data() + at, cut - at);
    if (o.state == Parser::State::kError) {
      r.error = true;
      r.kind = p.errorKind();
      break;
    }
    at = cut;
  }
  r.messages = c.messages;
  r.completed = c.completed;
  return r;
}

// Parses `input` whole, in every two-way split and byte by byte; checks all
// runs agree and returns the whole-input run.
Run parseAllSplits(Parser::Type type, const std::string& input, HeadLimits limits = {}) {
  Run whole = parseSplit(type, input, {}, limits);
  auto same = [&](const Run& r) {
    REQUIRE(r.error == whole.error);
    REQUIRE(r.completed == whole.completed);
    REQUIRE(r.messages.size() == whole.messages.size());
    for (size_t i = 0; i < r.messages.size(); ++i) {
      CHECK(r.messages[i].method_target == whole.messages[i].method_target);
      CHECK(r.messages[i].fields == whole.messages[i].fields);
      CHECK(r.messages[i].body == whole.messages[i].body);
    }
  };
  for (size_t cut = 1; cut < input.size(); ++cut)
    same(parseSplit(type, input, {cut}, limits));
  std::vector<size_t> bytes;
  for (size_t i = 1; i < input.size(); ++i)
    bytes.push_back(i);
  same(parseSplit(type, input, bytes, limits));
  return whole;
}

Run request(const std::string& s, HeadLimits limits = {}) {
  return parseAllSplits(Parser::Type::kRequest, s, limits);
}

} // namespace

TEST_CASE("request head is copied once with trimmed values, in every split") {
  Run r = request("GET /a?b=1 HTTP/1.1\r\nHost: example.com\r\nX-Long:   spaced value \t\r\n\r\n");
  REQUIRE_FALSE(r.error);
  REQUIRE(r.messages.size() == 1);
  CHECK(r.messages[0].method_target == "/a?b=1");
  REQUIRE(r.messages[0].fields.size() == 2);
  CHECK(r.messages[0].fields[1].first == "X-Long");
  CHECK(r.messages[0].fields[1].second == "spaced value");
  CHECK(r.messages[0].keep_alive);
}

TEST_CASE("content-length and chunked bodies are delivered exactly") {
  Run cl = request("POST /u HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello");
  REQUIRE_FALSE(cl.error);
  CHECK(cl.messages[0].body == "hello");
  Run ch = request("POST /u HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "3\r\nabc\r\n4;ext=1\r\ndefg\r\n0\r\n\r\n");
  REQUIRE_FALSE(ch.error);
  CHECK(ch.messages[0].chunked);
  CHECK(ch.messages[0].body == "abcdefg");
  CHECK(ch.completed == 1);
}

TEST_CASE("pipelined requests are all parsed in order") {
  Run r = request("GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n");
  REQUIRE(r.messages.size() == 2);
  CHECK(r.messages[0].method_target == "/1");
  CHECK(r.messages[1].method_target == "/2");
}

TEST_CASE("smuggling-shaped requests are errors (strict, no lenient flags)") {
  using namespace std::string_literals;
  const std::string bad[] = {
      "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: "
      "chunked\r\n\r\n0\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\nabc",
      "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\n folded\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: h\rX-A: a\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: h\nX-A: a\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\0b\r\n\r\n"s,
      "GET / HTTP/1.1\r\nHo st: h\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n",
  };
  for (const std::string& s : bad) {
    CAPTURE(s);
    Run r = parseSplit(Parser::Type::kRequest, s, {});
    CHECK(r.error);
    CHECK(r.kind == ErrorKind::kBadRequest);
    CHECK(r.completed == 0);
  }
}

TEST_CASE("head limits map to 414 and 431 kinds") {
  HeadLimits small{512, 3, 16};
  Run uri = request("GET /" + std::string(40, 'a') + " HTTP/1.1\r\nHost: h\r\n\r\n", small);
  CHECK(uri.error);
  CHECK(uri.kind == ErrorKind::kUriTooLong);
  Run many = request("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", small);
  CHECK(many.error);
  CHECK(many.kind == ErrorKind::kHeadersTooLarge);
  Run big = request("GET / HTTP/1.1\r\nHost: h\r\nA: " + std::string(600, 'x') + "\r\n\r\n", small);
  CHECK(big.error);
  CHECK(big.kind == ErrorKind::kHeadersTooLarge);
  Run ok = request("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n", small);
  CHECK_FALSE(ok.error);
}

TEST_CASE("responses: CL+TE is refused; chunked and CL bodies parse") {
  Run both = parseSplit(
      Parser::Type::kResponse,
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", {});
  CHECK(both.error);
  CHECK(both.kind == ErrorKind::kBadGateway);
  Run ok =
      parseAllSplits(Parser::Type::kResponse,
                     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n"
                     "HTTP/1.1 204 No Content\r\n\r\n");
  REQUIRE_FALSE(ok.error);
  REQUIRE(ok.messages.size() == 2);
  CHECK(ok.messages[0].method_target == "200 OK");
  CHECK(ok.messages[0].body == "hi");
  CHECK(ok.messages[1].method_target == "204 No Content");
  Run dup = parseSplit(Parser::Type::kResponse,
                       "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc", {});
  CHECK(dup.error);
}

namespace {
// Pauses at the end of each message, as the sessions do.
struct PauseAtEnd : Parser::Handler {
  int onHeadersComplete(MessageHead&) noexcept override { return Parser::kProceed; }
  int onBody(const char*, size_t) noexcept override { return Parser::kProceed; }
  int onMessageComplete() noexcept override {
    ++completed;
    return Parser::kPause;
  }
  int completed = 0;
};
} // namespace

TEST_CASE("a handler that pauses reports what was consumed") {
  PauseAtEnd h;
  Parser p(Parser::Type::kRequest, &h, {});
  std::string two = "GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n";
  Parser::Outcome o = p.execute(two.data(), two.size());
  CHECK(o.state == Parser::State::kPaused);
  CHECK(o.consumed == two.size() / 2);
  p.resume();
  o = p.execute(two.data() + o.consumed, two.size() - o.consumed);
  CHECK(o.state == Parser::State::kPaused);
  CHECK(p.head().target() == "/2");
}

TEST_CASE("a parser bound to the next connection starts clean and keeps its head's memory") {
  PauseAtEnd first;
  Parser p(Parser::Type::kRequest, &first, {});
  std::string one = "GET /first-request-target HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n";
  REQUIRE(p.execute(one.data(), one.size()).state == Parser::State::kOk); // mid-head
  const char* memory = p.head().target().data();
  CHECK(p.head().capacityBytes() >= std::string_view("/first-request-targetHostX-A").size());

  PauseAtEnd second;
  p.bind(&second, {});
  CHECK(p.head().bytes() == 0);
  CHECK(p.head().fieldCount() == 0);
  CHECK_FALSE(p.inMessage());
  std::string two = "GET /2 HTTP/1.1\r\nHost: other\r\n\r\n";
  REQUIRE(p.execute(two.data(), two.size()).state == Parser::State::kPaused);
  CHECK(p.head().target() == "/2"); // nothing of the unfinished head is left
  REQUIRE(p.head().fieldCount() == 1);
  CHECK(p.head().value(0) == "other");
  CHECK(p.head().target().data() == memory); // the same memory, not a new allocation
  CHECK(second.completed == 1);
  CHECK(first.completed == 0);
}

// Regressions found by the fuzzers (tests/fuzz): each once broke framing or memory safety.
TEST_CASE("trailer fields after a chunked body are dropped, never appended to the head") {
  Run r = request("POST /t HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "3\r\nabc\r\n0\r\nX-Trailer: a\r\nY-Trailer: b\r\n\r\n"
                  "GET /next HTTP/1.1\r\nHost: h\r\n\r\n");
  REQUIRE_FALSE(r.error);
  REQUIRE(r.messages.size() == 2);
  const Message& m = r.messages[0];
  CHECK(m.body == "abc");
  REQUIRE(m.fields.size() == 2);
  CHECK(m.fields[1].first == "Transfer-Encoding");
  CHECK(m.fields[1].second == "chunked");
  CHECK(r.messages[1].method_target == "/next");
  CHECK(r.messages[1].fields.size() == 1);
}

TEST_CASE("an empty header name is an error (a known smuggling shape)") {
  Run req = parseSplit(Parser::Type::kRequest, "GET / HTTP/1.1\r\nHost: h\r\n: x\r\n\r\n", {});
  CHECK(req.error);
  CHECK(req.kind == ErrorKind::kBadRequest);
  Run resp = parseSplit(Parser::Type::kResponse,
                        "HTTP/1.1 200 OK\r\n: x\r\nContent-Length: 0\r\n\r\n", {});
  CHECK(resp.error);
  CHECK(resp.kind == ErrorKind::kBadGateway);
}

TEST_CASE("responses: 1xx/204/304 end with their head whatever they announce; odd statuses fail") {
  Run r = parseAllSplits(Parser::Type::kResponse,
                         "HTTP/1.1 103 Early Hints\r\nContent-Length: 3\r\n\r\n"
                         "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  REQUIRE_FALSE(r.error);
  REQUIRE(r.messages.size() == 2);
  CHECK(r.messages[0].body.empty());
  CHECK(r.messages[1].method_target == "200 OK");
  CHECK(r.messages[1].body == "ok");
  Run no_content = parseSplit(Parser::Type::kResponse,
                              "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", {});
  REQUIRE_FALSE(no_content.error);
  CHECK(no_content.completed == 1);
  for (const char* bad : {"HTTP/1.1 9 Odd\r\nContent-Length: 0\r\n\r\n",
                          "HTTP/1.1 600 Odd\r\nContent-Length: 0\r\n\r\n"}) {
    CAPTURE(bad);
    Run odd = parseSplit(Parser::Type::kResponse, bad, {});
    CHECK(odd.error);
    CHECK(odd.kind == ErrorKind::kBadGateway);
  }
}

TEST_CASE("skipBody: spliced body bytes count as consumed; the last byte ends the body") {
  Collector c;
  Parser p(Parser::Type::kResponse, &c, {});
  const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n";
  CHECK(p.contentLengthRemaining() == 0); // no message yet
  REQUIRE(p.execute(head.data(), head.size()).state == Parser::State::kOk);
  CHECK(p.contentLengthRemaining() == 100);
  REQUIRE(p.execute("abcd", 4).state == Parser::State::kOk);
  CHECK(p.contentLengthRemaining() == 96);
  p.skipBody(90); // went socket to socket
  CHECK(p.contentLengthRemaining() == 6);
  p.skipBody(6); // would end the body behind the handler's back: refused
  CHECK(p.contentLengthRemaining() == 6);
  CHECK(c.completed == 0);
  // The tail and the next response parse as usual.
  const std::string rest = "uvwxyzHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
  REQUIRE(p.execute(rest.data(), rest.size()).state == Parser::State::kOk);
  CHECK(c.completed == 2);
  CHECK(p.bodyBytes() == 2);
  REQUIRE(c.messages.size() == 2);
  CHECK(c.messages[0].body == "abcduvwxyz"); // onBody saw only what went through execute()
  CHECK(c.messages[1].body == "hi");
  CHECK(p.contentLengthRemaining() == 0);
}

TEST_CASE("contentLengthRemaining: zero for chunked, close-delimited and skipped bodies") {
  Collector c;
  Parser chunked(Parser::Type::kResponse, &c, {});
  const std::string ch = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n";
  REQUIRE(chunked.execute(ch.data(), ch.size()).state == Parser::State::kOk);
  CHECK(chunked.contentLengthRemaining() == 0);

  Parser until_close(Parser::Type::kResponse, &c, {});
  const std::string uc = "HTTP/1.1 200 OK\r\n\r\nsome";
  REQUIRE(until_close.execute(uc.data(), uc.size()).state == Parser::State::kOk);
  CHECK(until_close.contentLengthRemaining() == 0);

  Collector skipping;
  skipping.skip_body = true; // a response to HEAD
  Parser head(Parser::Type::kResponse, &skipping, {});
  const std::string hd = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n";
  REQUIRE(head.execute(hd.data(), hd.size()).state == Parser::State::kOk);
  CHECK(head.contentLengthRemaining() == 0);
  CHECK(skipping.completed == 1);

  Parser body(Parser::Type::kResponse, &c, {});
  const std::string b = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
  REQUIRE(body.execute(b.data(), b.size()).state == Parser::State::kOk);
  CHECK(body.contentLengthRemaining() == 0); // complete
}
