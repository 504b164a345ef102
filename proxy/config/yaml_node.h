// Generic, schema-free helpers over yaml-cpp nodes for the config reader:
// positions, shape checks, mappings with unknown/duplicate key detection and
// scalar conversion into Value<T>. Every problem goes to Diagnostics; nothing
// here throws on a malformed document.
#pragma once

#include <yaml-cpp/yaml.h>

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/config/diagnostics.h"
#include "proxy/config/spec.h"

namespace proxy::config {

// "a.b" / "a[3]"
std::string childPath(const std::string& parent, std::string_view key);
std::string itemPath(const std::string& parent, size_t index);

// Position of `node` (1-based) with `path`; `fallback` when yaml-cpp has none.
Loc locOf(const YAML::Node& node, std::string path, const Loc& fallback);

// For "got ..." in messages: "a mapping", "a list", "'text'", "nothing (null)".
std::string kindName(const YAML::Node& node);

// One key of a mapping, with the positions of the key and of its value. For a
// null value (`key:` with nothing after it) value_loc is the key's position.
struct Entry {
  std::string key;
  YAML::Node value;
  Loc key_loc;
  Loc value_loc;
};

// A mapping's entries in document order. Reports: not a mapping, non-scalar
// keys, duplicate keys, and keys outside `allowed` (unless allowed is empty,
// which means any key) with the allowed list and a "did you mean" hint.
class MapView {
public:
  MapView(const YAML::Node& node, const Loc& loc, std::vector<std::string_view> allowed,
          Diagnostics& diags);

  bool isMap() const { return is_map_; }
  const std::vector<Entry>& entries() const { return entries_; }
  const Entry* find(std::string_view key) const;
  // Reports "missing required key" at the mapping when `key` is absent.
  const Entry* require(std::string_view key, Diagnostics& diags) const;

private:
  bool is_map_ = false;
  Loc loc_;
  std::vector<Entry> entries_;
};

// Items of a list with their locations; null counts as an empty list. Reports
// any other shape.
std::vector<std::pair<YAML::Node, Loc>> listItems(const Entry& entry, Diagnostics& diags);

// Converts scalar text to T; returns "" or what is wrong.
template <typename T> using Converter = std::function<std::string(const std::string& text, T* out)>;

// Reads a scalar into `out` (sets out->loc and, on success, out->set).
// `expected` names the wanted type in the wrong-shape message ("a string").
template <typename T>
void readScalar(const Entry* entry, std::string_view expected, const Converter<T>& convert,
                Value<T>* out, Diagnostics& diags) {
  if (entry == nullptr) return;
  out->loc = entry->value_loc;
  if (!entry->value.IsScalar()) {
    diags.error(entry->value_loc,
                "expected " + std::string(expected) + ", got " + kindName(entry->value));
    return;
  }
  std::string error = convert(entry->value.Scalar(), &out->value);
  if (!error.empty()) {
    diags.error(entry->value_loc, error);
    return;
  }
  out->set = true;
}

void readString(const Entry* entry, Value<std::string>* out, Diagnostics& diags);
void readSize(const Entry* entry, Value<uint64_t>* out, Diagnostics& diags);
void readDuration(const Entry* entry, Value<uint64_t>* out, Diagnostics& diags);
// true/false (also yes/no, on/off), case-insensitive.
void readBool(const Entry* entry, Value<bool>* out, Diagnostics& diags);

// A key whose value is one scalar or a list of scalars (`methods: GET` reads
// as a list of one): the entries of the items, positioned and with key paths.
std::vector<Entry> scalarItems(const Entry& entry, Diagnostics& diags);

} // namespace proxy::config
