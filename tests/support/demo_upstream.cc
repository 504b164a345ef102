// swy-demo-upstream: a tiny HTTP/1.1 origin server for the demo (run-demo).
//
//   swy-demo-upstream --name app1 --listen 127.0.0.1:9001
//
// Answers every request with 200, keep-alive, text/plain, and a body that says
// which server handled it and echoes the request headers it received, so a
// user can see what the proxy forwarded (X-Forwarded-*, no hop-by-hop fields).
// GET /healthz answers "ok"; GET /bytes/N answers N bytes of text (at most
// 1 GiB, for trying large downloads). Request bodies (Content-Length or chunked) are
// read and counted, never stored. Port 0 picks a free port; the bound address
// is printed on stderr.
//
// Deliberately independent of the proxy's code (plain POSIX sockets, one
// thread per connection, no dependencies) so that it behaves like a foreign
// origin. It is strict rather than clever: a malformed or oversized request
// head gets a 400/431 and the connection is closed. SIGTERM/SIGINT exit.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace {

constexpr size_t kMaxHeadBytes = 16 * 1024;  // request line + headers
constexpr size_t kMaxLineBytes = 1024;       // chunk-size and trailer lines
constexpr int kMaxConnections = 256;         // beyond this, accept and close
constexpr int kIdleSeconds = 60;             // per blocking read or write

std::atomic<int> g_connections{0};
int g_signal_pipe[2] = {-1, -1};

void onSignal(int) {
  const char byte = 1;
  ssize_t ignored = write(g_signal_pipe[1], &byte, 1);  // async-signal-safe
  (void)ignored;
}

bool isTokenChar(unsigned char c) {
  return std::isalnum(c) != 0 || (c != 0 && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr);
}

bool isToken(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s)
    if (!isTokenChar(c)) return false;
  return true;
}

bool equalsNoCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

std::string_view trimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// True when the comma-separated list `value` contains `token` (case-insensitive).
bool listHas(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    size_t comma = value.find(',');
    if (equalsNoCase(trimOws(value.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

bool parseDecimal(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 18) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  *out = v;
  return true;
}

bool parseHex(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 15) return false;
  uint64_t v = 0;
  for (char c : s) {
    int d = (c >= '0' && c <= '9')   ? c - '0'
            : (c >= 'a' && c <= 'f') ? c - 'a' + 10
            : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                     : -1;
    if (d < 0) return false;
    v = v * 16 + static_cast<uint64_t>(d);
  }
  *out = v;
  return true;
}

struct Request {
  std::string_view method, target, version;
  std::vector<std::pair<std::string_view, std::string_view>> headers;
  bool chunked = false;
  bool has_length = false;
  uint64_t content_length = 0;
  bool keep_alive = true;
  bool expect_continue = false;
};

enum class ParseStatus { kOk, kBad };

// Parses a complete head (without the final CRLF CRLF). Views point into `head`.
ParseStatus parseHead(std::string_view head, Request* req) {
  size_t eol = head.find("\r\n");
  std::string_view line = head.substr(0, eol);
  head = eol == std::string_view::npos ? std::string_view() : head.substr(eol + 2);

  size_t sp1 = line.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return ParseStatus::kBad;
  req->method = line.substr(0, sp1);
  req->target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  req->version = line.substr(sp2 + 1);
  if (!isToken(req->method) || req->target.empty()) return ParseStatus::kBad;
  for (unsigned char c : req->target)
    if (c <= ' ' || c == 0x7f) return ParseStatus::kBad;
  if (req->version != "HTTP/1.1" && req->version != "HTTP/1.0") return ParseStatus::kBad;
  req->keep_alive = req->version == "HTTP/1.1";

  bool has_te = false;
  while (!head.empty()) {
    eol = head.find("\r\n");
    line = head.substr(0, eol);
    head = eol == std::string_view::npos ? std::string_view() : head.substr(eol + 2);
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) return ParseStatus::kBad;  // also obs-fold lines
    std::string_view name = line.substr(0, colon);
    std::string_view value = trimOws(line.substr(colon + 1));
    if (!isToken(name)) return ParseStatus::kBad;
    for (unsigned char c : value)
      if (c == '\r' || c == '\n' || c == 0) return ParseStatus::kBad;
    req->headers.emplace_back(name, value);

    if (equalsNoCase(name, "content-length")) {
      uint64_t n = 0;
      if (!parseDecimal(value, &n)) return ParseStatus::kBad;
      if (req->has_length && n != req->content_length) return ParseStatus::kBad;
      req->has_length = true;
      req->content_length = n;
    } else if (equalsNoCase(name, "transfer-encoding")) {
      has_te = true;
      req->chunked = listHas(value, "chunked");
      if (!req->chunked) return ParseStatus::kBad;  // no way to find the body's end
    } else if (equalsNoCase(name, "connection")) {
      if (listHas(value, "close")) req->keep_alive = false;
      if (listHas(value, "keep-alive") && req->version == "HTTP/1.0") req->keep_alive = true;
    } else if (equalsNoCase(name, "expect")) {
      req->expect_continue = equalsNoCase(value, "100-continue");
    }
  }
  // RFC 9112 section 6.3: both framings at once is a smuggling shape; refuse.
  if (has_te && req->has_length) return ParseStatus::kBad;
  return ParseStatus::kOk;
}

class Connection {
 public:
  Connection(int fd, std::string name) : fd_(fd), name_(std::move(name)) {}
  ~Connection() { close(fd_); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void serve() {
    for (;;) {
      size_t head_end = 0;
      if (!readHead(&head_end)) return;
      Request req;
      std::string head = in_.substr(0, head_end);
      in_.erase(0, head_end + 4);
      if (parseHead(head, &req) != ParseStatus::kOk) {
        sendError(400, "Bad Request");
        return;
      }
      if (req.expect_continue && req.version == "HTTP/1.1" &&
          (req.chunked || req.content_length > 0)) {
        if (!sendAll("HTTP/1.1 100 Continue\r\n\r\n")) return;
      }
      uint64_t body_bytes = 0;
      bool body_ok = req.chunked ? readChunked(&body_bytes) : discard(req.content_length);
      if (!req.chunked) body_bytes = req.content_length;
      if (!body_ok) return;
      if (!respond(req, body_bytes) || !req.keep_alive) return;
    }
  }

 private:
  // Reads until the buffer holds "\r\n\r\n"; its offset goes to *end. A bare LF
  // (RFC 9112 section 2.2 allows rejecting it) gets 400, an oversized head 431.
  bool readHead(size_t* end) {
    size_t scanned = 0;
    for (;;) {
      size_t pos = in_.find("\r\n\r\n", scanned);
      size_t limit = std::min(pos == std::string::npos ? in_.size() : pos, kMaxHeadBytes);
      for (size_t i = scanned; i < limit; ++i) {
        if (in_[i] == '\n' && (i == 0 || in_[i - 1] != '\r')) {
          sendError(400, "Bad Request");
          return false;
        }
      }
      if (pos != std::string::npos && pos <= kMaxHeadBytes) {
        *end = pos;
        return true;
      }
      if (pos != std::string::npos || in_.size() > kMaxHeadBytes) break;
      scanned = in_.size() < 3 ? 0 : in_.size() - 3;
      if (!fill()) return false;  // EOF between requests is the normal end
    }
    sendError(431, "Request Header Fields Too Large");
    return false;
  }

  bool fill() {
    char buf[16 * 1024];
    for (;;) {
      ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n > 0) {
        in_.append(buf, static_cast<size_t>(n));
        return true;
      }
      if (n < 0 && errno == EINTR) continue;
      return false;  // EOF, reset, or idle timeout (SO_RCVTIMEO)
    }
  }

  // Consumes `n` body bytes without keeping them.
  bool discard(uint64_t n) {
    while (n > 0) {
      if (in_.empty() && !fill()) return false;
      size_t take = static_cast<size_t>(std::min<uint64_t>(n, in_.size()));
      in_.erase(0, take);
      n -= take;
    }
    return true;
  }

  bool readLine(std::string* line) {
    for (;;) {
      size_t pos = in_.find("\r\n");
      if (pos != std::string::npos && pos <= kMaxLineBytes) {
        line->assign(in_, 0, pos);
        in_.erase(0, pos + 2);
        return true;
      }
      if (pos != std::string::npos || in_.size() > kMaxLineBytes || !fill()) return false;
    }
  }

  // RFC 9112 section 7.1: chunk-size [; ext] CRLF data CRLF ... 0 CRLF trailers CRLF.
  bool readChunked(uint64_t* total) {
    std::string line;
    for (;;) {
      if (!readLine(&line)) return false;
      std::string_view size_text = trimOws(std::string_view(line).substr(0, line.find(';')));
      uint64_t size = 0;
      if (!parseHex(size_text, &size)) return false;
      if (size == 0) break;
      if (!discard(size) || !readLine(&line) || !line.empty()) return false;
      *total += size;
    }
    for (int trailers = 0; trailers < 100; ++trailers) {
      if (!readLine(&line)) return false;
      if (line.empty()) return true;
    }
    return false;
  }

  // GET /bytes/N: N bytes (at most 1 GiB) of text, streamed in 64 KiB writes,
  // for trying large downloads (conf/examples/downloads.yaml).
  bool respondBytes(const Request& req, std::string_view count) {
    uint64_t n = 0;
    bool valid = !count.empty() && count.size() <= 10;
    for (char c : count) {
      valid = valid && c >= '0' && c <= '9';
      if (valid) n = n * 10 + static_cast<uint64_t>(c - '0');
    }
    if (!valid || n > (1ull << 30)) { // a count of bytes, at most 1 GiB
      sendError(400, "Bad Request");
      return false;
    }
    std::string head = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n";
    head.append("X-Served-By: ").append(name_).append("\r\n");
    head.append("Content-Length: ").append(std::to_string(n)).append("\r\n");
    head.append(req.keep_alive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n");
    if (!sendAll(head)) return false;
    if (req.method == "HEAD") return true;
    std::string block(64 * 1024, '\0');
    for (size_t i = 0; i < block.size(); ++i)
      block[i] = (i % 64 == 63) ? '\n' : static_cast<char>('a' + i % 26);
    for (uint64_t left = n; left > 0;) {
      size_t part = left < block.size() ? static_cast<size_t>(left) : block.size();
      if (!sendAll(std::string_view(block).substr(0, part))) return false;
      left -= part;
    }
    return true;
  }

  bool respond(const Request& req, uint64_t body_bytes) {
    constexpr std::string_view kBytes = "/bytes/";
    if ((req.method == "GET" || req.method == "HEAD") &&
        std::string_view(req.target).substr(0, kBytes.size()) == kBytes) {
      return respondBytes(req, std::string_view(req.target).substr(kBytes.size()));
    }
    std::string body;
    if (req.method == "GET" && req.target == "/healthz") {
      body = "ok\n";
    } else {
      body.reserve(512);
      body.append(name_).append(" handled ").append(req.method).append(" ");
      body.append(req.target).append("\nheaders seen:\n");
      for (const auto& [name, value] : req.headers)
        body.append("  ").append(name).append(": ").append(value).append("\n");
      if (req.chunked || req.has_length)
        body.append("body: ").append(std::to_string(body_bytes)).append(" bytes\n");
    }
    return respondPlain(req, body);
  }

  bool respondPlain(const Request& req, const std::string& body) {
    std::string out;
    out.reserve(body.size() + 200);
    out.append("HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n");
    out.append("X-Served-By: ").append(name_).append("\r\n");
    out.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
    out.append(req.keep_alive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n");
    if (req.method != "HEAD") out.append(body);
    return sendAll(out);
  }

  void sendError(int status, const char* reason) {
    std::string body = std::string(reason) + "\n";
    std::string out =
        "HTTP/1.1 " + std::to_string(status) + " " + reason +
        "\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) +
        "\r\nConnection: close\r\n\r\n" + body;
    sendAll(out);
  }

  bool sendAll(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  int fd_;
  std::string name_;
  std::string in_;  // bytes received and not yet consumed
};

void serveConnection(int fd, std::string name) {
  timeval idle{kIdleSeconds, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &idle, sizeof idle);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &idle, sizeof idle);
  {
    Connection conn(fd, std::move(name));
    conn.serve();
  }
  g_connections.fetch_sub(1);
}

// "127.0.0.1:9001", "[::1]:9001", "localhost:0" -> host and port.
bool splitHostPort(const std::string& text, std::string* host, std::string* port) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) return false;
  *host = text.substr(0, colon);
  *port = text.substr(colon + 1);
  if (host->front() == '[') {
    if (host->size() < 3 || host->back() != ']') return false;
    *host = host->substr(1, host->size() - 2);
  }
  return true;
}

int listenOn(const std::string& address) {
  std::string host, port;
  if (!splitHostPort(address, &host, &port)) {
    std::fprintf(stderr, "bad --listen address '%s' (want HOST:PORT)\n", address.c_str());
    return -1;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  if (int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0) {
    std::fprintf(stderr, "%s: %s\n", address.c_str(), gai_strerror(rc));
    return -1;
  }
  int fd = -1;
  for (addrinfo* ai = res; ai != nullptr && fd < 0; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) continue;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 128) != 0) {
      std::fprintf(stderr, "%s: %s\n", address.c_str(), std::strerror(errno));
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(res);
  return fd;
}

std::string boundAddress(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  char host[NI_MAXHOST] = "?", port[NI_MAXSERV] = "?";
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0)
    getnameinfo(reinterpret_cast<sockaddr*>(&ss), len, host, sizeof host, port, sizeof port,
                NI_NUMERICHOST | NI_NUMERICSERV);
  char out[NI_MAXHOST + NI_MAXSERV + 4];
  std::snprintf(out, sizeof out, ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
  return out;
}

void usage(FILE* out) {
  std::fprintf(out,
               "usage: swy-demo-upstream --name NAME --listen HOST:PORT\n"
               "  A demo HTTP/1.1 origin: answers 200 with the request headers it saw.\n"
               "  GET /healthz answers \"ok\"; GET /bytes/N answers N bytes (at most 1 GiB).\n"
               "  Port 0 picks a free port; the bound address is printed on stderr.\n"
               "  SIGTERM or SIGINT stops it.\n");
}

// Accepts until SIGTERM/SIGINT; each connection gets a detached thread.
void acceptLoop(int listen_fd, const std::string& name) {
  pollfd fds[2] = {{listen_fd, POLLIN, 0}, {g_signal_pipe[0], POLLIN, 0}};
  for (;;) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents != 0) return;
    if ((fds[0].revents & POLLIN) == 0) continue;
    int fd = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      // Out of descriptors: the pending connection stays queued, so back off
      // instead of spinning on poll(); other errors concern one connection only.
      if (errno == EMFILE || errno == ENFILE) poll(nullptr, 0, 10);
      continue;
    }
    if (g_connections.fetch_add(1) >= kMaxConnections) {
      g_connections.fetch_sub(1);
      close(fd);
      continue;
    }
    try {
      std::thread(serveConnection, fd, name).detach();
    } catch (const std::exception&) {  // thread creation failed: shed this one
      g_connections.fetch_sub(1);
      close(fd);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string name = "demo";
  std::string listen_address;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      usage(stdout);
      return 0;
    }
    if ((arg == "--name" || arg == "--listen") && i + 1 < argc) {
      (arg == "--name" ? name : listen_address) = argv[++i];
    } else {
      usage(stderr);
      return 2;
    }
  }
  if (listen_address.empty() || name.empty()) {
    usage(stderr);
    return 2;
  }

  if (pipe2(g_signal_pipe, O_CLOEXEC) != 0) return 1;
  struct sigaction sa {};
  sa.sa_handler = onSignal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  int listen_fd = listenOn(listen_address);
  if (listen_fd < 0) return 1;
  std::fprintf(stderr, "%s listening on %s\n", name.c_str(), boundAddress(listen_fd).c_str());
  acceptLoop(listen_fd, name);
  std::fprintf(stderr, "%s stopping\n", name.c_str());
  close(listen_fd);
  // Connection threads are detached and may sit in recv(); end the process
  // without running static destructors under them.
  std::fflush(nullptr);
  std::_Exit(0);
}
