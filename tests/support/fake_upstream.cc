#include "tests/support/fake_upstream.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace swytest {

namespace {
constexpr size_t kMaxRaw = 1 << 20;
constexpr milliseconds kIdleLimit{30000}; // a connection thread never waits longer
} // namespace

IoStatus UpstreamConn::write(std::string_view bytes, milliseconds timeout) {
  IoStatus st = writeAll(fd_, bytes, Deadline(timeout), wake_fd_);
  if (st == IoStatus::kReset) peer_closed_ = true; // the proxy closed it mid-response
  return st;
}

IoStatus UpstreamConn::read(std::string* out, const Deadline& deadline) {
  IoStatus st = readSome(fd_, out, deadline, wake_fd_);
  if (st == IoStatus::kEof || st == IoStatus::kReset) peer_closed_ = true;
  return st;
}

IoStatus UpstreamConn::readAtLeast(size_t n, std::string* out, milliseconds timeout) {
  out->append(*pending_);
  pending_->clear();
  Deadline deadline(timeout);
  while (out->size() < n) {
    IoStatus st = read(out, deadline);
    if (st != IoStatus::kOk) return st;
  }
  return IoStatus::kOk;
}

IoStatus UpstreamConn::readToEof(std::string* out, milliseconds timeout) {
  out->append(*pending_);
  pending_->clear();
  Deadline deadline(timeout);
  for (;;) {
    IoStatus st = read(out, deadline);
    if (st != IoStatus::kOk) return st;
  }
}

Reply Reply::send(std::string bytes) {
  Reply r;
  r.bytes = std::move(bytes);
  return r;
}

Reply Reply::ok(std::string_view body, std::string_view extra_headers) {
  return send(makeResponse(200, "OK", body, extra_headers));
}

Reply Reply::close() {
  Reply r;
  r.kind = Kind::kClose;
  return r;
}

Reply Reply::reset() {
  Reply r;
  r.kind = Kind::kReset;
  return r;
}

Reply Reply::silent() {
  Reply r;
  r.kind = Kind::kSilent;
  return r;
}

FakeUpstream::FakeUpstream(std::string name, Handler handler)
    : name_(std::move(name)), handler_(std::move(handler)) {
  if (!handler_) {
    std::string body = name_;
    handler_ = [body](const UpstreamRequest&) {
      return Reply::ok(body, "X-Upstream: " + body + "\r\n");
    };
  }
  listen_fd_ = listenLoopback(&port_);
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) == 0) {
    wake_read_.reset(fds[0]);
    wake_write_.reset(fds[1]);
  }
  accept_thread_ = std::thread([this] { acceptLoop(); });
}

FakeUpstream::~FakeUpstream() { stop(); }

void FakeUpstream::setHeadHook(HeadHook hook) {
  std::lock_guard<std::mutex> lock(mu_);
  head_hook_ = std::move(hook);
}

void FakeUpstream::release() {
  std::lock_guard<std::mutex> lock(mu_);
  released_ = true;
  cv_.notify_all();
}

void FakeUpstream::stop() {
  if (stopping_.exchange(true)) return;
  release();
  if (wake_write_.valid()) {
    char c = 'x';
    (void)!::write(wake_write_.get(), &c, 1);
  }
  if (accept_thread_.joinable()) accept_thread_.join();
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mu_);
    threads.swap(conn_threads_);
  }
  for (std::thread& t : threads)
    t.join();
  listen_fd_.reset();
}

void FakeUpstream::acceptLoop() {
  for (;;) {
    pollfd fds[2] = {{listen_fd_.get(), POLLIN, 0}, {wake_read_.get(), POLLIN, 0}};
    int rc = ::poll(fds, 2, -1);
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0 || (fds[1].revents & POLLIN)) return;
    if (!(fds[0].revents & POLLIN)) continue;
    Fd conn(::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn.valid()) continue;
    std::lock_guard<std::mutex> lock(mu_);
    size_t index = connections_++;
    raw_.emplace_back();
    conn_threads_.emplace_back(
        [this, index, fd = std::move(conn)]() mutable { serve(std::move(fd), index); });
    cv_.notify_all();
  }
}

void FakeUpstream::recordRaw(size_t index, std::string_view bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string& raw = raw_[index];
  if (raw.size() < kMaxRaw) raw.append(bytes.substr(0, kMaxRaw - raw.size()));
}

// Serves one connection: parse requests back to back and run the handler's reply.
void FakeUpstream::serve(Fd fd, size_t index) {
  MessageParser parser(MessageParser::Kind::kRequest);
  std::string pending;
  size_t sequence = 0;
  bool hooked = false;
  bool peer_closed = false;
  for (;;) {
    if (pending.empty()) {
      IoStatus st = readSome(fd.get(), &pending, Deadline(kIdleLimit), wake_read_.get());
      if (st == IoStatus::kEof || st == IoStatus::kReset) {
        peer_closed = true;
        parser.feedEof();
        if (parser.failed() && parser.error() != "eof before message") recordError(index, parser);
        break;
      }
      if (st != IoStatus::kOk) break;
      recordRaw(index, pending);
    }
    pending.erase(0, parser.feed(pending));
    if (parser.headComplete() && !hooked) {
      hooked = true;
      runHeadHook(fd, parser.message());
    }
    if (parser.failed()) {
      recordError(index, parser);
      break;
    }
    if (!parser.done()) continue;
    UpstreamRequest req{std::move(parser.message()), index, sequence++};
    {
      std::lock_guard<std::mutex> lock(mu_);
      requests_.push_back(req);
      cv_.notify_all();
    }
    Reply reply = handler_(req);
    if (!perform(reply, fd, &pending, &peer_closed)) break;
    parser.reset();
    hooked = false;
  }
  if (peer_closed) {
    std::lock_guard<std::mutex> lock(mu_);
    ++peer_closed_;
    cv_.notify_all();
  }
}

void FakeUpstream::recordError(size_t index, const MessageParser& parser) {
  std::lock_guard<std::mutex> lock(mu_);
  parse_errors_.push_back("conn " + std::to_string(index) + ": " + parser.error());
}

void FakeUpstream::runHeadHook(Fd& fd, const HttpMessage& head) {
  HeadHook hook;
  {
    std::lock_guard<std::mutex> lock(mu_);
    hook = head_hook_;
  }
  std::string early = hook ? hook(head) : std::string();
  if (!early.empty()) writeAll(fd.get(), early, Deadline(kIdleLimit), wake_read_.get());
}

// Runs one reply; returns whether the connection keeps serving requests.
bool FakeUpstream::perform(Reply& reply, Fd& fd, std::string* pending, bool* peer_closed) {
  if (reply.hold.count() > 0) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, reply.hold, [this] { return released_; });
  }
  switch (reply.kind) {
  case Reply::Kind::kClose: return false;
  case Reply::Kind::kReset: resetConnection(fd); return false;
  case Reply::Kind::kSilent: {
    std::string ignored;
    UpstreamConn conn(fd.get(), wake_read_.get(), pending);
    conn.readToEof(&ignored, kIdleLimit);
    *peer_closed = conn.peerClosed();
    return false;
  }
  case Reply::Kind::kSend: break;
  }
  if (writeAll(fd.get(), reply.bytes, Deadline(kIdleLimit), wake_read_.get()) != IoStatus::kOk) {
    return false;
  }
  if (reply.takeover) {
    UpstreamConn conn(fd.get(), wake_read_.get(), pending);
    bool keep = reply.takeover(conn);
    *peer_closed = conn.peerClosed();
    if (!keep) return false;
  }
  switch (reply.after) {
  case Reply::After::kKeepOpen: return true;
  case Reply::After::kClose: ::shutdown(fd.get(), SHUT_WR); return false;
  case Reply::After::kReset: resetConnection(fd); return false;
  }
  return true;
}

bool FakeUpstream::waitFor(const std::function<bool()>& pred, milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, pred);
}

bool FakeUpstream::waitForRequests(size_t n, milliseconds timeout) const {
  return waitFor([&] { return requests_.size() >= n; }, timeout);
}

bool FakeUpstream::waitForConnections(size_t n, milliseconds timeout) const {
  return waitFor([&] { return connections_ >= n; }, timeout);
}

bool FakeUpstream::waitForPeerClosed(size_t n, milliseconds timeout) const {
  return waitFor([&] { return peer_closed_ >= n; }, timeout);
}

std::vector<UpstreamRequest> FakeUpstream::requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}

size_t FakeUpstream::requestCount() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_.size();
}

size_t FakeUpstream::connectionCount() const {
  std::lock_guard<std::mutex> lock(mu_);
  return connections_;
}

size_t FakeUpstream::peerClosedCount() const {
  std::lock_guard<std::mutex> lock(mu_);
  return peer_closed_;
}

std::vector<std::string> FakeUpstream::parseErrors() const {
  std::lock_guard<std::mutex> lock(mu_);
  return parse_errors_;
}

std::string FakeUpstream::rawReceived(size_t connection) const {
  std::lock_guard<std::mutex> lock(mu_);
  return connection < raw_.size() ? raw_[connection] : std::string();
}

std::string FakeUpstream::allRawReceived() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string all;
  for (const std::string& r : raw_)
    all += r;
  return all;
}

} // namespace swytest
