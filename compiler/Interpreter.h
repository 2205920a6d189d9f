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

#include <map>
#include <memory>
#include <mutex>
#include <vector>

namespace colm {

/// A host value: real data (kept in double; rounded to float after every op
/// in fp32 mode), or int32 data for token ids.
struct HostTensor {
  std::vector<int64_t> shape;
  std::vector<double> data;
  std::vector<int32_t> ints;
  bool isInt = false;

  int64_t numel() const;
  static HostTensor tokens(std::vector<int32_t> ids);
  static HostTensor floats(std::vector<int64_t> shape);
  /// The data as float32 (for .npy files and comparisons).
  std::vector<float> toFloat() const;
};

/// Parameters bound (converted and sliced) once and shared by later runs of
/// programs over the same, unchanging weights (generation). Thread-safe.
class ParamCache {
public:
  std::shared_ptr<const HostTensor> find(const std::string &key);
  void insert(const std::string &key, std::shared_ptr<const HostTensor> value);

private:
  std::mutex mutex;
  std::map<std::string, std::shared_ptr<const HostTensor>> bound;
};

struct InterpretOptions {
  /// fp32 (the default) rounds every op's results to float, as a float32
  /// backend would store them; fp64 keeps double precision throughout (for
  /// finite-difference gradient checks).
  bool fp64 = false;
  /// Parameters given in double precision; they take precedence over the
  /// model's float tensors of the same name.
  const std::map<std::string, HostTensor> *paramOverrides = nullptr;
  /// Reuse bound parameters across runs; only while the weights do not
  /// change.
  ParamCache *paramCache = nullptr;
};

/// Runs `func` on `args`, binding `chain.param` by name from `params`.
/// Errors (a missing parameter, a token out of range, a shape that does not
/// fit) are reported as diagnostics at the offending op.
mlir::FailureOr<std::vector<HostTensor>>
interpret(mlir::func::FuncOp func, const std::vector<HostTensor> &args,
          const TensorMap &params, const InterpretOptions &options = {});

} // namespace colm

#endif // COLM_COMPILER_INTERPRETER_H
