//===- colm_air.cpp - writes a graph file with the DSL -------------*- C++
//-*-===//
//
// A CoLM-Air: every chain's keys and values come from chain 1.
// Usage: colm_air [OUT.mlir]
//
//===----------------------------------------------------------------------===//
#include "compiler/BuildColm.h"
#include "examples/common.h"

#include "mlir/IR/MLIRContext.h"

int main(int argc, char **argv) {
  colm::ModelConfig config;
  config.vocabSize = 256;
  config.hiddenSize = 512;
  config.intermediateSize = 1408;
  config.numLayers = 6;
  config.numHeads = 8;
  config.numKvHeads = 2;
  config.chains = {2, 2, 4};
  config.kvSharing = true;
  mlir::MLIRContext context;
  auto module = colm::buildColm(context, config);
  if (!module.isOk()) {
    std::fprintf(stderr, "error: %s\n", module.status().message().c_str());
    return 1;
  }
  return writeGraph(**module, argc, argv);
}
