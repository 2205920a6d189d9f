//===- GemmTuner.h - Measure the CUDA chain GEMM's tiles on a GPU -*- C++ -*-=//
//
// The CUDA chain GEMM's block tile (knobs.cuda) changes its speed, never
// its bits. The tuner renders the candidate tiles of one spec, builds them
// for the device, checks on the device that they agree bit for bit, and
// times them with CUDA events: a warm-up, then interleaved rounds of
// samples whose median counts, each launch on its own copy of the operands
// so that together they exceed the L2 cache (a GEMM of a training step
// does not find its inputs there either). The winners go into the GPU's
// TuningCache (TuningDevice::fromGpu: GPU name, architecture, driver);
// chooseTile() reads them back when the cuda backend compiles.
//
//===----------------------------------------------------------------------===//
#ifndef COLM_COMPILER_CODEGEN_CUDA_GEMMTUNER_H
#define COLM_COMPILER_CODEGEN_CUDA_GEMMTUNER_H

#include "compiler/codegen/ChainGemm.h"
#include "compiler/codegen/TuningCache.h"
#include "compiler/codegen/cpu/CpuJit.h"
#include "compiler/codegen/cpu/GemmTuner.h"
#include "runtime/cuda/CublasLt.h"
#include "runtime/cuda/CudaDriver.h"

#include <string>
#include <vector>

namespace colm::codegen::cuda {

/// The tiles worth measuring for `spec`, the default (64 x 64 x 32) first:
/// rows 64 or 128 x columns 32, 64 or 128 x reduction steps of 32 or 64,
/// those whose shared memory fits (checkTile). 8 to 12 candidates.
std::vector<CudaGemmTile> tileCandidates(const ChainGemmSpec &spec);

/// "128x64, k step 32".
std::string describeTile(const CudaGemmTile &tile);

/// Tunes `spec`'s CUDA tile (its other knobs are kept) for `dynamicSize`
/// rows of its dynamic dimension on device `ordinal`, the candidates built
/// by buildModules (so emulator builds under $COLM_CUDA_SIM_IMAGES=1, for
/// the tests' fake driver). The timings are
/// milliseconds per launch from CUDA events; `options.candidates` (their
/// cuda tiles), `repeats`, `warmupSeconds`, `minSampleSeconds` and
/// `maxCandidates` mean what they mean for the CPU tuner. A candidate whose
/// bits differ from the default's is an internal error. Where the spec is
/// libraryEligible and cuBLASLt works (`tryCublas`), the library is one
/// more candidate (knobs.cuda.cublas), checked within rounding of the
/// default kernel's result. Store the result with record(spec, ...) and
/// tileKey(spec) as its shape key.
Result<cpu::TuneResult> tuneChainGemm(const ChainGemmSpec &spec,
                                      int64_t dynamicSize, int ordinal,
                                      CpuJit &jit,
                                      const cpu::TuneOptions &options = {},
                                      bool tryCublas = true);

/// How cuBLASLt runs `spec` (libraryEligible): its operands' layout and
/// precision; the sizes come from each launch's arguments.
colm::cuda::LtGemm libraryGemm(const ChainGemmSpec &spec);

/// The key of `spec`'s tile in a GPU's tuning cache: its shape key, and
/// " bf16" for the tensor-core path (the fp32 path is another kernel).
std::string tileKey(const ChainGemmSpec &spec);

/// The tile to compile `spec` with for the GPU `cache` belongs to: the
/// tuned one when stored and usable (checkTile), else the default; a
/// stored tile that does not suit is reported on stderr. A stored cuBLASLt
/// verdict applies where the library can run the spec; a fused form of
/// the shape gets the fastest tile stored beside it.
CudaGemmTile chooseTile(const ChainGemmSpec &spec, const TuningCache *cache,
                        bool *tuned = nullptr);

} // namespace colm::codegen::cuda

#endif // COLM_COMPILER_CODEGEN_CUDA_GEMMTUNER_H
