//===- Colmc.h - The compiler driver on graph files -------------*- C++ -*-===//
#ifndef COLM_TOOLS_COLMC_COLMC_H
#define COLM_TOOLS_COLMC_COLMC_H

namespace colm {

/// colmc FILE.mlir [--target cpu] [--compile-to PHASE] [-o OUT] ...: see
/// --help. Returns the process exit code.
int colmcMain(int argc, char **argv);

} // namespace colm

#endif // COLM_TOOLS_COLMC_COLMC_H
