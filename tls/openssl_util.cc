#include "tls/openssl_util.h"

#include <openssl/err.h>

namespace tls {

std::string drainErrors() {
  std::string text;
  char buf[256];
  while (unsigned long code = ERR_get_error()) {
    ERR_error_string_n(code, buf, sizeof buf);
    if (!text.empty()) text += "; ";
    text += buf;
  }
  return text;
}

} // namespace tls
