//===- RenderAdamW.h - AdamW over flat memory as CUDA -----------*- C++ -*-===//
//
// compiler/codegen/AdamW.h's two modes on the device, where a GPU run keeps
// its fp32 master weights and moments:
//   Update      one thread per entry (grid-stride over the segments'
//               concatenation), the reference's double expressions without
//               contraction (NVRTC --fmad=false, -ffp-contract=off on the
//               emulator): bit for bit runtime/Optimizer's step;
//   SumSquares  one block per partial block of entries, a double block
//               reduction (another order than the reference's ascending
//               sum: equal within rounding).
//
//===----------------------------------------------------------------------===//
#ifndef COLM_COMPILER_CODEGEN_CUDA_RENDERADAMW_H
#define COLM_COMPILER_CODEGEN_CUDA_RENDERADAMW_H

#include "compiler/codegen/AdamW.h"
#include "compiler/codegen/cuda/CudaSource.h"

namespace colm::codegen::cuda {

std::string renderAdamW(const AdamWSpec &spec, CudaBuild build);

} // namespace colm::codegen::cuda

#endif // COLM_COMPILER_CODEGEN_CUDA_RENDERADAMW_H
