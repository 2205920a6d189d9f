//===- JsonTest.cpp - Tests for runtime/Json.h ----------------------------===//

#include "runtime/Json.h"

#include "TestUtil.h"

using namespace colm;

static JsonValue parseOk(std::string_view text) {
  Result<JsonValue> r = parseJson(text, "t.json");
  EXPECT_TRUE(r.isOk()) << r.status().message();
  return r ? r.take() : JsonValue();
}

TEST(JsonTest, ParsesScalars) {
  EXPECT_TRUE(parseOk("null").isNull());
  EXPECT_TRUE(parseOk(" true ").asBool());
  EXPECT_FALSE(parseOk("false").asBool());
  JsonValue i = parseOk("-42");
  EXPECT_TRUE(i.isInteger());
  EXPECT_EQ(i.asInt(), -42);
  JsonValue d = parseOk("1.5e-5");
  EXPECT_TRUE(d.isNumber());
  EXPECT_FALSE(d.isInteger());
  EXPECT_DOUBLE_EQ(d.asDouble(), 1.5e-5);
  EXPECT_FALSE(parseOk("10000.0").isInteger());
  EXPECT_FALSE(parseOk("1e3").isInteger());
  // Past int64: still a number, no longer an integer.
  JsonValue big = parseOk("123456789012345678901234567890");
  EXPECT_TRUE(big.isNumber());
  EXPECT_FALSE(big.isInteger());
  EXPECT_EQ(parseOk("9223372036854775807").asInt(), INT64_MAX);
}

TEST(JsonTest, ParsesStringsAndEscapes) {
  EXPECT_EQ(parseOk(R"("a\"b\\c\/\n\t")").asString(), "a\"b\\c/\n\t");
  EXPECT_EQ(parseOk(R"("\u00e9")").asString(), "\xc3\xa9");
  EXPECT_EQ(parseOk(R"("\ud83d\ude00")").asString(), "\xf0\x9f\x98\x80");
  EXPECT_EQ(parseOk("\"\xe2\x82\xac\"").asString(), "\xe2\x82\xac");
}

TEST(JsonTest, ObjectsKeepKeyOrder) {
  JsonValue v = parseOk(R"({"z": 1, "a": [1, 2, {"k": null}], "m": {}})");
  ASSERT_TRUE(v.isObject());
  ASSERT_EQ(v.keys().size(), 3u);
  EXPECT_EQ(v.keys()[0], "z");
  EXPECT_EQ(v.keys()[1], "a");
  EXPECT_EQ(v.keys()[2], "m");
  ASSERT_NE(v.find("a"), nullptr);
  EXPECT_EQ(v.find("a")->size(), 3u);
  EXPECT_EQ(v.find("missing"), nullptr);
}

TEST(JsonTest, ErrorsReportLineAndColumn) {
  EXPECT_ERROR(parseJson("{\n  \"a\": 1,\n  \"b\": tru\n}", "cfg.json"),
               "cfg.json", "line 3, column 8");
  EXPECT_ERROR(parseJson("{\"a\": 1,\n \"a\": 2}", "x"), "duplicate key \"a\"",
               "line 2, column 2");
}

TEST(JsonTest, RejectsNonStrictInput) {
  const char *bad[] = {
      "",
      "{",
      "[1,]",
      "{\"a\":1,}",
      "01",
      "1.",
      ".5",
      "-",
      "1e",
      "NaN",
      "Infinity",
      "'a'",
      "\"\t\"",
      "\"\\x\"",
      "\"\\ud800\"",
      "\"\\udc00\"",
      "[1] 2",
      "// c\n1",
      "{a:1}",
      "1e999",
      "\"\xff\"",
      "\"\xc0\x80\"",
      "\"\xed\xa0\x80\"",
      "tru",
      "nul",
      "[1 2]",
      "{\"a\" 1}",
      "\"abc",
  };
  for (const char *text : bad)
    EXPECT_FALSE(parseJson(text, "t").isOk()) << "accepted: " << text;
}

TEST(JsonTest, DepthLimit) {
  std::string ok(kMaxJsonDepth, '[');
  ok += std::string(kMaxJsonDepth, ']');
  EXPECT_TRUE(parseJson(ok, "t").isOk());
  std::string deep(kMaxJsonDepth + 1, '[');
  deep += std::string(kMaxJsonDepth + 1, ']');
  EXPECT_ERROR(parseJson(deep, "t"), "nesting deeper");
  // Far deeper input must fail cleanly, not overflow the stack.
  std::string huge(1 << 20, '[');
  EXPECT_ERROR(parseJson(huge, "t"), "nesting deeper");
}

TEST(JsonTest, WriterRoundTrips) {
  std::string text = R"({"name": "a\"b\n", "n": 3, "x": 1e-05, "y": 10000.0,
    "list": [1, 2, 3], "nested": [{"k": true}, null], "e": {}, "ea": []})";
  JsonValue v = parseOk(text);
  std::string pretty = writeJson(v);
  JsonValue back = parseOk(pretty);
  EXPECT_EQ(writeJson(back), pretty);
  EXPECT_EQ(writeJson(back, 0), writeJson(v, 0));
  EXPECT_FALSE(back.find("y")->isInteger());
  EXPECT_TRUE(back.find("n")->isInteger());
  EXPECT_EQ(back.find("x")->asDouble(), 1e-05);
  // Scalars-only arrays stay on one line; 2-space indentation.
  EXPECT_NE(pretty.find("\"list\": [1, 2, 3]"), std::string::npos) << pretty;
  EXPECT_NE(pretty.find("\n  \"n\": 3,\n"), std::string::npos) << pretty;
}

TEST(JsonTest, WriterEscapesControlCharacters) {
  JsonValue s = JsonValue::string(std::string("a\x01z", 3));
  EXPECT_EQ(writeJson(s, 0), "\"a\\u0001z\"");
  EXPECT_EQ(parseOk(writeJson(s, 0)).asString(), s.asString());
}

TEST(JsonTest, WriterKeepsUtf8AndReplacesStrayBytes) {
  // "é" (two bytes) stays; a lone 0xff and a cut-off 3-byte lead become
  // U+FFFD, so the output is always valid JSON text.
  JsonValue s = JsonValue::string(std::string("\xc3\xa9 \xff \xe2\x82", 7));
  EXPECT_EQ(writeJson(s, 0), "\"\xc3\xa9 \\ufffd \\ufffd\\ufffd\"");
  EXPECT_TRUE(parseJson(writeJson(s, 0), "test").isOk());
  // Overlong forms and surrogates are not UTF-8 either.
  EXPECT_EQ(writeJson(JsonValue::string("\xc0\xb0"), 0), "\"\\ufffd\\ufffd\"");
  EXPECT_EQ(writeJson(JsonValue::string("\xed\xa0\x80"), 0),
            "\"\\ufffd\\ufffd\\ufffd\"");
}
