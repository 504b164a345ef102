// The description of the sockets a binary upgrade hands over, and the checks
// the new process makes before it adopts one (real sockets on 127.0.0.1).
#include "proxy/server/inherited_sockets.h"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cstdlib>

using proxy::HandedSocket;
using proxy::InheritedSockets;
using proxy::kAdminSocket;

namespace {

sockaddr_in loopback(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  return a;
}

// A TCP socket bound to 127.0.0.1 on an ephemeral port, listening or not.
int boundSocket(bool listening, uint16_t* port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a = loopback(0);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  if (listening) REQUIRE(::listen(fd, 8) == 0);
  socklen_t len = sizeof a;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  *port = ntohs(a.sin_port);
  return fd;
}

bool isOpen(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

// Sets the environment the old process would and reads it back.
InheritedSockets inherit(const std::vector<HandedSocket>& sockets, int ready_fd) {
  ::setenv(proxy::kInheritedFdsEnv, proxy::encodeHandedSockets(sockets).c_str(), 1);
  ::setenv(proxy::kUpgradeReadyFdEnv, std::to_string(ready_fd).c_str(), 1);
  return InheritedSockets::fromEnvironment();
}

} // namespace

TEST_CASE("handed sockets: the description round-trips, IPv6 addresses included") {
  std::vector<HandedSocket> in = {{4, 0, "127.0.0.1:0"},
                                  {5, 1, "127.0.0.1:0"},
                                  {6, 0, "[::1]:8443"},
                                  {7, kAdminSocket, "127.0.0.1:9901"}};
  const std::string text = proxy::encodeHandedSockets(in);
  CHECK(text == "4:0:127.0.0.1:0;5:1:127.0.0.1:0;6:0:[::1]:8443;7:admin:127.0.0.1:9901");
  std::vector<HandedSocket> out;
  REQUIRE(proxy::decodeHandedSockets(text, &out));
  REQUIRE(out.size() == in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    CHECK(out[i].fd == in[i].fd);
    CHECK(out[i].worker == in[i].worker);
    CHECK(out[i].address == in[i].address);
  }
}

TEST_CASE("handed sockets: malformed entries are rejected, stdio fds never taken") {
  for (const char* bad : {"x:0:127.0.0.1:80", "4:-1:127.0.0.1:80", "4:w:127.0.0.1:80",
                          "4:0:", "4:0", "2:0:127.0.0.1:80", "4:0:127.0.0.1:80;;"}) {
    std::vector<HandedSocket> out;
    INFO(bad);
    CHECK_FALSE(proxy::decodeHandedSockets(bad, &out));
  }
  std::vector<HandedSocket> out;
  CHECK(proxy::decodeHandedSockets("", &out));
  CHECK(out.empty());
}

TEST_CASE("inherited sockets: taken only when listening on the configured address") {
  uint16_t p1 = 0, p2 = 0, p3 = 0;
  const int listening = boundSocket(true, &p1);
  const int admin = boundSocket(true, &p2);
  const int not_listening = boundSocket(false, &p3);
  int ready[2];
  REQUIRE(::pipe2(ready, O_CLOEXEC) == 0);
  {
    InheritedSockets set = inherit({{listening, 0, "127.0.0.1:0"},
                                    {not_listening, 1, "127.0.0.1:0"},
                                    {admin, kAdminSocket, "127.0.0.1:" + std::to_string(p2)}},
                                   ready[1]);
    CHECK(std::getenv(proxy::kInheritedFdsEnv) == nullptr); // not passed on to anything else
    CHECK(std::getenv(proxy::kUpgradeReadyFdEnv) == nullptr);
    CHECK(set.fromUpgrade());

    const sockaddr_in any_port = loopback(0);
    const sockaddr_in other_port = loopback(static_cast<uint16_t>(p2 + 1 == 0 ? 1 : p2 + 1));
    const sockaddr_in admin_port = loopback(p2);
    auto sa = [](const sockaddr_in& a) { return reinterpret_cast<const sockaddr*>(&a); };
    CHECK(set.take("127.0.0.1:1", 0, sa(any_port)) == -1); // another configured address
    CHECK(set.take("127.0.0.1:0", 2, sa(any_port)) == -1); // no such worker
    CHECK(set.take("127.0.0.1:0", 0, sa(any_port)) == listening);
    CHECK(set.take("127.0.0.1:0", 0, sa(any_port)) == -1); // taken once
    CHECK(set.take("127.0.0.1:0", 1, sa(any_port)) == -1); // bound but not listening
    CHECK_FALSE(isOpen(not_listening));                    // ... so it was closed
    const std::string admin_text = "127.0.0.1:" + std::to_string(p2);
    CHECK(set.take(admin_text, 0, sa(admin_port)) == -1); // a worker socket, not the admin one
    CHECK(set.take(admin_text, kAdminSocket, sa(other_port)) == -1); // another port
    CHECK_FALSE(isOpen(admin));
    set.announceReady();
    char byte = 0;
    CHECK(::read(ready[0], &byte, 1) == 1);
    CHECK(byte == 'R');
    CHECK_FALSE(isOpen(ready[1]));
    CHECK_FALSE(set.fromUpgrade());
  }
  CHECK(isOpen(listening)); // the caller owns what it took
  ::close(listening);
  ::close(ready[0]);
}

TEST_CASE("inherited sockets: the ones not taken are closed") {
  uint16_t port = 0;
  const int fd = boundSocket(true, &port);
  InheritedSockets set = inherit({{fd, 0, "127.0.0.1:0"}}, -1);
  CHECK_FALSE(set.fromUpgrade()); // no ready fd: nobody to tell
  set.closeUnused();
  CHECK_FALSE(isOpen(fd));
}
