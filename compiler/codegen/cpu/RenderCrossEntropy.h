//===- RenderCrossEntropy.h - LM head + cross-entropy as host C++ -*- C++ -*-=//
#ifndef COLM_COMPILER_CODEGEN_CPU_RENDERCROSSENTROPY_H
#define COLM_COMPILER_CODEGEN_CPU_RENDERCROSSENTROPY_H

#include "compiler/codegen/CrossEntropy.h"
#include "compiler/codegen/cpu/VectorIsa.h"

#include <string>

namespace colm::codegen::cpu {

/// The entry point's symbol: "colm_" + spec.name().
std::string crossEntropySymbol(const CrossEntropySpec &spec);

/// C++17 source of one phase (runtime/KernelAbi.h's ColmKernelFn taking a
/// ColmCrossEntropyArgs). Rows phase: thread t of T owns rows
/// [n t / T, n (t+1) / T) and takes them chunkRows at a time. Vocab phase:
/// thread t owns vocabulary rows [V t / T, V (t+1) / T) of dW over every
/// chunk of rows in order. Every logit is the same 16-lane FMA dot product
/// with a fixed tree at the end, in both phases, so dlogits agree between
/// them and nothing depends on the thread count or the chunk size. `isa`
/// sizes the register blocks (several rows and vocabulary rows at once),
/// never the bits.
std::string renderCrossEntropy(const CrossEntropySpec &spec,
                               const VectorIsa &isa);

} // namespace colm::codegen::cpu

#endif // COLM_COMPILER_CODEGEN_CPU_RENDERCROSSENTROPY_H
