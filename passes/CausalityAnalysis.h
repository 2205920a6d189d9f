//===- CausalityAnalysis.h - prove the chain causal rule --------*- C++ -*-===//
//
// The dataflow analysis of chain-verify-causality, shared with the passes
// that transform chained graphs: each proves its input causal with
// proveCausality() before rewriting it, and refuses what it cannot prove.
//
// For every value, `levels[i]` is the highest chain (1-based; 0 = none) of
// the inputs and parameters that chain i+1 of the value depends on; a value
// without a chain encoding has a single level. The rule holds when
// levels[i] <= i+1 for every chained value.
//
//===----------------------------------------------------------------------===//
#ifndef COLM_PASSES_CAUSALITYANALYSIS_H
#define COLM_PASSES_CAUSALITYANALYSIS_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/SmallVector.h"

namespace colm::chain {

/// What proveCausality() found about each value of a function.
class ChainLevels {
public:
  /// One level per chain of `v` (one for a value without chains). A value
  /// the analysis did not see (a block argument of a nested region) may
  /// depend on every chain.
  llvm::SmallVector<int> levels(mlir::Value v) const;
  /// The highest chain `v` depends on.
  int maxLevel(mlir::Value v) const;
  /// True for the gradients of a training step: the results of backward
  /// ops (chain.*_grad) and every value computed from them. They flow from
  /// later chains to earlier ones by construction, so the causal rule does
  /// not constrain them.
  bool isGradient(mlir::Value v) const { return gradients.contains(v); }

private:
  friend class CausalityAnalysis;
  llvm::DenseMap<mlir::Value, llvm::SmallVector<int>> map;
  llvm::DenseSet<mlir::Value> gradients;
  /// The most chains any value has: what an unseen value may depend on.
  int highest = 1;
};

/// True for the ops chain-autodiff emits to compute gradients (every op of
/// ChainGradOps.td except chain.extend and chain.weighted_sum, which are
/// causal in their own right).
bool isBackwardOp(mlir::Operation *op);

/// Proves the chain causal rule on `func`. On failure reports, as an error
/// at the op, the first op that breaks the rule (naming the chains and the
/// reason) or that the analysis cannot see through (naming the op). `pass`
/// is the transform pass that needs the proof ("chain-slice"): it prefixes
/// the message, and a note says that the pass refuses such graphs.
mlir::FailureOr<ChainLevels> proveCausality(mlir::func::FuncOp func,
                                            llvm::StringRef pass = {});

} // namespace colm::chain

#endif // COLM_PASSES_CAUSALITYANALYSIS_H
