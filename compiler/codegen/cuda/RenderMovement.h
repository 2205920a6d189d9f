//===- RenderMovement.h - Element-wise and copy kernels as CUDA -*- C++ -*-===//
//
// The first kernels of the CUDA renderer, over the same specs as the CPU
// renderer's (compiler/codegen/Movement.h): one thread per element, in
// grid-stride loops, so any grid is correct.
//
//===----------------------------------------------------------------------===//
#ifndef COLM_COMPILER_CODEGEN_CUDA_RENDERMOVEMENT_H
#define COLM_COMPILER_CODEGEN_CUDA_RENDERMOVEMENT_H

#include "compiler/codegen/Movement.h"
#include "compiler/codegen/cuda/CudaSource.h"

namespace colm::codegen::cuda {

// The host entry point (HostSim) is the CPU renderer's symbol ("colm_" +
// the spec's name, on every target: cpu::elementwiseSymbol,
// cpu::copySymbol); the CUDA kernel is that + "_kernel".

/// The embedding lookup, and its gradient (one block per vocabulary row,
/// each column summed over the rows of that token in order: no atomics).
std::string renderEmbed(const EmbedSpec &spec, CudaBuild build);
/// The multi-chain loss's weighted sum, on one thread.
std::string renderWeightedSum(const WeightedSumSpec &spec, CudaBuild build);
std::string renderElementwise(const ElementwiseSpec &spec, CudaBuild build);
std::string renderCopy(const CopySpec &spec, CudaBuild build);

} // namespace colm::codegen::cuda

#endif // COLM_COMPILER_CODEGEN_CUDA_RENDERMOVEMENT_H
