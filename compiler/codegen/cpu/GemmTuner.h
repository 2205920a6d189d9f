//===- GemmTuner.h - Measure chain GEMM knobs on this CPU -------*- C++ -*-===//
//
// The chain GEMM's knobs (register tile, cache blocking) change its speed,
// never its result. The tuner renders a small set of candidates for one
// spec, compiles them together, checks that they agree bit for bit, times
// them on realistic operands and returns the fastest. The results go into a
// TuningCache; chooseKnobs() reads them back at compile time.
//
//===----------------------------------------------------------------------===//
#ifndef COLM_COMPILER_CODEGEN_CPU_GEMMTUNER_H
#define COLM_COMPILER_CODEGEN_CPU_GEMMTUNER_H

#include "compiler/codegen/ChainGemm.h"
#include "compiler/codegen/TuningCache.h"
#include "compiler/codegen/cpu/CpuJit.h"
#include "compiler/codegen/cpu/RenderChainGemm.h"
#include "runtime/Status.h"
#include "runtime/ThreadPool.h"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace colm::codegen::cpu {

/// The knobs worth measuring on `isa`, defaultKnobs(isa) first: the tiles
/// that fit the registers with enough accumulators to hide the FMA latency
/// (nr of 2 or 4 vectors), each with a few cache blockings (kc 128..384, mc
/// a multiple of mr in about 48..128). 8 to 16 candidates.
std::vector<GemmKnobs> gemmCandidates(const VectorIsa &isa);

struct TuneOptions {
  /// Timed samples per candidate; its median counts.
  int repeats = 5;
  /// Launches per sample are chosen so that one sample takes at least this
  /// long (short kernels are timed over many launches).
  double minSampleSeconds = 0.02;
  /// Untimed warm-up per candidate (page faults, caches, clocks).
  double warmupSeconds = 0.02;
  /// At most this many candidates, the defaults included (0: all); tests
  /// keep runs short with it.
  size_t maxCandidates = 0;
  /// Candidates to measure instead of gemmCandidates() (the defaults are put
  /// first when missing).
  std::vector<GemmKnobs> candidates;
};

struct CandidateTiming {
  GemmKnobs knobs;
  double ms = 0;               ///< median ms per launch
  std::vector<double> samples; ///< ms per launch of every sample
};

struct TuneResult {
  GemmKnobs best;
  double bestMs = 0;
  GemmKnobs defaults;
  double defaultMs = 0;
  /// Every candidate, in the order measured (the defaults first).
  std::vector<CandidateTiming> timings;
  double compileSeconds = 0; ///< wall time of the JIT for all candidates
  double measureSeconds = 0; ///< wall time of the check and the timing
  /// The TuningCache record of this result.
  TunedKernel record(const ChainGemmSpec &spec, const std::string &label,
                     int64_t dynamicSize) const;
};

/// Tunes `spec` (its knobs are ignored) for `dynamicSize` rows of its
/// dynamic dimension (tokens) on `pool`'s threads. Every candidate must give
/// the same bits as the first on the same operands; a mismatch is an
/// internal error. Candidates are timed in interleaved rounds, so a change
/// of machine load during the run touches all of them alike.
Result<TuneResult> tuneChainGemm(const ChainGemmSpec &spec, int64_t dynamicSize,
                                 CpuJit &jit, ThreadPool &pool,
                                 const TuneOptions &options = {});

/// The knobs to compile `spec` with: the tuned ones when `cache` holds its
/// shape key and they suit the spec and `isa`, else defaultKnobs(isa).
/// `tuned`, when given, says which it was.
GemmKnobs chooseKnobs(const ChainGemmSpec &spec, const VectorIsa &isa,
                      const TuningCache *cache, bool *tuned = nullptr);

/// "12x32, kc 256, mc 96".
std::string describeKnobs(const GemmKnobs &knobs);

} // namespace colm::codegen::cpu

#endif // COLM_COMPILER_CODEGEN_CPU_GEMMTUNER_H
