// The admin API: one request in, one response out, no sockets (the admin
// listener in server.h feeds it). Answers from the current generation and
// the runtime's counters; changes go through AdminControl.
//
//   GET  /                                 the live stats page (HTML)
//   GET  /metrics                          Prometheus text format 0.0.4
//   GET  /api/stats                        everything the stats page shows (JSON)
//   GET  /api/pools                        pools and servers with health and state (JSON)
//   PUT  /api/pools/{pool}/servers/{server} {"state": "ready"|"drain"|"maint", "weight": N}
//   GET  /api/explain?method=&path=&host=&header=N:V&cookie=N:V&query=N:V&client=IP
//                                          which route, variant and server, and why (explain.h)
//   POST /api/reload                       reload the config file (as SIGHUP), say how it went
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/server/generation.h"

namespace proxy::admin {

struct Request {
  std::string_view method; // "GET", "PUT", ...
  std::string_view path;   // without the query
  std::string_view query;  // after '?', may be empty
  std::string_view body;
  std::string_view content_type; // the Content-Type field, "" when absent
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::string extra_headers; // whole lines, each ending in CRLF
};

struct ReloadOutcome {
  bool ok = false;
  uint64_t generation = 0;         // the one running after the attempt
  std::vector<std::string> errors; // why it failed ("file:line:col: path: message", ...)
  std::vector<std::string> warnings;
};

// What the runtime lends the API. Main thread only.
class Control {
public:
  virtual const Generation& current() const = 0;
  virtual ReloadOutcome reload() = 0;
  virtual double uptimeSeconds() const = 0;
  virtual unsigned workers() const = 0;
  virtual uint64_t reloads(bool ok) const = 0; // reloads that succeeded / failed so far
  virtual bool lastReloadOk() const = 0;       // true when none failed since the last success
  virtual uint64_t nowMs() const = 0;          // the health board's clock
  // "ip:port" listener `i` of the current generation is bound to (port 0 resolved).
  virtual std::string listenerAddress(size_t i) const = 0;

protected:
  ~Control() = default;
};

Response handle(const Request& request, Control& control);

// Pieces, for tests.
std::string metricsText(Control& control);
std::string statsJson(Control& control);
std::string jsonString(std::string_view text); // quoted and escaped
// %XX decoded (and '+' as a space for form values); false on a bad escape.
bool percentDecode(std::string_view in, bool plus_is_space, std::string* out);

} // namespace proxy::admin
