#include "proxy/session/access_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace proxy {

bool AccessLogSink::open(const config::AccessLog& cfg, std::string* error) {
  format_ = cfg.format;
  if (!cfg.enabled) return true;
  if (cfg.path == "stdout") {
    fd_ = STDOUT_FILENO;
  } else if (cfg.path == "stderr") {
    fd_ = STDERR_FILENO;
  } else {
    fd_ = ::open(cfg.path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd_ < 0) {
      *error = "cannot open access log " + cfg.path + ": " + std::strerror(errno);
      return false;
    }
    owned_ = true;
    path_ = cfg.path;
  }
  return true;
}

std::string AccessLogSink::reopen() {
  if (!owned_ || fd_ < 0) return "";
  int fresh = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fresh < 0) return "cannot reopen access log " + path_ + ": " + std::strerror(errno);
  int rc = ::dup3(fresh, fd_, O_CLOEXEC);
  int err = errno;
  ::close(fresh);
  if (rc < 0) return "cannot reopen access log " + path_ + ": " + std::strerror(err);
  return "";
}

AccessLogSink::~AccessLogSink() {
  if (owned_ && fd_ >= 0) ::close(fd_);
}

void AccessLogSink::write(std::string_view line) const noexcept {
  const char* p = line.data();
  size_t left = line.size();
  while (left > 0) {
    ssize_t n = ::write(fd_, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return; // a full or closed log never stalls the data path
    p += n;
    left -= static_cast<size_t>(n);
  }
}

namespace {

void appendTime(std::string* out) {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  tm t{};
  gmtime_r(&ts.tv_sec, &t);
  char buf[40];
  size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &t);
  n += static_cast<size_t>(snprintf(buf + n, sizeof buf - n, ".%03ldZ", ts.tv_nsec / 1000000));
  out->append(buf, n);
}

void appendMs(std::string* out, uint64_t from, uint64_t to) {
  char buf[32];
  double ms = (to > from && from != 0) ? static_cast<double>(to - from) / 1e6 : 0.0;
  int n = snprintf(buf, sizeof buf, "%.3f", ms);
  out->append(buf, static_cast<size_t>(n));
}

void appendUint(std::string* out, uint64_t v) { out->append(std::to_string(v)); }

std::string_view orDash(std::string_view s) { return s.empty() ? std::string_view("-") : s; }

// JSON string escaping; request data is peer-controlled.
void appendJsonString(std::string* out, std::string_view s) {
  out->push_back('"');
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(static_cast<char>(c));
    } else if (c < 0x20 || c >= 0x7f) {
      char buf[8];
      snprintf(buf, sizeof buf, "\\u%04x", c);
      out->append(buf);
    } else {
      out->push_back(static_cast<char>(c));
    }
  }
  out->push_back('"');
}

// Text log: quote-safe copy of peer data (no raw quotes or control bytes).
void appendSafe(std::string* out, std::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
      char buf[8];
      snprintf(buf, sizeof buf, "\\x%02x", c);
      out->append(buf);
    } else {
      out->push_back(static_cast<char>(c));
    }
  }
}

} // namespace

void AccessLogWriter::log(const ExchangeRecord& r) {
  if (!enabled()) return;
  line_.clear();
  if (sink_->format() == config::LogFormat::kJson) {
    formatJson(r);
  } else {
    formatText(r);
  }
  line_.push_back('\n');
  sink_->write(line_);
}

void AccessLogWriter::formatText(const ExchangeRecord& r) {
  std::string& o = line_;
  o.append(orDash(r.client));
  o.append(" [");
  appendTime(&o);
  o.append("] \"");
  appendSafe(&o, orDash(r.method));
  o.push_back(' ');
  appendSafe(&o, orDash(r.uri));
  o.append(" HTTP/");
  o.push_back(static_cast<char>('0' + r.version_major));
  o.push_back('.');
  o.push_back(static_cast<char>('0' + r.version_minor));
  o.append("\" ");
  appendUint(&o, static_cast<uint64_t>(r.status));
  o.push_back(' ');
  appendUint(&o, r.bytes_out);
  o.append(" cid=");
  appendUint(&o, r.cid);
  o.append(" listener=");
  o.append(orDash(r.listener));
  o.append(" route=");
  o.append(orDash(r.route));
  o.append(" pool=");
  o.append(orDash(r.pool));
  o.append(" server=");
  o.append(orDash(r.server));
  o.append(" upstream=");
  o.append(orDash(r.upstream));
  o.append(" variant=");
  o.append(orDash(r.variant));
  o.append(" in=");
  appendUint(&o, r.bytes_in);
  o.append(" ttfb_ms=");
  appendMs(&o, r.start_ns, r.head_ns);
  o.append(" total_ms=");
  appendMs(&o, r.start_ns, r.end_ns);
  o.append(" retries=");
  appendUint(&o, r.retries);
  o.append(" term=");
  o.push_back(r.term.who);
  o.push_back(r.term.phase);
}

void AccessLogWriter::formatJson(const ExchangeRecord& r) {
  std::string& o = line_;
  o.append("{\"time\":\"");
  appendTime(&o);
  o.append("\",\"cid\":");
  appendUint(&o, r.cid);
  auto field = [&o](const char* key, std::string_view v) {
    o.append(",\"");
    o.append(key);
    o.append("\":");
    appendJsonString(&o, orDash(v));
  };
  field("client", r.client);
  field("listener", r.listener);
  field("method", r.method);
  field("uri", r.uri);
  char proto[16];
  snprintf(proto, sizeof proto, "HTTP/%u.%u", r.version_major, r.version_minor);
  field("proto", proto);
  o.append(",\"status\":");
  appendUint(&o, static_cast<uint64_t>(r.status));
  o.append(",\"bytes_in\":");
  appendUint(&o, r.bytes_in);
  o.append(",\"bytes_out\":");
  appendUint(&o, r.bytes_out);
  field("route", r.route);
  field("pool", r.pool);
  field("server", r.server);
  field("upstream", r.upstream);
  field("variant", r.variant);
  o.append(",\"ttfb_ms\":");
  appendMs(&o, r.start_ns, r.head_ns);
  o.append(",\"total_ms\":");
  appendMs(&o, r.start_ns, r.end_ns);
  o.append(",\"retries\":");
  appendUint(&o, r.retries);
  o.append(",\"term\":\"");
  o.push_back(r.term.who);
  o.push_back(r.term.phase);
  o.append("\"}");
}

} // namespace proxy
