#include "proxy/admin/server.h"

#include <cstdio>
#include <cstring>
#include <vector>

#include "proxy/http/parser.h"
#include "proxy/server/listener.h"
#include "proxy/uv/handles.h"

namespace proxy::admin {
namespace {
constexpr uint64_t kDeadlineMs = 10000;
constexpr size_t kMaxBody = 64 * 1024;
constexpr http::HeadLimits kHeadLimits{16384, 100, 4096};

const char* reasonOf(int status) {
  switch (status) {
  case 200: return "OK";
  case 400: return "Bad Request";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 408: return "Request Timeout";
  case 413: return "Content Too Large";
  case 415: return "Unsupported Media Type";
  case 422: return "Unprocessable Content";
  case 431: return "Request Header Fields Too Large";
  default: return "Error";
  }
}
} // namespace

// One admin client connection: reads one request, answers, closes.
class AdminConnection final : public uv::StreamOwner, public http::Parser::Handler {
public:
  explicit AdminConnection(AdminServer& server)
      : server_(server), parser_(http::Parser::Type::kRequest, this, kHeadLimits) {}

  bool start(uv_stream_t* listener) {
    if (tcp_.open(this, [&](uv_tcp_t* h) { return uv_tcp_init(server_.loop(), h); }) != 0)
      return false;
    if (uv_accept(listener, tcp_.stream()) != 0) return false;
    if (timer_.open(this, [&](uv_timer_t* h) { return uv_timer_init(server_.loop(), h); }) != 0)
      return false;
    uv::arm(timer_, kDeadlineMs, [](uv_timer_t* t) {
      if (auto* self = static_cast<AdminConnection*>(t->data)) self->respondError(408, "timed out");
    });
    return uv_read_start(
               tcp_.stream(),
               [](uv_handle_t* h, size_t, uv_buf_t* buf) {
                 auto* self = static_cast<AdminConnection*>(h->data);
                 *buf = self != nullptr ? uv_buf_init(self->read_buf_, sizeof self->read_buf_)
                                        : uv_buf_init(nullptr, 0);
               },
               &onRead) == 0;
  }

  void close() noexcept {
    if (closed_) return;
    closed_ = true;
    tcp_.close();
    timer_.close();
    server_.finished(this);
  }

  void onWriteDone(int) noexcept override { close(); }

  int onHeadersComplete(http::MessageHead& head) noexcept override {
    method_ = llhttp_method_name(static_cast<llhttp_method_t>(head.method));
    target_ = std::string(head.target());
    int ct = head.find("content-type");
    if (ct >= 0) content_type_ = std::string(head.value(static_cast<size_t>(ct)));
    if (head.has_content_length && head.content_length > kMaxBody) {
      parser_.fail(ErrorKind::kBadRequest, "body too large");
      too_large_ = true;
      return http::Parser::kFail;
    }
    return http::Parser::kProceed;
  }
  int onBody(const char* data, size_t length) noexcept override {
    if (body_.size() + length > kMaxBody) {
      parser_.fail(ErrorKind::kBadRequest, "body too large");
      too_large_ = true;
      return http::Parser::kFail;
    }
    body_.append(data, length);
    return http::Parser::kProceed;
  }
  int onMessageComplete() noexcept override {
    complete_ = true;
    return http::Parser::kPause;
  }

private:
  static void onRead(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
    auto* self = static_cast<AdminConnection*>(s->data);
    if (self == nullptr || nread == 0) return;
    if (nread < 0) {
      self->close();
      return;
    }
    self->feed(buf->base, static_cast<size_t>(nread));
  }

  void feed(const char* data, size_t length) {
    if (answered_) return; // the answer is on its way; ignore the rest
    http::Parser::Outcome o = parser_.execute(data, length);
    if (complete_) {
      dispatch();
    } else if (o.state == http::Parser::State::kError) {
      if (too_large_) {
        respondError(413, "the admin API takes bodies of at most 64 KiB");
      } else {
        respondError(parser_.errorKind() == ErrorKind::kHeadersTooLarge ? 431 : 400,
                     parser_.errorReason());
      }
    } else if (o.state == http::Parser::State::kUpgrade) {
      respondError(400, "the admin API does not upgrade connections");
    }
  }

  void dispatch() {
    std::string_view target = target_;
    size_t q = target.find('?');
    Request req{method_, target.substr(0, q),
                q == std::string_view::npos ? std::string_view() : target.substr(q + 1), body_,
                content_type_};
    Response r;
    try {
      r = handle(req, server_.control());
    } catch (const std::exception& e) {
      r = {500, "application/json", std::string("{\"error\":\"internal error\"}\n"), ""};
      fprintf(stderr, "switchyard: admin: %s %s: %s\n", method_.c_str(), target_.c_str(), e.what());
    }
    respond(r);
  }

  void respondError(int status, std::string_view message) {
    respond({status, "application/json", "{\"error\":" + jsonString(message) + "}\n", ""});
  }

  void respond(const Response& r) {
    if (answered_ || closed_) return;
    answered_ = true;
    uv_read_stop(tcp_.stream());
    out_.clear();
    char head[512];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
                     "Connection: close\r\n",
                     r.status, reasonOf(r.status), r.content_type.c_str(), r.body.size());
    out_.append(head, static_cast<size_t>(n > 0 ? n : 0));
    out_ += r.extra_headers;
    out_ += "\r\n";
    if (method_ != "HEAD") out_ += r.body;
    uv_buf_t b = uv_buf_init(out_.data(), static_cast<unsigned>(out_.size()));
    bool queued = false;
    if (uv::write(tcp_.stream(), &b, 1, &queued) != 0 || !queued) close();
  }

  AdminServer& server_;
  http::Parser parser_;
  uv::Tcp tcp_;
  uv::Timer timer_;
  char read_buf_[16384];
  std::string method_, target_, body_, content_type_, out_;
  bool complete_ = false, answered_ = false, closed_ = false, too_large_ = false;
};

struct AdminServer::Impl {
  uv::Tcp listener;
  uv::Timer reaper; // deletes closed connections outside their callbacks
  std::unordered_set<AdminConnection*> live;
  std::vector<AdminConnection*> dead;
};

AdminServer::AdminServer(uv_loop_t* loop, Control& control)
    : loop_(loop), control_(control), impl_(std::make_unique<Impl>()) {}

AdminServer::~AdminServer() {
  stop();
  for (AdminConnection* c : impl_->dead)
    delete c;
}

std::string AdminServer::start(const config::SocketAddress& address, int inherited) {
  int fd = inherited >= 0 ? inherited : bindListeningSocket(address.sa(), address.length);
  if (fd < 0) return "cannot listen on " + address.text + ": " + strerror(-fd);
  std::string where = localAddress(fd);
  int rc = impl_->listener.open(this, [&](uv_tcp_t* h) { return uv_tcp_init(loop_, h); });
  if (rc == 0) rc = uv_tcp_open(impl_->listener.get(), fd);
  if (rc == 0) rc = uv_listen(impl_->listener.stream(), 64, &onConnection);
  if (rc != 0) {
    if (!impl_->listener) ::close(fd);
    impl_->listener.close();
    return "cannot listen on " + address.text + ": " + uv_strerror(rc);
  }
  impl_->reaper.open(this, [&](uv_timer_t* h) { return uv_timer_init(loop_, h); });
  fprintf(stderr, "switchyard: admin listening address=%s\n", where.c_str());
  return "";
}

int AdminServer::fd() const {
  uv_os_fd_t fd = -1;
  if (!impl_->listener || uv_fileno(impl_->listener.handle(), &fd) != 0) return -1;
  return fd;
}

void AdminServer::stopAccepting() { impl_->listener.close(); }

void AdminServer::stop() {
  stopAccepting();
  impl_->reaper.close();
  std::vector<AdminConnection*> live(impl_->live.begin(), impl_->live.end());
  for (AdminConnection* c : live)
    c->close();
}

void AdminServer::onConnection(uv_stream_t* server, int status) {
  auto* self = static_cast<AdminServer*>(server->data);
  if (self == nullptr || status != 0) return;
  auto* c = new AdminConnection(*self);
  self->impl_->live.insert(c);
  if (!c->start(server)) c->close();
}

void AdminServer::finished(AdminConnection* connection) {
  impl_->live.erase(connection);
  impl_->dead.push_back(connection);
  if (!impl_->reaper) return; // stopping: the destructor deletes them
  uv::arm(impl_->reaper, 0, [](uv_timer_t* t) {
    auto* self = static_cast<AdminServer*>(t->data);
    if (self == nullptr) return;
    std::vector<AdminConnection*> dead;
    dead.swap(self->impl_->dead);
    for (AdminConnection* c : dead)
      delete c;
  });
}

} // namespace proxy::admin
