//===- mlp_classifier.cpp - a Chain-of-Model MLP, not a Transformer -------===//
//
// A classifier over 64 raw features with chains [1, 1, 2]: a dense input
// layer (the features belong to no chain, so every chain may read them all),
// two residual SwiGLU blocks of chain linears, and a class head over a chain
// prefix. Its k-chain sub-models are classifiers of growing width.
// Usage: mlp_classifier [OUT.mlir]
//
//===----------------------------------------------------------------------===//
#include "examples/common.h"

#include "mlir/IR/MLIRContext.h"

using colm::dsl::Graph;
using colm::dsl::Scope;
using colm::dsl::Value;

int main(int argc, char **argv) {
  const int64_t features = 64, width = 128, hidden = 256, classes = 10;
  mlir::MLIRContext context;
  Graph g(context, "forward", {1, 1, 2});
  Value x = g.inputFeatures(features);
  Value h = g.inputLayer(x, "input.weight", width, "h");
  for (int l = 0; l < 2; ++l) {
    Scope s(g, "blocks", l);
    Value n = g.chainNorm(h, s.param("norm.weight"), 1e-5, s.value("n"));
    Value gate =
        g.chainLinear(n, s.param("gate.weight"), hidden, s.value("gate"));
    Value up = g.chainLinear(n, s.param("up.weight"), hidden, s.value("up"));
    Value act = g.swiglu(gate, up, s.value("act"));
    h = h + g.chainLinear(act, s.param("down.weight"), width, s.value("out"));
  }
  Value n = g.chainNorm(h, "final_norm.weight", 1e-5, "n");
  g.output({g.lmHead(n, "classifier.weight", classes, 0, "class_logits")});
  return writeGraph(g.module(), argc, argv);
}
