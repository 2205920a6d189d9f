//===- CompileProgram.h - A kernel program as host C++ binaries -*- C++ -*-===//
//
// Renders every kernel of a KernelProgram with the host C++ renderers,
// compiles them through the CpuJit (in parallel, cached) and hands back the
// loaded libraries in kernel order: what runtime/cpu/CpuExecutor runs. Also
// writes the artifact directory that `colm` loads without the compiler.
//
//===----------------------------------------------------------------------===//
#ifndef COLM_COMPILER_CODEGEN_CPU_COMPILEPROGRAM_H
#define COLM_COMPILER_CODEGEN_CPU_COMPILEPROGRAM_H

#include "compiler/codegen/KernelProgram.h"
#include "compiler/codegen/cpu/CpuJit.h"
#include "compiler/codegen/cpu/RenderChainGemm.h"

#include <memory>
#include <vector>

namespace colm::codegen::cpu {

/// The host C++ source of one kernel.
KernelSource renderKernel(const KernelSpec &spec, const VectorIsa &isa);

/// Every kernel of `program`, in order.
Result<std::vector<std::shared_ptr<DynamicLibrary>>>
compileProgram(const KernelProgram &program, CpuJit &jit);

/// DIR/program.json, DIR/kernels/NAME.cpp and NAME.so (copied from the
/// libraries compileProgram returned).
Status
writeArtifact(const KernelProgram &program,
              const std::vector<std::shared_ptr<DynamicLibrary>> &libraries,
              const std::string &dir);

} // namespace colm::codegen::cpu

#endif // COLM_COMPILER_CODEGEN_CPU_COMPILEPROGRAM_H
