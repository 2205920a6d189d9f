/*===- AdamWAbi.h - Arguments of the generated AdamW kernels ------*- C -*-===//
 *
 * Plain C: pasted into the generated source (COLM_ADAMW_ARGS_STRUCT) and
 * used by the runtime that launches it. The parameters, gradients and both
 * moments are flat float arrays with one layout; the spec's segments say
 * which ranges are parameters.
 *
 *===----------------------------------------------------------------------===*/
#ifndef COLM_RUNTIME_ABI_ADAMWABI_H
#define COLM_RUNTIME_ABI_ADAMWABI_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Update mode: param, grad, exp_avg, exp_avg_sq and masks are read (the
 * first, third and fourth written), with the per-step scalars: lr (the
 * scheduled rate), grad_scale (the clipping factor, 1 when not clipping),
 * bias_correction1/2 = 1 - beta^t. partials is unused.
 * SumSquares mode: grad and masks are read and partials[b] receives the sum
 * of g^2 over the trainable entries of block b (the spec's block count).
 * masks[s] is segment s's trainable mask (one byte per entry, 1 = trains),
 * read only for segments the spec marks masked; masks itself may be NULL
 * when no segment is. */
#define COLM_ADAMW_ARGS_STRUCT                                                 \
  typedef struct ColmAdamWArgs {                                               \
    float *param;                                                              \
    const float *grad;                                                         \
    float *exp_avg;                                                            \
    float *exp_avg_sq;                                                         \
    const uint8_t *const *masks;                                               \
    double *partials;                                                          \
    double lr, beta1, beta2, eps, weight_decay;                                \
    double grad_scale, bias_correction1, bias_correction2;                     \
  } ColmAdamWArgs;
COLM_ADAMW_ARGS_STRUCT

/* The squared global norm from SumSquares' partials: summed in ascending
 * block order, so the same for every thread count. */
static inline double colmAdamWSumPartials(const double *partials,
                                          int64_t count) {
  double s = 0;
  for (int64_t i = 0; i < count; ++i)
    s += partials[i];
  return s;
}

#ifdef __cplusplus
}
#endif

#endif /* COLM_RUNTIME_ABI_ADAMWABI_H */
