// Access log: one line per exchange, text (combined-like) or JSON. The sink
// is one file descriptor shared by all workers; each worker formats into its
// own buffer and hands the finished line to write(2) in one call, so lines
// from different workers do not interleave and no lock is taken.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "proxy/config/snapshot.h"

namespace proxy {

class AccessLogSink {
public:
  // Opens the configured destination; returns false and fills `error`.
  bool open(const config::AccessLog& cfg, std::string* error);
  ~AccessLogSink();
  bool enabled() const { return fd_ >= 0; }
  config::LogFormat format() const { return format_; }
  void write(std::string_view line) const noexcept;
  // SIGUSR1 (logrotate): opens the file path again and puts it in place of
  // the open file with dup2(), which is atomic for the workers' write()s: a
  // line goes whole to the old file or whole to the new one, no lock taken.
  // Returns "" when done or when the log is stdout/stderr/off (nothing to
  // reopen), else what went wrong (the old file stays in use).
  std::string reopen();
  const std::string& path() const { return path_; }

private:
  int fd_ = -1;
  bool owned_ = false;
  std::string path_; // a file's path; empty for stdout/stderr
  config::LogFormat format_ = config::LogFormat::kText;
};

// Termination code: who ended the exchange and in which phase.
struct Termination {
  char who = '-'; // - normal, C client, S server, P proxy refused, c/s timeout, D drain, I internal
  char phase = '-'; // R request head, C connect, H response head, D data, T tunnel, - done
};

struct ExchangeRecord {
  uint64_t cid = 0;
  std::string_view client; // "ip:port"
  std::string_view listener;
  std::string_view method;
  std::string_view uri;
  uint8_t version_major = 1, version_minor = 1;
  int status = 0;         // 0 when nothing was sent
  uint64_t bytes_in = 0;  // request bytes read from the client (head + body)
  uint64_t bytes_out = 0; // response bytes written to the client
  std::string_view route, pool, server, upstream;
  std::string_view variant; // A/B variant, empty when the route is not a split
  uint64_t start_ns = 0, head_ns = 0, end_ns = 0; // uv_hrtime stamps; head = response head
  unsigned retries = 0;
  Termination term;
};

class AccessLogWriter {
public:
  explicit AccessLogWriter(const AccessLogSink* sink) : sink_(sink) {}
  bool enabled() const { return sink_ != nullptr && sink_->enabled(); }
  void log(const ExchangeRecord& r);

private:
  void formatText(const ExchangeRecord& r);
  void formatJson(const ExchangeRecord& r);
  const AccessLogSink* sink_;
  std::string line_;
};

} // namespace proxy
