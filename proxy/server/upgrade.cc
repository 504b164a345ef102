#include "proxy/server/upgrade.h"

#include <fcntl.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <utility>

extern char** environ;

namespace proxy {

namespace {

// Child fds: 0-2 are this process's stdio, 3 the ready pipe, then the sockets.
constexpr int kReadyFd = 3;

// The program as it was started: argv[0] made absolute now (against the
// working directory, or found on PATH as execvp would), not resolved through
// symlinks, so a symlink switched to a new release is followed at upgrade
// time. /proc/self/exe (uv_exepath) when argv[0] leads nowhere.
std::string resolveExecutable(const std::vector<std::string>& argv) {
  const std::string arg0 = argv.empty() ? std::string() : argv[0];
  char buf[PATH_MAX];
  size_t size = sizeof buf;
  if (!arg0.empty() && arg0[0] == '/') return arg0;
  if (arg0.find('/') != std::string::npos && uv_cwd(buf, &size) == 0) {
    return std::string(buf, size) + "/" + arg0;
  }
  const char* path = arg0.empty() ? nullptr : std::getenv("PATH");
  for (std::string_view dirs = path != nullptr ? path : ""; !dirs.empty();) {
    const size_t colon = dirs.find(':');
    std::string candidate = std::string(dirs.substr(0, colon)) + "/" + arg0;
    dirs = colon == std::string_view::npos ? std::string_view() : dirs.substr(colon + 1);
    if (candidate[0] == '/' && ::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  size = sizeof buf;
  return uv_exepath(buf, &size) == 0 ? std::string(buf, size) : arg0;
}

void closeFds(std::vector<int>& fds) {
  for (int& fd : fds) {
    if (fd >= 0) ::close(std::exchange(fd, -1));
  }
}

// The environment minus any description a previous upgrade left, plus ours.
std::vector<std::string> childEnvironment(const std::vector<HandedSocket>& handed) {
  std::vector<std::string> env;
  const std::string fds_prefix = std::string(kInheritedFdsEnv) + "=";
  const std::string ready_prefix = std::string(kUpgradeReadyFdEnv) + "=";
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry(*e);
    if (entry.starts_with(fds_prefix) || entry.starts_with(ready_prefix)) continue;
    env.emplace_back(entry);
  }
  env.push_back(fds_prefix + encodeHandedSockets(handed));
  env.push_back(ready_prefix + std::to_string(kReadyFd));
  return env;
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings)
    out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

} // namespace

Upgrade::Upgrade(uv_loop_t* loop, std::vector<std::string> argv, std::function<void()> on_ready)
    : loop_(loop), exe_(resolveExecutable(argv)), argv_(std::move(argv)),
      on_ready_(std::move(on_ready)) {}

Upgrade::~Upgrade() {
  close();
  closeSockets();
}

void Upgrade::setListeners(const std::vector<std::string>& addresses, const std::vector<int>& reuse,
                           const std::vector<std::vector<int>>& fds) {
  std::vector<ListenerSockets> next(addresses.size());
  for (size_t l = 0; l < addresses.size(); ++l) {
    next[l].address = addresses[l];
    const int from = l < reuse.size() ? reuse[l] : -1;
    if (from >= 0 && static_cast<size_t>(from) < listeners_.size()) {
      next[l].fds = std::move(listeners_[from].fds);
      continue;
    }
    for (const std::vector<int>& per_worker : fds) {
      int fd = l < per_worker.size() ? per_worker[l] : -1;
      next[l].fds.push_back(fd >= 0 ? ::fcntl(fd, F_DUPFD_CLOEXEC, 3) : -1);
    }
  }
  closeSockets(); // the previous generation's listeners that are gone
  listeners_ = std::move(next);
}

void Upgrade::closeSockets() {
  for (ListenerSockets& l : listeners_)
    closeFds(l.fds);
}

bool Upgrade::refuseIfBusy() const {
  if (state_ == State::kStarting) {
    fprintf(stderr,
            "switchyard: upgrade: refused: an upgrade is already in progress (new process "
            "pid=%d)\n",
            pid_);
  } else if (state_ == State::kHandedOver) {
    fprintf(stderr,
            "switchyard: upgrade: refused: already handed over to pid=%d; this process is "
            "draining\n",
            pid_);
  }
  fflush(stderr);
  return state_ != State::kIdle;
}

// The new process's fds: 0-2 are ours, kReadyFd our socket pair with it
// (ready_, opened here), then one per socket, described in *handed.
std::vector<uv_stdio_container_t> Upgrade::childFds(int admin_fd, const std::string& admin_address,
                                                    std::vector<HandedSocket>* handed) {
  std::vector<uv_stdio_container_t> stdio(kReadyFd + 1);
  for (int fd = 0; fd < kReadyFd; ++fd) {
    stdio[fd].flags = UV_INHERIT_FD;
    stdio[fd].data.fd = fd;
  }
  ready_.open(this, [&](uv_pipe_t* h) { return uv_pipe_init(loop_, h, 0); });
  // The new process writes: a writable pipe from its side, readable from ours.
  stdio[kReadyFd].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
  stdio[kReadyFd].data.stream = ready_.stream();
  auto hand = [&](int fd, int worker, const std::string& address) {
    if (fd < 0) return;
    handed->push_back({static_cast<int>(stdio.size()), worker, address});
    uv_stdio_container_t c{};
    c.flags = UV_INHERIT_FD; // libuv dup2()s it to that number in the child, without CLOEXEC
    c.data.fd = fd;
    stdio.push_back(c);
  };
  for (const ListenerSockets& l : listeners_) {
    for (size_t w = 0; w < l.fds.size(); ++w)
      hand(l.fds[w], static_cast<int>(w), l.address);
  }
  hand(admin_fd, kAdminSocket, admin_address);
  return stdio;
}

void Upgrade::start(int admin_fd, const std::string& admin_address) {
  if (refuseIfBusy()) return;
  std::vector<HandedSocket> handed;
  std::vector<uv_stdio_container_t> stdio = childFds(admin_fd, admin_address, &handed);
  std::vector<std::string> env = childEnvironment(handed);
  std::vector<char*> envp = pointers(env);
  std::vector<std::string> args = argv_;
  std::vector<char*> argp = pointers(args);
  uv_process_options_t options{};
  options.file = exe_.c_str();
  options.args = argp.data();
  options.env = envp.data();
  options.stdio = stdio.data();
  options.stdio_count = static_cast<int>(stdio.size());
  options.exit_cb = &onExit;
  // uv_spawn forks and execs without running anything else in the child,
  // which is what a process with worker threads may do.
  int rc =
      process_.openOrClose(this, [&](uv_process_t* h) { return uv_spawn(loop_, h, &options); });
  if (rc != 0) {
    ready_.close();
    fprintf(stderr, "switchyard: upgrade: cannot start %s: %s; still serving\n", exe_.c_str(),
            uv_strerror(rc));
    fflush(stderr);
    return;
  }
  state_ = State::kStarting;
  pid_ = process_.get()->pid;
  uv_read_start(
      ready_.stream(),
      [](uv_handle_t* h, size_t, uv_buf_t* buf) {
        auto* self = static_cast<Upgrade*>(h->data);
        *buf = self != nullptr ? uv_buf_init(self->read_buf_, sizeof self->read_buf_)
                               : uv_buf_init(nullptr, 0);
      },
      &onRead);
  fprintf(stderr,
          "switchyard: upgrade: started new process pid=%d (%s, %zu listening sockets handed "
          "over)\n",
          pid_, exe_.c_str(), handed.size());
  fflush(stderr);
}

void Upgrade::onRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t*) {
  auto* self = static_cast<Upgrade*>(stream->data);
  if (self == nullptr) return;
  if (nread > 0) {
    self->onReady();
  } else if (nread < 0) {
    uv_read_stop(stream); // closed before a byte: the exit callback tells why
  }
}

void Upgrade::onReady() {
  if (state_ != State::kStarting) return;
  state_ = State::kHandedOver;
  fprintf(stderr,
          "switchyard: upgrade: new process pid=%d is ready; this process stops accepting and "
          "drains\n",
          pid_);
  fflush(stderr);
  close(); // the new process runs on; it is reparented when this one exits
  closeSockets();
  on_ready_();
}

void Upgrade::onExit(uv_process_t* process, int64_t status, int signal) {
  auto* self = static_cast<Upgrade*>(process->data);
  if (self == nullptr || self->state_ != State::kStarting) return;
  if (signal != 0) {
    fprintf(stderr,
            "switchyard: upgrade: new process pid=%d was killed by signal %d before it was "
            "ready; still serving\n",
            self->pid_, signal);
  } else {
    fprintf(stderr,
            "switchyard: upgrade: new process pid=%d exited with status %lld before it was "
            "ready; still serving\n",
            self->pid_, static_cast<long long>(status));
  }
  fflush(stderr);
  self->state_ = State::kIdle;
  self->close();
}

void Upgrade::close() {
  ready_.close();
  process_.close();
}

} // namespace proxy
