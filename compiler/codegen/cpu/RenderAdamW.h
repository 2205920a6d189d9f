//===- RenderAdamW.h - AdamW over flat memory as host C++ -------*- C++ -*-===//
#ifndef COLM_COMPILER_CODEGEN_CPU_RENDERADAMW_H
#define COLM_COMPILER_CODEGEN_CPU_RENDERADAMW_H

#include "compiler/codegen/AdamW.h"

#include <string>

namespace colm::codegen::cpu {

/// The entry point's symbol: "colm_" + spec.name().
std::string adamWSymbol(const AdamWSpec &spec);

/// C++17 source of the kernel (runtime/KernelAbi.h's ColmKernelFn taking a
/// ColmAdamWArgs). Update: thread t of T owns entries [N t / T, N (t+1) / T)
/// of the segments' concatenation (rounded to 16), each updated with
/// Optimizer::step's double expressions, contraction off, so the bits are
/// the Optimizer's for any thread count. SumSquares: thread t owns a
/// contiguous range of the fixed blocks; each block is summed in eight
/// interleaved double lanes combined pairwise, an order that depends only
/// on the block.
std::string renderAdamW(const AdamWSpec &spec);

} // namespace colm::codegen::cpu

#endif // COLM_COMPILER_CODEGEN_CPU_RENDERADAMW_H
