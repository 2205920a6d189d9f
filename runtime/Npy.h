//===- Npy.h - NumPy .npy files for float32 arrays --------------*- C++ -*-===//
//
// Used to exchange activations and logits with NumPy/PyTorch reference
// scripts. Only little-endian float32 in C order is supported.
//
//===----------------------------------------------------------------------===//

#ifndef COLM_RUNTIME_NPY_H
#define COLM_RUNTIME_NPY_H

#include "runtime/Status.h"
#include "runtime/Tensor.h"

#include <string>
#include <string_view>
#include <vector>

namespace colm {

/// The bytes of an NPY v1.0 file ('<f4', C order).
std::string serializeNpy(const float *data, const std::vector<int64_t> &shape);

/// Writes serializeNpy() to `path` atomically.
Status writeNpy(const std::string &path, const float *data,
                const std::vector<int64_t> &shape);

/// Parses an NPY (v1/v2/v3) file holding '<f4' data in C order.
Result<Tensor> parseNpy(std::string_view bytes, std::string_view source);

/// Reads and parses the file at `path`.
Result<Tensor> readNpy(const std::string &path);

} // namespace colm

#endif // COLM_RUNTIME_NPY_H
