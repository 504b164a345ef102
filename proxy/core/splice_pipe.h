// SplicePipe: a pipe for splice(2), through which a response body moves from
// the upstream socket to the client socket inside the kernel: its pages are
// passed along, never copied into the proxy and out again. One per worker;
// a caller leaves it empty (flush, drain or discard) before its turn ends, so
// the next user starts from an empty pipe.
//
// Linux only. Everything is non-blocking; errors come back as -errno.
#pragma once

#include <sys/types.h>

#include <cstddef>

namespace proxy {

class SplicePipe {
public:
  // What one fill() asks for at most, and the pipe's capacity (asked with
  // F_SETPIPE_SZ; the default 64 KiB is kept when the system refuses).
  static constexpr size_t kCapacity = 256 * 1024;

  SplicePipe() = default;
  ~SplicePipe();
  SplicePipe(const SplicePipe&) = delete;
  SplicePipe& operator=(const SplicePipe&) = delete;

  // Opens the pipe on first use; false when the system gives none (then the
  // caller copies as usual; a later call tries again).
  bool ready() noexcept;
  // Moves at most `max` bytes from the socket `from` into the pipe: bytes
  // moved, 0 at end of stream, or -errno (-EAGAIN: nothing to read now).
  ssize_t fill(int from, size_t max) noexcept;
  // Moves what the pipe holds to the socket `to` until it is empty or `to`
  // is full: bytes moved, or -errno when none moved for an error other than
  // EAGAIN (a full socket moves 0).
  ssize_t flush(int to) noexcept;
  // Copies up to `length` held bytes into `buffer` (for an ordinary write
  // when the client socket is full): bytes copied, or -errno.
  ssize_t drain(char* buffer, size_t length) noexcept;
  // Throws away whatever is held (the client went away): closes the pipe, so
  // that the next ready() opens an empty one.
  void discard() noexcept;
  size_t held() const noexcept { return held_; }

private:
  int read_end_ = -1;
  int write_end_ = -1;
  size_t held_ = 0;
};

} // namespace proxy
