//===- Trainer.h - compiled training and evaluation steps -------*- C++ -*-===//
//
// The training step is a program the compiler builds (chain-autodiff on the
// model's forward graph); this runs it, on the reference interpreter for now,
// one sequence at a time, and averages over the batch.
//
//===----------------------------------------------------------------------===//
#ifndef COLM_COMPILER_TRAINER_H
#define COLM_COMPILER_TRAINER_H

#include "compiler/CpuBackend.h"
#include "compiler/Interpreter.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "runtime/Config.h"
#include "runtime/Status.h"

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace colm {

class CudaOptimizer;

/// One batch: B rows of T input tokens and T target tokens.
struct Batch {
  std::vector<std::vector<int32_t>> inputs, targets;
};

/// Outputs of a step, averaged over the batch.
struct StepOutputs {
  double loss = 0;
  /// Cross-entropy of each sub-model in the loss, by k.
  std::map<unsigned, double> subModelLoss;
  /// Gradient of every trainable parameter, by name (float32).
  TensorMap grads;
};

class StepProgram {
public:
  /// `@train_step` (withGradients) or `@eval_step` for the model of `config`,
  /// compiled through buildColm and chain-autodiff.
  /// `backend` runs it: the reference interpreter, or kernels compiled for
  /// the CPU (on the first run of each batch shape).
  static Result<StepProgram> compile(mlir::MLIRContext &context,
                                     const ModelConfig &config,
                                     const std::string &chainLoss,
                                     unsigned freezeChains, bool withGradients,
                                     Backend backend = Backend::Reference);

  /// Runs the step on every row of the batch and averages.
  Result<StepOutputs> run(const TensorMap &params, const Batch &batch) const;

  Backend backend() const { return engine; }
  /// Compiles (or finds) the step for batches of `sequences` x `length`
  /// without running it; null on the reference backend.
  Result<const CompiledFunction *> prepare(int64_t sequences,
                                           int64_t length) const;
  /// Called after every launch of the compiled step (Executor's launch
  /// hook) with the executor running it; none by default.
  void setLaunchHook(std::function<void(const Executor &, size_t)> hook) {
    launchHook = std::move(hook);
  }
  /// Training on the GPU with the optimizer's state there (--backend cuda):
  /// each run binds the parameters where `optimizer` keeps them instead of
  /// copying the `params` it is given, and returns the losses only (the
  /// gradients stay on the device for optimizer->step). Null: the usual
  /// path.
  void keepOnDevice(CudaOptimizer *optimizer) { resident = optimizer; }
  /// The executor of the last run (null before, and on the reference
  /// backend).
  Executor *lastExecutor() const {
    return last ? last->executor.get() : nullptr;
  }
  /// The cpu backend's compiled step for the last batch shape run (null
  /// before the first run, and on the reference backend).
  const CompiledFunction *compiled() const { return last.get(); }
  /// The step's chain-dialect function (as differentiated).
  mlir::func::FuncOp function() const { return step; }

  mlir::ModuleOp module() { return *moduleOp; }

private:
  mlir::OwningOpRef<mlir::ModuleOp> moduleOp;
  Result<StepOutputs> runCpu(const TensorMap &params, const Batch &batch) const;

  mutable mlir::func::FuncOp step;
  std::vector<std::string> outputNames;
  Backend engine = Backend::Reference;
  /// By (sequences, sequence length): a final short batch of an
  /// evaluation gets its own.
  mutable std::map<std::pair<int64_t, int64_t>,
                   std::shared_ptr<CompiledFunction>>
      cpu;
  mutable std::shared_ptr<CompiledFunction> last;
  mutable BoundParams paramSlices;
  CudaOptimizer *resident = nullptr;
  std::function<void(const Executor &, size_t)> launchHook;
};

} // namespace colm

#endif // COLM_COMPILER_TRAINER_H
