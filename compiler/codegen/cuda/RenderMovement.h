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

/// "colm_" + the spec's name: the host entry point (HostSim); the CUDA
/// kernel is that + "_kernel".
std::string elementwiseSymbol(const ElementwiseSpec &spec);
std::string copySymbol(const CopySpec &spec);

std::string renderElementwise(const ElementwiseSpec &spec, CudaBuild build);
std::string renderCopy(const CopySpec &spec, CudaBuild build);

} // namespace colm::codegen::cuda

#endif // COLM_COMPILER_CODEGEN_CUDA_RENDERMOVEMENT_H
