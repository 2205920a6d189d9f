//===- Attention.h - Fused causal attention -----------------------*- C++
//-*-===//
//
// A kernel description shared by every renderer: chain.attention (and its
// gradient, chain.attention_grad) without a Tq x Tk matrix in memory. The
// forward runs an online softmax over key tiles and also writes each row's
// log-sum-exp; the backward recomputes the probabilities from it.
//
//===----------------------------------------------------------------------===//
#ifndef COLM_COMPILER_CODEGEN_ATTENTION_H
#define COLM_COMPILER_CODEGEN_ATTENTION_H

#include "runtime/Status.h"
#include "runtime/abi/AttentionAbi.h"

#include <cstdint>
#include <string>

namespace colm::codegen {

/// Which key/value head query head j reads: floor(j*h_kv/h) (grouped, CoLM)
/// or j mod h_kv (tiled, CoLM-Air).
enum class KvMap { Grouped, Tiled };

/// Paged: the forward over a paged key/value cache (ColmPagedAttentionArgs):
/// decoding and extending a sequence whose cached keys and values live in
/// blocks of a pool shared by sequences. Always causal.
enum class AttentionPass { Forward, Backward, Paged };

/// Tile sizes: values, never semantics (a thread count never changes the
/// bits; a different tile may change the last bits of the online softmax).
/// The defaults measured fastest for the CPU kernels at 8 heads of 64 over
/// 256 tokens (AVX-512).
struct AttentionKnobs {
  int blockQ = 64, blockK = 128;
  bool operator==(const AttentionKnobs &) const = default;
};

struct AttentionSpec {
  AttentionPass pass = AttentionPass::Forward;
  int64_t numHeads = 1, numKvHeads = 1, headDim = 64;
  KvMap mapping = KvMap::Grouped;
  /// Query i attends keys 0..i + Tk - Tq; without it, every key.
  bool causal = true;
  AttentionKnobs knobs;

  /// e.g. "attn_fwd_h8_kv2_hd16_grouped_causal_q32_k64".
  std::string name() const;
  int64_t kvHeadOf(int64_t head) const {
    return mapping == KvMap::Tiled ? head % numKvHeads
                                   : head * numKvHeads / numHeads;
  }
};

/// Heads positive, h a multiple of h_kv, head_dim and tiles in [1, 256].
Status validateAttention(const AttentionSpec &spec);

/// The references: plain loops in double (the interpreter's formulas),
/// rounded to float once per output. Tq <= Tk.
void attentionReference(const AttentionSpec &spec,
                        const ColmAttentionArgs &args);
/// The paged forward's reference: the cached rows gathered through the
/// block table, then attentionReference().
void pagedAttentionReference(const AttentionSpec &spec,
                             const ColmPagedAttentionArgs &args);
/// Overwrites dq, dk, dv; reads q, k, v, dout only (not out or lse).
void attentionGradReference(const AttentionSpec &spec,
                            const ColmAttentionGradArgs &args);

} // namespace colm::codegen

#endif // COLM_COMPILER_CODEGEN_ATTENTION_H
