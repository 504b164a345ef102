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

#include "proxy/config/load.h"
#include "proxy/health/checker.h"
#include "proxy/server/admission.h"
#include "proxy/server/generation.h"
#include "proxy/server/listener.h"
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

// fds[w][l]: worker w's socket for listener l, bound and listening, so that
// connections queue in the kernel from the moment "ready" is printed.
bool bindAll(const config::Snapshot& snap, std::vector<std::vector<int>>* fds) {
  fds->assign(snap.workers, std::vector<int>(snap.listeners.size(), -1));
  for (size_t l = 0; l < snap.listeners.size(); ++l) {
    const config::Listener& listener = snap.listeners[l];
    sockaddr_storage addr = listener.address.storage;
    for (unsigned w = 0; w < snap.workers; ++w) {
      int fd =
          bindListeningSocket(reinterpret_cast<const sockaddr*>(&addr), listener.address.length);
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
    fprintf(stderr, "switchyard: listening name=%s address=%s\n", listener.name.c_str(),
            localAddress((*fds)[0][l]).c_str());
  }
  return true;
}

struct MainLoop {
  uv_loop_t* loop = nullptr;
  std::string config_path;
  std::vector<std::unique_ptr<Worker>> workers;
  std::shared_ptr<const Generation> current;
  // Generations retired by a reload, kept until every worker applied the
  // next one (their admission logs are flushed then).
  std::vector<std::shared_ptr<const Generation>> retiring;
  std::unique_ptr<HealthChecker> checker;
  uv::Async done;
  uv::Async reloaded; // a worker applied a reload
  uv::Signal term, intr, hup;
  uv::Timer deadline;
  uv::Timer srm_check;
  uv::Timer refusal_log; // flushes rate-limited refusal lines still pending
  uint64_t drain_ms = 0;
  uint64_t reloads_ok = 0, reloads_failed = 0;
  bool draining = false;

  void stopAll() {
    for (auto& w : workers)
      w->stop();
  }
  void drainAll() {
    if (draining) { // a second SIGTERM: stop now
      stopAll();
      return;
    }
    draining = true;
    for (auto& w : workers)
      w->drain();
    uv::arm(deadline, drain_ms, [](uv_timer_t* t) {
      auto* self = static_cast<MainLoop*>(t->data);
      if (self == nullptr) return;
      fprintf(stderr, "switchyard: drain deadline reached, closing remaining connections\n");
      self->stopAll();
    });
  }
  void onWorkerDone() {
    for (auto& w : workers) {
      if (!w->finished()) return;
    }
    if (checker) checker->stop();
    done.close();
    reloaded.close();
    term.close();
    intr.close();
    hup.close();
    deadline.close();
    srm_check.close();
    refusal_log.close();
  }

  // Timers that depend on the generation: the SRM check (when it has A/B
  // splits) and the refusal log flush (when a listener is guarded).
  void startGenerationTimers() {
    const Generation& g = *current;
    if (g.experiments->size() > 0 && !srm_check) {
      srm_check.open(this, [&](uv_timer_t* h) { return uv_timer_init(loop, h); });
      uv_timer_start(
          srm_check.get(),
          [](uv_timer_t* t) {
            auto* self = static_cast<MainLoop*>(t->data);
            if (self == nullptr) return;
            for (const std::string& w : self->current->experiments->mismatches()) {
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
            if (auto* self = static_cast<MainLoop*>(t->data)) self->current->admission->flushLog();
          },
          kRefusalLogMs, kRefusalLogMs);
    }
  }

  // Active health checks of the current generation, on this loop.
  void startChecker() {
    if (checker) checker->stop();
    checker = std::make_unique<HealthChecker>(loop, current->snapshot, current->health.get());
    checker->start();
  }

  void reload();
  void onReloaded();
};

// SIGHUP: read and validate the config file again; on success bind the
// listeners it adds, build the next generation (server health carried over)
// and hand it to every worker. Any failure changes nothing.
void MainLoop::reload() {
  if (draining) return;
  const uint64_t number = current->number + 1;
  const config::Snapshot& old = *current->snapshot;
  config::LoadResult loaded = config::loadFile(config_path);
  for (const std::string& w : loaded.warnings)
    fprintf(stderr, "switchyard: reload: %s\n", w.c_str());
  if (!loaded.ok()) {
    for (const auto& e : loaded.errors)
      fprintf(stderr, "switchyard: reload: %s\n", e.str().c_str());
    fprintf(stderr,
            "switchyard: reload failed: %zu error(s) in %s; still running generation %llu\n",
            loaded.errors.size(), config_path.c_str(),
            static_cast<unsigned long long>(current->number));
    fflush(stderr);
    ++reloads_failed;
    return;
  }
  const config::Snapshot& next = *loaded.snapshot;
  if (next.workers != old.workers) {
    fprintf(stderr,
            "switchyard: reload: workers: the running %u workers are kept (%u in the file); "
            "restart to change the number of workers\n",
            old.workers, next.workers);
  }
  if (next.access_log.enabled != old.access_log.enabled ||
      next.access_log.format != old.access_log.format ||
      next.access_log.path != old.access_log.path) {
    fprintf(stderr, "switchyard: reload: access_log: the running log is kept; restart to change "
                    "its format or path\n");
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
  std::vector<std::vector<int>> fds(workers.size(), std::vector<int>(n, -1));
  std::vector<std::string> opened;
  for (size_t i = 0; i < n; ++i) {
    if (reuse[i] >= 0) continue;
    const config::Listener& listener = next.listeners[i];
    sockaddr_storage addr = listener.address.storage;
    for (size_t w = 0; w < workers.size(); ++w) {
      int fd =
          bindListeningSocket(reinterpret_cast<const sockaddr*>(&addr), listener.address.length);
      if (fd < 0 || ::listen(fd, 1024) != 0) {
        int err = fd < 0 ? -fd : errno;
        if (fd >= 0) ::close(fd);
        closeAll(fds);
        fprintf(stderr,
                "switchyard: reload failed: cannot listen on %s (listener %s): %s; still "
                "running generation %llu\n",
                listener.address.text.c_str(), listener.name.c_str(), strerror(err),
                static_cast<unsigned long long>(current->number));
        fflush(stderr);
        ++reloads_failed;
        return;
      }
      fds[w][i] = fd;
      if (w == 0) setPort(&addr, portOf(fd));
    }
    opened.push_back("name=" + listener.name + " address=" + localAddress(fds[0][i]));
  }
  auto generation =
      std::make_shared<const Generation>(number, std::move(loaded.snapshot), current.get());
  retiring.push_back(std::exchange(current, generation));
  for (size_t w = 0; w < workers.size(); ++w)
    workers[w]->reload(ReloadPlan{generation, reuse, std::move(fds[w])});
  drain_ms = generation->snapshot->timeouts.drain;
  startChecker();
  startGenerationTimers();
  ++reloads_ok;
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
}

// A worker applied a reload; once all have applied the newest generation,
// say so (tests and operators wait for this line) and let the old go.
void MainLoop::onReloaded() {
  for (auto& w : workers) {
    if (w->appliedGeneration() < current->number) return;
  }
  if (retiring.empty()) return;
  for (const auto& g : retiring)
    g->admission->flushLog(true);
  retiring.clear();
  fprintf(stderr, "switchyard: reloaded generation=%llu workers=%zu\n",
          static_cast<unsigned long long>(current->number), workers.size());
  fflush(stderr);
}

} // namespace

int runProxy(std::shared_ptr<const config::Snapshot> snapshot, const std::string& config_path) {
  std::signal(SIGPIPE, SIG_IGN); // write errors come back as EPIPE instead
  AccessLogSink log;
  std::string error;
  if (!log.open(snapshot->access_log, &error)) {
    fprintf(stderr, "switchyard: %s\n", error.c_str());
    return 1;
  }
  std::vector<std::vector<int>> fds;
  if (!bindAll(*snapshot, &fds)) return 1;

  MainLoop m;
  m.loop = uv_default_loop();
  m.config_path = config_path;
  m.current = std::make_shared<const Generation>(1, snapshot, nullptr);
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

  const WorkerShared shared{&log, m.reloaded.get()};
  for (unsigned w = 0; w < snapshot->workers; ++w) {
    m.workers.push_back(
        std::make_unique<Worker>(w, m.current, std::move(fds[w]), shared, m.done.get()));
    m.workers.back()->openWake();
  }
  m.startChecker();
  for (auto& w : m.workers)
    w->start();
  fprintf(stderr, "switchyard: ready workers=%u\n", snapshot->workers);
  fflush(stderr);
  uv_run(m.loop, UV_RUN_DEFAULT);
  for (auto& w : m.workers)
    w->join();
  m.workers.clear();
  m.checker.reset();
  uv_loop_close(m.loop);
  m.current->admission->flushLog(true);
  const Experiments& experiments = *m.current->experiments;
  if (experiments.size() > 0) {
    std::string summary = experiments.summary();
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
