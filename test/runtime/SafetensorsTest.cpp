//===- SafetensorsTest.cpp - Tests for runtime/Safetensors.h --------------===//

#include "runtime/Safetensors.h"

#include "runtime/File.h"

#include "TestUtil.h"

#include <cmath>

using namespace colm;
using colm::test::TempDir;

/// A file with the given header text and `dataBytes` zero bytes of data.
static std::string makeFile(const std::string &header, size_t dataBytes) {
  std::string out;
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i)
    out += static_cast<char>((n >> (8 * i)) & 0xFF);
  out += header;
  out.append(dataBytes, '\0');
  return out;
}

static TensorMap sampleTensors() {
  TensorMap m;
  Tensor a({2, 3});
  for (int i = 0; i < 6; ++i)
    a.data[i] = 0.1f * i - 0.25f;
  Tensor b({4});
  b.data = {1.0f, -1e-3f, 3.14159f, 65000.0f};
  Tensor s(std::vector<int64_t>{});
  s.data = {7.0f};
  m["b.weight"] = b;
  m["a.weight"] = a;
  m["scalar"] = s;
  m["empty"] = Tensor({0, 5});
  return m;
}

TEST(SafetensorsTest, RoundTripF32IsExact) {
  TempDir dir;
  TensorMap m = sampleTensors();
  ASSERT_OK(writeSafetensors(dir.path("m.safetensors"), m));
  Result<TensorMap> back = readSafetensors(dir.path("m.safetensors"));
  ASSERT_OK(back);
  ASSERT_EQ(back->size(), m.size());
  for (const auto &[name, t] : m) {
    ASSERT_TRUE(back->count(name)) << name;
    EXPECT_EQ(back->at(name).shape, t.shape) << name;
    EXPECT_EQ(back->at(name).data, t.data) << name;
    EXPECT_EQ(back->at(name).storedType, DType::F32);
  }
}

TEST(SafetensorsTest, RoundTripHalfTypesWithinRounding) {
  TensorMap m = sampleTensors();
  for (DType dtype : {DType::F16, DType::BF16}) {
    Result<std::string> bytes = serializeSafetensors(m, dtype);
    ASSERT_OK(bytes);
    Result<TensorMap> back = parseSafetensors(*bytes, "mem");
    ASSERT_OK(back);
    double relTol =
        dtype == DType::F16 ? std::ldexp(1.0, -11) : std::ldexp(1.0, -8);
    for (const auto &[name, t] : m) {
      const Tensor &got = back->at(name);
      EXPECT_EQ(got.storedType, dtype);
      ASSERT_EQ(got.data.size(), t.data.size());
      for (size_t i = 0; i < t.data.size(); ++i) {
        EXPECT_NEAR(got.data[i], t.data[i], std::fabs(t.data[i]) * relTol)
            << name << "[" << i << "] " << dtypeName(dtype);
        EXPECT_EQ(got.data[i], roundToDType(t.data[i], dtype));
      }
    }
  }
}

TEST(SafetensorsTest, LayoutIsSortedAlignedAndPadded) {
  Result<std::string> bytes = serializeSafetensors(sampleTensors());
  ASSERT_OK(bytes);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i)
    n = (n << 8) | static_cast<unsigned char>((*bytes)[i]);
  EXPECT_EQ((8 + n) % 8, 0u);
  std::string header = bytes->substr(8, n);
  EXPECT_LT(header.find("\"a.weight\""), header.find("\"b.weight\""));
  EXPECT_LT(header.find("\"b.weight\""), header.find("\"empty\""));
  EXPECT_NE(header.find("\"__metadata__\""), std::string::npos);
  // a: 6 floats at [0, 24), b: 4 floats at [24, 40).
  EXPECT_NE(header.find("\"data_offsets\":[24,40]"), std::string::npos)
      << header;
  EXPECT_EQ(bytes->size(), 8 + n + (6 + 4 + 0 + 1) * 4);
}

TEST(SafetensorsTest, AcceptsHandWrittenFile) {
  // F16 1.0 and -2.0, then BF16 1.0, with metadata and extra whitespace.
  std::string header =
      R"({"__metadata__": {"format": "pt"}, "h": {"dtype": "F16", "shape": [2], "data_offsets": [0, 4]}, "b": {"dtype": "BF16", "shape": [], "data_offsets": [4, 6]}})";
  std::string file = makeFile(header, 0);
  file += std::string("\x00\x3c\x00\xc0\x80\x3f", 6);
  Result<TensorMap> m = parseSafetensors(file, "hand.safetensors");
  ASSERT_OK(m);
  EXPECT_EQ(m->at("h").data, (std::vector<float>{1.0f, -2.0f}));
  EXPECT_EQ(m->at("b").data, (std::vector<float>{1.0f}));
  EXPECT_TRUE(m->at("b").shape.empty());
}

TEST(SafetensorsTest, NaNDataIsAllowed) {
  TensorMap m;
  Tensor t({2});
  t.data = {NAN, 1.0f};
  m["x"] = t;
  Result<TensorMap> back = parseSafetensors(*serializeSafetensors(m), "mem");
  ASSERT_OK(back);
  EXPECT_TRUE(std::isnan(back->at("x").data[0]));
}

TEST(SafetensorsTest, RejectsMalformedFiles) {
  auto entry = [](const std::string &name, const std::string &dtype,
                  const std::string &shape, int begin, int end) {
    return "\"" + name + "\": {\"dtype\": \"" + dtype +
           "\", \"shape\": " + shape + ", \"data_offsets\": [" +
           std::to_string(begin) + ", " + std::to_string(end) + "]}";
  };
  auto parse = [](const std::string &file) {
    return parseSafetensors(file, "w.safetensors");
  };
  EXPECT_ERROR(parse("abc"), "w.safetensors", "shorter than");
  std::string longHeader = makeFile("{}", 0);
  longHeader[0] = 100;
  EXPECT_ERROR(parse(longHeader), "w.safetensors", "header length 100",
               "past the end");
  EXPECT_ERROR(parse(makeFile("{\"a\": ", 0)), "w.safetensors", "line 1");
  EXPECT_ERROR(parse(makeFile("[1]", 0)), "header must be a JSON object");
  EXPECT_ERROR(parse(makeFile("{" + entry("w", "I64", "[2]", 0, 16) + "}", 16)),
               "'w'", "I64");
  EXPECT_ERROR(parse(makeFile("{" + entry("w", "F64", "[2]", 0, 16) + "}", 16)),
               "'w'", "F64");
  EXPECT_ERROR(
      parse(makeFile(R"({"w": {"shape": [1], "data_offsets": [0, 4]}})", 4)),
      "'w'", "missing \"dtype\"");
  EXPECT_ERROR(
      parse(makeFile(R"({"w": {"dtype": "F32", "data_offsets": [0, 4]}})", 4)),
      "'w'", "missing \"shape\"");
  EXPECT_ERROR(parse(makeFile(R"({"w": {"dtype": "F32", "shape": [1]}})", 4)),
               "'w'", "missing \"data_offsets\"");
  EXPECT_ERROR(
      parse(makeFile(
          R"({"w": {"dtype": 3, "shape": [1], "data_offsets": [0, 4]}})", 4)),
      "'w'", "dtype");
  EXPECT_ERROR(
      parse(makeFile(
          R"({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}})",
          4)),
      "'w'", "shape");
  EXPECT_ERROR(
      parse(makeFile(
          R"({"w": {"dtype": "F32", "shape": [1.5], "data_offsets": [0, 4]}})",
          4)),
      "'w'", "shape");
  EXPECT_ERROR(
      parse(makeFile(
          R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0]}})", 4)),
      "'w'", "data_offsets");
  EXPECT_ERROR(parse(makeFile("{" + entry("w", "F32", "[2]", 0, 8) + "}", 4)),
               "'w'", "past the", "4-byte data section");
  EXPECT_ERROR(parse(makeFile("{" + entry("w", "F32", "[1]", 4, 0) + "}", 4)),
               "'w'", "begin after end");
  EXPECT_ERROR(parse(makeFile("{" + entry("w", "F32", "[3]", 0, 8) + "}", 8)),
               "'w'", "needs 12");
  EXPECT_ERROR(parse(makeFile("{" + entry("a", "F32", "[2]", 0, 8) + ", " +
                                  entry("b", "F32", "[2]", 4, 12) + "}",
                              12)),
               "overlaps", "'a'", "'b'");
  EXPECT_ERROR(parse(makeFile("{" + entry("a", "F32", "[1]", 0, 4) + ", " +
                                  entry("b", "F32", "[1]", 8, 12) + "}",
                              12)),
               "holes", "'b'");
  EXPECT_ERROR(parse(makeFile("{" + entry("a", "F32", "[1]", 0, 4) + "}", 8)),
               "belong to no tensor");
  EXPECT_ERROR(
      parse(makeFile(
          R"({"w": {"dtype": "F32", "shape": [4294967296, 4294967296, 4294967296], "data_offsets": [0, 4]}})",
          4)),
      "'w'", "too many elements");
  EXPECT_ERROR(parse(makeFile(R"({"__metadata__": [1]})", 0)), "__metadata__");
  EXPECT_ERROR(parse(makeFile(R"({"__metadata__": {"k": 1}})", 0)),
               "__metadata__", "\"k\"");
  EXPECT_ERROR(parse(makeFile("{" + entry("a", "F32", "[1]", 0, 4) + ", " +
                                  entry("a", "F32", "[1]", 4, 8) + "}",
                              8)),
               "duplicate key \"a\"");
}

TEST(SafetensorsTest, EmptyFileOfTensorsIsValid) {
  Result<TensorMap> m = parseSafetensors(makeFile("{}", 0), "e");
  ASSERT_OK(m);
  EXPECT_TRUE(m->empty());
}

TEST(SafetensorsTest, WriteErrors) {
  TempDir dir;
  TensorMap m;
  Tensor bad({2, 2});
  bad.data.resize(3);
  m["bad"] = bad;
  EXPECT_ERROR(writeSafetensors(dir.path("x.safetensors"), m), "'bad'",
               "x.safetensors");
  EXPECT_ERROR(writeSafetensors(dir.path("no/x.safetensors"), sampleTensors()),
               "no/x.safetensors");
  EXPECT_ERROR(readSafetensors(dir.path("absent.safetensors")),
               "absent.safetensors");
}
