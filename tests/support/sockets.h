// Plain POSIX socket helpers for the e2e harness: an owning fd, deadlines,
// loopback connect/listen on port 0, and poll-based reads/writes that never
// block past a deadline. Every fd is created close-on-exec so a proxy child
// process never inherits a test socket. Thread-safe as far as the fds are.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace swytest {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// A point in time after which a wait gives up.
class Deadline {
public:
  explicit Deadline(milliseconds budget) : end_(Clock::now() + budget) {}
  bool expired() const { return Clock::now() >= end_; }
  // Remaining time in ms for poll(), clamped to [0, INT_MAX].
  int pollMs() const;
  Clock::time_point at() const { return end_; }

private:
  Clock::time_point end_;
};

// Move-only owner of a file descriptor.
class Fd {
public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(other.release()) {}
  Fd& operator=(Fd&& other) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release();
  void reset(int fd = -1);

private:
  int fd_ = -1;
};

enum class IoStatus { kOk, kEof, kReset, kTimeout, kError };
const char* ioStatusName(IoStatus status);

// Connects to 127.0.0.1:port. Returns an invalid Fd and sets *err (errno) on failure.
Fd connectLoopback(uint16_t port, int* err = nullptr);

// Listening socket on 127.0.0.1 with an ephemeral port; *port gets the port.
Fd listenLoopback(uint16_t* port, int backlog = 128);

// Local / peer port of a connected socket (0 on error).
uint16_t localPort(int fd);

// A bound but not listening socket: connecting to its port is refused (RST),
// and nothing else can take the port while the object lives.
class RefusingPort {
public:
  RefusingPort();
  uint16_t port() const { return port_; }

private:
  Fd fd_;
  uint16_t port_ = 0;
};

// A listening socket whose accept queue is full: the kernel drops further
// SYNs, so a connect to its port neither succeeds nor is refused (it times
// out). ok() is false if the queue could not be filled.
class BlackholePort {
public:
  BlackholePort();
  uint16_t port() const { return port_; }
  bool ok() const { return ok_; }

private:
  Fd listener_;
  std::vector<Fd> fillers_;
  uint16_t port_ = 0;
  bool ok_ = false;
};

// Reads whatever is available (up to 64 KiB) into *out, waiting until the
// deadline. `wake_fd` (optional) aborts the wait with kError when readable.
IoStatus readSome(int fd, std::string* out, const Deadline& deadline, int wake_fd = -1);

// Writes all bytes before the deadline (MSG_NOSIGNAL).
IoStatus writeAll(int fd, std::string_view data, const Deadline& deadline, int wake_fd = -1);

// Closes with SO_LINGER 0 so the peer sees a reset.
void resetConnection(Fd& fd);

// Deterministic test payloads and a streaming checksum (FNV-1a 64).
struct Fnv64 {
  uint64_t value = 0xcbf29ce484222325ull;
  void update(std::string_view bytes);
};
// Bytes [offset, offset+len) of the endless payload stream identified by `seed`.
std::string payloadBytes(uint64_t seed, uint64_t offset, size_t len);
uint64_t payloadHash(uint64_t seed, uint64_t size);

} // namespace swytest
