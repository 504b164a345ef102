#include "proxy/server/runtime.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "proxy/health/checker.h"
#include "proxy/server/admission.h"
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
  std::vector<std::unique_ptr<Worker>> workers;
  uv::Async done;
  uv::Signal term, intr;
  uv::Timer deadline;
  uv::Timer srm_check;
  uv::Timer refusal_log; // flushes rate-limited refusal lines still pending
  Experiments* experiments = nullptr;
  HealthChecker* checker = nullptr;
  uint64_t drain_ms = 0;
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
    if (checker != nullptr) checker->stop();
    done.close();
    term.close();
    intr.close();
    deadline.close();
    srm_check.close();
    refusal_log.close();
  }
};

} // namespace

int runProxy(std::shared_ptr<const config::Snapshot> snapshot) {
  std::signal(SIGPIPE, SIG_IGN); // write errors come back as EPIPE instead
  AccessLogSink log;
  std::string error;
  if (!log.open(snapshot->access_log, &error)) {
    fprintf(stderr, "switchyard: %s\n", error.c_str());
    return 1;
  }
  std::vector<std::vector<int>> fds;
  if (!bindAll(*snapshot, &fds)) return 1;
  Experiments experiments(*snapshot);
  HealthBoard health(*snapshot);
  Admission admission(*snapshot);

  MainLoop m;
  m.loop = uv_default_loop();
  m.drain_ms = snapshot->timeouts.drain;
  m.done.open(&m, [&](uv_async_t* h) {
    return uv_async_init(m.loop, h, [](uv_async_t* a) {
      auto* self = static_cast<MainLoop*>(a->data);
      if (self != nullptr) self->onWorkerDone();
    });
  });
  m.deadline.open(&m, [&](uv_timer_t* h) { return uv_timer_init(m.loop, h); });
  m.experiments = &experiments;
  if (experiments.size() > 0) {
    // Sample-ratio-mismatch check: a broken split is noticed while it runs.
    m.srm_check.open(&m, [&](uv_timer_t* h) { return uv_timer_init(m.loop, h); });
    uv_timer_start(
        m.srm_check.get(),
        [](uv_timer_t* t) {
          auto* self = static_cast<MainLoop*>(t->data);
          if (self == nullptr) return;
          for (const std::string& w : self->experiments->mismatches()) {
            fprintf(stderr, "switchyard: warning: %s\n", w.c_str());
          }
        },
        kSrmCheckMs, kSrmCheckMs);
  }
  if (admission.anyGuarded()) {
    m.refusal_log.open(&admission, [&](uv_timer_t* h) { return uv_timer_init(m.loop, h); });
    uv_timer_start(
        m.refusal_log.get(),
        [](uv_timer_t* t) {
          if (auto* self = static_cast<Admission*>(t->data)) self->flushLog();
        },
        kRefusalLogMs, kRefusalLogMs);
  }
  m.term.open(&m, [&](uv_signal_t* h) { return uv_signal_init(m.loop, h); });
  m.intr.open(&m, [&](uv_signal_t* h) { return uv_signal_init(m.loop, h); });
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

  const WorkerShared shared{&log, &experiments, &health, &admission};
  for (unsigned w = 0; w < snapshot->workers; ++w) {
    m.workers.push_back(
        std::make_unique<Worker>(w, snapshot, std::move(fds[w]), shared, m.done.get()));
    m.workers.back()->openWake();
  }
  // Active health checks run on this (otherwise idle) loop.
  HealthChecker checker(m.loop, snapshot, &health);
  m.checker = &checker;
  checker.start();
  for (auto& w : m.workers)
    w->start();
  fprintf(stderr, "switchyard: ready workers=%u\n", snapshot->workers);
  fflush(stderr);
  uv_run(m.loop, UV_RUN_DEFAULT);
  for (auto& w : m.workers)
    w->join();
  m.workers.clear();
  uv_loop_close(m.loop);
  admission.flushLog(true);
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
