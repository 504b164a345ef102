// loadFile / loadString: read -> parse YAML -> readConfig -> validate ->
// compile. Every exception (yaml-cpp throws on syntax errors) stops here.
#include "proxy/config/load.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <exception>

#include "proxy/config/compile.h"
#include "proxy/config/diagnostics.h"
#include "proxy/config/reader.h"
#include "proxy/config/validate.h"
#include "proxy/config/yaml_document.h"

namespace proxy::config {
namespace {

constexpr size_t kMaxConfigBytes = 16 * 1024 * 1024;

std::shared_ptr<const Snapshot> load(std::string_view yaml, Diagnostics& diags) {
  try {
    YAML::Node root;
    if (!parseDocument(yaml, &root, diags)) return nullptr;
    ConfigSpec spec = readConfig(root, diags);
    validate(spec, diags);
    if (diags.hasErrors()) return nullptr;
    return compile(spec, diags.file(), diags);
  } catch (const std::exception& e) {
    diags.error(Loc{}, std::string("cannot load config: ") + e.what());
  } catch (...) {
    diags.error(Loc{}, "cannot load config: unknown error");
  }
  return nullptr;
}

// Reads the whole file; returns false with `error` set to what went wrong.
bool readFile(const std::string& path, std::string* text, std::string* error) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *error = std::strerror(errno);
    return false;
  }
  char buffer[65536];
  bool ok = true;
  for (;;) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      *error = std::strerror(errno);
      ok = false;
      break;
    }
    if (n == 0) break;
    if (text->size() + static_cast<size_t>(n) > kMaxConfigBytes) {
      *error = "file is larger than 16 MiB";
      ok = false;
      break;
    }
    text->append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  return ok;
}

} // namespace

LoadResult loadString(std::string_view yaml, const std::string& file_name) {
  LoadResult result;
  try {
    Diagnostics diags(file_name);
    result.snapshot = load(yaml, diags);
    result.errors = diags.takeErrors();
    result.warnings = diags.takeWarnings();
    if (!result.errors.empty()) result.snapshot = nullptr;
  } catch (...) { // bad_alloc while reporting
    result.snapshot = nullptr;
    result.errors.push_back(Diagnostic{file_name, 0, 0, "", "cannot load config: out of memory"});
  }
  return result;
}

LoadResult loadFile(const std::string& path) {
  std::string text;
  std::string error;
  bool read = false;
  try {
    read = readFile(path, &text, &error);
  } catch (const std::exception& e) { // bad_alloc
    error = e.what();
  }
  if (!read) {
    LoadResult result;
    result.errors.push_back(Diagnostic{path, 0, 0, "", "cannot read config: " + error});
    return result;
  }
  return loadString(text, path);
}

} // namespace proxy::config
