/*===- MovementAbi.h - Arguments of the data-movement kernels -----*- C -*-===//
 *
 * The operands of the kernels that move or combine whole tensors in a
 * training graph (chain.embed / embed_grad, add, mul, chain.prefix / extend /
 * concat, chain.weighted_sum), as plain C so that generated kernels paste
 * these very definitions (one macro each, like COLM_GEMM_ARGS_STRUCT in
 * runtime/KernelAbi.h). Rows (tokens) are the dynamic size; widths, strides
 * and the vocabulary are in the spec; every tensor is row-major.
 *
 *===----------------------------------------------------------------------===*/
#ifndef COLM_RUNTIME_ABI_MOVEMENTABI_H
#define COLM_RUNTIME_ABI_MOVEMENTABI_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Forward: y[r, :] = table[tokens[r], :] ([vocab, width] table, NaN rows for
 * tokens outside the vocabulary). Backward: dtable [vocab, width] is
 * overwritten with the sum of the dy rows of each token (columns of frozen
 * chains get 0). Pointers a direction does not use may be null. */
#define COLM_EMBED_ARGS_STRUCT                                                 \
  typedef struct ColmEmbedArgs {                                               \
    const float *table;                                                        \
    const int32_t *tokens;                                                     \
    const float *dy;                                                           \
    float *y;                                                                  \
    float *dtable;                                                             \
    int64_t rows;                                                              \
  } ColmEmbedArgs;
COLM_EMBED_ARGS_STRUCT

/* y = a + b or a * b, rows x width dense; y may be a or b (not a partial
 * overlap). */
#define COLM_ELEMENTWISE_ARGS_STRUCT                                           \
  typedef struct ColmElementwiseArgs {                                         \
    const float *a;                                                            \
    const float *b;                                                            \
    float *y;                                                                  \
    int64_t rows;                                                              \
  } ColmElementwiseArgs;
COLM_ELEMENTWISE_ARGS_STRUCT

/* Row r: y[r * dstStride + dstOffset + j] = x[r * srcStride + j], j < width
 * (and the rest of the dst row 0 when the spec says zeroRest); x and y do not
 * overlap. */
#define COLM_COPY_ARGS_STRUCT                                                  \
  typedef struct ColmCopyArgs {                                                \
    const float *x;                                                            \
    float *y;                                                                  \
    int64_t rows;                                                              \
  } ColmCopyArgs;
COLM_COPY_ARGS_STRUCT

/* s = sum_i weights[i] * inputs[i] in double (one scalar per input);
 * out[0] = (float)s and outDouble[0] = s, either may be null. */
#define COLM_WEIGHTED_SUM_ARGS_STRUCT                                          \
  typedef struct ColmWeightedSumArgs {                                         \
    const double *inputs;                                                      \
    float *out;                                                                \
    double *outDouble;                                                         \
  } ColmWeightedSumArgs;
COLM_WEIGHTED_SUM_ARGS_STRUCT

#ifdef __cplusplus
}
#endif

#endif /* COLM_RUNTIME_ABI_MOVEMENTABI_H */
