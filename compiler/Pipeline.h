//===- Pipeline.h - graphs of model directories -----------------*- C++ -*-===//
#ifndef COLM_COMPILER_PIPELINE_H
#define COLM_COMPILER_PIPELINE_H

#include "compiler/Interpreter.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/OwningOpRef.h"
#include "runtime/Config.h"
#include "runtime/Status.h"

#include <thread>

namespace colm {

/// Turns MLIR diagnostics into a Status: while alive, errors are collected
/// instead of printed; `status()` holds the first one, with its location.
class DiagnosticCapture {
public:
  explicit DiagnosticCapture(mlir::MLIRContext &context);
  Status status(const std::string &fallback) const;

private:
  /// Errors of other threads pass on to their own capture: the context has
  /// one handler stack for every thread.
  std::thread::id owner;
  mlir::ScopedDiagnosticHandler handler;
  std::string first;
};

/// The forward graph of the k-chain sub-model (k = 0: all chains), proven
/// causal: buildColm, then chain-slice{chains=k} and chain-verify-causality.
Result<mlir::OwningOpRef<mlir::ModuleOp>>
buildSubModel(mlir::MLIRContext &context, const ModelConfig &config,
              unsigned k);

/// chain-slice{chains=k} (unless k is 0 or all chains), then
/// chain-verify-causality, on every function of `module`.
Status sliceAndVerify(mlir::ModuleOp module, const ModelConfig &config,
                      unsigned k);

/// Runs `@forward` of `module` on token ids and returns the logits [T, V].
Result<HostTensor> runForward(mlir::ModuleOp module,
                              const std::vector<int32_t> &tokens,
                              const TensorMap &params);

/// Weight entries one token's forward pass multiplies in `module` (every
/// chain linear counted without its zero blocks, dense linears, LM heads
/// over their chain prefix; not the embedding). FLOPs per token are twice
/// this.
int64_t multipliedWeights(mlir::ModuleOp module);

} // namespace colm

#endif // COLM_COMPILER_PIPELINE_H
