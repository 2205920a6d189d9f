//===- RenderChainGemm.h - The chain GEMM as CUDA ---------------*- C++ -*-===//
//
// The block-skipping chain GEMM (compiler/codegen/ChainGemm.h) with every
// form the CPU renderer has: grouped products, the norm prologue, the add,
// SwiGLU and RoPE epilogues, accumulation, transposed operands and bf16
// weights. One thread block of 256 threads computes a 64-row tile of one
// product's columns; its reduction runs over the union of its columns'
// chain ranges only (a tile inside one chain block skips all the others),
// and a column's B entries outside its own range are staged as zeros.
// bf16 specs run on tensor cores (mma.sync m16n8k16, A and B fragments by
// ldmatrix, fp32 accumulators); fp32 specs on FMA micro-tiles. The tile
// then goes through shared memory to the epilogue, one element per thread
// in row order (coalesced stores). Results agree with the reference
// within rounding (another summation order), not bit for bit.
//
//===----------------------------------------------------------------------===//
#ifndef COLM_COMPILER_CODEGEN_CUDA_RENDERCHAINGEMM_H
#define COLM_COMPILER_CODEGEN_CUDA_RENDERCHAINGEMM_H

#include "compiler/codegen/ChainGemm.h"
#include "compiler/codegen/cuda/CudaSource.h"

namespace colm::codegen::cuda {

/// The kernel of a valid spec (validateChainGemm); the knobs are the CPU's
/// and are ignored. A RoPE epilogue needs a head size of at most 128.
std::string renderChainGemm(const ChainGemmSpec &spec, CudaBuild build);

} // namespace colm::codegen::cuda

#endif // COLM_COMPILER_CODEGEN_CUDA_RENDERCHAINGEMM_H
