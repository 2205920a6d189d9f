//===- RenderAttention.h - Fused causal attention as CUDA -------*- C++ -*-===//
//
// chain.attention and its gradient over the CPU renderer's spec
// (compiler/codegen/Attention.h), FlashAttention-style without a Tq x Tk
// matrix in memory: key/value tiles staged in shared memory, causal tiles
// past a query tile's last row skipped.
//   forward   a block of 4 warps per (head, 16 query rows), 4 rows per
//             warp; a lane scores one key of a 32-key tile, the warp keeps
//             each row's online softmax (max, sum) and its output (each
//             lane a slice of the head dimension); writes out and lse.
//   backward  blocks per (head, 16 query rows) accumulate dq over key
//             tiles; blocks per (kv head, key tile) accumulate dk and dv
//             over every query head that reads it and every query tile
//             (no atomics: each output element has one owner). The
//             probabilities come back from lse; D = dout . out per row.
// The decode step is the forward at Tq = 1 over the KV cache in place
// (ldk its row stride). SIMT arithmetic in fp32 (tensor cores are still
// to come): results agree with the reference within fp32 rounding.
//
//===----------------------------------------------------------------------===//
#ifndef COLM_COMPILER_CODEGEN_CUDA_RENDERATTENTION_H
#define COLM_COMPILER_CODEGEN_CUDA_RENDERATTENTION_H

#include "compiler/codegen/Attention.h"
#include "compiler/codegen/cuda/CudaSource.h"

namespace colm::codegen::cuda {

/// The kernel of a valid spec (its knobs are the CPU's and are ignored);
/// head sizes up to 128.
std::string renderAttention(const AttentionSpec &spec, CudaBuild build);

} // namespace colm::codegen::cuda

#endif // COLM_COMPILER_CODEGEN_CUDA_RENDERATTENTION_H
