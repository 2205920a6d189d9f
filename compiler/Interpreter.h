//===- Interpreter.h - the reference interpreter ----------------*- C++ -*-===//
//
// Runs a chain-dialect function on the CPU in fp32 with plain loops. It is
// the oracle every backend is tested against: it favours being obviously
// right over being fast.
//
//===----------------------------------------------------------------------===//
#ifndef COLM_COMPILER_INTERPRETER_H
#define COLM_COMPILER_INTERPRETER_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "runtime/Safetensors.h"

#include <vector>

namespace colm {

/// A host value: float data, or int32 data for token ids.
struct HostTensor {
  std::vector<int64_t> shape;
  std::vector<float> data;
  std::vector<int32_t> ints;
  bool isInt = false;

  int64_t numel() const;
  static HostTensor tokens(std::vector<int32_t> ids);
  static HostTensor floats(std::vector<int64_t> shape);
};

/// Runs `func` on `args`, binding `chain.param` by name from `params`.
/// Errors (a missing parameter, a token out of range, a shape that does not
/// fit) are reported as diagnostics at the offending op.
mlir::FailureOr<std::vector<HostTensor>>
interpret(mlir::func::FuncOp func, const std::vector<HostTensor> &args,
          const TensorMap &params);

} // namespace colm

#endif // COLM_COMPILER_INTERPRETER_H
