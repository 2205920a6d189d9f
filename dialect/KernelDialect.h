//===- KernelDialect.h - the lowered kernel program -------------*- C++ -*-===//
#ifndef COLM_DIALECT_KERNELDIALECT_H
#define COLM_DIALECT_KERNELDIALECT_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/SymbolTable.h"

#include <optional>
#include <string>

namespace colm::kernel {

// The parameters' parsers and printers (KernelDialect.cpp).
mlir::FailureOr<bool> parseBool(mlir::AsmParser &parser);
mlir::FailureOr<std::string> parseKeyword(mlir::AsmParser &parser);
mlir::FailureOr<double> parseDouble(mlir::AsmParser &parser);
mlir::FailureOr<mlir::FloatAttr> parseDoubleAttr(mlir::AsmParser &parser);
void printDouble(mlir::AsmPrinter &printer, double value);
mlir::FailureOr<mlir::DenseF64ArrayAttr> parseDoubles(mlir::AsmParser &parser);
void printDoubles(mlir::AsmPrinter &printer, llvm::ArrayRef<double> values);
mlir::FailureOr<llvm::SmallVector<int64_t>> parseInts(mlir::AsmParser &parser);

/// The default of an integer list that may be left out (a GEMM's groups):
/// empty, as the parser stores it and as the printer compares it.
struct NoInts {
  operator llvm::SmallVector<int64_t>() const { return {}; }
};
inline bool operator==(llvm::ArrayRef<int64_t> a, NoInts) { return a.empty(); }
void printInts(mlir::AsmPrinter &printer, llvm::ArrayRef<int64_t> values);
mlir::FailureOr<llvm::SmallVector<int64_t>>
parseBlocks(mlir::AsmParser &parser);
void printBlocks(mlir::AsmPrinter &printer, llvm::ArrayRef<int64_t> values);
/// A size: `64`, `v0`, `8 * v0 + 64` (an i64 IntegerAttr when constant,
/// else a SizeAttr).
mlir::FailureOr<mlir::Attribute> parseSize(mlir::AsmParser &parser);
void printSize(mlir::AsmPrinter &printer, mlir::Attribute size);

} // namespace colm::kernel

#include "dialect/KernelDialect.h.inc"

#define GET_ATTRDEF_CLASSES
#include "dialect/KernelAttrs.h.inc"

#define GET_OP_CLASSES
#include "dialect/KernelOps.h.inc"

namespace colm::kernel {

/// An i64 constant or a SizeAttr.
bool isSize(mlir::Attribute attr);
/// Its value at `sizes` (one per program variable); nullopt when it is not a
/// size, names a variable out of range or overflows.
std::optional<int64_t> evalSize(mlir::Attribute size,
                                llvm::ArrayRef<int64_t> sizes);
/// The byte size of a buffer element type (f32, i32, f64, bf16); 0 for
/// another type.
int64_t elementBytes(mlir::Type type);

} // namespace colm::kernel

#endif // COLM_DIALECT_KERNELDIALECT_H
