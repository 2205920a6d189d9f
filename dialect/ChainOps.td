//===- ChainOps.td - the steps of a CoLM layer ------------*- tablegen -*-===//
#ifndef COLM_CHAIN_OPS
#define COLM_CHAIN_OPS

include "dialect/ChainAttrs.td"
include "mlir/IR/OpAsmInterface.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def Chain_F32Tensor : RankedTensorOf<[F32]>;
def Chain_I32Tensor : RankedTensorOf<[I32]>;

// Every op names its result after its location (NameLoc), so graphs written
// by the DSL print with readable value names.
class Chain_PureOp<string mnemonic, list<Trait> traits = []>
    : Chain_Op<mnemonic, !listconcat(traits, [Pure,
          DeclareOpInterfaceMethods<OpAsmOpInterface, ["getAsmResultNames"]>])> {
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Parameters and inputs
//===----------------------------------------------------------------------===//

def Chain_ParamOp : Chain_PureOp<"param"> {
  let summary = "A named model parameter";
  let description = [{
    Refers to the parameter `name` of the model (spec/colm.md section 6).
    The result type may be smaller than the stored tensor in any dimension:
    it then denotes the leading slice, which is how a k-chain sub-model uses
    the prefixes of the full model's parameters.

    ```mlir
    %wq = chain.param "model.layers.0.self_attn.q_proj.weight"
        : tensor<512x512xf32, #chain.blocks<[2, 2, 4]>>
    ```
  }];
  let arguments = (ins StrAttr:$name);
  let results = (outs Chain_F32Tensor:$result);
  let assemblyFormat = "$name attr-dict `:` type($result)";
}

def Chain_EmbedOp : Chain_PureOp<"embed"> {
  let summary = "Embedding lookup: rows of the table for each token";
  let description = [{
    `result[t, :] = table[tokens[t], :D']` where `D'` is the result width (a
    prefix of the table's chained columns). Token ids outside `[0, V)` are a
    runtime error.
  }];
  let arguments = (ins Chain_F32Tensor:$table, Chain_I32Tensor:$tokens);
  let results = (outs Chain_F32Tensor:$result);
  let assemblyFormat = [{
    $table `[` $tokens `]` attr-dict `:` type($table) `,` type($tokens) `->` type($result)
  }];
}

//===----------------------------------------------------------------------===//
// Normalisation and element-wise steps
//===----------------------------------------------------------------------===//

def Chain_NormOp : Chain_PureOp<"norm", [AllTypesMatch<["x", "result"]>]> {
  let summary = "RMSNorm with statistics per chain";
  let description = [{
    For each statistics group `s` of the last dimension:
    `y_s = x_s / sqrt(mean(x_s^2) + eps) * gain_s`. The groups are the chains
    of `x`'s layout, or the chains of `stats` when given (a plain RMSNorm over
    the whole vector is `stats = #chain.layout<[1]>`). Statistics that span
    chains break the causal rule; `chain-verify-causality` reports them.
  }];
  let arguments = (ins Chain_F32Tensor:$x, Chain_F32Tensor:$gain,
                       DefaultValuedAttr<F64Attr, "1e-5">:$eps,
                       OptionalAttr<Chain_LayoutAttr>:$stats);
  let results = (outs Chain_F32Tensor:$result);
  let assemblyFormat = [{
    $x `,` $gain (`stats` `(` qualified($stats)^ `)`)? attr-dict `:` type($x) `,` type($gain)
  }];
  let extraClassDeclaration = [{
    /// The statistics groups: `stats` if present, else x's layout, else one.
    LayoutAttr getStatsLayout();
  }];
}

def Chain_AddOp : Chain_PureOp<"add", [SameOperandsAndResultType]> {
  let summary = "Residual add";
  let arguments = (ins Chain_F32Tensor:$lhs, Chain_F32Tensor:$rhs);
  let results = (outs Chain_F32Tensor:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` type($result)";
}

def Chain_MulOp : Chain_PureOp<"mul", [SameOperandsAndResultType]> {
  let summary = "Element-wise product (for example a weight times a mask)";
  let arguments = (ins Chain_F32Tensor:$lhs, Chain_F32Tensor:$rhs);
  let results = (outs Chain_F32Tensor:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` type($result)";
}

def Chain_SwigluOp : Chain_PureOp<"swiglu", [SameOperandsAndResultType]> {
  let summary = "silu(gate) * up";
  let arguments = (ins Chain_F32Tensor:$gate, Chain_F32Tensor:$up);
  let results = (outs Chain_F32Tensor:$result);
  let assemblyFormat = "$gate `,` $up attr-dict `:` type($result)";
}

//===----------------------------------------------------------------------===//
// Linears
//===----------------------------------------------------------------------===//

def Chain_LinearOp : Chain_PureOp<"linear"> {
  let summary = "Chain linear: y = x W^T with W block lower-triangular";
  let description = [{
    `weight` is `[out, in]` with encoding `#chain.blocks<C>`; `x` is
    `[T, in]` and the result `[T, out]`, both with `#chain.layout<C>`. Output
    chain `i` is computed from input chains `1..i` only; blocks above the
    diagonal never take part. No bias.
  }];
  let arguments = (ins Chain_F32Tensor:$x, Chain_F32Tensor:$weight);
  let results = (outs Chain_F32Tensor:$result);
  let assemblyFormat = [{
    $x `,` $weight attr-dict `:` type($x) `,` type($weight) `->` type($result)
  }];
}

def Chain_DenseOp : Chain_PureOp<"dense"> {
  let summary = "Dense linear: y = x W^T";
  let description = [{
    An ordinary matmul with `weight` `[out, in]`, for example the CoLM-Air key
    and value projections of chain 1 (`[h_kv*hd, D_1]`), or one block row of a
    lowered chain linear. Between chained values it breaks the causal rule
    unless its weight is masked block lower-triangular.
  }];
  let arguments = (ins Chain_F32Tensor:$x, Chain_F32Tensor:$weight);
  let results = (outs Chain_F32Tensor:$result);
  let assemblyFormat = [{
    $x `,` $weight attr-dict `:` type($x) `,` type($weight) `->` type($result)
  }];
}

def Chain_LmHeadOp : Chain_PureOp<"lm_head"> {
  let summary = "Logits of the k-chain sub-model: x[:, :D_k] W[:, :D_k]^T";
  let description = [{
    `x` is `[T, D]` and `weight` `[V, D]`, both chained; `chains` selects k
    (default: all chains of `x`). The result is `[T, V]`.
  }];
  let arguments = (ins Chain_F32Tensor:$x, Chain_F32Tensor:$weight,
                       OptionalAttr<ConfinedAttr<I64Attr, [IntMinValue<1>]>>:$chains);
  let results = (outs Chain_F32Tensor:$result);
  let assemblyFormat = [{
    $x `,` $weight (`chains` $chains^)? attr-dict `:` type($x) `,` type($weight) `->` type($result)
  }];
  let extraClassDeclaration = [{
    /// k: the `chains` attribute or all chains of x.
    unsigned getNumHeadChains();
  }];
}

//===----------------------------------------------------------------------===//
// Attention
//===----------------------------------------------------------------------===//

def Chain_RopeOp : Chain_PureOp<"rope", [AllTypesMatch<["x", "result"]>]> {
  let summary = "Rotary position embedding per head (Hugging Face LLaMA convention)";
  let description = [{
    For each head of size `head_dim` at position `p`: with
    `inv_f[m] = theta^(-2m/head_dim)`, `x1 = x[:hd/2]`, `x2 = x[hd/2:]`,
    `rope(x) = x*cos + cat(-x2, x1)*sin`, angles `p*inv_f` repeated twice.
    Row `t` is at position `t`, or at `positions[t]` when given (decoding
    with a key/value cache). With `inverse` the rotation is by the negative
    angles (its gradient).
  }];
  let arguments = (ins Chain_F32Tensor:$x, Optional<Chain_I32Tensor>:$positions,
                       ConfinedAttr<I64Attr, [IntPositive]>:$head_dim,
                       DefaultValuedAttr<F64Attr, "10000.0">:$theta,
                       UnitAttr:$inverse);
  let results = (outs Chain_F32Tensor:$result);
  let assemblyFormat = [{
    $x (`at` $positions^)? attr-dict `:` type($x) (`,` type($positions)^)?
  }];
}

def Chain_AttentionOp : Chain_PureOp<"attention", [AllTypesMatch<["q", "result"]>]> {
  let summary = "Causal softmax attention, heads concatenated in head order";
  let description = [{
    `q` is `[Tq, h*hd]`, `k` and `v` are `[Tk, h_kv*hd]` with `Tq <= Tk`: the
    queries are the last `Tq` positions, so query `i` attends keys
    `0..i + Tk - Tq` (`Tq = Tk` in training; fewer queries than keys when
    decoding with a cache). Scale `1/sqrt(hd)`.
    Query head `j` reads key/value head `floor(j*h_kv/h)` (`grouped`, CoLM) or
    `j mod h_kv` (`tiled`, CoLM-Air).
  }];
  let arguments = (ins Chain_F32Tensor:$q, Chain_F32Tensor:$k, Chain_F32Tensor:$v,
                       ConfinedAttr<I64Attr, [IntPositive]>:$head_dim,
                       Chain_KvMappingAttr:$kv_mapping);
  let results = (outs Chain_F32Tensor:$result);
  let assemblyFormat = [{
    $q `,` $k `,` $v `kv_mapping` `` $kv_mapping attr-dict `:` type($q) `,` type($k) `,` type($v)
  }];
  let extraClassDeclaration = [{
    int64_t getNumHeads();
    int64_t getNumKvHeads();
    /// The key/value head that query head j reads.
    int64_t kvHeadOf(int64_t j);
  }];
}

def Chain_AppendOp : Chain_PureOp<"append", [AllTypesMatch<["past", "rows", "result"]>]> {
  let summary = "`rows` after the rows of `past` (a key/value cache)";
  let arguments = (ins Chain_F32Tensor:$past, Chain_F32Tensor:$rows);
  let results = (outs Chain_F32Tensor:$result);
  let assemblyFormat = "$past `,` $rows attr-dict `:` type($result)";
}

//===----------------------------------------------------------------------===//
// Loss
//===----------------------------------------------------------------------===//

def Chain_CrossEntropyOp : Chain_PureOp<"cross_entropy"> {
  let summary = "Mean next-token cross-entropy of logits [T, V] against targets [T]";
  let arguments = (ins Chain_F32Tensor:$logits, Chain_I32Tensor:$targets);
  let results = (outs 0DTensorOf<[F32]>:$result);
  let assemblyFormat = [{
    $logits `,` $targets attr-dict `:` type($logits) `,` type($targets) `->` type($result)
  }];
}

//===----------------------------------------------------------------------===//
// Chain structure (produced by the passes)
//===----------------------------------------------------------------------===//

def Chain_PrefixOp : Chain_PureOp<"prefix"> {
  let summary = "The first k chains of a chained value";
  let arguments = (ins Chain_F32Tensor:$x, ConfinedAttr<I64Attr, [IntPositive]>:$chains);
  let results = (outs Chain_F32Tensor:$result);
  let assemblyFormat = "$x `chains` $chains attr-dict `:` type($x) `->` type($result)";
}

def Chain_WeightBlockOp : Chain_PureOp<"weight_block"> {
  let summary = "Rows of output chain i over the columns of input chains 1..i";
  let description = [{
    The part of a chain-linear weight that output chain `i` uses: a dense
    `[out_i, in_1 + ... + in_i]` matrix. Lowered chain linears multiply only these
    blocks, so no block above the diagonal is ever computed.
  }];
  let arguments = (ins Chain_F32Tensor:$weight, ConfinedAttr<I64Attr, [IntPositive]>:$out_chain);
  let results = (outs Chain_F32Tensor:$result);
  let assemblyFormat = [{
    $weight `out_chain` $out_chain attr-dict `:` type($weight) `->` type($result)
  }];
}

def Chain_ConcatOp : Chain_PureOp<"concat"> {
  let summary = "Concatenate one value per chain into a chained value";
  let arguments = (ins Variadic<Chain_F32Tensor>:$inputs);
  let results = (outs Chain_F32Tensor:$result);
  let assemblyFormat = "$inputs attr-dict `:` type($inputs) `->` type($result)";
}

include "dialect/ChainGradOps.td"
include "dialect/ChainFusedOps.td"

#endif // COLM_CHAIN_OPS
