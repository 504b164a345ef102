#include "proxy/core/splice_pipe.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace proxy {

SplicePipe::~SplicePipe() { discard(); }

bool SplicePipe::ready() noexcept {
  if (read_end_ >= 0) return true;
  int fds[2];
  if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return false;
  read_end_ = fds[0];
  write_end_ = fds[1];
  held_ = 0;
  (void)fcntl(write_end_, F_SETPIPE_SZ, static_cast<int>(kCapacity)); // best effort
  return true;
}

ssize_t SplicePipe::fill(int from, size_t max) noexcept {
  for (;;) {
    ssize_t n = splice(from, nullptr, write_end_, nullptr, max, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n >= 0) {
      held_ += static_cast<size_t>(n);
      return n;
    }
    if (errno != EINTR) return -errno;
  }
}

ssize_t SplicePipe::flush(int to) noexcept {
  size_t moved = 0;
  while (held_ > 0) {
    ssize_t n = splice(read_end_, nullptr, to, nullptr, held_, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n > 0) {
      held_ -= static_cast<size_t>(n);
      moved += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN && moved == 0) return -errno;
    break; // the socket is full (or failed after some bytes: the next write says so)
  }
  return static_cast<ssize_t>(moved);
}

ssize_t SplicePipe::drain(char* buffer, size_t length) noexcept {
  for (;;) {
    ssize_t n = read(read_end_, buffer, length < held_ ? length : held_);
    if (n > 0) {
      held_ -= static_cast<size_t>(n);
      return n;
    }
    if (n < 0 && errno == EINTR) continue;
    return n < 0 ? -errno : -EIO; // a pipe that says it holds bytes and has none
  }
}

void SplicePipe::discard() noexcept {
  if (read_end_ < 0) return;
  ::close(read_end_);
  ::close(write_end_);
  read_end_ = write_end_ = -1;
  held_ = 0;
}

} // namespace proxy
