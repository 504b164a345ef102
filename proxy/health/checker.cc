#include "proxy/health/checker.h"

#include <cstdio>
#include <string>

#include "proxy/config/values.h"
#include "proxy/uv/handles.h"
#include "tls/engine.h"

namespace proxy {

// One server's checks: a repeating interval timer, and per probe a TCP
// connection (plus a TLS engine for `tls:` pools) under a deadline timer.
class HealthProbe final : public uv::StreamOwner {
public:
  HealthProbe(uv_loop_t* loop, const config::Snapshot& snap, size_t pool, size_t server,
              HealthBoard* board)
      : loop_(loop), pool_(snap.pools[pool]), server_(snap.pools[pool].servers[server]),
        pool_index_(pool), server_index_(server), board_(board) {
    const config::HealthCheck& hc = pool_.health;
    std::string_view host = hc.host.empty() ? std::string_view(server_.address.text) : hc.host;
    request_ = "GET " + hc.path + " HTTP/1.1\r\nHost: " + std::string(host) +
               "\r\nUser-Agent: switchyard-health-check\r\nConnection: close\r\n\r\n";
  }
  ~HealthProbe() { stop(); }

  void start() {
    interval_.open(this, [&](uv_timer_t* t) { return uv_timer_init(loop_, t); });
    deadline_.open(this, [&](uv_timer_t* t) { return uv_timer_init(loop_, t); });
    uv_timer_start(
        interval_.get(),
        [](uv_timer_t* t) {
          if (auto* self = static_cast<HealthProbe*>(t->data)) self->probe();
        },
        0, pool_.health.interval_ms);
  }

  void stop() {
    forgetConnect();
    interval_.close();
    deadline_.close();
    tcp_.close();
    tls_.reset();
  }

  void onWriteDone(int status) noexcept override {
    if (status < 0 && status != UV_ECANCELED && busy_) finish(false, uv_strerror(status));
  }

private:
  void probe() {
    if (busy_) return; // the previous probe is still within its timeout
    // In maintenance (admin API): not probed; its verdict stays as it was.
    if (board_->adminState(pool_index_, server_index_) == AdminState::kMaint) return;
    busy_ = true;
    response_.clear();
    uv::arm(deadline_, pool_.health.timeout_ms, [](uv_timer_t* t) {
      if (auto* self = static_cast<HealthProbe*>(t->data)) self->finish(false, "timed out");
    });
    int rc = tcp_.open(this, [&](uv_tcp_t* h) { return uv_tcp_init(loop_, h); });
    if (rc == 0) {
      // Heap-allocated: a pending connect outlives a closed handle (its
      // callback then runs with UV_ECANCELED) and may outlive this probe.
      connect_ = new uv_connect_t{};
      connect_->data = this;
      rc = uv_tcp_connect(connect_, tcp_.get(), server_.address.sa(),
                          [](uv_connect_t* req, int status) {
                            auto* self = static_cast<HealthProbe*>(req->data);
                            delete req;
                            if (self != nullptr) self->onConnect(status);
                          });
      if (rc != 0) {
        delete connect_;
        connect_ = nullptr;
      }
    }
    if (rc != 0) finish(false, uv_strerror(rc));
  }

  // Detaches the pending connect request, if any, from this probe.
  void forgetConnect() {
    if (connect_ != nullptr) connect_->data = nullptr;
    connect_ = nullptr;
  }

  void onConnect(int status) {
    connect_ = nullptr;
    if (!busy_) return;
    if (status < 0) {
      finish(false, uv_strerror(status));
      return;
    }
    uv_read_start(
        tcp_.stream(),
        [](uv_handle_t* h, size_t, uv_buf_t* buf) {
          auto* self = static_cast<HealthProbe*>(h->data);
          *buf = self != nullptr ? uv_buf_init(self->read_buf_, sizeof self->read_buf_)
                                 : uv_buf_init(nullptr, 0);
        },
        [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
          if (auto* self = static_cast<HealthProbe*>(s->data)) self->onRead(n, buf->base);
        });
    if (pool_.tls) {
      std::string_view sni = pool_.tls_sni.empty() ? config::addressHost(server_.address.text)
                                                   : std::string_view(pool_.tls_sni);
      tls_ = tls::Engine::client(*pool_.tls, sni);
      if (!tls_ || tls_->write(request_.data(), request_.size()) == tls::Engine::Status::kError) {
        finish(false, "TLS setup failed");
        return;
      }
      flushTls();
    } else {
      send(request_);
    }
  }

  void send(const std::string& bytes) {
    uv_buf_t b = uv_buf_init(const_cast<char*>(bytes.data()), static_cast<unsigned>(bytes.size()));
    bool queued = false;
    int rc = uv::write(tcp_.stream(), &b, 1, &queued);
    if (rc != 0) finish(false, uv_strerror(rc));
  }

  void flushTls() {
    if (!tls_->hasOutput()) return;
    tls_out_.clear();
    tls_->takeOutput(&tls_out_);
    send(tls_out_);
  }

  void onRead(ssize_t n, const char* data) {
    if (!busy_) return;
    if (n < 0) {
      verdict(n == UV_EOF ? "closed before a status line" : uv_strerror(static_cast<int>(n)));
      return;
    }
    if (!tls_) {
      response_.append(data, static_cast<size_t>(n));
    } else {
      tls::Engine::Status st = tls_->feed(data, static_cast<size_t>(n));
      if (st == tls::Engine::Status::kError) {
        finish(false, "TLS handshake failed: " + tls_->error());
        return;
      }
      flushTls();
      if (!busy_) return;
      char plain[1024];
      size_t got = 0;
      while (tls_->read(plain, sizeof plain, &got) == tls::Engine::Status::kOk && got > 0) {
        response_.append(plain, got);
        got = 0;
      }
    }
    if (response_.find("\r\n") != std::string::npos || response_.size() > 1024)
      verdict("no status line");
  }

  // Judges the status line in response_ ("HTTP/1.x NNN ...").
  void verdict(const std::string& missing) {
    size_t eol = response_.find("\r\n");
    if (eol == std::string::npos) {
      finish(false, missing);
      return;
    }
    std::string_view line(response_.data(), eol);
    int status = 0;
    if (line.size() >= 12 && line.substr(0, 7) == "HTTP/1." && line[8] == ' ') {
      for (size_t i = 9; i < 12 && line[i] >= '0' && line[i] <= '9'; ++i)
        status = status * 10 + (line[i] - '0');
    }
    if (status < 100 || status > 999) {
      finish(false, "not an HTTP response");
      return;
    }
    const config::HealthCheck& hc = pool_.health;
    bool good = status >= hc.expect_min && status <= hc.expect_max;
    finish(good, "status " + std::to_string(status));
  }

  void finish(bool ok, const std::string& detail) {
    if (!busy_) return;
    busy_ = false;
    forgetConnect();
    uv::disarm(deadline_);
    tcp_.close();
    tls_.reset();
    if (!board_->recordCheck(pool_index_, server_index_, ok, uv_now(loop_))) return;
    const config::HealthCheck& hc = pool_.health;
    if (ok) {
      std::string ramp;
      if (pool_.slow_start_ms != 0)
        ramp = "; slow start over " + std::to_string(pool_.slow_start_ms) + "ms";
      fprintf(stderr, "switchyard: health: pool=%s server=%s is up (%u good checks; %s%s)\n",
              pool_.name.c_str(), server_.name.c_str(), hc.rise, detail.c_str(), ramp.c_str());
    } else {
      fprintf(stderr,
              "switchyard: health: pool=%s server=%s is down (%u failed checks; last: %s)\n",
              pool_.name.c_str(), server_.name.c_str(), hc.fall, detail.c_str());
    }
    fflush(stderr);
  }

  uv_loop_t* loop_;
  const config::Pool& pool_;
  const config::Server& server_;
  size_t pool_index_, server_index_;
  HealthBoard* board_;
  std::string request_;
  std::string response_;
  std::string tls_out_;
  uv::Timer interval_, deadline_;
  uv::Tcp tcp_;
  uv_connect_t* connect_ = nullptr; // pending connect of the current probe
  std::unique_ptr<tls::Engine> tls_;
  bool busy_ = false;
  char read_buf_[2048];
};

HealthChecker::HealthChecker(uv_loop_t* loop, std::shared_ptr<const config::Snapshot> snapshot,
                             HealthBoard* board)
    : snapshot_(std::move(snapshot)) {
  for (size_t p = 0; p < snapshot_->pools.size(); ++p) {
    if (!snapshot_->pools[p].health.enabled) continue;
    for (size_t s = 0; s < snapshot_->pools[p].servers.size(); ++s)
      probes_.push_back(std::make_unique<HealthProbe>(loop, *snapshot_, p, s, board));
  }
}

HealthChecker::~HealthChecker() { stop(); }

size_t HealthChecker::start() {
  for (auto& probe : probes_)
    probe->start();
  return probes_.size();
}

void HealthChecker::stop() {
  for (auto& probe : probes_)
    probe->stop();
}

} // namespace proxy
