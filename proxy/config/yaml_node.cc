#include "proxy/config/yaml_node.h"

#include <strings.h>

#include <algorithm>
#include <unordered_set>
#include <utility>

#include "proxy/config/load.h"
#include "proxy/config/values.h"

namespace proxy::config {

std::string childPath(const std::string& parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  return parent + "." + std::string(key);
}

std::string itemPath(const std::string& parent, size_t index) {
  return parent + "[" + std::to_string(index) + "]";
}

Loc locOf(const YAML::Node& node, std::string path, const Loc& fallback) {
  Loc loc;
  loc.path = std::move(path);
  YAML::Mark mark = node.Mark();
  if (mark.is_null() || mark.line < 0 || mark.column < 0) {
    loc.line = fallback.line;
    loc.column = fallback.column;
  } else {
    loc.line = mark.line + 1;
    loc.column = mark.column + 1;
  }
  return loc;
}

std::string kindName(const YAML::Node& node) {
  switch (node.Type()) {
  case YAML::NodeType::Map: return "a mapping";
  case YAML::NodeType::Sequence: return "a list";
  case YAML::NodeType::Scalar: {
    const std::string& text = node.Scalar();
    if (text.size() > 40) return "'" + text.substr(0, 37) + "...'";
    return "'" + text + "'";
  }
  case YAML::NodeType::Null: return "nothing (null)";
  case YAML::NodeType::Undefined: break;
  }
  return "nothing";
}

MapView::MapView(const YAML::Node& node, const Loc& loc, std::vector<std::string_view> allowed,
                 Diagnostics& diags)
    : loc_(loc) {
  if (!node.IsMap()) {
    diags.error(loc, "expected a mapping (key: value), got " + kindName(node));
    return;
  }
  is_map_ = true;
  std::unordered_set<std::string> seen;
  for (auto it = node.begin(); it != node.end(); ++it) {
    Loc key_loc = locOf(it->first, loc.path, loc);
    if (!it->first.IsScalar()) {
      diags.error(key_loc, "keys must be plain strings, got " + kindName(it->first));
      continue;
    }
    std::string key = it->first.Scalar();
    key_loc.path = childPath(loc.path, key);
    if (!seen.insert(key).second) {
      diags.error(key_loc, "duplicate key '" + key + "'");
      continue;
    }
    if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      diags.error(key_loc, "unknown key '" + key + "'" + suggestion(key, allowed) +
                               "; allowed keys: " + joinNames(allowed));
      continue;
    }
    Entry entry;
    entry.key = key;
    entry.value = it->second;
    entry.key_loc = key_loc;
    entry.value_loc = it->second.IsNull() ? key_loc : locOf(it->second, key_loc.path, key_loc);
    entries_.push_back(std::move(entry));
  }
}

const Entry* MapView::find(std::string_view key) const {
  for (const Entry& entry : entries_) {
    if (entry.key == key) return &entry;
  }
  return nullptr;
}

const Entry* MapView::require(std::string_view key, Diagnostics& diags) const {
  const Entry* entry = find(key);
  if (entry == nullptr && is_map_) {
    diags.error(loc_, "missing required key '" + std::string(key) + "'");
  }
  return entry;
}

std::vector<std::pair<YAML::Node, Loc>> listItems(const Entry& entry, Diagnostics& diags) {
  std::vector<std::pair<YAML::Node, Loc>> items;
  if (entry.value.IsNull()) return items;
  if (!entry.value.IsSequence()) {
    diags.error(entry.value_loc, "expected a list ('- ...' items), got " + kindName(entry.value));
    return items;
  }
  size_t index = 0;
  for (const YAML::Node& item : entry.value) {
    items.emplace_back(item, locOf(item, itemPath(entry.key_loc.path, index), entry.value_loc));
    ++index;
  }
  return items;
}

void readString(const Entry* entry, Value<std::string>* out, Diagnostics& diags) {
  readScalar<std::string>(
      entry, "a string",
      [](const std::string& text, std::string* value) {
        *value = text;
        return std::string();
      },
      out, diags);
}

void readSize(const Entry* entry, Value<uint64_t>* out, Diagnostics& diags) {
  readScalar<uint64_t>(
      entry, "a non-negative integer",
      [](const std::string& text, uint64_t* value) {
        if (parseSize(text, value)) return std::string();
        return "expected a non-negative integer (optionally with k or m for KiB/MiB), got '" +
               text + "'";
      },
      out, diags);
}

void readDuration(const Entry* entry, Value<uint64_t>* out, Diagnostics& diags) {
  readScalar<uint64_t>(
      entry, "a duration such as 2s",
      [](const std::string& text, uint64_t* value) {
        std::string error = durationError(text);
        if (error.empty()) parseDuration(text, value);
        return error;
      },
      out, diags);
}

void readBool(const Entry* entry, Value<bool>* out, Diagnostics& diags) {
  readScalar<bool>(
      entry, "true or false",
      [](const std::string& text, bool* value) {
        for (const char* word : {"true", "yes", "on"}) {
          if (strcasecmp(text.c_str(), word) == 0) {
            *value = true;
            return std::string();
          }
        }
        for (const char* word : {"false", "no", "off"}) {
          if (strcasecmp(text.c_str(), word) == 0) {
            *value = false;
            return std::string();
          }
        }
        return "expected true or false, got '" + text + "'";
      },
      out, diags);
}

std::vector<Entry> scalarItems(const Entry& entry, Diagnostics& diags) {
  std::vector<Entry> out;
  if (entry.value.IsScalar()) {
    out.push_back(entry);
    return out;
  }
  for (const auto& [node, loc] : listItems(entry, diags)) {
    Entry item;
    item.key = entry.key;
    item.value = node;
    item.key_loc = loc;
    item.value_loc = loc;
    out.push_back(std::move(item));
  }
  return out;
}

} // namespace proxy::config
