//===- KernelAbi.h - How the runtime calls generated kernels ----*- C++ -*-===//
//
// The contract between generated kernel source (any target) and the runtime
// that launches it: plain C structs and one entry-point signature, so a
// kernel library needs no colm header but this one (it is pasted into every
// rendered source) and the runtime needs no compiler.
//
//===----------------------------------------------------------------------===//
#ifndef COLM_RUNTIME_KERNELABI_H
#define COLM_RUNTIME_KERNELABI_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// The most products one grouped GEMM holds (q, k and v; gate and up).
#define COLM_GEMM_MAX_GROUPS 4

/// Operands of a chain GEMM, C (+)= op(A) * op(B) over the blocks its spec
/// keeps. Dimensions the spec leaves dynamic (-1) come from here; leading
/// dimensions are in elements.
/// (One macro, so the renderers paste exactly this definition into the
/// kernels they generate.)
#define COLM_GEMM_ARGS_STRUCT                                                  \
  typedef struct ColmGemmArgs {                                                \
    const float *a;                                                            \
    const float *b;                                                            \
    float *c;                                                                  \
    int64_t m, n, k;                                                           \
    int64_t lda, ldb, ldc;                                                     \
    const float *r; /* the addend of an add epilogue, or null */               \
    int64_t ldr;                                                               \
    /* A SwiGLU epilogue's gate and up (rows lde apart) and its second         \
     * output (the up projection kept, or dup), or null. */                    \
    const float *g;                                                            \
    const float *u;                                                            \
    float *c2;                                                                 \
    int64_t lde;                                                               \
    /* A grouped GEMM's products after the first (which uses b, c, ldb and     \
     * ldc): each one's B, C and their strides. */                             \
    const float *gb[3];                                                        \
    float *gc[3];                                                              \
    int64_t gldb[3];                                                           \
    int64_t gldc[3];                                                           \
    /* A norm prologue's gain, and where the normalised A goes when kept       \
     * (rows k apart), or null. */                                             \
    const float *gain;                                                         \
    float *an;                                                                 \
    /* A RoPE epilogue's position of each row, or null for the row index. */   \
    const int32_t *positions;                                                  \
  } ColmGemmArgs;
COLM_GEMM_ARGS_STRUCT

/// Every kernel entry point: thread `thread` of `threads` does its fixed share
/// (the split depends only on the shapes and `threads`, and no two threads
/// add into one output, so results do not depend on scheduling).
typedef void (*ColmKernelFn)(const void *args, int thread, int threads);

#ifdef __cplusplus
}
#endif

#endif // COLM_RUNTIME_KERNELABI_H
