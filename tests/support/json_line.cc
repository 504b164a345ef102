#include "tests/support/json_line.h"

#include <cstdlib>

namespace swytest {

namespace {

class Reader {
public:
  explicit Reader(std::string_view s) : s_(s) {}

  void skipWs() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t'))
      ++pos_;
  }
  bool eat(char c) {
    skipWs();
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool atEnd() {
    skipWs();
    return pos_ == s_.size();
  }
  bool peek(char c) {
    skipWs();
    return pos_ < s_.size() && s_[pos_] == c;
  }

  bool string(std::string* out) {
    if (!eat('"')) return false;
    while (pos_ < s_.size()) {
      char c = s_[pos_++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return false;
      if (c != '\\') {
        out->push_back(c);
        continue;
      }
      if (pos_ >= s_.size()) return false;
      char e = s_[pos_++];
      switch (e) {
      case '"':
      case '\\':
      case '/': out->push_back(e); break;
      case 'b': out->push_back('\b'); break;
      case 'f': out->push_back('\f'); break;
      case 'n': out->push_back('\n'); break;
      case 'r': out->push_back('\r'); break;
      case 't': out->push_back('\t'); break;
      case 'u': {
        if (pos_ + 4 > s_.size()) return false;
        unsigned long cp = std::strtoul(std::string(s_.substr(pos_, 4)).c_str(), nullptr, 16);
        pos_ += 4;
        // Only what a log escapes in practice: control bytes and Latin-1.
        if (cp < 0x80) {
          out->push_back(static_cast<char>(cp));
        } else {
          out->push_back(static_cast<char>(0xc0 | (cp >> 6)));
          out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
        }
        break;
      }
      default: return false;
      }
    }
    return false;
  }

  bool value(JsonValue* v) {
    skipWs();
    if (peek('"')) {
      v->kind = JsonValue::Kind::kString;
      return string(&v->text);
    }
    for (std::string_view word : {"true", "false", "null"}) {
      if (s_.substr(pos_, word.size()) == word) {
        pos_ += word.size();
        v->kind = word == "null" ? JsonValue::Kind::kNull : JsonValue::Kind::kBool;
        v->number = word == "true" ? 1 : 0;
        v->text = std::string(word);
        return true;
      }
    }
    size_t start = pos_;
    while (pos_ < s_.size() &&
           std::string_view("+-0123456789.eE").find(s_[pos_]) != std::string_view::npos) {
      ++pos_;
    }
    if (start == pos_) return false;
    v->kind = JsonValue::Kind::kNumber;
    v->text = std::string(s_.substr(start, pos_ - start));
    char* end = nullptr;
    v->number = std::strtod(v->text.c_str(), &end);
    return end && *end == '\0';
  }

private:
  std::string_view s_;
  size_t pos_ = 0;
};

} // namespace

std::optional<JsonLine> JsonLine::parse(std::string_view line) {
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n'))
    line.remove_suffix(1);
  Reader r(line);
  JsonLine out;
  if (!r.eat('{')) return std::nullopt;
  if (r.eat('}')) return r.atEnd() ? std::optional<JsonLine>(out) : std::nullopt;
  for (;;) {
    std::string key;
    JsonValue v;
    if (!r.string(&key) || !r.eat(':') || !r.value(&v)) return std::nullopt;
    out.fields_[key] = std::move(v);
    if (r.eat(',')) continue;
    if (r.eat('}')) break;
    return std::nullopt;
  }
  if (!r.atEnd()) return std::nullopt;
  return out;
}

bool JsonLine::isString(const std::string& key) const {
  auto it = fields_.find(key);
  return it != fields_.end() && it->second.kind == JsonValue::Kind::kString;
}

bool JsonLine::isNumber(const std::string& key) const {
  auto it = fields_.find(key);
  return it != fields_.end() && it->second.kind == JsonValue::Kind::kNumber;
}

std::string JsonLine::str(const std::string& key) const {
  return isString(key) ? fields_.at(key).text : std::string();
}

double JsonLine::num(const std::string& key) const {
  return isNumber(key) ? fields_.at(key).number : 0;
}

} // namespace swytest
