/*===- PointwiseAbi.h - Arguments of the row-wise kernels ---------*- C -*-===//
 *
 * The operands of the row-wise kernels of a CoLM layer (chain RMSNorm, RoPE,
 * SwiGLU, forward and backward), as plain C so that generated kernels paste
 * these very definitions (one macro each, like COLM_GEMM_ARGS_STRUCT in
 * runtime/KernelAbi.h). Rows (tokens) are the dynamic size; every tensor is
 * row-major and dense, `width` floats per row (the width is in the spec).
 *
 *===----------------------------------------------------------------------===*/
#ifndef COLM_RUNTIME_ABI_POINTWISEABI_H
#define COLM_RUNTIME_ABI_POINTWISEABI_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Forward: y = x / rms(group) * gain. Backward: dx and dgain from x, gain and
 * dy (dgain summed over all rows; columns of frozen chains get 0). Pointers
 * a direction does not use may be null. */
#define COLM_NORM_ARGS_STRUCT                                                  \
  typedef struct ColmNormArgs {                                                \
    const float *x;                                                            \
    const float *gain;                                                         \
    const float *dy;                                                           \
    float *y;                                                                  \
    float *dx;                                                                 \
    float *dgain;                                                              \
    int64_t rows;                                                              \
  } ColmNormArgs;
COLM_NORM_ARGS_STRUCT

/* y = rotate(x) per head by position (positions[row], or the row index when
 * positions is null); y may be x. */
#define COLM_ROPE_ARGS_STRUCT                                                  \
  typedef struct ColmRopeArgs {                                                \
    const float *x;                                                            \
    const int32_t *positions;                                                  \
    float *y;                                                                  \
    int64_t rows;                                                              \
  } ColmRopeArgs;
COLM_ROPE_ARGS_STRUCT

/* Forward: y = silu(gate) * up. Backward: dgate and dup from gate, up, dy. */
#define COLM_SWIGLU_ARGS_STRUCT                                                \
  typedef struct ColmSwiGluArgs {                                              \
    const float *gate;                                                         \
    const float *up;                                                           \
    const float *dy;                                                           \
    float *y;                                                                  \
    float *dgate;                                                              \
    float *dup;                                                                \
    int64_t rows;                                                              \
  } ColmSwiGluArgs;
COLM_SWIGLU_ARGS_STRUCT

#ifdef __cplusplus
}
#endif

#endif /* COLM_RUNTIME_ABI_POINTWISEABI_H */
