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

} // namespace colm::chain

#endif // COLM_PASSES_PASSES_H
