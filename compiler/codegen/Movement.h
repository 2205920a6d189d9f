//===- Movement.h - The data-movement kernels of a training graph -*- C++ -*-=//
//
// Kernel descriptions shared by every renderer for the steps of a graph that
// move or combine whole tensors, as the reference interpreter computes them
// (compiler/Interpreter.cpp, compiler/InterpreterGrad.cpp):
//
//   chain.embed / embed_grad  table rows by token, and their sum per token;
//   add, mul                  element-wise, float;
//   chain.prefix / extend /   one strided row copy (a column range of the
//   concat                    source into a column range of the destination,
//                             the rest of each row zeroed or left alone);
//   chain.weighted_sum        a scalar sum of weighted scalars, in double.
//
// Rows (tokens) are the dynamic size. Every output element is computed by
// one thread with the same operations whatever the thread count; embed_grad,
// a sum over rows, is split by columns so that every sum runs in ascending
// row order.
//
//===----------------------------------------------------------------------===//
#ifndef COLM_COMPILER_CODEGEN_MOVEMENT_H
#define COLM_COMPILER_CODEGEN_MOVEMENT_H

#include "runtime/Status.h"
#include "runtime/abi/MovementAbi.h"

#include <cstdint>
#include <string>
#include <vector>

namespace colm::codegen {

/// Forward: y[r, :] = table[tokens[r], :], a NaN row for a token outside
/// [0, vocab). Backward (chain.embed_grad): dtable[v, c] = the sum over rows
/// r with tokens[r] == v, ascending, of dy[r, c], in double and rounded once
/// (as the interpreter sums), for c >= dBegin; columns below dBegin (frozen
/// chains) are 0 and tokens out of range are skipped. dtable is overwritten.
struct EmbedSpec {
  int64_t vocab = 0;
  int64_t width = 0; ///< of the table, y and dy
  bool backward = false;
  int64_t dBegin = 0; ///< backward only

  /// e.g. "embed_fwd_v256_w128", "embed_bwd_v256_w128_d32".
  std::string name() const;
};

/// The spec of chain.embed_grad into a table of `width` columns with chain
/// layout `chains` (empty: unchained, chain 1 throughout): chains
/// 1..fromChain-1 are frozen (from_chain; 0 = none).
EmbedSpec embedGrad(int64_t vocab, int64_t width,
                    const std::vector<int64_t> &chains = {},
                    unsigned fromChain = 0);

Status validateEmbed(const EmbedSpec &spec);
void embedReference(const EmbedSpec &spec, const ColmEmbedArgs &args);

/// y = a op b over rows x width floats, rounded as float arithmetic rounds
/// (the interpreter's a + b in double rounded to float is the same bits).
struct ElementwiseSpec {
  enum class Op { Add, Mul };
  Op op = Op::Add;
  int64_t width = 0;

  /// e.g. "add_w128", "mul_w7".
  std::string name() const;
};

Status validateElementwise(const ElementwiseSpec &spec);
void elementwiseReference(const ElementwiseSpec &spec,
                          const ColmElementwiseArgs &args);

/// y[r * dstStride + dstOffset + j] = x[r * srcStride + j] for j < width;
/// with zeroRest the other columns of each dst row are set to 0, else left.
/// chain.prefix: {keep, width, keep}; chain.extend: {w, w, width, 0, true};
/// input i of chain.concat: {w_i, w_i, width, offset_i}.
struct CopySpec {
  int64_t width = 0;
  int64_t srcStride = 0;
  int64_t dstStride = 0;
  int64_t dstOffset = 0;
  bool zeroRest = false;

  /// e.g. "copy_w32_s128_d64_o0", "copy_w32_s32_d128_o0_z".
  std::string name() const;
};

Status validateCopy(const CopySpec &spec);
void copyReference(const CopySpec &spec, const ColmCopyArgs &args);

/// s = sum_i weights[i] * inputs[i] in double, ascending i (chain.
/// weighted_sum); out[0] = float(s), outDouble[0] = s (null: not written).
struct WeightedSumSpec {
  std::vector<double> weights;

  /// e.g. "wsum_n3_1a2b" (the hash covers the weights).
  std::string name() const;
};

Status validateWeightedSum(const WeightedSumSpec &spec);
void weightedSumReference(const WeightedSumSpec &spec,
                          const ColmWeightedSumArgs &args);

} // namespace colm::codegen

#endif // COLM_COMPILER_CODEGEN_MOVEMENT_H
