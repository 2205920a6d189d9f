//===- llama_dense.cpp - writes a graph file with the DSL
//---------------------===//
//
// A dense LLaMA-style baseline: one chain holding every head.
// Usage: llama_dense_example [OUT.mlir]
//
//===----------------------------------------------------------------------===//
#include "examples/common.h"

int main(int argc, char **argv) {
  return writeColmGraph(benchCpuConfig({8}, 2, false), argc, argv);
}
