//===- ChainGemm.h - The block-skipping chain GEMM kernel -------*- C++ -*-===//
//
// A kernel description shared by every renderer (host C++ now, CUDA C++
// later): C (+)= op(A) * op(B), where C's columns fall into blocks and each
// block keeps only a range of rows and of the reduction. The three products
// of a chain linear (spec/colm.md section 2) are this one kernel:
//
//   forward       Y[M, out] = X[M, in] * W[out, in]^T
//                 column block i (output chain i) reduces over input chains
//                 1..i only;
//   input grad    dX[M, in] = dY[M, out] * W[out, in]
//                 column block j (input chain j) reduces over output chains
//                 j..n only;
//   weight grad   dW[out, in] = dY[M, out]^T * X[M, in]
//                 column block j keeps rows of output chains j..n only (the
//                 blocks above the diagonal are never computed).
//
// So the useful FLOPs are the chain fraction of the dense product.
//
//===----------------------------------------------------------------------===//
#ifndef COLM_COMPILER_CODEGEN_CHAINGEMM_H
#define COLM_COMPILER_CODEGEN_CHAINGEMM_H

#include "runtime/KernelAbi.h"
#include "runtime/Status.h"

#include <cstdint>
#include <string>
#include <vector>

namespace colm::codegen {

/// Columns [nBegin, nEnd) of C reduce over [kBegin, kEnd) and compute rows
/// [mBegin, mEnd) only. -1 as an end means "to the dynamic size".
struct GemmBlock {
  int64_t nBegin = 0, nEnd = 0;
  int64_t kBegin = 0, kEnd = -1;
  int64_t mBegin = 0, mEnd = -1;
  /// The product of a grouped GEMM that the columns belong to.
  int group = 0;
  bool operator==(const GemmBlock &) const = default;
};

/// The CUDA chain GEMM's block tile: bm rows x bn columns of C per thread
/// block, bk of the reduction staged in shared memory per step. Like the
/// CPU knobs, a speed choice only: the bits do not depend on it.
struct CudaGemmTile {
  int bm = 64, bn = 64, bk = 32;
  /// cuBLASLt runs this GEMM instead (a dense product without prologue or
  /// epilogue only, see libraryEligible): the tuner's verdict where the
  /// library beat every tile. Not bit-identical to the kernel's result.
  bool cublas = false;
  bool operator==(const CudaGemmTile &) const = default;
};

/// Tuning knobs: the micro-kernel tile (mr rows x nr columns of C held in
/// registers) and the cache blocking (kc of the reduction, mc rows of A per
/// packed B panel) of the CPU kernel, and the CUDA kernel's block tile.
/// Values, never semantics: every choice computes the same numbers, in the
/// same order per output element.
struct GemmKnobs {
  int mr = 8, nr = 32;
  int kc = 256, mc = 96;
  CudaGemmTile cuda;
  bool operator==(const GemmKnobs &) const = default;
};

enum class GemmUse { Forward, InputGrad, WeightGrad, Dense };

/// A SwiGLU epilogue (chain.fused gemm_swiglu / gemm_swiglu_grad), applied
/// per element of the finished product P with gate g (and up u) read at
/// args.g (args.u), rows args.lde apart, in double as the SwiGLU kernel
/// does: the same bits as the product and the SwiGLU run one after the
/// other.
///   Forward   P is the up projection: C = silu(g) * P, and args.c2 (if not
///             null) = P;
///   Backward  P is dh, the gradient of the SwiGLU's output: C = dgate,
///             args.c2 = dup.
enum class SwiGluEpilogue { None, Forward, Backward };

struct ChainGemmSpec {
  GemmUse use = GemmUse::Dense;
  /// Static sizes; -1 marks the dynamic one (M for forward and input grad,
  /// K for weight grad: the token count).
  int64_t m = -1, n = 0, k = 0;
  /// A stored [K, M] instead of [M, K]; B stored [N, K] instead of [K, N].
  bool aTransposed = false, bTransposed = false;
  /// C += product instead of C = product (rows and columns outside every
  /// block are never written either way).
  bool accumulate = false;
  /// C = product + R (R [M, N], row stride ldr): the add epilogue of a
  /// chain.fused gemm_add. R is added once per element after the whole
  /// reduction, so C has the bits of the product and a separate add.
  bool addend = false;
  SwiGluEpilogue swiglu = SwiGluEpilogue::None;
  /// bf16 mixed precision: every element of A and B is rounded to bf16
  /// (nearest, ties to even) as it is read; products and sums stay fp32.
  bool bf16 = false;
  /// B is stored as bf16 (uint16 bit patterns, already rounded; ldb in
  /// elements): an inference program's weights, converted once when bound.
  /// The bits are those of the bf16 spec on the fp32 weights. Needs bf16 and
  /// bTransposed.
  bool bBf16 = false;
  std::vector<GemmBlock> blocks;
  /// A grouped GEMM (chain.fused grouped_gemm, grouped_gemm_swiglu): the
  /// products of one A by 2 to COLM_GEMM_MAX_GROUPS B's (q/k/v; gate/up),
  /// A packed once for all. Product g has groupColumns[g] columns; its
  /// blocks are those of `group` g, at columns after the products before it
  /// (n is the sum). Its B and C are args.b and args.c for g = 0, else
  /// args.gb[g - 1] and args.gc[g - 1]. Empty: one product. With a forward
  /// SwiGLU: two products of the same blocks, the gate and up; the kernel
  /// writes the gate (args.g must be its C) before the up tiles beside it,
  /// and applies the epilogue to up.
  std::vector<int64_t> groupColumns;
  /// A norm prologue (chain.fused norm_grouped_gemm, ...): A is x, and the
  /// product reads chain RMSNorm(x) times args.gain, over the statistics
  /// groups normBounds ({0, ..., k}) with normEps, computed as the norm
  /// kernel does (the same bits as the norm, then the product). args.an,
  /// when not null, receives the normalised A (rows k apart). Empty: none.
  std::vector<int64_t> normBounds;
  double normEps = 0;
  /// A RoPE epilogue (chain.fused ... with chain.rope after products): the
  /// products whose bit is set (bit 0 for one product) are rotated per head
  /// of ropeHeadDim columns by each row's position (args.positions, or the
  /// row index when null), angle position * ropeTheta^(-2m / headDim), with
  /// the RoPE kernel's own code (the same bits as the product, then RoPE).
  unsigned ropeProducts = 0;
  int64_t ropeHeadDim = 0;
  double ropeTheta = 0;
  GemmKnobs knobs;

  /// A stable name for caches and dumps, e.g.
  /// "gemm_fwd_n512_k512_b3_8x32_kc256_mc96_3f2a".
  std::string name() const;
  /// Everything of the spec but the knobs, the epilogue and the precision,
  /// readable: what autotuning results are keyed by (an addend read once per
  /// element, or inputs rounded as they are packed, do not move the best
  /// knobs), e.g. "fwd m=d n=512 k=512 at=0 bt=1 acc=0
  /// blocks=0-128:0-128:0-d,...".
  std::string shapeKey() const;
  /// Multiply-adds per row of the dynamic dimension (or in total when M and
  /// K are static), counting only the kept blocks.
  double multiplyAddsPerRow() const;
};

/// The chain products of a chain linear W[out, in] with chain ratios
/// `chains` (the same ratios split both dimensions).
ChainGemmSpec chainLinearForward(const std::vector<int64_t> &chains, int64_t in,
                                 int64_t out);
ChainGemmSpec chainLinearInputGrad(const std::vector<int64_t> &chains,
                                   int64_t in, int64_t out);
/// `fromChain` > 1: chains 1..fromChain-1 are frozen (chain tuning, the
/// `from_chain` of chain.linear_grad_w): their output rows are not computed.
ChainGemmSpec chainLinearWeightGrad(const std::vector<int64_t> &chains,
                                    int64_t in, int64_t out,
                                    unsigned fromChain = 1);
/// A dense C[M, N] = A[M, K] * B (B stored [N, K] when bTransposed).
ChainGemmSpec denseGemm(int64_t n, int64_t k, bool bTransposed);

/// The products of one A as one grouped GEMM (see groupColumns): the same
/// M, K, layout and precision; forward products (B stored [N, K]) without
/// epilogues.
ChainGemmSpec groupGemms(const std::vector<ChainGemmSpec> &products);
/// The first column of product `g` of a grouped GEMM (0 for an ungrouped).
int64_t groupStart(const ChainGemmSpec &spec, int g);
/// For harnesses (tests, the tuner) that keep a grouped GEMM's B as one
/// [N, K] matrix and its C as one [M, N] one: each product's B and C
/// pointers and strides, from args.b, args.c, ldb and ldc.
void setContiguousGroups(const ChainGemmSpec &spec, ColmGemmArgs &args);

/// Whether cuBLASLt can run `spec` (CudaGemmTile::cublas): one dense block
/// (every row, column and reduction index), no group, prologue or epilogue
/// but accumulation, fp32 operands in memory.
bool libraryEligible(const ChainGemmSpec &spec);

/// Checks the spec: block columns in order, disjoint and covering [0, n);
/// ranges inside the static sizes; knobs the renderers support; an addend
/// or a SwiGLU epilogue only where every block writes every row, not
/// both, and not with accumulate; groups as groupColumns says; a norm
/// prologue only on A stored [M, K] with a static K.
Status validateChainGemm(const ChainGemmSpec &spec);

/// `x` rounded to the nearest bf16 (ties to even; NaN stays NaN), as a
/// float: what a bf16 GEMM reads.
float roundToBf16(float x);
/// The same rounding as a bf16 bit pattern, and back (exact).
uint16_t toBf16Bits(float x);
float fromBf16Bits(uint16_t h);

/// The reference: plain loops in double, rounded to float once per output
/// element. Every renderer is checked against it.
void chainGemmReference(const ChainGemmSpec &spec, const ColmGemmArgs &args);

} // namespace colm::codegen

#endif // COLM_COMPILER_CODEGEN_CHAINGEMM_H
