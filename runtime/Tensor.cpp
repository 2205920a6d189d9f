//===- Tensor.cpp - Host tensors and storage dtypes -----------------------===//

#include "runtime/Tensor.h"

#include <cstring>

namespace colm {

const char *dtypeName(DType dtype) {
  switch (dtype) {
  case DType::F32:
    return "F32";
  case DType::F16:
    return "F16";
  case DType::BF16:
    return "BF16";
  }
  return "?";
}

std::optional<DType> parseDType(std::string_view name) {
  if (name == "F32")
    return DType::F32;
  if (name == "F16")
    return DType::F16;
  if (name == "BF16")
    return DType::BF16;
  return std::nullopt;
}

size_t dtypeSize(DType dtype) { return dtype == DType::F32 ? 4 : 2; }

static uint32_t floatBits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

static float bitsFloat(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

uint16_t floatToHalf(float f) {
  uint32_t x = floatBits(f);
  uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000);
  uint32_t absBits = x & 0x7FFFFFFF;
  if (absBits >= 0x7F800000) {
    if (absBits == 0x7F800000)
      return sign | 0x7C00; // inf
    // NaN: keep the top payload bits, force quiet so it stays a NaN.
    return sign | 0x7E00 | static_cast<uint16_t>((absBits >> 13) & 0x1FF);
  }
  // 65520 and above round to infinity.
  if (absBits >= 0x477FF000)
    return sign | 0x7C00;
  if (absBits < 0x38800000) {
    // Result is subnormal or zero: scale by 2^24 so the half subnormal step
    // (2^-24) becomes 1, and let the float adder round to nearest even.
    float scaled = bitsFloat(absBits) * 16777216.0f; // exact: power of two
    // Adding 2^23 puts the integer part in the low mantissa bits, rounded
    // to nearest even by the hardware.
    float rounded = scaled + 8388608.0f;
    uint32_t mant = floatBits(rounded) - 0x4B000000;
    return sign | static_cast<uint16_t>(mant);
  }
  // Normal: re-bias the exponent (127 -> 15) and round the 13 dropped bits.
  uint32_t mant = absBits;
  uint32_t roundBit = 0x1000;
  uint32_t rest = mant & 0x1FFF;
  uint32_t result = (absBits - 0x38000000) >> 13;
  if (rest > roundBit || (rest == roundBit && (result & 1)))
    ++result; // may carry into the exponent, which is right
  return sign | static_cast<uint16_t>(result);
}

float halfToFloat(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1F;
  uint32_t mant = h & 0x3FF;
  if (exp == 0x1F)
    return bitsFloat(sign | 0x7F800000 | (mant << 13));
  if (exp == 0) {
    // Zero or subnormal: mant * 2^-24, exact in float.
    float v = static_cast<float>(mant) * (1.0f / 16777216.0f);
    return sign ? -v : v;
  }
  return bitsFloat(sign | ((exp + 112) << 23) | (mant << 13));
}

uint16_t floatToBFloat16(float f) {
  uint32_t x = floatBits(f);
  if ((x & 0x7FFFFFFF) > 0x7F800000)
    return static_cast<uint16_t>((x >> 16) | 0x0040); // quiet NaN
  uint32_t lsb = (x >> 16) & 1;
  x += 0x7FFF + lsb; // round to nearest even; overflow gives inf
  return static_cast<uint16_t>(x >> 16);
}

float bfloat16ToFloat(uint16_t b) {
  return bitsFloat(static_cast<uint32_t>(b) << 16);
}

float roundToDType(float f, DType dtype) {
  switch (dtype) {
  case DType::F32:
    return f;
  case DType::F16:
    return halfToFloat(floatToHalf(f));
  case DType::BF16:
    return bfloat16ToFloat(floatToBFloat16(f));
  }
  return f;
}

Tensor::Tensor(std::vector<int64_t> shape, float fill)
    : shape(std::move(shape)) {
  data.assign(static_cast<size_t>(numel()), fill);
}

int64_t Tensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

std::string formatShape(const std::vector<int64_t> &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i)
      s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

} // namespace colm
