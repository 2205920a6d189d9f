//===- RenderPointwise.h - The row-wise kernels as host C++ -----*- C++ -*-===//
//
// Complete C++17 sources for the kernels of compiler/codegen/Pointwise.h, one
// extern "C" entry `void SYMBOL(const void *args, int thread, int threads)`
// each (runtime/KernelAbi.h), taking the args structs of
// runtime/abi/PointwiseAbi.h. Thread t of T owns rows [R t / T, R (t+1) / T)
// (norm backward's dgain: columns), and every output element is computed by
// the same code in the same order whatever T, so results are bit-identical
// for any thread count.
//
//===----------------------------------------------------------------------===//
#ifndef COLM_COMPILER_CODEGEN_CPU_RENDERPOINTWISE_H
#define COLM_COMPILER_CODEGEN_CPU_RENDERPOINTWISE_H

#include "compiler/codegen/Pointwise.h"

#include <string>

namespace colm::codegen::cpu {

/// The entry points' symbols: "colm_" + spec.name().
std::string chainNormSymbol(const ChainNormSpec &spec);
std::string ropeSymbol(const RopeSpec &spec);
std::string swiGluSymbol(const SwiGluSpec &spec);

/// Norm: per row and group a sum of squares in double (four partial sums in
/// a fixed order), y or dx rounded once. Backward also sums dgain over all
/// rows for the thread's share of the columns, recomputing each row's
/// statistic of the groups those columns touch (no second launch and no
/// scratch; the price is one more read of x and dy per thread at worst).
std::string renderChainNorm(const ChainNormSpec &spec);
/// RoPE: the inverse frequencies are constants (exactly the doubles
/// std::pow gives the reference); cos and sin in double once per position
/// and frequency (kept per thread for positions below 8192), shared by the
/// heads.
std::string renderRope(const RopeSpec &spec);
/// SwiGLU forward or backward, element-wise in double, rounded once.
std::string renderSwiGlu(const SwiGluSpec &spec);
/// The source of `double vexp(double)`, the exponential the SwiGLU kernel
/// uses, for the GEMM's SwiGLU epilogue to round the same way.
const char *doubleExpSource();
/// The source of chain RMSNorm's row statistics and `normRow(x, gain,
/// bounds, groups, eps, y)`, for the GEMM's norm prologue to normalise the
/// same way (the including source must turn contraction off around it).
const char *normStatsSource();
/// The source of namespace `rope`: RoPE's constants for `headDim` and
/// `theta`, the per-thread table of cosines and sines, and
/// `rotate(src, dst, heads, position)`, for the GEMM's RoPE epilogue to
/// rotate the same way (the including source must turn contraction off
/// around it and include <math.h> and <stdlib.h>).
std::string ropeSource(int64_t headDim, double theta, bool inverse);

} // namespace colm::codegen::cpu

#endif // COLM_COMPILER_CODEGEN_CPU_RENDERPOINTWISE_H
