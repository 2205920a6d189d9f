//===- ChainGradOps.td - backward steps --------------------*- tablegen -*-===//
//
// The ops chain-autodiff emits. Each computes the gradient of one forward
// step; weight gradients honour the chain blocks (no block above the diagonal
// is computed) and `from_chain` (chains below it are frozen: their entries
// are zero and are not computed).
//
//===----------------------------------------------------------------------===//
#ifndef COLM_CHAIN_GRAD_OPS
#define COLM_CHAIN_GRAD_OPS

include "dialect/ChainOps.td"

class Chain_GradOp<string mnemonic, list<Trait> traits = []>
    : Chain_PureOp<mnemonic, traits>;

def Chain_EmbedGradOp : Chain_GradOp<"embed_grad"> {
  let summary = "Gradient of an embedding table: rows scatter-added per token";
  let arguments = (ins Chain_F32Tensor:$dy, Chain_I32Tensor:$tokens,
                       OptionalAttr<ConfinedAttr<I64Attr, [IntPositive]>>:$from_chain);
  let results = (outs Chain_F32Tensor:$result);
  let assemblyFormat = [{
    $dy `,` $tokens (`from_chain` $from_chain^)? attr-dict `:` type($dy) `,` type($tokens) `->` type($result)
  }];
}

def Chain_NormGradOp : Chain_GradOp<"norm_grad",
    [AllTypesMatch<["x", "dy", "dx"]>, AllTypesMatch<["gain", "dgain"]>]> {
  let summary = "Gradients of a chain RMSNorm with respect to its input and gain";
  let arguments = (ins Chain_F32Tensor:$x, Chain_F32Tensor:$gain, Chain_F32Tensor:$dy,
                       DefaultValuedAttr<F64Attr, "1e-5">:$eps,
                       OptionalAttr<Chain_LayoutAttr>:$stats,
                       OptionalAttr<ConfinedAttr<I64Attr, [IntPositive]>>:$from_chain);
  let results = (outs Chain_F32Tensor:$dx, Chain_F32Tensor:$dgain);
  let assemblyFormat = [{
    $x `,` $gain `,` $dy (`stats` `(` qualified($stats)^ `)`)? (`from_chain` $from_chain^)? attr-dict `:` type($x) `,` type($gain)
  }];
  let extraClassDeclaration = [{
    LayoutAttr getStatsLayout();
  }];
}

def Chain_LinearGradXOp : Chain_GradOp<"linear_grad_x"> {
  let summary = "dx = dy W over the blocks on and below the chain diagonal";
  let arguments = (ins Chain_F32Tensor:$dy, Chain_F32Tensor:$weight);
  let results = (outs Chain_F32Tensor:$result);
  let assemblyFormat = [{
    $dy `,` $weight attr-dict `:` type($dy) `,` type($weight) `->` type($result)
  }];
}

def Chain_LinearGradWOp : Chain_GradOp<"linear_grad_w"> {
  let summary = "dW = dy^T x, block lower-triangular";
  let description = [{
    Only blocks `(i, j <= i)` with `i >= from_chain` are computed; every
    other entry is zero.
  }];
  let arguments = (ins Chain_F32Tensor:$dy, Chain_F32Tensor:$x,
                       OptionalAttr<ConfinedAttr<I64Attr, [IntPositive]>>:$from_chain);
  let results = (outs Chain_F32Tensor:$result);
  let assemblyFormat = [{
    $dy `,` $x (`from_chain` $from_chain^)? attr-dict `:` type($dy) `,` type($x) `->` type($result)
  }];
}

def Chain_DenseGradXOp : Chain_GradOp<"dense_grad_x"> {
  let summary = "dx = dy W";
  let arguments = (ins Chain_F32Tensor:$dy, Chain_F32Tensor:$weight);
  let results = (outs Chain_F32Tensor:$result);
  let assemblyFormat = [{
    $dy `,` $weight attr-dict `:` type($dy) `,` type($weight) `->` type($result)
  }];
}

def Chain_DenseGradWOp : Chain_GradOp<"dense_grad_w"> {
  let summary = "dW = dy^T x";
  let arguments = (ins Chain_F32Tensor:$dy, Chain_F32Tensor:$x);
  let results = (outs Chain_F32Tensor:$result);
  let assemblyFormat = [{
    $dy `,` $x attr-dict `:` type($dy) `,` type($x) `->` type($result)
  }];
}

def Chain_AttentionGradOp : Chain_GradOp<"attention_grad",
    [AllTypesMatch<["q", "dout", "dq"]>, AllTypesMatch<["k", "v", "dk", "dv"]>]> {
  let summary = "Gradients of causal attention with respect to q, k and v";
  let arguments = (ins Chain_F32Tensor:$q, Chain_F32Tensor:$k, Chain_F32Tensor:$v,
                       Chain_F32Tensor:$dout,
                       ConfinedAttr<I64Attr, [IntPositive]>:$head_dim,
                       Chain_KvMappingAttr:$kv_mapping);
  let results = (outs Chain_F32Tensor:$dq, Chain_F32Tensor:$dk, Chain_F32Tensor:$dv);
  let assemblyFormat = [{
    $q `,` $k `,` $v `,` $dout `kv_mapping` `` $kv_mapping attr-dict `:` type($q) `,` type($k)
  }];
}

def Chain_SwigluGradOp : Chain_GradOp<"swiglu_grad",
    [AllTypesMatch<["gate", "up", "dy", "dgate", "dup"]>]> {
  let summary = "Gradients of silu(gate) * up";
  let arguments = (ins Chain_F32Tensor:$gate, Chain_F32Tensor:$up, Chain_F32Tensor:$dy);
  let results = (outs Chain_F32Tensor:$dgate, Chain_F32Tensor:$dup);
  let assemblyFormat = "$gate `,` $up `,` $dy attr-dict `:` type($gate)";
}

def Chain_LmHeadGradXOp : Chain_GradOp<"lm_head_grad_x"> {
  let summary = "dx = dlogits W[:, :D_k], zero past D_k";
  let arguments = (ins Chain_F32Tensor:$dlogits, Chain_F32Tensor:$weight,
                       OptionalAttr<ConfinedAttr<I64Attr, [IntMinValue<1>]>>:$chains);
  let results = (outs Chain_F32Tensor:$result);
  let assemblyFormat = [{
    $dlogits `,` $weight (`chains` $chains^)? attr-dict `:` type($dlogits) `,` type($weight) `->` type($result)
  }];
}

def Chain_LmHeadGradWOp : Chain_GradOp<"lm_head_grad_w"> {
  let summary = "dW[:, :D_k] = dlogits^T x[:, :D_k], zero past D_k";
  let arguments = (ins Chain_F32Tensor:$dlogits, Chain_F32Tensor:$x,
                       OptionalAttr<ConfinedAttr<I64Attr, [IntMinValue<1>]>>:$chains,
                       OptionalAttr<ConfinedAttr<I64Attr, [IntPositive]>>:$from_chain);
  let results = (outs Chain_F32Tensor:$result);
  let assemblyFormat = [{
    $dlogits `,` $x (`chains` $chains^)? (`from_chain` $from_chain^)? attr-dict `:` type($dlogits) `,` type($x) `->` type($result)
  }];
}

def Chain_CrossEntropyGradOp : Chain_GradOp<"cross_entropy_grad"> {
  let summary = "dlogits = scale * (softmax(logits) - onehot(targets)) / T";
  let arguments = (ins Chain_F32Tensor:$logits, Chain_I32Tensor:$targets,
                       DefaultValuedAttr<F64Attr, "1.0">:$scale);
  let results = (outs Chain_F32Tensor:$result);
  let assemblyFormat = [{
    $logits `,` $targets attr-dict `:` type($logits) `,` type($targets) `->` type($result)
  }];
}

def Chain_ExtendOp : Chain_GradOp<"extend"> {
  let summary = "Widen a chain prefix to more chains, the new chains zero";
  let description = [{ The gradient of `chain.prefix`. }];
  let arguments = (ins Chain_F32Tensor:$x);
  let results = (outs Chain_F32Tensor:$result);
  let assemblyFormat = "$x attr-dict `:` type($x) `->` type($result)";
}

def Chain_WeightedSumOp : Chain_GradOp<"weighted_sum"> {
  let summary = "sum_i weights[i] * inputs[i] of scalars (the chain loss)";
  let arguments = (ins Variadic<0DTensorOf<[F32]>>:$inputs, F64ArrayAttr:$weights);
  let results = (outs 0DTensorOf<[F32]>:$result);
  let assemblyFormat = "$inputs `weights` $weights attr-dict `:` type($inputs) `->` type($result)";
}

#endif // COLM_CHAIN_GRAD_OPS
