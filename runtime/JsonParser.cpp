//===- JsonParser.cpp - Strict JSON parser --------------------------------===//
//
// Recursive descent with an explicit depth limit, so no input can exhaust the
// stack; every error carries the line and column where parsing stopped.
//
//===----------------------------------------------------------------------===//

#include "runtime/Json.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <unordered_set>

namespace colm {

namespace {

class Parser {
public:
  Parser(std::string_view text, std::string_view source)
      : text(text), source(source) {}

  Result<JsonValue> parseDocument() {
    skipWhitespace();
    JsonValue v;
    if (!parseValue(v, 0))
      return failure;
    skipWhitespace();
    if (pos != text.size())
      return error("unexpected text after the JSON value");
    return v;
  }

private:
  std::string_view text;
  std::string_view source;
  size_t pos = 0;
  int line = 1;
  size_t lineStart = 0;
  Status failure;

  int column() const { return static_cast<int>(pos - lineStart) + 1; }

  Status error(const std::string &what) {
    failure =
        Status::error(std::string(source) + ": line " + std::to_string(line) +
                      ", column " + std::to_string(column()) + ": " + what);
    return failure;
  }

  bool fail(const std::string &what) {
    (void)error(what);
    return false;
  }

  bool atEnd() const { return pos >= text.size(); }
  char peek() const { return atEnd() ? '\0' : text[pos]; }

  void skipWhitespace() {
    while (!atEnd()) {
      char c = text[pos];
      if (c == '\n') {
        ++pos;
        ++line;
        lineStart = pos;
      } else if (c == ' ' || c == '\t' || c == '\r') {
        ++pos;
      } else {
        break;
      }
    }
  }

  static std::string describe(char c) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f)
      return std::string("'") + c + "'";
    char buf[16];
    std::snprintf(buf, sizeof(buf), "byte 0x%02x", u);
    return buf;
  }

  bool parseValue(JsonValue &out, int depth) {
    if (atEnd())
      return fail("unexpected end of input, expected a value");
    out.line = line;
    out.column = column();
    char c = text[pos];
    switch (c) {
    case '{':
      return parseObject(out, depth + 1);
    case '[':
      return parseArray(out, depth + 1);
    case '"': {
      std::string s;
      if (!parseString(s))
        return false;
      int l = out.line, col = out.column;
      out = JsonValue::string(std::move(s));
      out.line = l;
      out.column = col;
      return true;
    }
    case 't':
      return parseLiteral("true", JsonValue::boolean(true), out);
    case 'f':
      return parseLiteral("false", JsonValue::boolean(false), out);
    case 'n':
      return parseLiteral("null", JsonValue::null(), out);
    default:
      if (c == '-' || (c >= '0' && c <= '9'))
        return parseNumber(out);
      return fail("unexpected " + describe(c) + ", expected a value");
    }
  }

  bool parseLiteral(std::string_view word, JsonValue value, JsonValue &out) {
    if (text.substr(pos, word.size()) != word)
      return fail("invalid literal, expected '" + std::string(word) + "'");
    pos += word.size();
    int l = out.line, col = out.column;
    out = std::move(value);
    out.line = l;
    out.column = col;
    return true;
  }

  bool parseNumber(JsonValue &out) {
    size_t start = pos;
    bool integral = true;
    if (peek() == '-')
      ++pos;
    if (peek() == '0') {
      ++pos;
      if (peek() >= '0' && peek() <= '9')
        return fail("leading zeros are not allowed in numbers");
    } else if (peek() >= '1' && peek() <= '9') {
      while (peek() >= '0' && peek() <= '9')
        ++pos;
    } else {
      return fail("invalid number, expected a digit");
    }
    if (peek() == '.') {
      integral = false;
      ++pos;
      if (!(peek() >= '0' && peek() <= '9'))
        return fail("invalid number, expected a digit after '.'");
      while (peek() >= '0' && peek() <= '9')
        ++pos;
    }
    if (peek() == 'e' || peek() == 'E') {
      integral = false;
      ++pos;
      if (peek() == '+' || peek() == '-')
        ++pos;
      if (!(peek() >= '0' && peek() <= '9'))
        return fail("invalid number, expected a digit in the exponent");
      while (peek() >= '0' && peek() <= '9')
        ++pos;
    }
    const char *first = text.data() + start;
    const char *last = text.data() + pos;
    int l = out.line, col = out.column;
    if (integral) {
      int64_t i = 0;
      auto [ptr, ec] = std::from_chars(first, last, i);
      if (ec == std::errc() && ptr == last) {
        out = JsonValue::integer(i);
        out.line = l;
        out.column = col;
        return true;
      }
      // Too large for int64: keep it as a (non-integer) double.
    }
    double d = 0;
    auto [ptr, ec] = std::from_chars(first, last, d);
    if (ec != std::errc() || ptr != last || !std::isfinite(d)) {
      pos = start;
      return fail("number '" + std::string(first, last) + "' is out of range");
    }
    out = JsonValue::number(d);
    out.line = l;
    out.column = col;
    return true;
  }

  bool parseHex4(uint32_t &value) {
    if (text.size() - pos < 4)
      return fail("unexpected end of input in a \\u escape");
    value = 0;
    for (int n = 0; n < 4; ++n) {
      char c = text[pos];
      uint32_t digit;
      if (c >= '0' && c <= '9')
        digit = c - '0';
      else if (c >= 'a' && c <= 'f')
        digit = c - 'a' + 10;
      else if (c >= 'A' && c <= 'F')
        digit = c - 'A' + 10;
      else
        return fail("invalid hex digit " + describe(c) + " in a \\u escape");
      value = value * 16 + digit;
      ++pos;
    }
    return true;
  }

  static void appendUtf8(std::string &s, uint32_t cp) {
    if (cp < 0x80) {
      s += static_cast<char>(cp);
    } else if (cp < 0x800) {
      s += static_cast<char>(0xC0 | (cp >> 6));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      s += static_cast<char>(0xE0 | (cp >> 12));
      s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      s += static_cast<char>(0xF0 | (cp >> 18));
      s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  /// Length of the valid UTF-8 sequence at pos, or 0 if it is invalid.
  size_t utf8Length() const {
    auto byte = [&](size_t off) -> unsigned {
      return pos + off < text.size()
                 ? static_cast<unsigned char>(text[pos + off])
                 : 0u;
    };
    auto cont = [&](size_t off) { return (byte(off) & 0xC0) == 0x80; };
    unsigned b0 = byte(0);
    if (b0 >= 0xC2 && b0 <= 0xDF)
      return cont(1) ? 2 : 0;
    if (b0 >= 0xE0 && b0 <= 0xEF) {
      unsigned b1 = byte(1);
      if (!cont(1) || !cont(2))
        return 0;
      if (b0 == 0xE0 && b1 < 0xA0)
        return 0; // overlong
      if (b0 == 0xED && b1 >= 0xA0)
        return 0; // surrogate
      return 3;
    }
    if (b0 >= 0xF0 && b0 <= 0xF4) {
      unsigned b1 = byte(1);
      if (!cont(1) || !cont(2) || !cont(3))
        return 0;
      if (b0 == 0xF0 && b1 < 0x90)
        return 0; // overlong
      if (b0 == 0xF4 && b1 >= 0x90)
        return 0; // past U+10FFFF
      return 4;
    }
    return 0;
  }

  bool parseString(std::string &out) {
    ++pos; // opening quote
    while (true) {
      if (atEnd())
        return fail("unterminated string");
      unsigned char c = static_cast<unsigned char>(text[pos]);
      if (c == '"') {
        ++pos;
        return true;
      }
      if (c < 0x20)
        return fail("control character " + describe(static_cast<char>(c)) +
                    " in a string must be escaped");
      if (c >= 0x80) {
        size_t n = utf8Length();
        if (n == 0)
          return fail("invalid UTF-8 in a string");
        out.append(text.substr(pos, n));
        pos += n;
        continue;
      }
      if (c != '\\') {
        out += static_cast<char>(c);
        ++pos;
        continue;
      }
      ++pos;
      if (atEnd())
        return fail("unterminated string");
      char e = text[pos++];
      switch (e) {
      case '"':
        out += '"';
        break;
      case '\\':
        out += '\\';
        break;
      case '/':
        out += '/';
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'u': {
        uint32_t cp;
        if (!parseHex4(cp))
          return false;
        if (cp >= 0xDC00 && cp <= 0xDFFF)
          return fail("unpaired low surrogate in a \\u escape");
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          if (text.substr(pos, 2) != "\\u")
            return fail("unpaired high surrogate in a \\u escape");
          pos += 2;
          uint32_t low;
          if (!parseHex4(low))
            return false;
          if (low < 0xDC00 || low > 0xDFFF)
            return fail("invalid low surrogate in a \\u escape");
          cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
        }
        appendUtf8(out, cp);
        break;
      }
      default:
        --pos;
        return fail("invalid escape '\\" + std::string(1, e) + "'");
      }
    }
  }

  bool checkDepth(int depth) {
    if (depth > kMaxJsonDepth)
      return fail("nesting deeper than " + std::to_string(kMaxJsonDepth) +
                  " levels");
    return true;
  }

  bool parseArray(JsonValue &out, int depth) {
    if (!checkDepth(depth))
      return false;
    int l = out.line, col = out.column;
    out = JsonValue::array();
    out.line = l;
    out.column = col;
    ++pos; // '['
    skipWhitespace();
    if (peek() == ']') {
      ++pos;
      return true;
    }
    while (true) {
      JsonValue element;
      if (!parseValue(element, depth))
        return false;
      out.push(std::move(element));
      skipWhitespace();
      if (atEnd())
        return fail("unexpected end of input in an array, expected ',' or ']'");
      char c = text[pos];
      if (c == ']') {
        ++pos;
        return true;
      }
      if (c != ',')
        return fail("unexpected " + describe(c) +
                    " in an array, expected ',' "
                    "or ']'");
      ++pos;
      skipWhitespace();
    }
  }

  bool parseObject(JsonValue &out, int depth) {
    if (!checkDepth(depth))
      return false;
    int l = out.line, col = out.column;
    out = JsonValue::object();
    out.line = l;
    out.column = col;
    ++pos; // '{'
    // A set, not out.find(), so that huge objects stay linear.
    std::unordered_set<std::string> seen;
    skipWhitespace();
    if (peek() == '}') {
      ++pos;
      return true;
    }
    while (true) {
      if (atEnd())
        return fail("unexpected end of input in an object, expected a key");
      if (text[pos] != '"')
        return fail("unexpected " + describe(text[pos]) +
                    " in an object, expected a string key");
      size_t keyPos = pos;
      int keyLine = line;
      size_t keyLineStart = lineStart;
      std::string key;
      if (!parseString(key))
        return false;
      if (!seen.insert(key).second) {
        pos = keyPos;
        line = keyLine;
        lineStart = keyLineStart;
        return fail("duplicate key \"" + key + "\"");
      }
      skipWhitespace();
      if (peek() != ':')
        return fail(atEnd() ? std::string("unexpected end of input, expected "
                                          "':'")
                            : "unexpected " + describe(peek()) +
                                  " after an object key, expected ':'");
      ++pos;
      skipWhitespace();
      JsonValue value;
      if (!parseValue(value, depth))
        return false;
      out.set(std::move(key), std::move(value));
      skipWhitespace();
      if (atEnd())
        return fail(
            "unexpected end of input in an object, expected ',' or '}'");
      char c = text[pos];
      if (c == '}') {
        ++pos;
        return true;
      }
      if (c != ',')
        return fail("unexpected " + describe(c) +
                    " in an object, expected ',' or '}'");
      ++pos;
      skipWhitespace();
    }
  }
};

} // namespace

Result<JsonValue> parseJson(std::string_view text, std::string_view source) {
  return Parser(text, source).parseDocument();
}

} // namespace colm
