//===- colm-opt.cpp - the chain pass driver ---------------------*- C++ -*-===//
#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Transforms/Passes.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  registry.insert<colm::chain::ChainDialect, mlir::func::FuncDialect,
                  mlir::arith::ArithDialect>();
  colm::chain::registerChainPasses();
  mlir::registerCanonicalizerPass();
  mlir::registerCSEPass();
  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv, "colm-opt: the chain dialect pass driver\n", registry));
}
