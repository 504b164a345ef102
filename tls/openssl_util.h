// Small helpers shared by the tls/ sources (not part of the public API).
#pragma once

#include <string>

namespace tls {

// Drains this thread's OpenSSL error queue into one line ("; "-separated);
// returns "" when the queue was empty.
std::string drainErrors();

} // namespace tls
