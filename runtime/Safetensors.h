//===- Safetensors.h - Read and write .safetensors files --------*- C++ -*-===//
//
// Format: 8-byte little-endian header length N, N bytes of JSON header
// {"name": {"dtype", "shape", "data_offsets": [begin, end]}, ...} with an
// optional "__metadata__" string map, then the raw little-endian data. The
// data offsets are relative to the end of the header and must tile the data
// region exactly: no overlaps, no holes, no trailing bytes.
//
//===----------------------------------------------------------------------===//

#ifndef COLM_RUNTIME_SAFETENSORS_H
#define COLM_RUNTIME_SAFETENSORS_H

#include "runtime/Status.h"
#include "runtime/Tensor.h"

#include <map>
#include <string>
#include <string_view>

namespace colm {

using TensorMap = std::map<std::string, Tensor>;

/// Parses a whole safetensors file held in memory. F32, F16 and BF16 tensors
/// are converted to float (storedType records the file's dtype); any other
/// dtype is rejected by name. `source` names the file in errors.
Result<TensorMap> parseSafetensors(std::string_view bytes,
                                   std::string_view source);

/// Reads and parses the file at `path`.
Result<TensorMap> readSafetensors(const std::string &path);

/// Serialises tensors (sorted by name) stored as `dtype`.
Result<std::string> serializeSafetensors(const TensorMap &tensors,
                                         DType dtype = DType::F32);

/// Writes serializeSafetensors() to `path` atomically.
Status writeSafetensors(const std::string &path, const TensorMap &tensors,
                        DType dtype = DType::F32);

} // namespace colm

#endif // COLM_RUNTIME_SAFETENSORS_H
