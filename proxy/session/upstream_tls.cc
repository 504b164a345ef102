// TLS to upstream servers (pool `tls:`): the handshake is part of
// connecting (bounded by timeouts.connect, a failure is retried on another
// server like a refused connection), then records carry the HTTP bytes.
// Part of UpstreamConnection (see upstream.h).
#include "proxy/config/values.h"
#include "proxy/session/upstream.h"

namespace proxy {

void UpstreamConnection::startTls() {
  const config::Pool& pool = gen_->snapshot().pools[pool_];
  std::string_view name =
      pool.tls_sni.empty() ? config::addressHost(pool.servers[server_].address.text) : pool.tls_sni;
  tls_ = tls::Engine::client(*pool.tls, name);
  if (!tls_) {
    fail(UpstreamFailure::kTlsHandshake);
    return;
  }
  state_ = State::kHandshake;
  updateReading();
  if (!flushTls()) fail(UpstreamFailure::kTlsHandshake); // the ClientHello
}

bool UpstreamConnection::flushTls() noexcept {
  if (!tls_->hasOutput()) return true;
  tls_out_.clear();
  tls_->takeOutput(&tls_out_);
  uv_buf_t b = uv_buf_init(tls_out_.data(), static_cast<unsigned>(tls_out_.size()));
  bool queued = false;
  return uv::write(tcp_.stream(), &b, 1, &queued) == 0;
}

void UpstreamConnection::handleTlsRead(const char* data, size_t length) {
  tls::Engine::Status status = tls_->feed(data, length);
  bool flushed = flushTls();
  if (state_ == State::kHandshake) {
    if (status == tls::Engine::Status::kError || !flushed) {
      fail(UpstreamFailure::kTlsHandshake);
      return;
    }
    if (!tls_->handshakeDone()) return;
    becomeActive(); // the user may send, release or close from here
    if (state_ != State::kActive) return;
  } else if (status == tls::Engine::Status::kError || !flushed) {
    handleEof(UV_EPROTO);
    return;
  }
  // The engine copied the ciphertext: the read buffer is free for plaintext.
  uv_buf_t plain = worker_.readBuffer();
  for (;;) {
    size_t n = 0;
    tls::Engine::Status rs = tls_->read(plain.base, plain.len, &n);
    if (n > 0) {
      handlePlain(plain.base, n); // may complete, release or close this connection
      if (state_ == State::kClosed || !tls_) return;
      continue;
    }
    if (rs == tls::Engine::Status::kClosed) {
      handleEof(UV_EOF);
    } else if (rs == tls::Engine::Status::kError) {
      handleEof(UV_EPROTO);
    }
    return;
  }
}

} // namespace proxy
