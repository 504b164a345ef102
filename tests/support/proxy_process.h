// ProxyProcess: runs the real switchyard binary (path from $SWITCHYARD_BIN)
// on a config written to a private temp dir, captures stdout (access log)
// and stderr line by line on a reader thread, and waits for the readiness
// contract on stderr:
//   switchyard: listening name=<name> address=<ip>:<port>   (one per listener)
//   switchyard: ready workers=<n>
// stop() signals and waits for exit with a deadline (SIGKILL and a test
// failure if it passes); the destructor kills and reaps whatever is left.
// The child gets PR_SET_PDEATHSIG so a crashed test never leaks a proxy.
// A binary upgrade (SIGUSR2) starts a new proxy process that writes to the
// same pipes: startUpgrade() learns its pid, follow() makes it the process
// this object runs once the old one exited, and the destructor kills it.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/json_line.h"
#include "tests/support/sockets.h"

namespace swytest {

// $SWITCHYARD_BIN, or "" when unset.
std::string switchyardBin();

// A private directory under /tmp, removed (with its files) on destruction.
class TempDir {
public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  // Writes `name` in the directory; returns its full path.
  std::string write(const std::string& name, const std::string& content);

private:
  std::string path_;
  std::vector<std::string> files_;
};

// Output of a short-lived switchyard run (-t, --version, --help).
struct RunResult {
  bool exited = false; // false: the deadline passed and the process was killed
  int exit_code = -1;  // exit status, or 128+signal
  std::string out;
  std::string err;
};
RunResult runSwitchyard(const std::vector<std::string>& args,
                        milliseconds timeout = milliseconds(5000));

class ProxyProcess {
public:
  ProxyProcess() = default;
  ~ProxyProcess();
  ProxyProcess(const ProxyProcess&) = delete;
  ProxyProcess& operator=(const ProxyProcess&) = delete;

  // Sets an environment variable for the child (e.g. a sticky secret for
  // `secrets: [env:NAME]`); call before start(). The child otherwise
  // inherits the test's environment.
  void setEnv(const std::string& name, const std::string& value);

  // Writes `yaml`, starts `switchyard -c FILE` and waits up to `ready_timeout`
  // for the ready line. On failure returns false; diagnostics() says why.
  bool start(const std::string& yaml, milliseconds ready_timeout = milliseconds(5000));

  uint16_t port(const std::string& listener = "public") const;
  int readyWorkers() const { return ready_workers_; }
  const std::map<std::string, std::string>& listenerAddresses() const { return addresses_; }
  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0; }
  const std::string& configPath() const { return config_path_; }

  std::vector<std::string> stdoutLines() const;
  std::vector<std::string> stderrLines() const;
  // Access-log lines parsed as JSON (lines that are not JSON are skipped).
  std::vector<JsonLine> accessLog() const;
  bool waitForStdoutLines(size_t n, milliseconds timeout) const;
  bool waitForStderr(const std::string& needle, milliseconds timeout) const;
  // Waits for n access-log lines and returns them (fewer if the deadline passed).
  std::vector<JsonLine> waitForAccessLog(size_t n, milliseconds timeout = milliseconds(3000));

  // Sends `sig` without waiting.
  void signal(int sig);
  // Sends `sig` and waits for exit. Returns the exit status (128+signal if
  // killed by one); if the deadline passes: SIGKILL, FAIL_CHECK, nullopt.
  std::optional<int> stop(int sig, milliseconds timeout);
  // Waits for an exit without signalling; nullopt on timeout (process left running).
  std::optional<int> waitExit(milliseconds timeout);

  // Binary upgrade: sends SIGUSR2 and waits for the proxy's "switchyard:
  // upgrade: started new process pid=N" line; returns N, or -1 if no such
  // line came. The test process becomes a child subreaper first, so N is
  // reparented to it when the old proxy exits and can then be reaped.
  pid_t startUpgrade(milliseconds timeout);
  // After the current process exited (waitExit), `successor` (from
  // startUpgrade) becomes the process this object runs: pid(), signal(),
  // stop(), waitExit() and the destructor act on it. False if it has exited.
  bool follow(pid_t successor);
  // Last lines of stderr and the exit state, for failure messages.
  std::string diagnostics() const;

private:
  void readerLoop(int out_fd, int err_fd);
  void parseStderrLine(const std::string& line);
  void kill();
  bool successorRunning() const; // a process started by an upgrade still runs

  TempDir dir_;
  std::string config_path_;
  std::vector<std::string> env_; // "NAME=value" entries set by setEnv()
  pid_t pid_ = -1;
  Fd pidfd_;
  std::optional<int> exit_status_;
  struct Successor {
    pid_t pid;
    Fd pidfd; // refers to that process even after its pid is reused
  };
  std::vector<Successor> successors_; // started by upgrades, not followed
  std::thread reader_;

  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::vector<std::string> out_lines_;
  std::vector<std::string> err_lines_;
  std::map<std::string, std::string> addresses_; // listener name -> "ip:port"
  int ready_workers_ = 0;
  bool output_closed_ = false;
};

// Spawns `bin args...` with stdout/stderr on pipes; used by both of the above.
// `env` entries ("NAME=value") are added to (or replace) the inherited environment.
struct Spawned {
  pid_t pid = -1;
  Fd pidfd;
  Fd out;
  Fd err;
};
bool spawnProcess(const std::string& bin, const std::vector<std::string>& args, Spawned* out,
                  const std::vector<std::string>& env = {});
// Waits for exit via the pidfd; nullopt on timeout. Returns 128+sig when signalled.
std::optional<int> reapWithin(pid_t pid, int pidfd, milliseconds timeout);

} // namespace swytest
