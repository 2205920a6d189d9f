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

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"

#include <cstddef>
#include <cstdint>

using namespace mlir;

namespace {

int errors = 0;

MLIRContext &context() {
  static MLIRContext *ctx = [] {
    DialectRegistry registry;
    registry.insert<colm::kernel::KernelDialect>();
    auto *c = new MLIRContext(registry, MLIRContext::Threading::DISABLED);
    c->loadAllAvailableDialects();
    c->getDiagEngine().registerHandler([](Diagnostic &diag) {
      if (diag.getSeverity() == DiagnosticSeverity::Error)
        ++errors;
      return success();
    });
    return c;
  }();
  return *ctx;
}

std::string print(Operation *op) {
  std::string text;
  llvm::raw_string_ostream os(text);
  op->print(os);
  return text;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  MLIRContext &ctx = context();
  ParserConfig config(&ctx);
  std::string text(reinterpret_cast<const char *>(data), size);
  errors = 0;
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(text, config);
  if (!module) {
    if (errors == 0)
      __builtin_trap(); // a rejected file must say why
    return 0;
  }
  std::string printed = print(*module);
  OwningOpRef<ModuleOp> again = parseSourceString<ModuleOp>(printed, config);
  if (!again || print(*again) != printed)
    __builtin_trap();
  colm::kernel::ProgramOp program = colm::codegen::findKernelProgram(*module);
  if (!program)
    return 0;
  errors = 0;
  auto kp = colm::codegen::importKernelProgram(program);
  if (!kp) {
    if (errors == 0)
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
