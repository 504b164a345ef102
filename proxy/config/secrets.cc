#include "proxy/config/secrets.h"

#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

namespace proxy::config {
namespace {

std::string readSecretFile(const std::string& path, std::string* out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "cannot read secret file '" + path + "': " + std::strerror(errno);
  std::string error;
  char buffer[4096];
  for (;;) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      error = "cannot read secret file '" + path + "': " + std::strerror(errno);
      break;
    }
    if (n == 0) break;
    if (out->size() + static_cast<size_t>(n) > kMaxSecretFileBytes) {
      error = "secret file '" + path + "' is larger than 64 KiB";
      break;
    }
    out->append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  if (!error.empty()) return error;
  // Files written by `echo` or an editor end in a newline that is not part of the key.
  if (!out->empty() && out->back() == '\n') out->pop_back();
  if (!out->empty() && out->back() == '\r') out->pop_back();
  return "";
}

} // namespace

std::string resolveSecret(std::string_view text, ResolvedSecret* out) {
  std::string from;
  out->literal = false;
  out->bytes.clear();
  if (text.starts_with("env:")) {
    std::string name(text.substr(4));
    if (name.empty()) return "'env:' needs a variable name, e.g. env:SWY_STICKY_KEY";
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return "environment variable " + name + " is not set";
    if (*value == '\0') return "environment variable " + name + " is empty";
    out->bytes = value;
    from = "the secret from env:" + name;
  } else if (text.starts_with("file:")) {
    std::string path(text.substr(5));
    if (path.empty()) return "'file:' needs a path, e.g. file:/etc/switchyard/sticky.key";
    std::string error = readSecretFile(path, &out->bytes);
    if (!error.empty()) return error;
    from = "the secret from file:" + path;
  } else {
    out->bytes = std::string(text);
    out->literal = true;
    from = "the literal secret";
  }
  if (out->bytes.size() < kMinSecretBytes) {
    std::string error = from + " is " + std::to_string(out->bytes.size()) +
                        " bytes; a secret must be at least " + std::to_string(kMinSecretBytes) +
                        " bytes (32 random bytes are best)";
    out->bytes.clear();
    return error;
  }
  return "";
}

std::string randomSecret(std::string* out) {
  out->assign(kGeneratedSecretBytes, '\0');
  size_t filled = 0;
  while (filled < out->size()) {
    ssize_t n = ::getrandom(out->data() + filled, out->size() - filled, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::string("getrandom failed: ") + std::strerror(errno);
    filled += static_cast<size_t>(n);
  }
  return "";
}

std::string processSecret(std::string_view pool, std::string* out) {
  // Loads run on one thread at a time, but a lock costs nothing here and
  // keeps tests that load from several threads honest.
  static std::mutex mutex;
  static std::map<std::string, std::string, std::less<>> secrets;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = secrets.find(pool);
  if (it == secrets.end()) {
    std::string secret;
    std::string error = randomSecret(&secret);
    if (!error.empty()) return error;
    it = secrets.emplace(std::string(pool), std::move(secret)).first;
  }
  *out = it->second;
  return "";
}

} // namespace proxy::config
