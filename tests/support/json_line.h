// Parses one flat JSON object per line (the proxy's JSON access log): string,
// number, bool and null values; nested objects/arrays are rejected. Enough to
// assert on log fields without a JSON library.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace swytest {

struct JsonValue {
  enum class Kind { kString, kNumber, kBool, kNull };
  Kind kind = Kind::kNull;
  std::string text;  // decoded string, or the number's literal text
  double number = 0; // kNumber (and kBool as 0/1)
};

class JsonLine {
public:
  // Returns nullopt if `line` is not a single flat JSON object.
  static std::optional<JsonLine> parse(std::string_view line);

  bool has(const std::string& key) const { return fields_.count(key) > 0; }
  bool isString(const std::string& key) const;
  bool isNumber(const std::string& key) const;
  // "" / 0 when absent or of another kind.
  std::string str(const std::string& key) const;
  double num(const std::string& key) const;
  const std::map<std::string, JsonValue>& fields() const { return fields_; }

private:
  std::map<std::string, JsonValue> fields_;
};

} // namespace swytest
