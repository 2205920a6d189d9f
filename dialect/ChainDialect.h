//===- ChainDialect.h - the chain dialect -----------------------*- C++ -*-===//
#ifndef COLM_DIALECT_CHAINDIALECT_H
#define COLM_DIALECT_CHAINDIALECT_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/TensorEncoding.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "dialect/ChainDialect.h.inc"
#include "dialect/ChainEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "dialect/ChainAttrs.h.inc"

#define GET_OP_CLASSES
#include "dialect/ChainOps.h.inc"

namespace colm::chain {

/// The chain layout of a tensor type's last dimension, or null.
LayoutAttr getLayout(mlir::Type type);
/// The chain-block encoding of a weight type, or null.
BlocksAttr getBlocks(mlir::Type type);
/// Size of the last dimension of a ranked tensor type.
int64_t lastDim(mlir::Type type);
/// Names a single result after the op's NameLoc (as the DSL sets them).
void nameResultFromLoc(mlir::Operation *op,
                       mlir::OpAsmSetValueNameFn setNameFn);
/// "[2, 2, 4]": ratios as they appear in messages.
std::string formatRatios(llvm::ArrayRef<int64_t> ratios);

} // namespace colm::chain

#endif // COLM_DIALECT_CHAINDIALECT_H
