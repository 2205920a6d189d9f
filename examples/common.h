//===- common.h - shared by the example programs ----------------*- C++ -*-===//
#ifndef COLM_EXAMPLES_COMMON_H
#define COLM_EXAMPLES_COMMON_H

#include "compiler/Graph.h"
#include "runtime/File.h"

#include <cstdio>

/// Writes the graph file to argv[1], or to stdout without an argument.
inline int writeGraph(mlir::ModuleOp module, int argc, char **argv) {
  std::string text = colm::dsl::printGraph(module);
  if (argc < 2) {
    std::fputs(text.c_str(), stdout);
    return 0;
  }
  colm::Status status = colm::writeFileAtomic(argv[1], text);
  if (!status.isOk()) {
    std::fprintf(stderr, "error: %s\n", status.message().c_str());
    return 1;
  }
  return 0;
}

#endif // COLM_EXAMPLES_COMMON_H
