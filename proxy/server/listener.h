// Listener: one listening socket of one worker. The socket is created and
// bound by the runtime (so that port 0 resolves once and every worker binds
// the same port with SO_REUSEPORT); the worker adopts the fd here.
#pragma once

#include <string>

#include "proxy/uv/handles.h"

namespace proxy {

class Worker;

class Listener {
public:
  Listener(Worker& worker, size_t index) : worker_(worker), index_(index) {}
  // Adopts `fd` and starts listening; returns a libuv error or 0.
  int start(int fd, int backlog);
  void close() noexcept { tcp_.close(); }
  // Reload: the same socket serves listener `index` of the new generation.
  void setIndex(size_t index) noexcept { index_ = index; }

private:
  static void onConnection(uv_stream_t* server, int status);
  Worker& worker_;
  size_t index_;
  uv::Tcp tcp_;
};

// Creates a non-blocking socket for `addr` with SO_REUSEADDR and
// SO_REUSEPORT set (libuv 1.44 has no flag for the latter) and binds it.
// Returns the fd, or -errno.
int bindListeningSocket(const sockaddr* addr, socklen_t length);

// "ip:port" of a bound socket.
std::string localAddress(int fd);

} // namespace proxy
