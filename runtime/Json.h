//===- Json.h - A small strict JSON value, parser and writer ----*- C++ -*-===//
//
// Enough JSON for config.json and safetensors headers. The parser is strict
// (RFC 8259: no comments, trailing commas, NaN or leading zeros), rejects
// duplicate keys and nesting deeper than kMaxJsonDepth, and reports errors as
// "<source>: line L, column C: ...". It never crashes on any input: it is
// fuzzed through the safetensors and config parsers.
//
//===----------------------------------------------------------------------===//

#ifndef COLM_RUNTIME_JSON_H
#define COLM_RUNTIME_JSON_H

#include "runtime/Status.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace colm {

constexpr int kMaxJsonDepth = 64;

class JsonValue {
public:
  enum class Kind { Null, Bool, Number, String, Array, Object };

  JsonValue() = default;
  static JsonValue null() { return JsonValue(); }
  static JsonValue boolean(bool b);
  /// An integer number (written without a fraction).
  static JsonValue integer(int64_t i);
  /// A number that is not necessarily an integer (written with a fraction or
  /// exponent so that it reads back as a non-integer).
  static JsonValue number(double d);
  static JsonValue string(std::string s);
  static JsonValue array();
  static JsonValue object();

  Kind kind() const { return k; }
  bool isNull() const { return k == Kind::Null; }
  bool isBool() const { return k == Kind::Bool; }
  bool isNumber() const { return k == Kind::Number; }
  /// True for numbers written without fraction or exponent that fit int64.
  bool isInteger() const { return k == Kind::Number && integral; }
  bool isString() const { return k == Kind::String; }
  bool isArray() const { return k == Kind::Array; }
  bool isObject() const { return k == Kind::Object; }

  bool asBool() const { return b; }
  double asDouble() const { return integral ? static_cast<double>(i) : d; }
  int64_t asInt() const { return i; }
  const std::string &asString() const { return str; }

  /// Array elements, or object values in key order.
  const std::vector<JsonValue> &elements() const { return items; }
  size_t size() const { return items.size(); }
  const JsonValue &operator[](size_t idx) const { return items[idx]; }
  /// Object keys, parallel to elements().
  const std::vector<std::string> &keys() const { return objKeys; }

  /// Object lookup; null when absent or when this is not an object.
  const JsonValue *find(std::string_view key) const;
  /// Object: replaces the value of `key` or appends it, keeping key order.
  void set(std::string key, JsonValue value);
  /// Array: appends.
  void push(JsonValue value);

  /// Where the value started in the parsed text (1-based; 0 when built).
  int line = 0;
  int column = 0;

  /// "null", "boolean", "number", "string", "array" or "object".
  static const char *kindName(Kind kind);
  /// "an array", "an object", "a string", "a number", "a boolean", "null".
  static const char *kindWithArticle(Kind kind);

private:
  Kind k = Kind::Null;
  bool b = false;
  bool integral = false;
  int64_t i = 0;
  double d = 0;
  std::string str;
  std::vector<JsonValue> items;
  std::vector<std::string> objKeys;
};

/// Parses one JSON document; `source` names it in error messages.
Result<JsonValue> parseJson(std::string_view text, std::string_view source);

/// Writes `value`; indent > 0 pretty-prints (arrays of scalars stay on one
/// line), indent <= 0 writes compactly with no whitespace.
std::string writeJson(const JsonValue &value, int indent = 2);

} // namespace colm

#endif // COLM_RUNTIME_JSON_H
