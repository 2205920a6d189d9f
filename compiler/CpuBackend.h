//===- CpuBackend.h - Functions compiled to CPU kernels ---------*- C++ -*-===//
//
// The cpu backend's compiler half: a chain-dialect function lowered for one
// batch shape (codegen/LowerToKernels), its kernels rendered and compiled
// through the process's CpuJit (cached on disk), and a runtime executor to
// run it. GEMM knobs come from this device's tuning cache when present.
//
//===----------------------------------------------------------------------===//
#ifndef COLM_COMPILER_CPUBACKEND_H
#define COLM_COMPILER_CPUBACKEND_H

#include "compiler/codegen/LowerToKernels.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "runtime/Safetensors.h"
#include "runtime/cpu/CpuExecutor.h"

#include <map>
#include <memory>
#include <string>

namespace colm {

/// Which engine runs a model's programs: the reference interpreter, the
/// generated CPU kernels, or the generated CUDA kernels on the host SIMT
/// emulator (CUDA's code path without a GPU: slow, for checking).
enum class Backend { Reference, Cpu, CudaSim, Cuda };
/// "reference", "cpu", "cuda-sim" or "cuda"; anything else is an error
/// listing them.
Result<Backend> parseBackend(const std::string &name);
const char *backendName(Backend backend);
/// Whether the backend runs compiled kernels (cpu, cuda-sim, cuda) rather
/// than the interpreter.
inline bool isCompiled(Backend backend) {
  return backend != Backend::Reference;
}

/// "fp32" or "bf16" (codegen::Precision).
Result<codegen::Precision> parsePrecision(const std::string &name);
const char *precisionName(codegen::Precision precision);
/// The precision of every function compileForCpu compiles from now on in
/// this process (a command's --precision; fp32 unless set).
void setCpuPrecision(codegen::Precision precision);
codegen::Precision cpuPrecision();

/// The host's thread count for kernels: $COLM_THREADS, else every core.
int kernelThreads();

struct CompiledFunction {
  codegen::KernelProgram kernels;
  std::unique_ptr<Executor> executor;
  /// "41 kernels (0 compiled in 0.0 s), 343 launches, arena ...".
  std::string summary;
  /// Wall time of lowering, compiling (or finding in the cache) and loading.
  double seconds = 0;
};

/// Fuses (chain::buildFusionPipeline, on a copy) and lowers `func` for
/// `options`' batch, through the kernel dialect (verified); compiles
/// nothing.
Result<codegen::KernelProgram>
lowerFunction(mlir::func::FuncOp func, const codegen::LoweringOptions &options);

/// Fuses (chain::buildFusionPipeline, on a copy), lowers, compiles and
/// loads `func` for `options`' batch. The GEMM knobs
/// of `options` are filled in from the tuning cache unless set. With
/// Backend::CudaSim the kernels are the CUDA renderer's, built for the
/// SIMT emulator; the executor is the same. With Backend::Cuda: NVRTC
/// cubins for CUDA device $COLM_CUDA_DEVICE (else 0) and a CudaExecutor.
Result<CompiledFunction> compileForCpu(mlir::func::FuncOp func,
                                       codegen::LoweringOptions options,
                                       Backend backend = Backend::Cpu);

/// The parameter memory a binding owns: sub-model slices, and weights
/// converted to bf16 (LoweringOptions::bf16Weights).
struct BoundParams {
  std::vector<std::vector<float>> slices;
  std::vector<std::vector<uint16_t>> bf16;
  /// What each Param was bound to (name: memory, bytes).
  std::map<std::string, std::pair<const void *, int64_t>> bound;
};

/// Binds every Param of `executor` from `params`: the tensor itself when its
/// shape matches, else (a sub-model's slice) the leading block copied into
/// `owned`, which must outlive the runs; a bf16 Param as the bf16 rounding
/// of its tensor (or slice), converted now into `owned`.
Status bindParams(Executor &executor, const TensorMap &params,
                  BoundParams &owned);

/// Binds every Param of `executor` to the memory `owned` recorded when
/// bindParams bound another program of the same parameters; an error for a
/// Param it does not hold (or of another size).
Status bindBoundParams(Executor &executor, const BoundParams &owned);

/// Runs `@forward` of `module` on token ids with the cpu backend (compiled
/// for one sequence of their length) and returns the logits [T, V].
Result<Tensor> runForwardOnCpu(mlir::ModuleOp module,
                               const std::vector<int32_t> &tokens,
                               const TensorMap &params,
                               Backend backend = Backend::Cpu);

/// Position of every row within its sequence, for the "positions" input.
std::vector<int32_t> sequencePositions(int64_t sequences, int64_t length);

} // namespace colm

#endif // COLM_COMPILER_CPUBACKEND_H
