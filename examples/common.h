//===- common.h - shared by the example programs ----------------*- C++ -*-===//
#ifndef COLM_EXAMPLES_COMMON_H
#define COLM_EXAMPLES_COMMON_H

#include "compiler/BuildColm.h"
#include "compiler/Graph.h"
#include "runtime/File.h"

#include "mlir/IR/MLIRContext.h"

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

/// The bench-cpu shape of spec/bench.md with the given chains and sharing.
inline colm::ModelConfig benchCpuConfig(std::vector<int64_t> chains,
                                        int64_t kvHeads, bool kvSharing) {
  colm::ModelConfig config;
  config.vocabSize = 256;
  config.hiddenSize = 512;
  config.intermediateSize = 1408;
  config.numLayers = 6;
  config.numHeads = 8;
  config.numKvHeads = kvHeads;
  config.chains = std::move(chains);
  config.kvSharing = kvSharing;
  return config;
}

/// Builds the standard model of `config` and writes its graph file.
inline int writeColmGraph(const colm::ModelConfig &config, int argc,
                          char **argv) {
  mlir::MLIRContext context;
  auto module = colm::buildColm(context, config);
  if (!module.isOk()) {
    std::fprintf(stderr, "error: %s\n", module.status().message().c_str());
    return 1;
  }
  return writeGraph(**module, argc, argv);
}

#endif // COLM_EXAMPLES_COMMON_H
