//===- colm_air.cpp - writes a graph file with the DSL
//---------------------===//
//
// A CoLM-Air: every chain's keys and values come from chain 1.
// Usage: colm_air_example [OUT.mlir]
//
//===----------------------------------------------------------------------===//
#include "examples/common.h"

int main(int argc, char **argv) {
  return writeColmGraph(benchCpuConfig({2, 2, 4}, 2, true), argc, argv);
}
