//===- KernelIR.h - The kernel program as the kernel dialect ----*- C++ -*-===//
//
// A KernelProgram (compiler/codegen/KernelProgram.h) as a `kernel.program`
// op of the kernel dialect (dialect/KernelOps.td), and back: what colmc
// prints for --compile-to kernels and reads when it is given such a file.
// Reading back gives the same program and the same kernel descriptions, so
// a program can be inspected, edited (its knobs, say) and compiled on.
//
//===----------------------------------------------------------------------===//
#ifndef COLM_COMPILER_CODEGEN_KERNELIR_H
#define COLM_COMPILER_CODEGEN_KERNELIR_H

#include "compiler/codegen/KernelProgram.h"
#include "dialect/KernelDialect.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

namespace colm::codegen {

/// A module holding one kernel.program. An error when a buffer's name is
/// also a kernel's (they share one symbol table) or two buffers share a
/// name.
Result<mlir::OwningOpRef<mlir::ModuleOp>>
exportKernelProgram(const KernelProgram &kp, mlir::MLIRContext &context);

/// The program back, its kernels named after their specs (an edited spec
/// gets its own kernel). Errors are emitted at the op they concern (and
/// returned): a spec its kernel kind rejects, a program the runtime would
/// not load. The op must have been verified.
Result<KernelProgram> importKernelProgram(kernel::ProgramOp program);

/// The program exported, verified (symbols, arena bounds, the liveness plan)
/// and read back: what every compilation runs, so that what
/// `colmc --compile-to kernels` prints is what runs. An error names the rule
/// a lowering broke.
Result<KernelProgram> throughKernelDialect(const KernelProgram &kp,
                                           mlir::MLIRContext &context);

/// The module's only kernel.program; null when it has none (a chain-dialect
/// graph, say).
kernel::ProgramOp findKernelProgram(mlir::ModuleOp module);

} // namespace colm::codegen

#endif // COLM_COMPILER_CODEGEN_KERNELIR_H
