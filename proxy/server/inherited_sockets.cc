#include "proxy/server/inherited_sockets.h"

#include <netinet/in.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace proxy {

namespace {

// A TCP socket in the listening state, bound to `want`'s family and IP, and
// to its port unless that is 0.
bool listensOn(int fd, const sockaddr* want) {
  int type = 0, accepting = 0;
  socklen_t len = sizeof type;
  if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM) {
    return false;
  }
  len = sizeof accepting;
  if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) != 0 || accepting == 0) {
    return false;
  }
  sockaddr_storage have{};
  len = sizeof have;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&have), &len) != 0 ||
      have.ss_family != want->sa_family) {
    return false;
  }
  if (want->sa_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&have);
    const auto* b = reinterpret_cast<const sockaddr_in*>(want);
    return a->sin_addr.s_addr == b->sin_addr.s_addr &&
           (b->sin_port == 0 || a->sin_port == b->sin_port);
  }
  if (want->sa_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&have);
    const auto* b = reinterpret_cast<const sockaddr_in6*>(want);
    return std::memcmp(&a->sin6_addr, &b->sin6_addr, sizeof a->sin6_addr) == 0 &&
           (b->sin6_port == 0 || a->sin6_port == b->sin6_port);
  }
  return false;
}

bool parseInt(std::string_view text, int* out) {
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, *out);
  return ec == std::errc() && ptr == end;
}

} // namespace

std::string encodeHandedSockets(const std::vector<HandedSocket>& sockets) {
  std::string out;
  for (const HandedSocket& s : sockets) {
    if (!out.empty()) out += ';';
    out += std::to_string(s.fd) + ':' +
           (s.worker == kAdminSocket ? std::string("admin") : std::to_string(s.worker)) + ':' +
           s.address;
  }
  return out;
}

bool decodeHandedSockets(std::string_view text, std::vector<HandedSocket>* out) {
  while (!text.empty()) {
    size_t end = text.find(';');
    std::string_view entry = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    size_t c1 = entry.find(':');
    size_t c2 = c1 == std::string_view::npos ? c1 : entry.find(':', c1 + 1);
    if (c2 == std::string_view::npos || c2 + 1 >= entry.size()) return false;
    HandedSocket s;
    std::string_view worker = entry.substr(c1 + 1, c2 - c1 - 1);
    if (!parseInt(entry.substr(0, c1), &s.fd) || s.fd < 3) return false; // never stdio
    if (worker != "admin" && (!parseInt(worker, &s.worker) || s.worker < 0)) return false;
    s.address = std::string(entry.substr(c2 + 1));
    out->push_back(std::move(s));
  }
  return true;
}

InheritedSockets InheritedSockets::fromEnvironment() {
  InheritedSockets set;
  if (const char* fds = std::getenv(kInheritedFdsEnv)) {
    if (!decodeHandedSockets(fds, &set.sockets_)) {
      fprintf(stderr, "switchyard: upgrade: ignoring the rest of a malformed %s: %s\n",
              kInheritedFdsEnv, fds);
    }
  }
  if (const char* ready = std::getenv(kUpgradeReadyFdEnv)) {
    int fd = -1;
    if (parseInt(ready, &fd) && fd >= 3) set.ready_fd_ = fd;
  }
  // Before any thread exists: unsetenv is not thread-safe.
  ::unsetenv(kInheritedFdsEnv);
  ::unsetenv(kUpgradeReadyFdEnv);
  return set;
}

InheritedSockets::InheritedSockets(InheritedSockets&& other) noexcept
    : sockets_(std::move(other.sockets_)), ready_fd_(std::exchange(other.ready_fd_, -1)),
      taken_(other.taken_) {
  other.sockets_.clear();
}

InheritedSockets::~InheritedSockets() {
  for (HandedSocket& s : sockets_) {
    if (s.fd >= 0) ::close(s.fd);
  }
  if (ready_fd_ >= 0) ::close(ready_fd_);
}

int InheritedSockets::take(const std::string& address, int worker, const sockaddr* want) {
  for (HandedSocket& s : sockets_) {
    if (s.fd < 0 || s.worker != worker || s.address != address) continue;
    int fd = std::exchange(s.fd, -1);
    if (!listensOn(fd, want)) {
      fprintf(stderr,
              "switchyard: upgrade: inherited fd %d is not a TCP socket listening on %s; "
              "binding a new one\n",
              fd, address.c_str());
      ::close(fd);
      return -1;
    }
    ++taken_;
    return fd;
  }
  return -1;
}

void InheritedSockets::closeUnused() {
  size_t unused = 0;
  for (HandedSocket& s : sockets_) {
    if (s.fd < 0) continue;
    ::close(std::exchange(s.fd, -1));
    ++unused;
  }
  if (taken_ == 0 && unused == 0 && ready_fd_ < 0) return;
  fprintf(stderr, "switchyard: upgrade: pid=%d adopted %zu listening sockets from pid=%d\n",
          static_cast<int>(::getpid()), taken_, static_cast<int>(::getppid()));
  if (unused > 0) {
    fprintf(stderr,
            "switchyard: upgrade: closed %zu inherited sockets the config does not use "
            "(connections queued on them are reset when the old process closes them too)\n",
            unused);
  }
}

void InheritedSockets::announceReady() {
  if (ready_fd_ < 0) return;
  const char byte = 'R';
  ssize_t n;
  do {
    n = ::write(ready_fd_, &byte, 1);
  } while (n < 0 && errno == EINTR);
  if (n == 1) {
    fprintf(stderr, "switchyard: upgrade: pid=%d is ready; told pid=%d to drain\n",
            static_cast<int>(::getpid()), static_cast<int>(::getppid()));
  } else {
    fprintf(stderr, "switchyard: upgrade: cannot tell the old process that this one is ready: %s\n",
            n < 0 ? strerror(errno) : "short write");
  }
  ::close(std::exchange(ready_fd_, -1));
}

} // namespace proxy
