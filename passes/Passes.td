//===- Passes.td - chain passes ---------------------------*- tablegen -*-===//
#ifndef COLM_CHAIN_PASSES
#define COLM_CHAIN_PASSES

include "mlir/Pass/PassBase.td"

def VerifyCausality : Pass<"chain-verify-causality", "mlir::func::FuncOp"> {
  let summary = "Prove that chain i of every value depends only on chains 1..i";
  let description = [{
    A forward dataflow analysis over the function. For every chain `i` of
    every chained value it computes the highest chain of the inputs and
    parameters that chain `i` depends on, and fails at the first op where
    that is above `i`, naming the chains and the reason (an unmasked dense
    block, a norm whose statistics span chains, an attention head that reads
    another chain, a key/value mapping that crosses chains).

    Unchained inputs (token ids, features) belong to no chain. Unchained
    parameters belong to chain 1, as CoLM-Air's key/value projections do.
  }];
}

def SliceChains : Pass<"chain-slice", "mlir::func::FuncOp"> {
  let summary = "Extract the k-chain sub-model";
  let description = [{
    Rewrites the function into the sub-model that uses only chains `1..k`:
    every chained dimension shrinks to its prefix `k`, parameters to their
    leading slices, LM heads to at most `k` chains. The result computes
    exactly the first-k-chain outputs of the original. Functions without
    chained values are left as they are.
  }];
  let options = [
    Option<"chains", "chains", "unsigned", "0", "number of chains k to keep (1..n)">
  ];
}

def ShareKv : Pass<"chain-share-kv", "mlir::func::FuncOp"> {
  let summary = "Rewrite CoLM attention into CoLM-Air (keys and values from chain 1)";
  let description = [{
    Every attention whose keys and values come from chain linears of one
    normalised input `a` is rewritten so that keys and values are dense
    projections of chain 1 of `a`, with tiled key/value heads. Parameters
    keep their names and become `[h_kv*hd, D_1]`. Configurations where some
    chain's head count is not a multiple of `h_kv` are rejected.
  }];
}

def FoldMasks : Pass<"chain-fold-masks", "mlir::func::FuncOp"> {
  let summary = "Fold causal-chain masks into chain linears and lower them block-wise";
  let description = [{
    (a) A dense linear whose weight is multiplied by a constant block
    lower-triangular mask becomes a chain linear. (b) Every chain linear is
    lowered to one dense matmul per output chain over the input prefix, so
    no block above the diagonal is ever computed.
  }];
  let options = [
    Option<"lowerLinears", "lower-linears", "bool", "true",
           "also lower chain linears to per-chain matmuls (b)">
  ];
}

def Autodiff : Pass<"chain-autodiff", "mlir::ModuleOp"> {
  let summary = "Build the training step: the chain loss and every parameter's gradient";
  let description = [{
    From `@forward(tokens) -> logits` (logits from a `chain.lm_head`), builds
    `@train_step(tokens, targets) -> (loss, ce_k..., grads...)` in the chain
    dialect: the chain loss `sum_k w_k CE(logits_k)` of spec/colm.md section 4
    and, by reverse-mode differentiation, the gradient of every trainable
    parameter. Results are named by the `chain.output` result attribute
    (`loss`, `ce.<k>`, `grad.<parameter>`).

    Weight gradients of chain linears compute only the blocks on and below
    the diagonal. With `freeze-chains=f`, entries of output chains `1..f`
    get no gradient at all (they are neither computed nor returned where a
    whole parameter is frozen, as CoLM-Air's key/value projections are when
    chain 1 is).
  }];
  let options = [
    Option<"chainLoss", "chain-loss", "std::string", "\"full\"",
           "sub-model loss weights: full (the whole model), all (1/n each), or w1,...,wn">,
    Option<"freezeChains", "freeze-chains", "unsigned", "0",
           "freeze chains 1..f (no gradient for their parameter entries)">,
    Option<"function", "function", "std::string", "\"forward\"",
           "the forward function to differentiate">,
    Option<"lossOnly", "loss-only", "bool", "false",
           "build @eval_step(tokens, targets) -> (loss, ce_k...) without gradients">
  ];
}

#endif // COLM_CHAIN_PASSES
