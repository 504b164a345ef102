// TLS termination for a DownstreamSession: the engine (tls/engine.h) sits
// between the socket and the HTTP parser. Part of DownstreamSession (see
// downstream.h).
#include "proxy/session/downstream.h"

#include <iterator>
#include <string_view>

namespace proxy {

void DownstreamSession::onTlsRead(const char* data, size_t length) {
  tls::Engine::Status status = tls_->feed(data, length);
  if (!tls_counted_ && (tls_->handshakeDone() || status == tls::Engine::Status::kError)) {
    tls_counted_ = true; // counted where the connection was admitted
    TrafficStats::Listener& stats =
        listenerStats(*admitted_by_, static_cast<size_t>(counted_listener_));
    if (tls_->handshakeDone()) {
      stats.tls_handshakes.add();
      if (tls_->resumed()) stats.tls_resumed.add();
    } else {
      stats.tls_failures.add();
    }
  }
  bool queued = false;
  if (flushTls(&queued) != 0) { // handshake messages and alerts
    close();
    return;
  }
  if (status == tls::Engine::Status::kError) {
    // Not TLS (plain HTTP to the TLS port), a refused version or suite, a
    // client certificate that does not verify: the alert is on its way, no
    // HTTP byte was read, so nothing reaches an upstream.
    if (phase_ == Phase::kIdle && ex_->record.bytes_in == 0) {
      flushAndClose();
    } else {
      abort({'C', 'R'});
    }
    return;
  }
  // The engine copied the ciphertext, so the read buffer is free for plaintext.
  uv_buf_t plain = worker_.readBuffer();
  for (;;) {
    size_t n = 0;
    tls::Engine::Status rs = tls_->read(plain.base, plain.len, &n);
    if (n > 0) {
      feed(plain.base, n);
      if (closing() || phase_ == Phase::kFlushing || !tls_) return;
      continue;
    }
    if (rs == tls::Engine::Status::kClosed) {
      handleClientEof();
    } else if (rs == tls::Engine::Status::kError) {
      abort({'C', phase_ == Phase::kIdle ? 'R' : 'D'});
    }
    return;
  }
}

int DownstreamSession::writeTls(const uv_buf_t* bufs, unsigned count, bool* queued) noexcept {
  std::string_view parts[4];
  unsigned n = 0;
  for (unsigned i = 0; i < count; ++i) {
    if (n == std::size(parts)) { // more pieces than our callers pass: encrypt in turns
      if (tls_->write(parts, n) == tls::Engine::Status::kError) return UV_EPROTO;
      n = 0;
    }
    parts[n++] = std::string_view(bufs[i].base, bufs[i].len);
  }
  if (tls_->write(parts, n) == tls::Engine::Status::kError) return UV_EPROTO;
  return flushTls(queued);
}

int DownstreamSession::flushTls(bool* queued) noexcept {
  *queued = false;
  if (!tls_->hasOutput()) return 0;
  std::string& out = worker_.tlsScratch(); // uv::write copies what it queues
  out.clear();
  tls_->takeOutput(&out);
  uv_buf_t b = uv_buf_init(out.data(), static_cast<unsigned>(out.size()));
  return uv::write(tcp_.stream(), &b, 1, queued);
}

} // namespace proxy
