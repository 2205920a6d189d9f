//===- Pointwise.h - The row-wise kernels of a CoLM layer -------*- C++ -*-===//
//
// Kernel descriptions shared by every renderer for the row-wise steps of a
// layer, as the reference interpreter computes them (compiler/Interpreter.cpp,
// compiler/InterpreterGrad.cpp):
//
//   chain.norm / chain.norm_grad  RMSNorm per statistics group with a gain;
//   chain.rope                    rotation at given positions, per head; its
//                                 gradient is chain.rope with `inverse`
//                                 (passes/Autodiff.cpp), the same kernel;
//   chain.swiglu / swiglu_grad    silu(gate) * up and its two gradients.
//
// Rows (tokens) are the dynamic size; threads split rows (norm_grad's dgain,
// a sum over rows, is split by columns instead so that every column is summed
// in ascending row order whatever the thread count).
//
//===----------------------------------------------------------------------===//
#ifndef COLM_COMPILER_CODEGEN_POINTWISE_H
#define COLM_COMPILER_CODEGEN_POINTWISE_H

#include "runtime/Status.h"
#include "runtime/abi/PointwiseAbi.h"

#include <cstdint>
#include <string>
#include <vector>

namespace colm::codegen {

/// y = x / sqrt(mean over the group of x^2 + eps) * gain, per row and per
/// statistics group [groupBounds[g], groupBounds[g + 1]); backward computes
/// dx and dgain (chain.norm_grad).
struct ChainNormSpec {
  int64_t width = 0;
  /// {0, b1, ..., width}, strictly increasing: the statistics groups (the
  /// chains of the `stats` layout, else x's layout, else one group).
  std::vector<int64_t> groupBounds;
  double eps = 1e-5;
  bool backward = false;
  /// Backward only: gain columns below this belong to frozen chains
  /// (norm_grad's from_chain) and get dgain = 0.
  int64_t dgainBegin = 0;

  /// e.g. "norm_bwd_w80_g3_0f3a" (the hash covers bounds, eps, dgainBegin).
  std::string name() const;
};

/// The spec of chain.norm (or norm_grad) over `width` with statistics groups
/// in the ratios `stats` (as LayoutAttr::prefixWidth splits them); frozen
/// chains 1..fromChain-1 of the gain's layout `gainChains` get no dgain.
ChainNormSpec chainNorm(const std::vector<int64_t> &stats, int64_t width,
                        double eps, bool backward,
                        const std::vector<int64_t> &gainChains = {},
                        unsigned fromChain = 0);

Status validateChainNorm(const ChainNormSpec &spec);
/// Plain loops in double, as Interpreter::norm / normGrad.
void chainNormReference(const ChainNormSpec &spec, const ColmNormArgs &args);

/// y[m] = x[m] c - x[m + half] s, y[m + half] = x[m + half] c + x[m] s per
/// head of headDim, angle = position * theta^(-2m / headDim); `inverse`
/// rotates by -angle (RoPE's gradient).
struct RopeSpec {
  int64_t width = 0;
  int64_t headDim = 0;
  double theta = 10000.0;
  bool inverse = false;

  /// e.g. "rope_inv_w64_hd16_<hash of theta>".
  std::string name() const;
};

Status validateRope(const RopeSpec &spec);
void ropeReference(const RopeSpec &spec, const ColmRopeArgs &args);

/// y = gate * sigmoid(gate) * up; backward dgate = dy up s (1 + g (1 - s)),
/// dup = dy g s.
struct SwiGluSpec {
  int64_t width = 0;
  bool backward = false;

  /// e.g. "swiglu_bwd_w176".
  std::string name() const;
};

Status validateSwiGlu(const SwiGluSpec &spec);
void swiGluReference(const SwiGluSpec &spec, const ColmSwiGluArgs &args);

} // namespace colm::codegen

#endif // COLM_COMPILER_CODEGEN_POINTWISE_H
