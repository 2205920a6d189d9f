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

    In a training step (the output of `chain-autodiff`), the results of the
    backward ops (`chain.*_grad`) and every value computed from them are
    gradients: chain `i` of a gradient depends on chains `i..n` by
    construction, so the rule does not apply to them. The forward values of
    the step are checked as in the forward function.

    Fusion groups (`chain.fused`) are analysed through their bodies, so a
    fused graph is proven as its unfused form is.

    An op the analysis does not know (a call, an op of another dialect) may
    mix every chain of its operands. Where that could break the rule, the
    pass fails naming that op as unsupported, rather than claiming that the
    graph breaks the rule.

    The transform passes (`chain-slice`, `chain-fold-masks`,
    `chain-share-kv`, `chain-autodiff`) run this analysis themselves and
    refuse graphs it cannot prove causal.
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

    Where it cannot guarantee that, the pass fails with an error instead of
    slicing: a graph `chain-verify-causality` cannot prove causal (slicing
    would drop blocks it reads), an op it does not know that chained values
    reach, a value without chains that depends on a chain above `k` (other
    than logits, which become the sub-model's), and an attention whose kept
    query heads would read other key/value heads (a grouped mapping over
    key/value heads that do not shrink with the queries).
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
    chain's head count is not a multiple of `h_kv` are rejected. The
    rewritten function must be proven causal, or the pass fails.
  }];
}

def FoldMasks : Pass<"chain-fold-masks", "mlir::func::FuncOp"> {
  let summary = "Fold causal-chain masks into chain linears and lower them block-wise";
  let description = [{
    (a) A dense linear whose weight is multiplied by a constant block
    lower-triangular mask becomes a chain linear. (b) Every chain linear is
    lowered to one dense matmul per output chain over the input prefix, so
    no block above the diagonal is ever computed.

    The input must be proven causal (`chain-verify-causality`'s analysis):
    a graph that computes a block above the diagonal elsewhere is refused.
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

    The forward function must be proven causal (`chain-verify-causality`'s
    analysis), since only then are its k-chain logits those of the k-chain
    sub-model. With `freeze-chains`, a parameter whose frozen entries would
    still get a gradient (a dense weight whose rows span chains, a chained
    parameter used other than as a chain-linear weight, embedding table,
    norm gain or LM-head weight) is refused, as is an op it cannot
    differentiate.
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

def FuseGemmAdd : Pass<"chain-fuse-gemm-add", "mlir::func::FuncOp"> {
  let summary = "Fuse adds into the epilogue of the GEMM that produces one operand";
  let description = [{
    `chain.add(p, r)`, where `p` is the result of a `chain.linear`,
    `chain.dense`, `chain.linear_grad_x` or `chain.dense_grad_x` that has no
    other use, becomes a `chain.fused gemm_add` group holding the product and
    the add: one kernel that adds `r` as it stores the product. Forward
    graphs fuse their residual adds (`h + o_proj(a)`, `h + down_proj(m)`),
    backward graphs the sums of input gradients (`dx_q + dx_k + dx_v`,
    `dx_gate + dx_up`, each add into the GEMM computed last).

    The result has the same bits as the unfused ops: the addend is added
    once, after the whole reduction. Ops inside fusion groups are left as
    they are, so the pass is idempotent.
  }];
}

def FuseGemmSwiglu : Pass<"chain-fuse-gemm-swiglu", "mlir::func::FuncOp"> {
  let summary = "Fuse SwiGLU and its gradient into the epilogue of a GEMM";
  let description = [{
    `chain.swiglu(g, u)`, where `u` is a `chain.linear` or `chain.dense`
    (the up projection) that nothing reads before the SwiGLU, becomes a
    `chain.fused gemm_swiglu` group: the up projection's GEMM applies the
    SwiGLU to each finished element, and also yields `u` when something else
    reads it (the SwiGLU's gradient, in a training step). In inference `u` is
    never stored.

    `chain.swiglu_grad(g, u, dh)`, where `dh` is a `chain.linear_grad_x` or
    `chain.dense_grad_x` (the down projection's input gradient) with no other
    use, becomes a `chain.fused gemm_swiglu_grad` group: the GEMM writes
    dgate and dup, and `dh` is never stored.

    Both have the bits of the unfused ops (the epilogue computes in double
    from the rounded product, as the SwiGLU kernel does). Ops inside fusion
    groups are left as they are, so the pass is idempotent.
  }];
}

def GroupGemms : Pass<"chain-group-gemms", "mlir::func::FuncOp"> {
  let summary = "Make the linears that read one input one grouped GEMM";
  let description = [{
    Forward products (`chain.linear`, `chain.dense`) of one input, 2 to 4 of
    them in order (q/k/v of an attention block, k/v of CoLM-Air), become a
    `chain.fused grouped_gemm` at the first one: one kernel packs the input
    once and multiplies it by each weight. Later products' weights must be
    defined before the first product; parameters are moved there.

    A `chain.fused gemm_swiglu` (from `chain-fuse-gemm-swiglu`, which runs
    first) whose gate is a product of the same input, of the same kind and
    weight type, and read by nothing before the group, becomes a
    `grouped_gemm_swiglu`: gate and up in one GEMM, the SwiGLU in its
    epilogue; it yields the SwiGLU, the gate, and up when it was kept.

    Every product keeps its own output and chain blocks: the bits do not
    change. Ops inside fusion groups are left as they are, so the pass is
    idempotent.
  }];
}

def FuseNormGemm : Pass<"chain-fuse-norm-gemm", "mlir::func::FuncOp"> {
  let summary = "Fuse chain RMSNorm into the prologue of grouped GEMMs";
  let description = [{
    A `chain.fused grouped_gemm` or `grouped_gemm_swiglu` (from
    `chain-group-gemms`, which runs first) whose shared input is a
    `chain.norm` that nothing reads before the group becomes a
    `norm_grouped_gemm` or `norm_grouped_gemm_swiglu`: the kernel normalises
    each block of rows as it packs them, with the norm kernel's arithmetic,
    so the bits do not change. When something else reads the norm (a weight
    gradient in training, CoLM-Air's chain-1 prefix), the group yields it
    last; otherwise the normalised input never reaches memory. Ops inside
    fusion groups are left as they are, so the pass is idempotent.
  }];
}

def FuseGemmRope : Pass<"chain-fuse-gemm-rope", "mlir::func::FuncOp"> {
  let summary = "Fuse RoPE into the epilogue of grouped GEMMs";
  let description = [{
    A `chain.rope` (not inverse) whose input is a product of a
    `chain.fused grouped_gemm` or `norm_grouped_gemm` (from
    `chain-group-gemms` and `chain-fuse-norm-gemm`, which run first), and
    that product's only reader, moves into the group, after the products; the
    group yields the rotation in the product's place and takes the
    positions, if any, as its last input (they must be defined before the
    group). The ropes of one group share one head size, theta and positions
    (q and k of an attention block; k of CoLM-Air). The kernel rotates each
    head of a block of rows once its columns are final, with the RoPE
    kernel's own arithmetic, so the bits do not change and the unrotated
    product is never stored. The pass is idempotent.
  }];
}

#endif // COLM_CHAIN_PASSES
