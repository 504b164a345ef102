// Property checks for the libFuzzer targets: a violated property prints
// where and what, then abort()s, which libFuzzer reports as a crash (and
// saves the input). Not an assert: it stays on in every build type.
#pragma once

#include <cstdio>
#include <cstdlib>

namespace fuzz {

[[noreturn]] inline void violated(const char* file, int line, const char* what) {
  std::fprintf(stderr, "%s:%d: property violated: %s\n", file, line, what);
  std::fflush(stderr);
  std::abort();
}

} // namespace fuzz

#define FUZZ_CHECK(cond)                                                                           \
  do {                                                                                             \
    if (!(cond)) ::fuzz::violated(__FILE__, __LINE__, #cond);                                      \
  } while (0)
