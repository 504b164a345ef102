// AdminServer: the admin listener (config `admin:`), on the main thread's
// loop beside the health checks. HTTP/1.1, one request per connection (every
// answer says Connection: close), a 64 KiB body limit and a 10 s deadline per
// connection; requests go to admin::handle() (api.h). Loopback only, which
// the config enforces.
#pragma once

#include <uv.h>

#include <memory>
#include <string>
#include <unordered_set>

#include "proxy/admin/api.h"
#include "proxy/config/snapshot.h"

namespace proxy::admin {

class AdminConnection;

class AdminServer {
public:
  AdminServer(uv_loop_t* loop, Control& control);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Binds and listens on `address`, or adopts `inherited` (a socket bound to
  // it that a binary upgrade handed over; -1: none); returns "" or what went
  // wrong. Prints "switchyard: admin listening address=IP:PORT".
  std::string start(const config::SocketAddress& address, int inherited = -1);
  // The listening socket's fd, or -1.
  int fd() const;
  // Closes the listener; connections being answered finish (idempotent).
  void stopAccepting();
  // Closes the listener and every connection (idempotent).
  void stop();

  // For connections.
  uv_loop_t* loop() const { return loop_; }
  Control& control() { return control_; }
  void finished(AdminConnection* connection); // closed: delete it later

private:
  static void onConnection(uv_stream_t* server, int status);
  struct Impl;
  uv_loop_t* loop_;
  Control& control_;
  std::unique_ptr<Impl> impl_;
};

} // namespace proxy::admin
