#include "proxy/server/runtime.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "proxy/admin/server.h"
#include "proxy/config/load.h"
#include "proxy/health/checker.h"
#include "proxy/server/admission.h"
#include "proxy/server/generation.h"
#include "proxy/server/inherited_sockets.h"
#include "proxy/server/listener.h"
#include "proxy/server/upgrade.h"
#include "proxy/server/worker.h"
#include "proxy/session/access_log.h"
#include "proxy/session/experiments.h"
#include "proxy/uv/handles.h"

namespace proxy {

namespace {

constexpr uint64_t kSrmCheckMs = 60000;
constexpr uint64_t kRefusalLogMs = 1000;

void setPort(sockaddr_storage* ss, uint16_t port) {
  if (ss->ss_family == AF_INET6) {
    reinterpret_cast<sockaddr_in6*>(ss)->sin6_port = htons(port);
  } else {
    reinterpret_cast<sockaddr_in*>(ss)->sin_port = htons(port);
  }
}

uint16_t portOf(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
  return ss.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port)
                                  : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
}

void closeAll(std::vector<std::vector<int>>& fds) {
  for (auto& per_worker : fds) {
    for (int fd : per_worker) {
      if (fd >= 0) ::close(fd);
    }
  }
}

std::vector<std::string> addressesOf(const config::Snapshot& snap) {
  std::vector<std::string> out;
  for (const config::Listener& l : snap.listeners)
    out.push_back(l.address.text);
  return out;
}

// fds[w][l]: worker w's socket for listener l, bound and listening, so that
// connections queue in the kernel from the moment "ready" is printed. After
// a binary upgrade, the sockets the old process handed over are taken first.
bool bindAll(const config::Snapshot& snap, InheritedSockets& inherited,
             std::vector<std::vector<int>>* fds, std::vector<std::string>* bound) {
  fds->assign(snap.workers, std::vector<int>(snap.listeners.size(), -1));
  for (size_t l = 0; l < snap.listeners.size(); ++l) {
    const config::Listener& listener = snap.listeners[l];
    sockaddr_storage addr = listener.address.storage;
    for (unsigned w = 0; w < snap.workers; ++w) {
      const auto* sa = reinterpret_cast<const sockaddr*>(&addr);
      int fd = inherited.take(listener.address.text, static_cast<int>(w), sa);
      if (fd < 0) fd = bindListeningSocket(sa, listener.address.length);
      if (fd < 0 || ::listen(fd, 1024) != 0) {
        int err = fd < 0 ? -fd : errno;
        fprintf(stderr, "switchyard: cannot listen on %s (listener %s): %s\n",
                listener.address.text.c_str(), listener.name.c_str(), strerror(err));
        if (fd >= 0) ::close(fd);
        closeAll(*fds);
        return false;
      }
      (*fds)[w][l] = fd;
      if (w == 0) setPort(&addr, portOf(fd)); // port 0: every worker shares the one chosen
    }
    bound->push_back(localAddress((*fds)[0][l]));
    fprintf(stderr, "switchyard: listening name=%s address=%s\n", listener.name.c_str(),
            bound->back().c_str());
  }
  return true;
}

struct MainLoop final : public admin::Control {
  uv_loop_t* loop = nullptr;
  uint64_t started_ms = 0;
  std::unique_ptr<admin::AdminServer> admin;
  bool last_reload_ok = true;
  std::vector<std::string> bound; // per listener of the current generation: "ip:port" bound
  std::string config_path;
  std::string admin_address; // as configured when the admin listener was opened
  std::unique_ptr<Upgrade> upgrade;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::shared_ptr<const Generation> current_;
  // Generations retired by a reload, kept until every worker applied the
  // next one (their admission logs are flushed then).
  std::vector<std::shared_ptr<const Generation>> retiring;
  std::unique_ptr<HealthChecker> checker;
  uv::Async done;
  uv::Async reloaded; // a worker applied a reload
  uv::Signal term, intr, hup, usr1, usr2;
  uv::Timer deadline;
  uv::Timer srm_check;
  uv::Timer refusal_log; // flushes rate-limited refusal lines still pending
  uint64_t drain_ms = 0;
  uint64_t reloads_ok = 0, reloads_failed = 0;
  bool draining = false;

  void stopAll() {
    for (auto& w : workers_)
      w->stop();
  }
  void drainAll() {
    if (draining) { // a second SIGTERM: stop now
      stopAll();
      return;
    }
    draining = true;
    upgrade->closeSockets();
    for (auto& w : workers_)
      w->drain();
    uv::arm(deadline, drain_ms, [](uv_timer_t* t) {
      auto* self = static_cast<MainLoop*>(t->data);
      if (self == nullptr) return;
      fprintf(stderr, "switchyard: drain deadline reached, closing remaining connections\n");
      self->stopAll();
    });
  }
  void onWorkerDone() {
    for (auto& w : workers_) {
      if (!w->finished()) return;
    }
    if (checker) checker->stop();
    if (admin) admin->stop();
    done.close();
    reloaded.close();
    term.close();
    intr.close();
    hup.close();
    usr1.close();
    usr2.close();
    upgrade->close();
    deadline.close();
    srm_check.close();
    refusal_log.close();
  }

  // Timers that depend on the generation: the SRM check (when it has A/B
  // splits) and the refusal log flush (when a listener is guarded).
  void startGenerationTimers() {
    const Generation& g = *current_;
    if (g.experiments->size() > 0 && !srm_check) {
      srm_check.open(this, [&](uv_timer_t* h) { return uv_timer_init(loop, h); });
      uv_timer_start(
          srm_check.get(),
          [](uv_timer_t* t) {
            auto* self = static_cast<MainLoop*>(t->data);
            if (self == nullptr) return;
            const Generation& gen = *self->current_;
            for (const std::string& w : gen.experiments->mismatches(*gen.stats)) {
              fprintf(stderr, "switchyard: warning: %s\n", w.c_str());
            }
          },
          kSrmCheckMs, kSrmCheckMs);
    }
    if (g.admission->anyGuarded() && !refusal_log) {
      refusal_log.open(this, [&](uv_timer_t* h) { return uv_timer_init(loop, h); });
      uv_timer_start(
          refusal_log.get(),
          [](uv_timer_t* t) {
            if (auto* self = static_cast<MainLoop*>(t->data)) self->current_->admission->flushLog();
          },
          kRefusalLogMs, kRefusalLogMs);
    }
  }

  // Active health checks of the current generation, on this loop.
  void startChecker() {
    if (checker) checker->stop();
    checker = std::make_unique<HealthChecker>(loop, current_->snapshot, current_->health.get());
    checker->start();
  }

  admin::ReloadOutcome reload();
  void onReloaded();
  void upgradeBinary();

  // admin::Control
  const Generation& current() const override { return *current_; }
  double uptimeSeconds() const override {
    return static_cast<double>(uv_now(loop) - started_ms) / 1000.0;
  }
  unsigned workers() const override { return static_cast<unsigned>(workers_.size()); }
  uint64_t reloads(bool ok) const override { return ok ? reloads_ok : reloads_failed; }
  bool lastReloadOk() const override { return last_reload_ok; }
  uint64_t nowMs() const override { return uv_now(loop); }
  std::string listenerAddress(size_t listener) const override {
    return listener < bound.size() ? bound[listener] : std::string();
  }
};

// SIGHUP and POST /api/reload: read and validate the config file again; on
// success bind the listeners it adds, build the next generation (server
// health carried over) and hand it to every worker. Any failure changes
// nothing. Everything said is printed on stderr and returned.
admin::ReloadOutcome MainLoop::reload() {
  admin::ReloadOutcome outcome;
  outcome.generation = current_->number;
  auto warn = [&](std::string text) {
    fprintf(stderr, "switchyard: reload: %s\n", text.c_str());
    outcome.warnings.push_back(std::move(text));
  };
  auto failed = [&](std::string why) {
    fprintf(stderr, "switchyard: reload failed: %s; still running generation %llu\n", why.c_str(),
            static_cast<unsigned long long>(current_->number));
    fflush(stderr);
    ++reloads_failed;
    last_reload_ok = false;
    return outcome;
  };
  if (draining) {
    outcome.errors.push_back("the proxy is draining");
    return failed("the proxy is draining");
  }
  const uint64_t number = current_->number + 1;
  const config::Snapshot& old = *current_->snapshot;
  config::LoadResult loaded = config::loadFile(config_path);
  for (const std::string& w : loaded.warnings)
    warn(w);
  if (!loaded.ok()) {
    for (const auto& e : loaded.errors) {
      fprintf(stderr, "switchyard: reload: %s\n", e.str().c_str());
      outcome.errors.push_back(e.str());
    }
    return failed(std::to_string(loaded.errors.size()) + " error(s) in " + config_path);
  }
  const config::Snapshot& next = *loaded.snapshot;
  if (next.workers != old.workers) {
    warn("workers: the running " + std::to_string(old.workers) + " workers are kept (" +
         std::to_string(next.workers) + " in the file); restart to change the number of workers");
  }
  if (next.access_log.enabled != old.access_log.enabled ||
      next.access_log.format != old.access_log.format ||
      next.access_log.path != old.access_log.path) {
    warn("access_log: the running log is kept; restart to change its format or path");
  }
  if (next.admin.text != old.admin.text) {
    warn("admin: the running admin listener is kept; restart to change its address");
  }
  // Listeners: one with the same address as a running one keeps that socket
  // (and the connections waiting in its accept queue); the others are bound
  // now, so a port that is taken fails the reload before anything changed.
  const size_t n = next.listeners.size();
  std::vector<int> reuse(n, -1);
  std::vector<bool> taken(old.listeners.size(), false);
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < old.listeners.size(); ++j) {
      if (!taken[j] && old.listeners[j].address.text == next.listeners[i].address.text) {
        reuse[i] = static_cast<int>(j);
        taken[j] = true;
        break;
      }
    }
  }
  std::vector<std::vector<int>> fds(workers_.size(), std::vector<int>(n, -1));
  std::vector<std::string> opened;
  std::vector<std::string> next_bound(n);
  for (size_t i = 0; i < n; ++i) {
    if (reuse[i] >= 0) {
      next_bound[i] = static_cast<size_t>(reuse[i]) < bound.size() ? bound[reuse[i]] : "";
      continue;
    }
    const config::Listener& listener = next.listeners[i];
    sockaddr_storage addr = listener.address.storage;
    for (size_t w = 0; w < workers_.size(); ++w) {
      int fd =
          bindListeningSocket(reinterpret_cast<const sockaddr*>(&addr), listener.address.length);
      if (fd < 0 || ::listen(fd, 1024) != 0) {
        int err = fd < 0 ? -fd : errno;
        if (fd >= 0) ::close(fd);
        closeAll(fds);
        std::string why = "cannot listen on " + listener.address.text + " (listener " +
                          listener.name + "): " + strerror(err);
        outcome.errors.push_back(why);
        return failed(why);
      }
      fds[w][i] = fd;
      if (w == 0) setPort(&addr, portOf(fd));
    }
    opened.push_back("name=" + listener.name + " address=" + localAddress(fds[0][i]));
    next_bound[i] = localAddress(fds[0][i]);
  }
  upgrade->setListeners(addressesOf(next), reuse, fds);
  auto generation = std::make_shared<const Generation>(
      number, std::move(loaded.snapshot), static_cast<unsigned>(workers_.size()), current_.get());
  retiring.push_back(std::exchange(current_, generation));
  bound = std::move(next_bound);
  for (size_t w = 0; w < workers_.size(); ++w)
    workers_[w]->reload(ReloadPlan{generation, reuse, std::move(fds[w])});
  drain_ms = generation->snapshot->timeouts.drain;
  startChecker();
  startGenerationTimers();
  ++reloads_ok;
  last_reload_ok = true;
  outcome.ok = true;
  outcome.generation = number;
  for (const std::string& l : opened)
    fprintf(stderr, "switchyard: listening %s\n", l.c_str());
  size_t kept = 0;
  for (int r : reuse)
    kept += r >= 0 ? 1 : 0;
  fprintf(stderr,
          "switchyard: reload: generation %llu from %s (listeners: %zu kept, %zu opened, %zu "
          "closed)\n",
          static_cast<unsigned long long>(number), config_path.c_str(), kept, n - kept,
          old.listeners.size() - kept);
  fflush(stderr);
  return outcome;
}

// A worker applied a reload; once all have applied the newest generation,
// say so (tests and operators wait for this line) and let the old go.
void MainLoop::onReloaded() {
  for (auto& w : workers_) {
    if (w->appliedGeneration() < current_->number) return;
  }
  if (retiring.empty()) return;
  for (const auto& g : retiring)
    g->admission->flushLog(true);
  retiring.clear();
  fprintf(stderr, "switchyard: reloaded generation=%llu workers=%zu\n",
          static_cast<unsigned long long>(current_->number), workers_.size());
  fflush(stderr);
}

// SIGUSR2: start the binary again and hand it the listening sockets (see
// upgrade.h); once it is ready, this process drains.
void MainLoop::upgradeBinary() {
  if (draining && upgrade->idle()) {
    fprintf(stderr, "switchyard: upgrade: refused: the proxy is draining\n");
    fflush(stderr);
    return;
  }
  upgrade->start(admin ? admin->fd() : -1, admin_address);
}

} // namespace

int runProxy(std::shared_ptr<const config::Snapshot> snapshot, const std::string& config_path,
             std::vector<std::string> argv) {
  InheritedSockets inherited = InheritedSockets::fromEnvironment(); // before any thread starts
  std::signal(SIGPIPE, SIG_IGN); // write errors come back as EPIPE instead
  AccessLogSink log;
  std::string error;
  if (!log.open(snapshot->access_log, &error)) {
    fprintf(stderr, "switchyard: %s\n", error.c_str());
    return 1;
  }
  std::vector<std::vector<int>> fds;
  std::vector<std::string> bound;
  if (!bindAll(*snapshot, inherited, &fds, &bound)) return 1;

  MainLoop m;
  m.loop = uv_default_loop();
  m.upgrade = std::make_unique<Upgrade>(m.loop, std::move(argv), [&m] {
    if (m.admin) m.admin->stopAccepting(); // the new process answers on it now
    if (!m.draining) m.drainAll();
  });
  m.upgrade->setListeners(addressesOf(*snapshot), {}, fds);
  m.config_path = config_path;
  m.current_ = std::make_shared<const Generation>(1, snapshot, snapshot->workers, nullptr);
  m.started_ms = uv_now(m.loop);
  m.bound = std::move(bound);
  m.drain_ms = snapshot->timeouts.drain;
  m.done.open(&m, [&](uv_async_t* h) {
    return uv_async_init(m.loop, h, [](uv_async_t* a) {
      auto* self = static_cast<MainLoop*>(a->data);
      if (self != nullptr) self->onWorkerDone();
    });
  });
  m.reloaded.open(&m, [&](uv_async_t* h) {
    return uv_async_init(m.loop, h, [](uv_async_t* a) {
      auto* self = static_cast<MainLoop*>(a->data);
      if (self != nullptr) self->onReloaded();
    });
  });
  m.deadline.open(&m, [&](uv_timer_t* h) { return uv_timer_init(m.loop, h); });
  m.startGenerationTimers();
  m.term.open(&m, [&](uv_signal_t* h) { return uv_signal_init(m.loop, h); });
  m.intr.open(&m, [&](uv_signal_t* h) { return uv_signal_init(m.loop, h); });
  m.hup.open(&m, [&](uv_signal_t* h) { return uv_signal_init(m.loop, h); });
  m.usr1.open(&log, [&](uv_signal_t* h) { return uv_signal_init(m.loop, h); });
  m.usr2.open(&m, [&](uv_signal_t* h) { return uv_signal_init(m.loop, h); });
  uv_signal_start(
      m.term.get(),
      [](uv_signal_t* s, int) {
        if (auto* self = static_cast<MainLoop*>(s->data)) self->drainAll();
      },
      SIGTERM);
  uv_signal_start(
      m.intr.get(),
      [](uv_signal_t* s, int) {
        if (auto* self = static_cast<MainLoop*>(s->data)) self->stopAll();
      },
      SIGINT);
  uv_signal_start(
      m.hup.get(),
      [](uv_signal_t* s, int) {
        if (auto* self = static_cast<MainLoop*>(s->data)) self->reload();
      },
      SIGHUP);
  uv_signal_start(
      m.usr1.get(),
      [](uv_signal_t* s, int) {
        auto* sink = static_cast<AccessLogSink*>(s->data);
        if (sink == nullptr) return;
        std::string problem = sink->reopen();
        if (problem.empty() && !sink->path().empty()) {
          fprintf(stderr, "switchyard: reopened access log %s\n", sink->path().c_str());
        } else if (!problem.empty()) {
          fprintf(stderr, "switchyard: %s; still writing to the old file\n", problem.c_str());
        }
        fflush(stderr);
      },
      SIGUSR1);
  uv_signal_start(
      m.usr2.get(),
      [](uv_signal_t* s, int) {
        if (auto* self = static_cast<MainLoop*>(s->data)) self->upgradeBinary();
      },
      SIGUSR2);

  if (snapshot->admin.length > 0) {
    m.admin = std::make_unique<admin::AdminServer>(m.loop, m);
    m.admin_address = snapshot->admin.text;
    std::string admin_error = m.admin->start(
        snapshot->admin, inherited.take(snapshot->admin.text, kAdminSocket, snapshot->admin.sa()));
    if (!admin_error.empty()) {
      fprintf(stderr, "switchyard: admin: %s\n", admin_error.c_str());
      closeAll(fds);
      return 1; // nothing started yet; the process exits
    }
  }
  const WorkerShared shared{&log, m.reloaded.get()};
  for (unsigned w = 0; w < snapshot->workers; ++w) {
    m.workers_.push_back(
        std::make_unique<Worker>(w, m.current_, std::move(fds[w]), shared, m.done.get()));
    m.workers_.back()->openWake();
  }
  inherited.closeUnused();
  m.startChecker();
  for (auto& w : m.workers_)
    w->start();
  for (auto& w : m.workers_)
    w->waitListening();
  fprintf(stderr, "switchyard: ready workers=%u\n", snapshot->workers);
  fflush(stderr);
  inherited.announceReady(); // after a binary upgrade: the old process drains now
  uv_run(m.loop, UV_RUN_DEFAULT);
  for (auto& w : m.workers_)
    w->join();
  m.workers_.clear();
  m.checker.reset();
  uv_loop_close(m.loop);
  m.current_->admission->flushLog(true);
  const Experiments& experiments = *m.current_->experiments;
  if (experiments.size() > 0) {
    std::string summary = experiments.summary(*m.current_->stats);
    size_t at = 0;
    while (at < summary.size()) {
      size_t nl = summary.find('\n', at);
      fprintf(stderr, "switchyard: %s\n", summary.substr(at, nl - at).c_str());
      at = nl == std::string::npos ? summary.size() : nl + 1;
    }
  }
  fprintf(stderr, "switchyard: stopped\n");
  return 0;
}

} // namespace proxy
