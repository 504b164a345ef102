#include "proxy/config/yaml_document.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/parser.h>

#include <sstream>
#include <string>

namespace proxy::config {
namespace {

// Walks the documents of a stream as events, building nothing, and records
// where each document's first event is.
//
// Why not YAML::LoadAll: in yaml-cpp 0.7, a document starting with a token
// the parser cannot place (a stray ',', e.g. ",a: 1") makes
// HandleNextDocument() report a null document without consuming the token,
// so LoadAll loops forever, allocating until the OOM killer ends the process
// (jbeder/yaml-cpp#1040; fixed upstream by #1318/#1319, after 0.7). Here a
// document that starts where the previous one started means no progress.
class DocumentScanner : public YAML::EventHandler {
public:
  void reset() { first_seen_ = false; }
  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { see(mark); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { see(mark); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                const std::string&) override {
    see(mark);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    see(mark);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    see(mark);
  }
  void OnMapEnd() override {}

  const YAML::Mark& first() const { return first_; }

private:
  void see(const YAML::Mark& mark) {
    if (first_seen_) return;
    first_seen_ = true;
    first_ = mark;
  }

  bool first_seen_ = false;
  YAML::Mark first_;
};

// Counts documents, stopping at 3; returns -1 after reporting a stuck parser
// as a syntax error. The third turn tells a second document from a stuck one.
// `second` is where the second document starts, if any.
int countDocuments(std::string_view yaml, YAML::Mark* second, Diagnostics& diags) {
  std::istringstream in{std::string(yaml)};
  YAML::Parser parser(in);
  DocumentScanner scanner;
  int count = 0;
  int previous_pos = -1;
  while (count < 3) {
    scanner.reset();
    if (!parser.HandleNextDocument(scanner)) break;
    const YAML::Mark& mark = scanner.first();
    if (mark.pos == previous_pos) {
      size_t at = static_cast<size_t>(mark.pos);
      std::string what =
          at < yaml.size() ? "unexpected '" + std::string(1, yaml[at]) + "'" : "unexpected token";
      diags.error(markLoc(mark), "YAML syntax error: " + what);
      return -1;
    }
    previous_pos = mark.pos;
    if (++count == 2) *second = mark;
  }
  return count;
}

} // namespace

Loc markLoc(const YAML::Mark& mark) {
  Loc loc;
  if (mark.line >= 0 && mark.column >= 0) {
    loc.line = mark.line + 1;
    loc.column = mark.column + 1;
  }
  return loc;
}

bool parseDocument(std::string_view yaml, YAML::Node* root, Diagnostics& diags) {
  try {
    YAML::Mark second;
    int documents = countDocuments(yaml, &second, diags);
    if (documents < 0) return false;
    if (documents > 1) {
      diags.error(markLoc(second), "a second YAML document starts here; the config must be one "
                                   "document");
      return false;
    }
    YAML::Node doc = documents == 0 ? YAML::Node() : YAML::Load(std::string(yaml));
    if (doc.IsNull() || !doc.IsDefined()) {
      diags.error(Loc{1, 1, ""},
                  "the config is empty: expected a mapping with listeners, pools and routes");
      return false;
    }
    if (!doc.IsMap()) {
      diags.error(markLoc(doc.Mark()),
                  "the config must be a mapping (key: value) with listeners, pools and routes");
      return false;
    }
    *root = doc;
    return true;
  } catch (const YAML::Exception& e) {
    diags.error(markLoc(e.mark), "YAML syntax error: " + e.msg);
    return false;
  }
}

} // namespace proxy::config
