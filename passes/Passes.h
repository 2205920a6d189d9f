//===- Passes.h - chain passes ----------------------------------*- C++ -*-===//
#ifndef COLM_PASSES_PASSES_H
#define COLM_PASSES_PASSES_H

#include "dialect/ChainDialect.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

namespace colm::chain {

#define GEN_PASS_DECL
#include "passes/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "passes/Passes.h.inc"

/// The fusion passes, in the order the compiler runs them on a module
/// (after chain-autodiff, before the lowering to kernels).
void buildFusionPipeline(mlir::OpPassManager &pm);

/// The fusion groups at the top level of `func`, in order (a copy: a pass
/// may replace them as it goes).
inline llvm::SmallVector<FusedOp> fusionGroups(mlir::func::FuncOp func) {
  llvm::SmallVector<FusedOp> groups;
  for (mlir::Operation &op : func.getBody().front())
    if (auto f = llvm::dyn_cast<FusedOp>(op))
      groups.push_back(f);
  return groups;
}

} // namespace colm::chain

#endif // COLM_PASSES_PASSES_H
