//===- InterpreterImpl.h - the reference interpreter, inside ----*- C++ -*-===//
//
// Shared by Interpreter.cpp (forward ops) and InterpreterGrad.cpp (backward
// ops). Not part of the compiler's interface.
//
//===----------------------------------------------------------------------===//
#ifndef COLM_COMPILER_INTERPRETERIMPL_H
#define COLM_COMPILER_INTERPRETERIMPL_H

#include "compiler/Interpreter.h"
#include "dialect/ChainDialect.h"
#include "llvm/ADT/DenseMap.h"

#include <memory>

namespace colm::detail {

using namespace mlir;
using namespace colm::chain;

/// Chain index (1-based) of entry `pos` of a dimension of size `dim` split by
/// `layout`; 1 when the dimension is unchained.
template <class Attr>
inline unsigned chainAt(Attr layout, int64_t dim, int64_t pos) {
  return layout ? layout.chainOf(dim, pos) : 1;
}

class Interpreter {
public:
  Interpreter(const TensorMap &params, const InterpretOptions &options)
      : params(params), options(options) {}

  FailureOr<std::vector<HostTensor>> run(func::FuncOp func,
                                         const std::vector<HostTensor> &args);

private:
  const TensorMap &params;
  const InterpretOptions &options;
  // Shared so that parameters bound once (InterpretOptions::paramCache) are
  // not copied on every run.
  DenseMap<mlir::Value, std::shared_ptr<const HostTensor>> env;

  const HostTensor &in(mlir::Value v) { return *env.find(v)->second; }
  LogicalResult exec(Operation *op);
  /// exec, then the results rounded to float (unless fp64).
  LogicalResult execRounded(Operation *op);
  LogicalResult param(ParamOp op);
  LogicalResult embed(EmbedOp op);
  LogicalResult norm(NormOp op);
  LogicalResult matmul(Operation *op, mlir::Value x, mlir::Value w,
                       bool blockLowerTriangular, int64_t inWidth);
  LogicalResult rope(RopeOp op);
  LogicalResult attention(AttentionOp op);
  LogicalResult crossEntropy(CrossEntropyOp op);

  // Backward ops (InterpreterGrad.cpp).
  LogicalResult execGrad(Operation *op);
  LogicalResult normGrad(NormGradOp op);
  LogicalResult attentionGrad(AttentionGradOp op);
  void set(mlir::Value v, HostTensor t) {
    env[v] = std::make_shared<const HostTensor>(std::move(t));
  }
};

} // namespace colm::detail

#endif // COLM_COMPILER_INTERPRETERIMPL_H
