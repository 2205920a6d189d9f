//===- RenderPointwise.h - Row-wise kernels as CUDA -------------*- C++ -*-===//
//
// Chain RMSNorm (forward), RoPE (and its inverse) and SwiGLU (forward and
// backward) over the CPU renderer's specs (compiler/codegen/Pointwise.h):
// one block per row in a grid-stride loop over rows; the norm's statistics
// are block reductions (warp shuffles, then the warps' sums through shared
// memory), in double as the CPU kernels compute. The order of the sums (and
// device libm) differ from the CPU kernels', so results agree with the
// references within rounding, not bit for bit.
//
//===----------------------------------------------------------------------===//
#ifndef COLM_COMPILER_CODEGEN_CUDA_RENDERPOINTWISE_H
#define COLM_COMPILER_CODEGEN_CUDA_RENDERPOINTWISE_H

#include "compiler/codegen/Pointwise.h"
#include "compiler/codegen/cuda/CudaSource.h"

namespace colm::codegen::cuda {

// The host entry point (HostSim) is the CPU renderer's symbol ("colm_" +
// the spec's name, on every target: cpu::chainNormSymbol, ...); the CUDA
// kernel is that + "_kernel".

/// Forward, or backward: dx by rows, and dgain by chunks of columns, each
/// column summed over all rows in ascending order (its block recomputes the
/// rows' statistics for the groups it touches).
std::string renderChainNorm(const ChainNormSpec &spec, CudaBuild build);
std::string renderRope(const RopeSpec &spec, CudaBuild build);
std::string renderSwiGlu(const SwiGluSpec &spec, CudaBuild build);

} // namespace colm::codegen::cuda

#endif // COLM_COMPILER_CODEGEN_CUDA_RENDERPOINTWISE_H
