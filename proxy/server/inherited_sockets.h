// InheritedSockets: the new process's side of a binary upgrade (SIGUSR2; the
// old process's side is upgrade.h). The old process starts the new binary
// with its listening sockets as inherited fds and describes them in the
// environment:
//   SWITCHYARD_INHERITED_FDS=<fd>:<worker>:<address>;<fd>:<worker>:<address>...
//     <worker>   the worker index of a listener socket, or "admin"
//     <address>  the listener's address as written in the config ("127.0.0.1:0")
//   SWITCHYARD_UPGRADE_READY_FD=<fd>   one byte written there means "ready"
// The new process takes the socket of worker w of a listener whose configured
// address is the same text (as a reload matches listeners; with port 0 the
// port the old process got is kept), after checking that it is a listening
// TCP socket on that address, and closes the ones it did not take: a socket
// closed by both processes is gone, and connections queued on it are reset
// (e.g. when the new config has fewer workers or drops a listener).
// Main thread, before the workers start.
#pragma once

#include <sys/socket.h>

#include <string>
#include <string_view>
#include <vector>

namespace proxy {

inline constexpr const char* kInheritedFdsEnv = "SWITCHYARD_INHERITED_FDS";
inline constexpr const char* kUpgradeReadyFdEnv = "SWITCHYARD_UPGRADE_READY_FD";
inline constexpr int kAdminSocket = -1; // HandedSocket::worker of the admin listener

// One listening socket handed from the old process to the new one.
struct HandedSocket {
  int fd = -1;
  int worker = kAdminSocket;
  std::string address; // as configured
};

// The value of SWITCHYARD_INHERITED_FDS for `sockets`.
std::string encodeHandedSockets(const std::vector<HandedSocket>& sockets);
// The reverse: false if any entry is malformed (*out holds the ones before it).
bool decodeHandedSockets(std::string_view text, std::vector<HandedSocket>* out);

class InheritedSockets {
public:
  // Reads the two variables and removes them from the environment (nothing
  // this process starts later inherits the description). A process not
  // started by an upgrade gets an empty set.
  static InheritedSockets fromEnvironment();

  InheritedSockets() = default;
  ~InheritedSockets(); // closes whatever was neither taken nor closed yet
  InheritedSockets(InheritedSockets&& other) noexcept;
  InheritedSockets& operator=(InheritedSockets&&) = delete;
  InheritedSockets(const InheritedSockets&) = delete;
  InheritedSockets& operator=(const InheritedSockets&) = delete;

  // Started by an upgrade: there is an old process waiting for announceReady().
  bool fromUpgrade() const { return ready_fd_ >= 0; }

  // The socket handed over for `worker` (or kAdminSocket) of the listener
  // configured as `address`, checked to be listening on `want` (port 0: any
  // port); the caller owns it. -1 when there is none or it fails the check
  // (it is closed then, and the caller binds a new one).
  int take(const std::string& address, int worker, const sockaddr* want);
  // Closes every socket not taken and says on stderr what was adopted.
  void closeUnused();
  // This process listens and its workers run: the old one may stop
  // accepting and drain.
  void announceReady();

private:
  std::vector<HandedSocket> sockets_; // fd -1 once taken or closed
  int ready_fd_ = -1;
  size_t taken_ = 0;
};

} // namespace proxy
