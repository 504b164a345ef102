// SplicePipe over real loopback TCP connections (splice needs a socket or a
// pipe on one side): bytes arrive intact and in order, a full receiver leaves
// bytes held for drain(), end of stream and errors come back as values.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <string>

#include "proxy/core/splice_pipe.h"

using proxy::SplicePipe;

namespace {

// A connected loopback TCP pair; both ends non-blocking.
struct TcpPair {
  int a = -1;
  int b = -1;
  TcpPair() {
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    REQUIRE(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(listen(listener, 1) == 0);
    REQUIRE(getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    a = socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(connect(a, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    b = accept(listener, nullptr, nullptr);
    REQUIRE(b >= 0);
    close(listener);
    fcntl(a, F_SETFL, O_NONBLOCK);
    fcntl(b, F_SETFL, O_NONBLOCK);
  }
  ~TcpPair() {
    if (a >= 0) close(a);
    if (b >= 0) close(b);
  }
};

std::string pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i)
    s[i] = static_cast<char>('a' + (i * 7 + i / 251) % 26);
  return s;
}

// Reads what `fd` has now (non-blocking).
std::string readAvailable(int fd) {
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

} // namespace

TEST_CASE("splice pipe: bytes move socket to socket intact and the pipe ends empty") {
  TcpPair in, out;
  SplicePipe pipe;
  REQUIRE(pipe.ready());
  const std::string data = pattern(100000);
  REQUIRE(write(in.a, data.data(), data.size()) == static_cast<ssize_t>(data.size()));
  std::string got;
  size_t moved = 0;
  for (int i = 0; i < 100 && moved < data.size(); ++i) {
    ssize_t n = pipe.fill(in.b, data.size() - moved);
    if (n == -EAGAIN) continue;
    REQUIRE(n > 0);
    CHECK(pipe.held() == static_cast<size_t>(n));
    ssize_t m = pipe.flush(out.a);
    CHECK(m == n);
    CHECK(pipe.held() == 0);
    moved += static_cast<size_t>(n);
    got += readAvailable(out.b);
  }
  got += readAvailable(out.b);
  CHECK(moved == data.size());
  CHECK(got == data);
}

TEST_CASE("splice pipe: fill takes at most what was asked") {
  TcpPair in;
  SplicePipe pipe;
  REQUIRE(pipe.ready());
  REQUIRE(write(in.a, "0123456789", 10) == 10);
  ssize_t n = -EAGAIN;
  for (int i = 0; i < 1000 && n == -EAGAIN; ++i)
    n = pipe.fill(in.b, 4);
  CHECK(n == 4);
  char rest[16];
  CHECK(read(in.b, rest, sizeof rest) == 6); // the socket kept the rest
  char held[16];
  CHECK(pipe.drain(held, sizeof held) == 4);
  CHECK(std::string(held, 4) == "0123");
  CHECK(pipe.held() == 0);
}

TEST_CASE("splice pipe: a full receiver leaves bytes held; drain copies them out in order") {
  TcpPair in, out;
  int small = 4096;
  setsockopt(out.a, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  setsockopt(out.b, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  SplicePipe pipe;
  REQUIRE(pipe.ready());
  const std::string data = pattern(200000);
  size_t written = 0;
  size_t flushed = 0;
  // Keep feeding until the pipe cannot hand everything to the full receiver.
  for (int i = 0; i < 200 && pipe.held() == 0 && written < data.size(); ++i) {
    ssize_t w = write(in.a, data.data() + written, std::min<size_t>(65536, data.size() - written));
    if (w > 0) written += static_cast<size_t>(w);
    ssize_t n = pipe.fill(in.b, SplicePipe::kCapacity);
    if (n <= 0) continue;
    ssize_t m = pipe.flush(out.a);
    REQUIRE(m >= 0);
    flushed += static_cast<size_t>(m);
  }
  REQUIRE(pipe.held() > 0); // the receiver never read: its buffers filled
  const size_t held = pipe.held();
  std::string drained;
  char buf[8192];
  while (pipe.held() > 0) {
    ssize_t n = pipe.drain(buf, sizeof buf);
    REQUIRE(n > 0);
    drained.append(buf, static_cast<size_t>(n));
  }
  CHECK(drained.size() == held);
  // The receiver gets exactly what was flushed; then comes what was drained.
  std::string received;
  for (int i = 0; i < 10000 && received.size() < flushed; ++i) {
    pollfd p{out.b, POLLIN, 0};
    if (poll(&p, 1, 2000) <= 0) break;
    received += readAvailable(out.b);
  }
  CHECK(received.size() == flushed);
  const std::string all = received + drained;
  REQUIRE(all.size() <= data.size());
  CHECK(all == data.substr(0, all.size()));
}

TEST_CASE("splice pipe: end of stream is 0, a reset receiver is an error, discard empties") {
  std::signal(SIGPIPE, SIG_IGN); // as the proxy does: EPIPE comes back as a value
  SplicePipe pipe;
  REQUIRE(pipe.ready());
  {
    TcpPair in;
    shutdown(in.a, SHUT_WR);
    ssize_t n = -EAGAIN;
    for (int i = 0; i < 1000 && n == -EAGAIN; ++i)
      n = pipe.fill(in.b, 100);
    CHECK(n == 0);
  }
  TcpPair in, out;
  REQUIRE(write(in.a, "abc", 3) == 3);
  ssize_t n = -EAGAIN;
  for (int i = 0; i < 1000 && n == -EAGAIN; ++i)
    n = pipe.fill(in.b, 100);
  REQUIRE(n == 3);
  close(out.b); // the receiver is gone
  out.b = -1;
  ssize_t m = 0;
  for (int i = 0; i < 10 && m >= 0; ++i) { // the first write may still be accepted
    m = pipe.flush(out.a);
    if (m >= 0 && pipe.held() == 0) {
      REQUIRE(write(in.a, "abc", 3) == 3);
      ssize_t again = -EAGAIN;
      for (int j = 0; j < 1000 && again == -EAGAIN; ++j)
        again = pipe.fill(in.b, 100);
    }
  }
  CHECK(m < 0);
  CHECK((m == -EPIPE || m == -ECONNRESET));
  pipe.discard();
  CHECK(pipe.held() == 0);
  REQUIRE(pipe.ready()); // a fresh, empty pipe
  CHECK(pipe.held() == 0);
}
