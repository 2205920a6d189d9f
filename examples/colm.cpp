//===- colm.cpp - writes a graph file with the DSL ---------------------===//
//
// A CoLM (no key/value sharing) with chains [2, 2, 4] and grouped-query
// attention (4 key/value heads: chain i owns h_kv*c_i/h of them).
// Usage: colm_example [OUT.mlir]
//
//===----------------------------------------------------------------------===//
#include "examples/common.h"

int main(int argc, char **argv) {
  return writeColmGraph(benchCpuConfig({2, 2, 4}, 4, false), argc, argv);
}
