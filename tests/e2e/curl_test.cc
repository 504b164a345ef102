// A real client (libcurl) through the proxy: connection reuse, Expect:
// 100-continue with a chunked upload, and a checksummed download.
#include <curl/curl.h>
#include <doctest/doctest.h>

#include "tests/support/e2e_checks.h"

using namespace swytest;
using std::chrono::milliseconds;

namespace {

struct CurlGlobal {
  CurlGlobal() { curl_global_init(CURL_GLOBAL_DEFAULT); }
  ~CurlGlobal() { curl_global_cleanup(); }
};
CurlGlobal curl_global;

struct Transfer {
  std::string body;
  Fnv64 hash;
  uint64_t size = 0;
  std::vector<std::string> status_lines;
  // Upload source.
  uint64_t upload_seed = 0;
  uint64_t upload_size = 0;
  uint64_t uploaded = 0;
};

size_t onBody(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view bytes(data, size * n);
  if (t->body.size() < 4096) t->body.append(bytes.substr(0, 4096 - t->body.size()));
  t->hash.update(bytes);
  t->size += bytes.size();
  return size * n;
}

size_t onHeader(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string line(data, size * n);
  if (line.rfind("HTTP/", 0) == 0) t->status_lines.push_back(line.substr(0, line.find('\r')));
  return size * n;
}

size_t onRead(char* buffer, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  uint64_t left = t->upload_size - t->uploaded;
  size_t len = static_cast<size_t>(std::min<uint64_t>(left, std::min<size_t>(size * n, 100000)));
  std::string chunk = payloadBytes(t->upload_seed, t->uploaded, len);
  std::copy(chunk.begin(), chunk.end(), buffer);
  t->uploaded += len;
  return len;
}

CURL* makeEasy(Transfer* t, const std::string& url) {
  CURL* easy = curl_easy_init();
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, onBody);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, t);
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, onHeader);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, t);
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 20000L);
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  return easy;
}

std::string url(uint16_t port, const std::string& path) {
  return "http://127.0.0.1:" + std::to_string(port) + path;
}

} // namespace

TEST_SUITE_BEGIN("e2e");

TEST_CASE("curl: three GETs on one easy handle use one connection both sides") {
  FakeUpstream up("app", [](const UpstreamRequest& r) { return Reply::ok(r.message.target); });
  ProxyProcess proxy;
  startOrFail(proxy, singleUpstream(up.port()));
  Transfer t;
  CURL* easy = makeEasy(&t, url(proxy.port(), "/1"));
  long connects_total = 0;
  for (int i = 1; i <= 3; ++i) {
    t.body.clear();
    curl_easy_setopt(easy, CURLOPT_URL, url(proxy.port(), "/" + std::to_string(i)).c_str());
    CHECK(curl_easy_perform(easy) == CURLE_OK);
    long code = 0, connects = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &connects);
    connects_total += connects;
    CHECK(code == 200);
    CHECK(t.body == "/" + std::to_string(i));
  }
  curl_easy_cleanup(easy);
  CHECK(connects_total == 1);
  CHECK(up.connectionCount() == 1);
  CHECK(up.requestCount() == 3);
}

TEST_CASE("curl: chunked upload with Expect: 100-continue gets 100 then 200") {
  FakeUpstream up("app", [](const UpstreamRequest& r) {
    return Reply::ok(std::to_string(r.message.body_size) + " " + hex64(r.message.body_hash));
  });
  up.setHeadHook([](const HttpMessage& m) {
    return m.headers.hasToken("Expect", "100-continue")
               ? std::string("HTTP/1.1 100 Continue\r\n\r\n")
               : std::string();
  });
  ProxyProcess proxy;
  startOrFail(proxy, singleUpstream(up.port()));
  Transfer t;
  t.upload_seed = 21;
  t.upload_size = 2 << 20;
  CURL* easy = makeEasy(&t, url(proxy.port(), "/upload"));
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Transfer-Encoding: chunked");
  headers = curl_slist_append(headers, "Expect: 100-continue");
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(easy, CURLOPT_POST, 1L);
  curl_easy_setopt(easy, CURLOPT_READFUNCTION, onRead);
  curl_easy_setopt(easy, CURLOPT_READDATA, &t);
  // Long enough that a lost 100 shows up as an error, not as a slow pass.
  curl_easy_setopt(easy, CURLOPT_EXPECT_100_TIMEOUT_MS, 10000L);
  CURLcode rc = curl_easy_perform(easy);
  long code = 0;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
  curl_slist_free_all(headers);
  curl_easy_cleanup(easy);
  CHECK(rc == CURLE_OK);
  CHECK(code == 200);
  REQUIRE(t.status_lines.size() == 2);
  CHECK(t.status_lines[0] == "HTTP/1.1 100 Continue");
  CHECK(t.body == std::to_string(2 << 20) + " " + hex64(payloadHash(21, 2 << 20)));
  REQUIRE(up.requestCount() == 1);
  CHECK(up.requests()[0].message.framing == Framing::kChunked);
}

TEST_CASE("curl: a 16 MiB download arrives intact") {
  constexpr uint64_t kSize = 16 << 20;
  FakeUpstream up("app", [](const UpstreamRequest&) {
    Reply reply =
        Reply::send("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(kSize) + "\r\n\r\n");
    reply.takeover = [](UpstreamConn& conn) {
      for (uint64_t off = 0; off < kSize; off += 1 << 20) {
        if (conn.write(payloadBytes(23, off, 1 << 20)) != IoStatus::kOk) return false;
      }
      return true;
    };
    return reply;
  });
  ProxyProcess proxy;
  startOrFail(proxy, singleUpstream(up.port()));
  Transfer t;
  CURL* easy = makeEasy(&t, url(proxy.port(), "/big"));
  CHECK(curl_easy_perform(easy) == CURLE_OK);
  curl_easy_cleanup(easy);
  CHECK(t.size == kSize);
  CHECK(t.hash.value == payloadHash(23, kSize));
}

TEST_SUITE_END();
