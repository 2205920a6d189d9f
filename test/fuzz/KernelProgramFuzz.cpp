//===- KernelProgramFuzz.cpp - libFuzzer target for kernel programs -------===//
//
// A kernel-dialect file (as `colmc --compile-to kernels` writes it, edited by
// hand or not) goes through the parser, the verifier and the importer, as
// `colmc k.mlir` reads it. Whatever parses must print and parse back to the
// same text; a file the verifier accepts must either be refused by the
// importer with an error or give a program the runtime accepts, which
// exports and verifies again.
//
//===----------------------------------------------------------------------===//

#include "compiler/codegen/KernelIR.h"
#include "dialect/KernelDialect.h"
#include "test/fuzz/MlirFuzz.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"

#include <cstddef>
#include <cstdint>

using namespace mlir;

namespace {

MLIRContext &context() {
  static MLIRContext *ctx = [] {
    DialectRegistry registry;
    registry.insert<colm::kernel::KernelDialect>();
    return colm::fuzz::makeContext(registry, /*allowUnregistered=*/false);
  }();
  return *ctx;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  MLIRContext &ctx = context();
  OwningOpRef<ModuleOp> module = colm::fuzz::parseRoundTrip(data, size, ctx);
  if (!module)
    return 0;
  colm::kernel::ProgramOp program = colm::codegen::findKernelProgram(*module);
  if (!program)
    return 0;
  colm::fuzz::errors = 0;
  auto kp = colm::codegen::importKernelProgram(program);
  if (!kp) {
    if (colm::fuzz::errors == 0)
      __builtin_trap(); // refused without saying where
    return 0;
  }
  if (!kp->program.validate())
    __builtin_trap(); // the importer validated it
  auto exported = colm::codegen::exportKernelProgram(*kp, ctx);
  if (exported && failed(verify(**exported)))
    __builtin_trap(); // a program read back verifies again
  return 0;
}
