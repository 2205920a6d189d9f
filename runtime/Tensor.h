//===- Tensor.h - Host tensors and storage dtypes ---------------*- C++ -*-===//
//
// The runtime keeps parameters on the host as float32; F16 and BF16 exist only
// as storage formats and are converted on read and write.
//
//===----------------------------------------------------------------------===//

#ifndef COLM_RUNTIME_TENSOR_H
#define COLM_RUNTIME_TENSOR_H

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace colm {

enum class DType { F32, F16, BF16 };

/// "F32", "F16", "BF16" (the safetensors spelling).
const char *dtypeName(DType dtype);
/// Inverse of dtypeName(); nullopt for any other name.
std::optional<DType> parseDType(std::string_view name);
/// Bytes per element.
size_t dtypeSize(DType dtype);

/// IEEE binary16 <-> binary32, round-to-nearest-even, with inf, NaN and
/// subnormals.
uint16_t floatToHalf(float f);
float halfToFloat(uint16_t h);
/// bfloat16 <-> binary32, round-to-nearest-even; NaN stays NaN.
uint16_t floatToBFloat16(float f);
float bfloat16ToFloat(uint16_t b);
/// Rounds f to the nearest value representable in `dtype`.
float roundToDType(float f, DType dtype);

struct Tensor {
  std::vector<int64_t> shape;
  std::vector<float> data;
  /// The dtype the tensor was read from / will be stored as.
  DType storedType = DType::F32;

  Tensor() = default;
  explicit Tensor(std::vector<int64_t> shape, float fill = 0.0f);

  /// Product of the shape (1 for a scalar).
  int64_t numel() const;
  float &at(int64_t row, int64_t col) { return data[row * shape[1] + col]; }
  float at(int64_t row, int64_t col) const {
    return data[row * shape[1] + col];
  }
};

/// "[4, 8]".
std::string formatShape(const std::vector<int64_t> &shape);

} // namespace colm

#endif // COLM_RUNTIME_TENSOR_H
