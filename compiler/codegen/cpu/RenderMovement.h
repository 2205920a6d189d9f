//===- RenderMovement.h - The data-movement kernels as host C++ -*- C++ -*-===//
//
// Complete C++17 sources for the kernels of compiler/codegen/Movement.h, one
// extern "C" entry `void SYMBOL(const void *args, int thread, int threads)`
// each (runtime/KernelAbi.h), taking the args structs of
// runtime/abi/MovementAbi.h. Thread t of T owns rows [R t / T, R (t+1) / T)
// (add and mul: 16-float chunks of the flat tensor; embed backward: columns;
// weighted sum: thread 0 alone), and every output element is computed by the
// same code in the same order whatever T, so results are bit-identical for
// any thread count.
//
//===----------------------------------------------------------------------===//
#ifndef COLM_COMPILER_CODEGEN_CPU_RENDERMOVEMENT_H
#define COLM_COMPILER_CODEGEN_CPU_RENDERMOVEMENT_H

#include "compiler/codegen/Movement.h"

#include <string>

namespace colm::codegen::cpu {

/// The entry points' symbols: "colm_" + spec.name().
std::string embedSymbol(const EmbedSpec &spec);
std::string elementwiseSymbol(const ElementwiseSpec &spec);
std::string copySymbol(const CopySpec &spec);
std::string weightedSumSymbol(const WeightedSumSpec &spec);

/// Embed forward: one memcpy per row (a NaN row for a bad token). Backward:
/// each thread owns a share of the trainable columns and, a block of columns
/// and of vocabulary rows at a time, sums every row of dy into a 128 KiB
/// double accumulator on the stack (no scratch in the args, no atomics; the
/// price is one read of the tokens per block).
std::string renderEmbed(const EmbedSpec &spec);
/// Add or mul in float, 16 lanes at a time (clang vector types: loads before
/// stores, so y may be a or b and still vectorise).
std::string renderElementwise(const ElementwiseSpec &spec);
/// memcpy and memset per row (one memcpy per share when dense).
std::string renderCopy(const CopySpec &spec);
/// The weights are exact double constants; thread 0 sums in ascending order.
std::string renderWeightedSum(const WeightedSumSpec &spec);

} // namespace colm::codegen::cpu

#endif // COLM_COMPILER_CODEGEN_CPU_RENDERMOVEMENT_H
