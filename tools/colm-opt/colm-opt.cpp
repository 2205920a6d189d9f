//===- colm-opt.cpp - the chain pass driver ---------------------*- C++ -*-===//
#include "dialect/KernelDialect.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Transforms/Passes.h"

#include <cstring>
#include <vector>

int main(int argc, char **argv) {
  // An error names its op and its line; printing the op too (MLIR's default)
  // dumps a whole function for a function-level error. Ask for it with
  // --mlir-print-op-on-diagnostic.
  std::vector<char *> args(argv, argv + argc);
  bool asked = false;
  for (int i = 1; i < argc; ++i)
    if (std::strncmp(argv[i], "--mlir-print-op-on-diagnostic", 29) == 0 ||
        std::strncmp(argv[i], "-mlir-print-op-on-diagnostic", 28) == 0)
      asked = true;
  static char quiet[] = "--mlir-print-op-on-diagnostic=false";
  if (!asked)
    args.insert(args.begin() + 1, quiet);
  argc = static_cast<int>(args.size());
  argv = args.data();
  mlir::DialectRegistry registry;
  registry.insert<colm::chain::ChainDialect, colm::kernel::KernelDialect,
                  mlir::func::FuncDialect, mlir::arith::ArithDialect>();
  colm::chain::registerChainPasses();
  mlir::registerCanonicalizerPass();
  mlir::registerCSEPass();
  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv, "colm-opt: the chain and kernel dialects pass driver\n",
      registry));
}
