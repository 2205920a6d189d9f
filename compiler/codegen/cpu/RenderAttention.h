//===- RenderAttention.h - Fused attention as host C++ ------------*- C++
//-*-===//
#ifndef COLM_COMPILER_CODEGEN_CPU_RENDERATTENTION_H
#define COLM_COMPILER_CODEGEN_CPU_RENDERATTENTION_H

#include "compiler/codegen/Attention.h"
#include "compiler/codegen/cpu/VectorIsa.h"

#include <string>

namespace colm::codegen::cpu {

/// The entry point's symbol: "colm_" + spec.name().
std::string attentionSymbol(const AttentionSpec &spec);

/// C++17 source of the kernel (runtime/KernelAbi.h's entry signature).
/// Forward (a ColmAttentionArgs): threads own contiguous runs of (head,
/// query block) units split by causal work; each unit runs an online softmax
/// over key tiles of blockK (no Tq x Tk matrix) and writes its rows of out
/// and lse. Backward (a ColmAttentionGradArgs): threads own whole key/value
/// heads, so dK/dV of a head and dQ of the query heads that read it have one
/// writer; when that would leave threads idle, key ranges (dK, dV) and query
/// blocks (dQ) are the units instead, each recomputing p from lse. Every
/// output is one fixed-order FMA chain: no result depends on the thread
/// count or the split. `isa` sizes the register blocks (never the bits).
std::string renderAttention(const AttentionSpec &spec, const VectorIsa &isa);

} // namespace colm::codegen::cpu

#endif // COLM_COMPILER_CODEGEN_CPU_RENDERATTENTION_H
