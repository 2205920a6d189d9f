//===- FmaPeak.h - This machine's fp32 FMA rate -----------------*- C++ -*-===//
//
// The physical limit that `colm bench` reports against (peak_fraction): a
// generated kernel of independent fused multiply-add chains, run on every
// thread of the pool, like spec/bench.md's bench/fma_peak.c.
//
//===----------------------------------------------------------------------===//
#ifndef COLM_COMPILER_CODEGEN_CPU_FMAPEAK_H
#define COLM_COMPILER_CODEGEN_CPU_FMAPEAK_H

#include "compiler/codegen/cpu/CpuJit.h"
#include "compiler/codegen/cpu/RenderChainGemm.h"
#include "runtime/Status.h"
#include "runtime/ThreadPool.h"

#include <string>

namespace colm::codegen::cpu {

/// The source of the peak kernel for `isa` (symbol colm_fma_peak).
std::string renderFmaPeak(const VectorIsa &isa);

/// fp32 FLOP/s of FMAs over all threads of `pool`: the best of a few runs of
/// about `seconds` each.
Result<double> measureFmaPeak(CpuJit &jit, ThreadPool &pool,
                              double seconds = 0.2);

} // namespace colm::codegen::cpu

#endif // COLM_COMPILER_CODEGEN_CPU_FMAPEAK_H
