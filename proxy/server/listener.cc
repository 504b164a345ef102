#include "proxy/server/listener.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "proxy/server/worker.h"
#include "proxy/session/downstream.h"

namespace proxy {

int bindListeningSocket(const sockaddr* addr, socklen_t length) {
  int fd = ::socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  int one = 1;
  if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0 ||
      (addr->sa_family == AF_INET6 &&
       ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0) ||
      ::bind(fd, addr, length) != 0) {
    int err = errno;
    ::close(fd);
    return -err;
  }
  return fd;
}

std::string localAddress(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "?";
  char ip[INET6_ADDRSTRLEN] = {};
  char out[INET6_ADDRSTRLEN + 16];
  if (ss.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
    snprintf(out, sizeof out, "[%s]:%u", ip, ntohs(a->sin6_port));
  } else {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
    snprintf(out, sizeof out, "%s:%u", ip, ntohs(a->sin_port));
  }
  return out;
}

int Listener::start(int fd, int backlog) {
  int rc = tcp_.open(this, [&](uv_tcp_t* h) { return uv_tcp_init(worker_.loop(), h); });
  if (rc != 0) {
    ::close(fd);
    return rc;
  }
  rc = uv_tcp_open(tcp_.get(), fd);
  if (rc != 0) {
    ::close(fd);
    return rc;
  }
  return uv_listen(tcp_.stream(), backlog, &onConnection);
}

void Listener::onConnection(uv_stream_t* server, int status) {
  auto* self = static_cast<Listener*>(server->data);
  if (self == nullptr || status != 0) return; // EMFILE and friends: the next accept may work
  DownstreamSession::accept(self->worker_, server, self->index_);
}

} // namespace proxy
