#include "tests/support/e2e_checks.h"

#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>

namespace swytest {

void startOrFail(ProxyProcess& proxy, const ProxyConfig& cfg) {
  bool ready = proxy.start(cfg.render());
  INFO(proxy.diagnostics());
  REQUIRE_MESSAGE(ready, "switchyard did not print its ready line within 5 s");
  REQUIRE_MESSAGE(proxy.port() != 0, "no 'listening name=public' line with a port");
}

void checkErrorResponse(RawClient& client, const Response& r, int status, bool closes) {
  INFO("response: " << r.describe());
  REQUIRE(r.complete);
  CHECK(r.status() == status);
  CHECK(r.headers().valueOr("Content-Type") == "text/plain; charset=utf-8");
  CHECK(r.msg.framing == Framing::kLength);
  CHECK(!r.body().empty());
  CHECK(r.body().size() < 512);
  if (!r.body().empty()) CHECK(r.body().back() == '\n');
  if (closes) {
    CHECK(r.headers().hasToken("Connection", "close"));
    IoStatus st = client.waitClosed(milliseconds(2000));
    INFO("after the error response: " << ioStatusName(st));
    CHECK((st == IoStatus::kEof || st == IoStatus::kReset));
  }
}

JsonLine logLineAt(ProxyProcess& proxy, size_t index, milliseconds timeout) {
  bool arrived = proxy.waitForStdoutLines(index + 1, timeout);
  std::vector<std::string> lines = proxy.stdoutLines();
  INFO("access log has " << lines.size() << " line(s), waiting for #" << index);
  REQUIRE(arrived);
  INFO("line: " << lines[index]);
  std::optional<JsonLine> j = JsonLine::parse(lines[index]);
  REQUIRE_MESSAGE(j.has_value(), "access-log line is not one flat JSON object");
  return *j;
}

long peakRssKiB(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string key;
  while (in >> key) {
    if (key == "VmHWM:") {
      long kib = -1;
      in >> kib;
      return kib;
    }
    std::string rest;
    std::getline(in, rest);
  }
  return -1;
}

std::string hex64(uint64_t v) {
  char buf[20];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

uint16_t adminPort(const ProxyProcess& proxy) {
  static const std::string kPrefix = "switchyard: admin listening address=127.0.0.1:";
  for (const std::string& line : proxy.stderrLines()) {
    if (line.rfind(kPrefix, 0) == 0)
      return static_cast<uint16_t>(std::stoi(line.substr(kPrefix.size())));
  }
  return 0;
}

} // namespace swytest
