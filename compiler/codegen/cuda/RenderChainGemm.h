//===- RenderChainGemm.h - The chain GEMM as CUDA ---------------*- C++ -*-===//
//
// The block-skipping chain GEMM (compiler/codegen/ChainGemm.h) with every
// form the CPU renderer has: grouped products, the norm prologue, the add,
// SwiGLU and RoPE epilogues, accumulation, transposed operands and bf16
// weights. One thread block of 256 threads computes a tile of one
// product's columns (knobs.cuda: 64 x 64 by default); its reduction runs over
// the union of its columns' chain ranges only (a tile inside one chain block
// skips all the others), and a column's B entries outside its own range are
// staged as zeros. bf16 specs run on tensor cores (mma.sync m16n8k16, A and B
// fragments by ldmatrix, fp32 accumulators); fp32 specs on FMA micro-tiles. The
// tile then goes through shared memory to the epilogue, one element per thread
// in row order (coalesced stores). Results agree with the reference
// within rounding (another summation order), not bit for bit; the tile
// never changes them.
//
//===----------------------------------------------------------------------===//
#ifndef COLM_COMPILER_CODEGEN_CUDA_RENDERCHAINGEMM_H
#define COLM_COMPILER_CODEGEN_CUDA_RENDERCHAINGEMM_H

#include "compiler/codegen/ChainGemm.h"
#include "compiler/codegen/cuda/CudaSource.h"

namespace colm::codegen::cuda {

/// Static shared memory a kernel may declare.
constexpr int64_t kMaxStaticShared = 48 * 1024;

/// What a spec's CUDA tile (knobs.cuda) makes of it.
struct TileGeometry {
  int64_t bm = 64, bk = 32;
  int64_t bnl = 64; ///< columns computed per block (whole RoPE heads)
  int64_t bn = 64;  ///< columns staged, bnl rounded up to 16
  int64_t smemBytes = 0;
};
TileGeometry tileGeometry(const ChainGemmSpec &spec);

/// Whether a valid spec's tile can be rendered: RoPE heads of at most 128
/// columns, static shared memory within kMaxStaticShared.
Status checkTile(const ChainGemmSpec &spec);

/// The kernel of a valid spec (validateChainGemm) whose tile passes
/// checkTile (else a source that fails to compile, saying why); the CPU
/// knobs are ignored.
std::string renderChainGemm(const ChainGemmSpec &spec, CudaBuild build);

} // namespace colm::codegen::cuda

#endif // COLM_COMPILER_CODEGEN_CUDA_RENDERCHAINGEMM_H
