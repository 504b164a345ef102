// Upgrade: the old process's side of a zero-downtime binary upgrade
// (SIGUSR2; the new process's side is inherited_sockets.h).
//
// It keeps its own duplicate of every listening socket (the workers own
// theirs and close them on their own threads; only this object closes the
// duplicates, so the fds it hands over are always open and always these
// sockets). start() spawns the binary this process was started as (argv[0]
// made absolute at startup: the file there, or a symlink's target, may have
// been replaced since, which is the point) with the same argv, the sockets
// as inherited fds described in SWITCHYARD_INHERITED_FDS, and one end of a
// socket pair on which the new process writes a byte once it listens and its
// workers run.
// Then `on_ready` runs (the runtime stops accepting and drains as on
// SIGTERM): both processes hold the same kernel sockets, so a connection
// waiting in an accept queue is accepted by the new process, never reset.
// A new process that exits before it is ready is logged and changes nothing.
// Main thread only; callbacks run on its loop and may not destroy this object.
#pragma once

#include <uv.h>

#include <functional>
#include <string>
#include <vector>

#include "proxy/server/inherited_sockets.h"
#include "proxy/uv/handles.h"

namespace proxy {

class Upgrade {
public:
  // `argv` as this process got it; the executable is resolved now.
  Upgrade(uv_loop_t* loop, std::vector<std::string> argv, std::function<void()> on_ready);
  ~Upgrade();
  Upgrade(const Upgrade&) = delete;
  Upgrade& operator=(const Upgrade&) = delete;

  // The listeners of the generation now running: `addresses[l]` is listener
  // l's configured address, `fds[w][l]` worker w's socket for it (duplicated
  // here; the caller keeps its fds), or -1 where `reuse[l]` >= 0 names the
  // previous generation's listener whose sockets listener l keeps.
  void setListeners(const std::vector<std::string>& addresses, const std::vector<int>& reuse,
                    const std::vector<std::vector<int>>& fds);
  // Draining: nothing is handed over any more; the sockets close with the
  // workers' fds.
  void closeSockets();
  // SIGUSR2: starts the new process, handing over the listener sockets and
  // `admin_fd` (-1: none), configured as `admin_address`. Refused (and said
  // so on stderr) while an upgrade is in progress or done.
  void start(int admin_fd, const std::string& admin_address);
  // No upgrade is in progress or done.
  bool idle() const { return state_ == State::kIdle; }
  // The loop is ending: closes the handles (a new process keeps running).
  void close();

private:
  enum class State { kIdle, kStarting, kHandedOver };
  struct ListenerSockets {
    std::string address;
    std::vector<int> fds; // per worker, owned
  };
  bool refuseIfBusy() const; // says why on stderr
  std::vector<uv_stdio_container_t> childFds(int admin_fd, const std::string& admin_address,
                                             std::vector<HandedSocket>* handed);
  static void onExit(uv_process_t* process, int64_t status, int signal);
  static void onRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  void onReady();

  uv_loop_t* loop_;
  std::string exe_;
  std::vector<std::string> argv_;
  std::function<void()> on_ready_;
  std::vector<ListenerSockets> listeners_;
  State state_ = State::kIdle;
  int pid_ = 0;
  uv::Process process_;
  uv::Pipe ready_; // our end of the socket pair the new process announces itself on
  char read_buf_[16];
};

} // namespace proxy
