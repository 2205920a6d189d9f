/*===- AttentionAbi.h - Arguments of the fused attention kernels -*- C -*-===//
//
// Plain C, pasted into every rendered attention kernel through the macro
// below, so generated code and the runtime share one definition.
//
// Layouts (chain.attention's): q, out, dout, dq are [Tq, h*hd] and k, v, dk,
// dv are [Tk, h_kv*hd], row-major with leading dimensions in elements, head
// j in columns [j*hd, (j+1)*hd). Query row i is key position i + Tk - Tq.
// lse is [h, Tq]: lse[j*Tq + i] = log(sum over keys of exp(score)), with
// score = q.k / sqrt(hd), what the backward recomputes probabilities from.
//
//===----------------------------------------------------------------------===*/
#ifndef COLM_RUNTIME_ABI_ATTENTIONABI_H
#define COLM_RUNTIME_ABI_ATTENTIONABI_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Paged (decoding over a paged key/value cache): the keys are `past` cached
   positions and then the tq new rows k, v ([tq, ldk]); query row i is key
   position past + i (causal). Cached position p is row
   blocks[p / block_size] * block_size + p % block_size of k_cache and
   v_cache (leading dimension ld_cache, a pool of blocks shared by
   sequences); lse as the forward's with Tq = tq.
   Forward: out and lse written. Backward (Tq <= Tk): dq, dk, dv overwritten;
   out and lse are the forward's. ldq is the leading dimension of q, out,
   dout and dq; ldk that of k, v, dk and dv. */
#define COLM_ATTENTION_ARGS_STRUCT                                             \
  typedef struct ColmAttentionArgs {                                           \
    const float *q;                                                            \
    const float *k;                                                            \
    const float *v;                                                            \
    float *out;                                                                \
    float *lse;                                                                \
    int64_t tq, tk;                                                            \
    int64_t ldq, ldk;                                                          \
  } ColmAttentionArgs;                                                         \
  typedef struct ColmAttentionGradArgs {                                       \
    const float *q;                                                            \
    const float *k;                                                            \
    const float *v;                                                            \
    const float *out;                                                          \
    const float *dout;                                                         \
    const float *lse;                                                          \
    float *dq;                                                                 \
    float *dk;                                                                 \
    float *dv;                                                                 \
    int64_t tq, tk;                                                            \
    int64_t ldq, ldk;                                                          \
  } ColmAttentionGradArgs;                                                     \
  typedef struct ColmPagedAttentionArgs {                                      \
    const float *q;                                                            \
    const float *k;                                                            \
    const float *v;                                                            \
    const float *k_cache;                                                      \
    const float *v_cache;                                                      \
    const int32_t *blocks;                                                     \
    float *out;                                                                \
    float *lse;                                                                \
    int64_t tq, past;                                                          \
    int64_t ldq, ldk, ld_cache, block_size;                                    \
  } ColmPagedAttentionArgs;
COLM_ATTENTION_ARGS_STRUCT

#ifdef __cplusplus
}
#endif

#endif /* COLM_RUNTIME_ABI_ATTENTIONABI_H */
