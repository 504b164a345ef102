// Sticky-cookie secrets: where a configured key comes from (`env:NAME`,
// `file:PATH` or the literal text) and a random key when none is configured.
// Called at config load only, on the loading thread (reads the environment
// and files; getrandom(2) may block until the kernel's pool is seeded).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace proxy::config {

// HMAC-SHA256 keys shorter than this are too easy to guess.
inline constexpr size_t kMinSecretBytes = 16;
inline constexpr size_t kGeneratedSecretBytes = 32;
inline constexpr size_t kMaxSecretFileBytes = 64 * 1024;

struct ResolvedSecret {
  std::string bytes;
  bool literal = false; // written in the config itself
};

// Resolves one `secrets:` entry: env:NAME (the variable's value; unset or
// empty is an error), file:PATH (the file's bytes, one trailing newline
// removed), anything else is the literal key. Checks kMinSecretBytes.
// Returns "" on success, else what is wrong; never echoes a key's bytes.
std::string resolveSecret(std::string_view text, ResolvedSecret* out);

// kGeneratedSecretBytes from getrandom(2). "" on success, else what is wrong.
std::string randomSecret(std::string* out);

// The generated key of pool `pool` for the life of the process: made with
// randomSecret() on first use, then the same bytes, so that loading the config
// again (a reload) does not invalidate every sticky cookie. Thread-safe.
// "" on success, else what is wrong.
std::string processSecret(std::string_view pool, std::string* out);

} // namespace proxy::config
