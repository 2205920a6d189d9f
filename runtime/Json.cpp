//===- Json.cpp - JSON values and the writer ------------------------------===//

#include "runtime/Json.h"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace colm {

JsonValue JsonValue::boolean(bool b) {
  JsonValue v;
  v.k = Kind::Bool;
  v.b = b;
  return v;
}

JsonValue JsonValue::integer(int64_t i) {
  JsonValue v;
  v.k = Kind::Number;
  v.integral = true;
  v.i = i;
  v.d = static_cast<double>(i);
  return v;
}

JsonValue JsonValue::number(double d) {
  JsonValue v;
  v.k = Kind::Number;
  v.d = d;
  return v;
}

JsonValue JsonValue::string(std::string s) {
  JsonValue v;
  v.k = Kind::String;
  v.str = std::move(s);
  return v;
}

JsonValue JsonValue::array() {
  JsonValue v;
  v.k = Kind::Array;
  return v;
}

JsonValue JsonValue::object() {
  JsonValue v;
  v.k = Kind::Object;
  return v;
}

const JsonValue *JsonValue::find(std::string_view key) const {
  if (k != Kind::Object)
    return nullptr;
  for (size_t idx = 0; idx < objKeys.size(); ++idx)
    if (objKeys[idx] == key)
      return &items[idx];
  return nullptr;
}

void JsonValue::set(std::string key, JsonValue value) {
  assert(k == Kind::Object && "set() on a non-object");
  for (size_t idx = 0; idx < objKeys.size(); ++idx) {
    if (objKeys[idx] == key) {
      items[idx] = std::move(value);
      return;
    }
  }
  objKeys.push_back(std::move(key));
  items.push_back(std::move(value));
}

void JsonValue::push(JsonValue value) {
  assert(k == Kind::Array && "push() on a non-array");
  items.push_back(std::move(value));
}

const char *JsonValue::kindName(Kind kind) {
  switch (kind) {
  case Kind::Null:
    return "null";
  case Kind::Bool:
    return "boolean";
  case Kind::Number:
    return "number";
  case Kind::String:
    return "string";
  case Kind::Array:
    return "array";
  case Kind::Object:
    return "object";
  }
  return "?";
}

const char *JsonValue::kindWithArticle(Kind kind) {
  switch (kind) {
  case Kind::Null:
    return "null";
  case Kind::Bool:
    return "a boolean";
  case Kind::Number:
    return "a number";
  case Kind::String:
    return "a string";
  case Kind::Array:
    return "an array";
  case Kind::Object:
    return "an object";
  }
  return "?";
}

//===----------------------------------------------------------------------===//
// Writer
//===----------------------------------------------------------------------===//

/// Length of the valid UTF-8 sequence at s[i], or 0 if it is not one
/// (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF).
static size_t utf8Length(const std::string &s, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = byte(i);
  if (c < 0x80)
    return 1;
  size_t n;
  unsigned char lo = 0x80, hi = 0xBF; // allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0)
      lo = 0xA0;
    if (c == 0xED)
      hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0)
      lo = 0x90;
    if (c == 0xF4)
      hi = 0x8F;
  } else {
    return 0;
  }
  if (i + n > s.size() || byte(i + 1) < lo || byte(i + 1) > hi)
    return 0;
  for (size_t k = 2; k < n; ++k)
    if ((byte(i + k) >> 6) != 0x2)
      return 0;
  return n;
}

static void writeString(std::string &out, const std::string &s) {
  out += '"';
  for (size_t i = 0; i < s.size(); ++i) {
    char ch = s[i];
    unsigned char c = static_cast<unsigned char>(ch);
    if (c >= 0x80) {
      // JSON text is UTF-8: copy valid sequences, replace stray bytes.
      size_t n = utf8Length(s, i);
      if (n == 0) {
        out += "\\ufffd";
      } else {
        out.append(s, i, n);
        i += n - 1;
      }
      continue;
    }
    switch (c) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\r':
      out += "\\r";
      break;
    case '\t':
      out += "\\t";
      break;
    case '\b':
      out += "\\b";
      break;
    case '\f':
      out += "\\f";
      break;
    default:
      if (c < 0x20) {
        char buf[8];
        std::snprintf(buf, sizeof(buf), "\\u%04x", c);
        out += buf;
      } else {
        out += ch;
      }
    }
  }
  out += '"';
}

static void writeNumber(std::string &out, const JsonValue &v) {
  char buf[64];
  if (v.isInteger()) {
    auto res = std::to_chars(buf, buf + sizeof(buf), v.asInt());
    out.append(buf, res.ptr);
    return;
  }
  double d = v.asDouble();
  if (!std::isfinite(d)) {
    out += "null"; // JSON has no NaN or infinity.
    return;
  }
  // Shortest text that reads back to the same double.
  auto res = std::to_chars(buf, buf + sizeof(buf), d);
  std::string_view text(buf, res.ptr - buf);
  out += text;
  // Keep non-integers recognisable as such when read back.
  if (text.find_first_of(".e") == std::string_view::npos)
    out += ".0";
}

static bool isScalar(const JsonValue &v) {
  return !v.isArray() && !v.isObject();
}

static void writeValue(std::string &out, const JsonValue &v, int indent,
                       int level) {
  auto newline = [&](int lvl) {
    if (indent <= 0)
      return;
    out += '\n';
    out.append(static_cast<size_t>(indent) * lvl, ' ');
  };
  switch (v.kind()) {
  case JsonValue::Kind::Null:
    out += "null";
    return;
  case JsonValue::Kind::Bool:
    out += v.asBool() ? "true" : "false";
    return;
  case JsonValue::Kind::Number:
    writeNumber(out, v);
    return;
  case JsonValue::Kind::String:
    writeString(out, v.asString());
    return;
  case JsonValue::Kind::Array: {
    bool inlineArray = true;
    for (const JsonValue &e : v.elements())
      inlineArray &= isScalar(e);
    out += '[';
    for (size_t idx = 0; idx < v.size(); ++idx) {
      if (idx)
        out += (inlineArray && indent > 0) ? ", " : ",";
      if (!inlineArray)
        newline(level + 1);
      writeValue(out, v[idx], indent, level + 1);
    }
    if (!inlineArray && v.size())
      newline(level);
    out += ']';
    return;
  }
  case JsonValue::Kind::Object:
    out += '{';
    for (size_t idx = 0; idx < v.size(); ++idx) {
      if (idx)
        out += ',';
      newline(level + 1);
      writeString(out, v.keys()[idx]);
      out += indent > 0 ? ": " : ":";
      writeValue(out, v[idx], indent, level + 1);
    }
    if (v.size())
      newline(level);
    out += '}';
    return;
  }
}

std::string writeJson(const JsonValue &value, int indent) {
  std::string out;
  writeValue(out, value, indent, 0);
  if (indent > 0)
    out += '\n';
  return out;
}

} // namespace colm
