//===- MlirFuzz.h - What the MLIR fuzz targets share ------------*- C++ -*-===//
//
// A context that counts the errors it reports, and the first step of every
// MLIR target: parse the input, trap if it is refused without saying why,
// and check that what parses prints, parses back and prints the same.
//
//===----------------------------------------------------------------------===//
#ifndef COLM_TEST_FUZZ_MLIRFUZZ_H
#define COLM_TEST_FUZZ_MLIRFUZZ_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include <cstddef>
#include <cstdint>
#include <string>

namespace colm::fuzz {

/// Errors reported since the last reset.
inline int errors = 0;

/// A single-threaded context of `registry`'s dialects whose errors count.
inline mlir::MLIRContext *makeContext(mlir::DialectRegistry &registry,
                                      bool allowUnregistered) {
  auto *c =
      new mlir::MLIRContext(registry, mlir::MLIRContext::Threading::DISABLED);
  c->loadAllAvailableDialects();
  if (allowUnregistered)
    c->allowUnregisteredDialects();
  c->getDiagEngine().registerHandler([](mlir::Diagnostic &diag) {
    if (diag.getSeverity() == mlir::DiagnosticSeverity::Error)
      ++errors;
    return mlir::success();
  });
  return c;
}

/// With locations: value names come from them (NameLoc), so without them
/// a second print could name values differently.
inline std::string print(mlir::Operation *op) {
  std::string text;
  llvm::raw_string_ostream os(text);
  op->print(os, mlir::OpPrintingFlags().enableDebugInfo());
  return text;
}

/// The input as a module, or null when the parser refused it (with an
/// error). Traps on a silent refusal and on a module whose printed form
/// does not parse back and print the same.
inline mlir::OwningOpRef<mlir::ModuleOp>
parseRoundTrip(const uint8_t *data, size_t size, mlir::MLIRContext &ctx) {
  mlir::ParserConfig config(&ctx);
  // MLIR's lexer reads the terminating NUL that files and std::string have
  // (and libFuzzer's buffer does not).
  std::string text(reinterpret_cast<const char *>(data), size);
  errors = 0;
  auto module = mlir::parseSourceString<mlir::ModuleOp>(text, config);
  if (!module) {
    if (errors == 0)
      __builtin_trap(); // a rejected file must say why
    return module;
  }
  std::string printed = print(*module);
  auto back = mlir::parseSourceString<mlir::ModuleOp>(printed, config);
  if (!back || print(*back) != printed)
    __builtin_trap();
  return module;
}

} // namespace colm::fuzz

#endif // COLM_TEST_FUZZ_MLIRFUZZ_H
