//===- FusionPipeline.cpp - the fusion passes in order ----------*- C++ -*-===//
//
// What the compiler runs between the chain graph (after chain-autodiff) and
// the lowering to kernels; colmc's `fused` phase is its output.
//
//===----------------------------------------------------------------------===//
#include "passes/Passes.h"

#include "mlir/Pass/PassManager.h"

void colm::chain::buildFusionPipeline(mlir::OpPassManager &pm) {
  pm.addNestedPass<mlir::func::FuncOp>(createFuseGemmAdd());
  pm.addNestedPass<mlir::func::FuncOp>(createFuseGemmSwiglu());
  pm.addNestedPass<mlir::func::FuncOp>(createGroupGemms());
  pm.addNestedPass<mlir::func::FuncOp>(createFuseNormGemm());
  pm.addNestedPass<mlir::func::FuncOp>(createFuseGemmRope());
}
