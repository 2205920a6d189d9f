/*===- CrossEntropyAbi.h - Arguments of the LM head + loss kernels -*- C
 *-*-===//
 *
 * Plain C: pasted into the generated source (COLM_CROSS_ENTROPY_ARGS_STRUCT)
 * and used by the runtime that launches it.
 *
 * The fused LM head and cross-entropy runs as two launches of one spec's
 * two phases over the same arguments (the second after the first has
 * finished on every thread):
 *   rows phase   threads own rows of X: logits of a chunk of rows, each
 *                row's max, sum of exponentials and loss (into workspace),
 *                dX (+)= dlogits W[:, :dk];
 *   vocab phase  threads own rows of W: the same logits for their vocabulary
 *                rows, dlogits from the workspace, dW (+)= dlogits^T X, and
 *                thread 0 writes the mean loss.
 * dlogits = scale / t * (softmax - onehot(target)): the gradient of
 * scale * mean loss. Targets must lie in [0, V); a row whose target does
 * not gets a NaN loss and no one-hot term.
 *
 *===----------------------------------------------------------------------===*/
#ifndef COLM_RUNTIME_ABI_CROSSENTROPYABI_H
#define COLM_RUNTIME_ABI_CROSSENTROPYABI_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* x [t, ldx], w [V, ldw], dx [t, lddx], dw [V, lddw] (first dk columns of
 * each used); workspace: 3 * t doubles; loss: one double. */
#define COLM_CROSS_ENTROPY_ARGS_STRUCT                                         \
  typedef struct ColmCrossEntropyArgs {                                        \
    const float *x;                                                            \
    const float *w;                                                            \
    const int32_t *targets;                                                    \
    float *dx;                                                                 \
    float *dw;                                                                 \
    double *workspace;                                                         \
    double *loss;                                                              \
    int64_t t, ldx, ldw, lddx, lddw;                                           \
    double scale;                                                              \
  } ColmCrossEntropyArgs;
COLM_CROSS_ENTROPY_ARGS_STRUCT

#ifdef __cplusplus
}
#endif

#endif /* COLM_RUNTIME_ABI_CROSSENTROPYABI_H */
