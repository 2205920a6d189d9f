//===- RenderChainGemm.h - The chain GEMM as host C++ -----------*- C++ -*-===//
#ifndef COLM_COMPILER_CODEGEN_CPU_RENDERCHAINGEMM_H
#define COLM_COMPILER_CODEGEN_CPU_RENDERCHAINGEMM_H

#include "compiler/codegen/ChainGemm.h"
#include "compiler/codegen/cpu/VectorIsa.h"

#include <string>

namespace colm::codegen::cpu {

/// An error when the tile does not fit the registers (mr * nr / lanes
/// accumulators plus the B vectors and one broadcast) or nr is not a
/// multiple of the lanes.
Status checkKnobsFit(const GemmKnobs &knobs, const VectorIsa &isa);

/// Good defaults for `isa`: the largest tile that fits, kc/mc for the L1/L2
/// of these machines (the autotuner refines them).
GemmKnobs defaultKnobs(const VectorIsa &isa);

/// The entry point's symbol: "colm_" + spec.name().
std::string chainGemmSymbol(const ChainGemmSpec &spec);

/// C++17 source of the kernel (runtime/KernelAbi.h's ColmKernelFn taking a
/// ColmGemmArgs): B packed in kc x nr panels once per pass over the
/// reduction, A's rows packed once per pass, an mr x nr register tile,
/// blocks outside the spec never touched, threads over rows (when they
/// outnumber the columns) or column strips, split by work. Each output element
/// is one fused multiply-add chain over the reduction in ascending order, so
/// the result is bit-identical for every knob and thread count.
std::string renderChainGemm(const ChainGemmSpec &spec, const VectorIsa &isa);

/// Whether a bf16 spec renders on bf16 pair dot products (isa.bf16Dot, and
/// every block's reduction range on even steps): then each element is a
/// chain of pair steps (hi, lo) instead of single FMAs, the same for every
/// knob and thread count, and kc is rounded up to even.
bool usesBf16Dot(const ChainGemmSpec &spec, const VectorIsa &isa);

} // namespace colm::codegen::cpu

#endif // COLM_COMPILER_CODEGEN_CPU_RENDERCHAINGEMM_H
