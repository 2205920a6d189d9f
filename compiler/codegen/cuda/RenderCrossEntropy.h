//===- RenderCrossEntropy.h - LM head + cross-entropy as CUDA ---*- C++ -*-===//
//
// The two phases of compiler/codegen/CrossEntropy.h without the [T, V]
// logits, each logit one fp32 dot product recomputed where needed:
//   rows    a block per row: its max and sum of exponentials (per-thread
//           online softmax over the vocabulary, then block reductions in
//           double), its loss into the workspace, and dX: the vocabulary
//           in chunks of 256 dlogits through shared memory, each thread
//           owning columns of the row;
//   vocab   a block per vocabulary row: dW's columns accumulated over the
//           token rows in chunks of 256 dlogits; block 0's thread 0 writes
//           the mean loss.
// SIMT fp32 arithmetic (the GEMM-shaped parts are still to move to tensor
// cores); results agree with the reference within rounding.
//
//===----------------------------------------------------------------------===//
#ifndef COLM_COMPILER_CODEGEN_CUDA_RENDERCROSSENTROPY_H
#define COLM_COMPILER_CODEGEN_CUDA_RENDERCROSSENTROPY_H

#include "compiler/codegen/CrossEntropy.h"
#include "compiler/codegen/cuda/CudaSource.h"

namespace colm::codegen::cuda {

std::string renderCrossEntropy(const CrossEntropySpec &spec, CudaBuild build);

} // namespace colm::codegen::cuda

#endif // COLM_COMPILER_CODEGEN_CUDA_RENDERCROSSENTROPY_H
