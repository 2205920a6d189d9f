//===- KernelProgram.h - The lowered program, before rendering --*- C++ -*-===//
//
// What the lowering of a chain-dialect function produces: the runtime's
// Program (buffers with their plan, launches with their argument structs)
// plus, parallel to Program::kernels, the target-independent description of
// every kernel. A renderer per target turns the descriptions into sources;
// nothing here is specific to a target but the GEMM knobs' values.
//
//===----------------------------------------------------------------------===//
#ifndef COLM_COMPILER_CODEGEN_KERNELPROGRAM_H
#define COLM_COMPILER_CODEGEN_KERNELPROGRAM_H

#include "compiler/codegen/Attention.h"
#include "compiler/codegen/ChainGemm.h"
#include "compiler/codegen/CrossEntropy.h"
#include "compiler/codegen/Movement.h"
#include "compiler/codegen/Pointwise.h"
#include "runtime/Program.h"

#include <string>
#include <variant>
#include <vector>

namespace colm::codegen {

using KernelSpec =
    std::variant<ChainGemmSpec, ChainNormSpec, RopeSpec, SwiGluSpec,
                 AttentionSpec, CrossEntropySpec, EmbedSpec, ElementwiseSpec,
                 CopySpec, WeightedSumSpec>;

/// The spec's name() (unique per distinct kernel, the file stem).
std::string kernelName(const KernelSpec &spec);
/// "gemm", "norm", "rope", "swiglu", "attention", "cross_entropy", "embed",
/// "elementwise", "copy", "weighted_sum".
const char *kernelKind(const KernelSpec &spec);

struct KernelProgram {
  Program program;
  /// Parallel to program.kernels.
  std::vector<KernelSpec> specs;

  /// The index of `spec`'s kernel (symbol "colm_" + its name, on every
  /// target), added on first use.
  int kernelFor(const KernelSpec &spec);
};

} // namespace colm::codegen

#endif // COLM_COMPILER_CODEGEN_KERNELPROGRAM_H
