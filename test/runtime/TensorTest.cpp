//===- TensorTest.cpp - Tests for runtime/Tensor.h ------------------------===//

#include "runtime/Tensor.h"

#include "TestUtil.h"

#include <cmath>
#include <cstring>
#include <limits>

using namespace colm;

static float bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

TEST(TensorTest, DTypeNames) {
  for (DType d : {DType::F32, DType::F16, DType::BF16})
    EXPECT_EQ(parseDType(dtypeName(d)), d);
  EXPECT_EQ(parseDType("I64"), std::nullopt);
  EXPECT_EQ(parseDType("f32"), std::nullopt);
  EXPECT_EQ(dtypeSize(DType::F32), 4u);
  EXPECT_EQ(dtypeSize(DType::BF16), 2u);
}

TEST(TensorTest, HalfKnownValues) {
  EXPECT_EQ(floatToHalf(0.0f), 0x0000);
  EXPECT_EQ(floatToHalf(-0.0f), 0x8000);
  EXPECT_EQ(floatToHalf(1.0f), 0x3C00);
  EXPECT_EQ(floatToHalf(-2.0f), 0xC000);
  EXPECT_EQ(floatToHalf(65504.0f), 0x7BFF);
  EXPECT_EQ(floatToHalf(65519.0f), 0x7BFF);
  EXPECT_EQ(floatToHalf(65520.0f), 0x7C00); // ties to even -> inf
  EXPECT_EQ(floatToHalf(1e10f), 0x7C00);
  EXPECT_EQ(floatToHalf(std::numeric_limits<float>::infinity()), 0x7C00);
  EXPECT_EQ(floatToHalf(-std::numeric_limits<float>::infinity()), 0xFC00);
  EXPECT_TRUE(std::isnan(halfToFloat(floatToHalf(NAN))));
  // Smallest subnormal 2^-24, largest subnormal, smallest normal 2^-14.
  EXPECT_EQ(floatToHalf(std::ldexp(1.0f, -24)), 0x0001);
  EXPECT_EQ(halfToFloat(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(halfToFloat(0x03FF), std::ldexp(1023.0f, -24));
  EXPECT_EQ(floatToHalf(std::ldexp(1.0f, -14)), 0x0400);
  // Half of the smallest subnormal ties to even (zero); a bit more rounds up.
  EXPECT_EQ(floatToHalf(std::ldexp(1.0f, -25)), 0x0000);
  EXPECT_EQ(floatToHalf(std::ldexp(1.5f, -25)), 0x0001);
  EXPECT_EQ(floatToHalf(std::ldexp(3.0f, -25)), 0x0002); // 1.5 ulp -> 2
  // 1 + 2^-11 is halfway between 1 and 1+2^-10: ties to even (1).
  EXPECT_EQ(floatToHalf(1.0f + std::ldexp(1.0f, -11)), 0x3C00);
  EXPECT_EQ(floatToHalf(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3C02);
  EXPECT_EQ(floatToHalf(1e-10f), 0x0000);
}

TEST(TensorTest, HalfRoundTripsEveryHalf) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    float f = halfToFloat(static_cast<uint16_t>(h));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(halfToFloat(floatToHalf(f))));
      continue;
    }
    EXPECT_EQ(floatToHalf(f), h) << std::hex << h;
  }
}

TEST(TensorTest, HalfRoundingIsNearest) {
  // Compare with a double-precision reference for many floats in range.
  for (uint32_t u = 0x33000000; u < 0x477FE000; u += 0x1357) {
    float f = bits(u);
    float r = halfToFloat(floatToHalf(f));
    uint16_t h = floatToHalf(f);
    float up = halfToFloat(h + 1), down = h ? halfToFloat(h - 1) : 0.0f;
    double err = std::fabs(double(r) - f);
    EXPECT_LE(err, std::fabs(double(up) - f)) << f;
    EXPECT_LE(err, std::fabs(double(down) - f)) << f;
  }
}

TEST(TensorTest, BFloat16) {
  EXPECT_EQ(floatToBFloat16(1.0f), 0x3F80);
  EXPECT_EQ(floatToBFloat16(-0.0f), 0x8000);
  EXPECT_EQ(bfloat16ToFloat(0x3F80), 1.0f);
  // Ties to even: 1 + 2^-8 -> 1; 1 + 3*2^-8 -> 1 + 2^-6.
  EXPECT_EQ(floatToBFloat16(1.0f + std::ldexp(1.0f, -8)), 0x3F80);
  EXPECT_EQ(floatToBFloat16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3F82);
  EXPECT_EQ(floatToBFloat16(std::numeric_limits<float>::infinity()), 0x7F80);
  EXPECT_EQ(floatToBFloat16(std::numeric_limits<float>::max()), 0x7F80);
  EXPECT_TRUE(std::isnan(bfloat16ToFloat(floatToBFloat16(NAN))));
  // A NaN whose payload sits in the dropped bits must not become inf.
  EXPECT_TRUE(std::isnan(bfloat16ToFloat(floatToBFloat16(bits(0x7F800001)))));
  // Subnormals are kept.
  float sub = bits(0x00010000);
  EXPECT_EQ(bfloat16ToFloat(floatToBFloat16(sub)), sub);
  for (uint32_t b = 0; b < 0x10000; ++b) {
    float f = bfloat16ToFloat(static_cast<uint16_t>(b));
    if (!std::isnan(f))
      EXPECT_EQ(floatToBFloat16(f), b);
  }
}

TEST(TensorTest, RoundToDType) {
  float x = 0.1f;
  EXPECT_EQ(roundToDType(x, DType::F32), x);
  EXPECT_NEAR(roundToDType(x, DType::F16), x, x * std::ldexp(1.0, -11));
  EXPECT_NEAR(roundToDType(x, DType::BF16), x, x * std::ldexp(1.0, -8));
}

TEST(TensorTest, TensorBasics) {
  Tensor t({2, 3}, 1.5f);
  EXPECT_EQ(t.numel(), 6);
  EXPECT_EQ(t.data.size(), 6u);
  t.at(1, 2) = 4.0f;
  EXPECT_EQ(t.data[5], 4.0f);
  EXPECT_EQ(Tensor(std::vector<int64_t>{}).numel(), 1);
  EXPECT_EQ(Tensor({3, 0}).numel(), 0);
  EXPECT_EQ(formatShape({4, 8}), "[4, 8]");
  EXPECT_EQ(t.storedType, DType::F32);
}
