#include "tests/support/proxy_process.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <cstring>

namespace swytest {

std::string switchyardBin() {
  const char* bin = std::getenv("SWITCHYARD_BIN");
  return bin ? bin : "";
}

TempDir::TempDir() {
  char tmpl[] = "/tmp/swytest.XXXXXX";
  if (::mkdtemp(tmpl)) path_ = tmpl;
}

TempDir::~TempDir() {
  for (const std::string& f : files_)
    ::unlink(f.c_str());
  if (!path_.empty()) ::rmdir(path_.c_str());
}

std::string TempDir::write(const std::string& name, const std::string& content) {
  std::string file = path_ + "/" + name;
  Fd fd(::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd.valid()) return file;
  size_t off = 0;
  while (off < content.size()) {
    ssize_t n = ::write(fd.get(), content.data() + off, content.size() - off);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
  files_.push_back(file);
  return file;
}

bool spawnProcess(const std::string& bin, const std::vector<std::string>& args, Spawned* out,
                  const std::vector<std::string>& env) {
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return false;
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    return false;
  }
  // Everything the child needs is built before fork(): only async-signal-safe
  // calls may run between fork() and exec() in a threaded program.
  std::vector<std::string> storage;
  storage.push_back(bin);
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& s : storage)
    argv.push_back(s.data());
  argv.push_back(nullptr);
  // The inherited environment minus the names `env` sets, then `env`.
  std::vector<std::string> env_storage;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry(*e);
    bool replaced = false;
    for (const std::string& set : env) {
      size_t eq = set.find('=');
      if (eq != std::string::npos && entry.size() > eq &&
          entry.substr(0, eq + 1) == std::string_view(set).substr(0, eq + 1)) {
        replaced = true;
      }
    }
    if (!replaced) env_storage.emplace_back(entry);
  }
  env_storage.insert(env_storage.end(), env.begin(), env.end());
  std::vector<char*> envp;
  for (std::string& s : env_storage)
    envp.push_back(s.data());
  envp.push_back(nullptr);
  pid_t parent = ::getpid();

  pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::dup2(out_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  out->out.reset(out_pipe[0]);
  out->err.reset(err_pipe[0]);
  if (pid < 0) return false;
  out->pid = pid;
  out->pidfd.reset(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  return true;
}

std::optional<int> reapWithin(pid_t pid, int pidfd, milliseconds timeout) {
  Deadline deadline(timeout);
  for (;;) {
    int status = 0;
    pid_t rc = ::waitpid(pid, &status, WNOHANG);
    if (rc == pid) {
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
      continue;
    }
    if (rc < 0) return -1;
    if (deadline.expired()) return std::nullopt;
    pollfd p{pidfd, POLLIN, 0};
    ::poll(&p, 1, deadline.pollMs());
  }
}

RunResult runSwitchyard(const std::vector<std::string>& args, milliseconds timeout) {
  RunResult result;
  Spawned child;
  if (!spawnProcess(switchyardBin(), args, &child)) return result;
  Deadline deadline(timeout);
  bool out_open = true, err_open = true;
  while ((out_open || err_open) && !deadline.expired()) {
    pollfd fds[2] = {{out_open ? child.out.get() : -1, POLLIN, 0},
                     {err_open ? child.err.get() : -1, POLLIN, 0}};
    if (::poll(fds, 2, deadline.pollMs()) <= 0) continue;
    char buf[4096];
    for (int i = 0; i < 2; ++i) {
      if (!fds[i].revents) continue;
      ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      std::string& into = i == 0 ? result.out : result.err;
      if (n > 0)
        into.append(buf, static_cast<size_t>(n));
      else
        (i == 0 ? out_open : err_open) = false;
    }
  }
  std::optional<int> status = reapWithin(child.pid, child.pidfd.get(),
                                         deadline.expired() ? milliseconds(0) : milliseconds(1000));
  if (!status) {
    ::kill(child.pid, SIGKILL);
    reapWithin(child.pid, child.pidfd.get(), milliseconds(5000));
    return result;
  }
  result.exited = true;
  result.exit_code = *status;
  return result;
}

ProxyProcess::~ProxyProcess() {
  kill();
  if (reader_.joinable()) reader_.join();
}

void ProxyProcess::kill() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    exit_status_ = reapWithin(pid_, pidfd_.get(), milliseconds(5000));
    pid_ = -1;
  }
  // Reparented to this (subreaper) process once the proxy that started them
  // is gone, so they can be reaped here; otherwise waitpid fails at once.
  for (Successor& s : successors_) {
    if (!s.pidfd.valid()) continue;
    ::syscall(SYS_pidfd_send_signal, s.pidfd.get(), SIGKILL, nullptr, 0);
    reapWithin(s.pid, s.pidfd.get(), milliseconds(5000));
  }
  successors_.clear();
}

bool ProxyProcess::successorRunning() const {
  for (const Successor& s : successors_) {
    pollfd p{s.pidfd.get(), POLLIN, 0}; // readable once the process exited
    if (s.pidfd.valid() && ::poll(&p, 1, 0) == 0) return true;
  }
  return false;
}

pid_t ProxyProcess::startUpgrade(milliseconds timeout) {
  static const std::string kStarted = "switchyard: upgrade: started new process pid=";
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  size_t from = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    from = err_lines_.size();
  }
  signal(SIGUSR2);
  pid_t pid = -1;
  {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, timeout, [&] {
      for (size_t i = from; i < err_lines_.size(); ++i) {
        if (err_lines_[i].rfind(kStarted, 0) == 0) {
          pid = std::atoi(err_lines_[i].c_str() + kStarted.size());
          return true;
        }
      }
      return false;
    });
  }
  if (pid > 0) {
    successors_.push_back({pid, Fd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)))});
  }
  return pid;
}

bool ProxyProcess::follow(pid_t successor) {
  if (pid_ > 0) return false; // the old process still runs
  auto it = std::find_if(successors_.begin(), successors_.end(),
                         [&](const Successor& s) { return s.pid == successor; });
  if (it == successors_.end() || !it->pidfd.valid()) return false;
  pid_ = it->pid;
  pidfd_ = std::move(it->pidfd);
  successors_.erase(it);
  exit_status_.reset();
  pollfd p{pidfd_.get(), POLLIN, 0};
  return ::poll(&p, 1, 0) == 0;
}

void ProxyProcess::setEnv(const std::string& name, const std::string& value) {
  std::string prefix = name + "=";
  std::erase_if(env_, [&](const std::string& e) { return e.rfind(prefix, 0) == 0; });
  env_.push_back(prefix + value);
}

bool ProxyProcess::start(const std::string& yaml, milliseconds ready_timeout) {
  config_path_ = dir_.write("switchyard.yaml", yaml);
  Spawned child;
  if (switchyardBin().empty() ||
      !spawnProcess(switchyardBin(), {"-c", config_path_}, &child, env_)) {
    std::lock_guard<std::mutex> lock(mu_);
    err_lines_.push_back("(harness) cannot spawn '" + switchyardBin() + "'");
    return false;
  }
  pid_ = child.pid;
  pidfd_ = std::move(child.pidfd);
  int out_fd = child.out.release();
  int err_fd = child.err.release();
  reader_ = std::thread([this, out_fd, err_fd] { readerLoop(out_fd, err_fd); });
  bool ready = false;
  bool closed = false;
  {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, ready_timeout, [this] { return ready_workers_ > 0 || output_closed_; });
    ready = ready_workers_ > 0;
    closed = output_closed_;
  }
  if (!ready && closed) waitExit(milliseconds(1000)); // record the exit status
  return ready;
}

void ProxyProcess::readerLoop(int out_fd, int err_fd) {
  Fd out(out_fd), err(err_fd);
  std::string partial[2];
  bool open[2] = {true, true};
  while (open[0] || open[1]) {
    pollfd fds[2] = {{open[0] ? out.get() : -1, POLLIN, 0}, {open[1] ? err.get() : -1, POLLIN, 0}};
    if (::poll(fds, 2, -1) <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (!fds[i].revents) continue;
      char buf[65536];
      ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) {
        open[i] = false;
        if (partial[i].empty()) continue;
        partial[i] += '\n'; // flush an unterminated last line
      } else {
        partial[i].append(buf, static_cast<size_t>(n));
      }
      std::lock_guard<std::mutex> lock(mu_);
      size_t nl;
      while ((nl = partial[i].find('\n')) != std::string::npos) {
        std::string line = partial[i].substr(0, nl);
        partial[i].erase(0, nl + 1);
        if (i == 0) {
          out_lines_.push_back(std::move(line));
        } else {
          parseStderrLine(line);
          err_lines_.push_back(std::move(line));
        }
      }
      cv_.notify_all();
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  output_closed_ = true;
  cv_.notify_all();
}

// Called with mu_ held.
void ProxyProcess::parseStderrLine(const std::string& line) {
  static const std::string kListening = "switchyard: listening name=";
  static const std::string kReady = "switchyard: ready workers=";
  if (line.rfind(kListening, 0) == 0) {
    size_t name_end = line.find(' ', kListening.size());
    size_t addr = line.find("address=", kListening.size());
    if (name_end == std::string::npos || addr == std::string::npos) return;
    std::string name = line.substr(kListening.size(), name_end - kListening.size());
    std::string address = line.substr(addr + 8);
    while (!address.empty() && (address.back() == ' ' || address.back() == '\r')) {
      address.pop_back();
    }
    addresses_[name] = address;
  } else if (line.rfind(kReady, 0) == 0) {
    ready_workers_ = std::atoi(line.c_str() + kReady.size());
  }
}

uint16_t ProxyProcess::port(const std::string& listener) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = addresses_.find(listener);
  if (it == addresses_.end()) return 0;
  size_t colon = it->second.rfind(':');
  if (colon == std::string::npos) return 0;
  return static_cast<uint16_t>(std::atoi(it->second.c_str() + colon + 1));
}

std::vector<std::string> ProxyProcess::stdoutLines() const {
  std::lock_guard<std::mutex> lock(mu_);
  return out_lines_;
}

std::vector<std::string> ProxyProcess::stderrLines() const {
  std::lock_guard<std::mutex> lock(mu_);
  return err_lines_;
}

std::vector<JsonLine> ProxyProcess::accessLog() const {
  std::vector<JsonLine> out;
  for (const std::string& line : stdoutLines()) {
    if (auto j = JsonLine::parse(line)) out.push_back(std::move(*j));
  }
  return out;
}

bool ProxyProcess::waitForStdoutLines(size_t n, milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mu_);
  // Once the output is closed (the proxy exited) no more lines can come.
  cv_.wait_for(lock, timeout, [&] { return out_lines_.size() >= n || output_closed_; });
  return out_lines_.size() >= n;
}

bool ProxyProcess::waitForStderr(const std::string& needle, milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] {
    for (const std::string& l : err_lines_) {
      if (l.find(needle) != std::string::npos) return true;
    }
    return false;
  });
}

std::vector<JsonLine> ProxyProcess::waitForAccessLog(size_t n, milliseconds timeout) {
  waitForStdoutLines(n, timeout);
  return accessLog();
}

std::optional<int> ProxyProcess::waitExit(milliseconds timeout) {
  if (pid_ <= 0) return exit_status_;
  std::optional<int> status = reapWithin(pid_, pidfd_.get(), timeout);
  if (status) {
    exit_status_ = status;
    pid_ = -1;
    // Output is complete once it exited, unless a process it started by an
    // upgrade still writes to the same pipes.
    if (reader_.joinable() && !successorRunning()) reader_.join();
  }
  return status;
}

void ProxyProcess::signal(int sig) {
  if (pid_ > 0) ::kill(pid_, sig);
}

std::optional<int> ProxyProcess::stop(int sig, milliseconds timeout) {
  if (pid_ <= 0) return exit_status_;
  ::kill(pid_, sig);
  std::optional<int> status = waitExit(timeout);
  if (!status) {
    FAIL_CHECK("switchyard did not exit within " << timeout.count() << " ms after signal " << sig
                                                 << "; killing it");
    kill();
    return std::nullopt;
  }
  return status;
}

std::string ProxyProcess::diagnostics() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out = "bin=" + switchyardBin() + " config=" + config_path_;
  if (exit_status_) out += " exit=" + std::to_string(*exit_status_);
  out += "\nstderr:";
  size_t from = err_lines_.size() > 20 ? err_lines_.size() - 20 : 0;
  for (size_t i = from; i < err_lines_.size(); ++i)
    out += "\n  " + err_lines_[i];
  return out;
}

} // namespace swytest
