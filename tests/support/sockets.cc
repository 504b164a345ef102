#include "tests/support/sockets.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

namespace swytest {

int Deadline::pollMs() const {
  auto left = std::chrono::duration_cast<milliseconds>(end_ - Clock::now()).count();
  if (left <= 0) return 0;
  if (left > INT_MAX) return INT_MAX;
  // Round up so a wait of 0.4 ms does not turn into a busy poll(0).
  return static_cast<int>(left) + 1;
}

Fd& Fd::operator=(Fd&& other) noexcept {
  if (this != &other) reset(other.release());
  return *this;
}

int Fd::release() {
  int fd = fd_;
  fd_ = -1;
  return fd;
}

void Fd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

const char* ioStatusName(IoStatus status) {
  switch (status) {
  case IoStatus::kOk: return "ok";
  case IoStatus::kEof: return "eof";
  case IoStatus::kReset: return "reset";
  case IoStatus::kTimeout: return "timeout";
  case IoStatus::kError: return "error";
  }
  return "?";
}

static sockaddr_in loopback(uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

Fd connectLoopback(uint16_t port, int* err) {
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) {
    if (err) *err = errno;
    return Fd();
  }
  sockaddr_in addr = loopback(port);
  int rc;
  do {
    rc = ::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    if (err) *err = errno;
    return Fd();
  }
  int one = 1;
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (err) *err = 0;
  return fd;
}

static uint16_t boundPort(int fd) {
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return 0;
  return ntohs(addr.sin_port);
}

static Fd bindLoopback(uint16_t* port) {
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return Fd();
  sockaddr_in addr = loopback(0);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return Fd();
  *port = boundPort(fd.get());
  return fd;
}

Fd listenLoopback(uint16_t* port, int backlog) {
  Fd fd = bindLoopback(port);
  if (!fd.valid() || ::listen(fd.get(), backlog) != 0) return Fd();
  return fd;
}

uint16_t localPort(int fd) { return boundPort(fd); }

RefusingPort::RefusingPort() { fd_ = bindLoopback(&port_); }

BlackholePort::BlackholePort() {
  listener_ = listenLoopback(&port_, 0);
  if (!listener_.valid()) return;
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port_);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  // Connect until one attempt stays pending: from then on SYNs are dropped.
  for (int i = 0; i < 64 && !ok_; ++i) {
    Fd c(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!c.valid()) return;
    int rc = ::connect(c.get(), reinterpret_cast<sockaddr*>(&to), sizeof to);
    if (rc != 0 && errno != EINPROGRESS) return;
    pollfd p{c.get(), POLLOUT, 0};
    ok_ = rc != 0 && ::poll(&p, 1, 200) == 0;
    fillers_.push_back(std::move(c));
  }
}

IoStatus readSome(int fd, std::string* out, const Deadline& deadline, int wake_fd) {
  for (;;) {
    pollfd fds[2] = {{fd, POLLIN, 0}, {wake_fd, POLLIN, 0}};
    int rc = ::poll(fds, wake_fd >= 0 ? 2 : 1, deadline.pollMs());
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0) return IoStatus::kError;
    if (wake_fd >= 0 && (fds[1].revents & POLLIN)) return IoStatus::kError;
    if (rc == 0 || fds[0].revents == 0) {
      if (deadline.expired()) return IoStatus::kTimeout;
      continue;
    }
    char buf[65536];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      out->append(buf, static_cast<size_t>(n));
      return IoStatus::kOk;
    }
    if (n == 0) return IoStatus::kEof;
    if (errno == EINTR || errno == EAGAIN) continue;
    return errno == ECONNRESET ? IoStatus::kReset : IoStatus::kError;
  }
}

IoStatus writeAll(int fd, std::string_view data, const Deadline& deadline, int wake_fd) {
  while (!data.empty()) {
    pollfd fds[2] = {{fd, POLLOUT, 0}, {wake_fd, POLLIN, 0}};
    int rc = ::poll(fds, wake_fd >= 0 ? 2 : 1, deadline.pollMs());
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0) return IoStatus::kError;
    if (wake_fd >= 0 && (fds[1].revents & POLLIN)) return IoStatus::kError;
    if (rc == 0 || fds[0].revents == 0) {
      if (deadline.expired()) return IoStatus::kTimeout;
      continue;
    }
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    return (errno == ECONNRESET || errno == EPIPE) ? IoStatus::kReset : IoStatus::kError;
  }
  return IoStatus::kOk;
}

void resetConnection(Fd& fd) {
  if (!fd.valid()) return;
  linger lg{1, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  fd.reset();
}

void Fnv64::update(std::string_view bytes) {
  uint64_t h = value;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  value = h;
}

static uint64_t splitmix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

std::string payloadBytes(uint64_t seed, uint64_t offset, size_t len) {
  std::string out(len, '\0');
  for (size_t i = 0; i < len;) {
    uint64_t pos = offset + i;
    uint64_t word = splitmix(seed * 0x100000000ull + pos / 8);
    for (uint64_t b = pos % 8; b < 8 && i < len; ++b, ++i) {
      out[i] = static_cast<char>((word >> (8 * b)) & 0xff);
    }
  }
  return out;
}

uint64_t payloadHash(uint64_t seed, uint64_t size) {
  Fnv64 h;
  constexpr size_t kBlock = 1 << 20;
  for (uint64_t off = 0; off < size; off += kBlock) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(kBlock, size - off));
    h.update(payloadBytes(seed, off, n));
  }
  return h.value;
}

} // namespace swytest
