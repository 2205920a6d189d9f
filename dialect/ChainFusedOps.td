//===- ChainFusedOps.td - fusion groups --------------------*- tablegen -*-===//
//
// The fusion passes (chain-fuse-*) group ops that one kernel computes into a
// chain.fused op. The group keeps the ops it fuses in its body, so that what
// it computes stays readable and checkable: the reference interpreter runs
// the body, and a lowering that has no fused kernel for the group lowers the
// body op by op.
//
//===----------------------------------------------------------------------===//
#ifndef COLM_CHAIN_FUSED_OPS
#define COLM_CHAIN_FUSED_OPS

include "dialect/ChainOps.td"

def FusionKind_GemmAdd : I32EnumAttrCase<"gemm_add", 0>;
def FusionKind_GemmSwiglu : I32EnumAttrCase<"gemm_swiglu", 1>;
def FusionKind_GemmSwigluGrad : I32EnumAttrCase<"gemm_swiglu_grad", 2>;
def FusionKind_GroupedGemm : I32EnumAttrCase<"grouped_gemm", 3>;
def FusionKind_GroupedGemmSwiglu : I32EnumAttrCase<"grouped_gemm_swiglu", 4>;
def FusionKind_NormGroupedGemm : I32EnumAttrCase<"norm_grouped_gemm", 5>;
def FusionKind_NormGroupedGemmSwiglu
    : I32EnumAttrCase<"norm_grouped_gemm_swiglu", 6>;
def Chain_FusionKind : I32EnumAttr<"FusionKind",
    "what a fusion group computes in one kernel",
    [FusionKind_GemmAdd, FusionKind_GemmSwiglu, FusionKind_GemmSwigluGrad,
     FusionKind_GroupedGemm, FusionKind_GroupedGemmSwiglu,
     FusionKind_NormGroupedGemm, FusionKind_NormGroupedGemmSwiglu]> {
  let cppNamespace = "::colm::chain";
  let genSpecializedAttr = 0;
}
def Chain_FusionKindAttr : EnumAttr<Chain_Dialect, Chain_FusionKind, "fusion_kind"> {
  let summary = "gemm_add: a linear product plus an addend, in the GEMM's "
                "epilogue; gemm_swiglu and gemm_swiglu_grad: the SwiGLU of "
                "the up projection, or the SwiGLU's gradient of dh, in it; "
                "grouped_gemm: the linears that read one input (q/k/v) as one "
                "GEMM; grouped_gemm_swiglu: gate and up as one GEMM with the "
                "SwiGLU in its epilogue; norm_*: the same with the chain "
                "RMSNorm of the input in the GEMM's prologue";
}

def Chain_FusedOp : Chain_Op<"fused", [Pure, IsolatedFromAbove, SingleBlock,
    DeclareOpInterfaceMethods<OpAsmOpInterface,
                              ["getAsmResultNames", "getAsmBlockArgumentNames"]>]> {
  let summary = "Ops that one kernel computes";
  let description = [{
    The body takes the group's inputs as block arguments and yields its
    results; it computes exactly what its ops compute unfused.

    `gemm_add`: a product (`chain.linear`, `chain.dense`,
    `chain.linear_grad_x` or `chain.dense_grad_x`) of two inputs, then a
    `chain.add` of that product and the third input. The kernel adds the
    addend in its epilogue, after the whole reduction, so the result has the
    bits of the two ops run one after the other. In a forward graph the
    addend is the residual stream (`h + o_proj(a)`, `h + down_proj(m)`); in
    a backward graph it is another gradient of the same value
    (`dx_q + dx_k + dx_v`, `dx_gate + dx_up`).

    ```mlir
    %h2 = chain.fused gemm_add(%a, %wo, %h) : (...) -> tensor<?x16xf32, #l> {
    ^bb0(%x: ..., %w: ..., %r: ...):
      %y = chain.linear %x, %w : ...
      %s = chain.add %y, %r : ...
      chain.yield %s : ...
    }
    ```

    `gemm_swiglu`: the up projection (`chain.linear` or `chain.dense` of
    inputs #0 and #1), then `chain.swiglu` of input #2 (the gate) and it;
    yields the SwiGLU and, when something else reads it (the backward pass),
    the up projection too. `gemm_swiglu_grad`: the gradient `dh` of a
    SwiGLU's output (`chain.linear_grad_x` or `chain.dense_grad_x` of
    inputs #0 and #1, the down projection's), then `chain.swiglu_grad` of
    inputs #2 and #3 (gate and up) and it; yields dgate and dup. The kernel
    applies the SwiGLU (or its gradient) to each element of the finished
    product, in double as the SwiGLU kernel does, so again the bits are
    those of the ops run one after the other, and the product is never
    stored (unless kept).

    `grouped_gemm`: 2 to 4 forward products (`chain.linear` or
    `chain.dense`) of input #0 and inputs #1, #2, ... (one weight each, in
    order); yields the products in that order. One kernel packs the shared
    input once and multiplies it by every weight (q/k/v of an attention
    block, k/v of CoLM-Air); each product has its own output and keeps its
    own chain blocks, so the bits are those of the products run one by one.

    ```mlir
    %qkv:3 = chain.fused grouped_gemm(%x, %wq, %wk, %wv) : (...) -> (...) {
    ^bb0(%a: ..., %b0: ..., %b1: ..., %b2: ...):
      %q = chain.linear %a, %b0 : ...
      %k = chain.linear %a, %b1 : ...
      %v = chain.linear %a, %b2 : ...
      chain.yield %q, %k, %v : ...
    }
    ```

    `grouped_gemm_swiglu`: the gate and the up projection of input #0 (by
    inputs #1 and #2, products of the same chain blocks), then
    `chain.swiglu` of the two; yields the SwiGLU and the gate, and the up
    projection when something else reads it. The kernel finishes a gate
    tile before the up tile beside it and applies the SwiGLU as it stores
    the up tile, exactly as `gemm_swiglu` does.

    `norm_grouped_gemm` and `norm_grouped_gemm_swiglu`: the same groups
    over `chain.norm` of input #0 by the gain, input #1 (the weights follow
    from input #2 on): the body starts with the norm, and its products read
    the norm's result. The kernel normalises each block of rows with the
    norm kernel's own arithmetic as it packs them, so the normalised input
    reaches memory only when something else reads it; the group then
    yields it last.

    ```mlir
    %r:4 = chain.fused norm_grouped_gemm(%x, %g, %wq, %wk, %wv) : ... {
    ^bb0(%a: ..., %gain: ..., %b0: ..., %b1: ..., %b2: ...):
      %y = chain.norm %a, %gain {eps = 1.0e-05 : f64} : ...
      %q = chain.linear %y, %b0 : ...
      %k = chain.linear %y, %b1 : ...
      %v = chain.linear %y, %b2 : ...
      chain.yield %q, %k, %v, %y : ...
    }
    ```
  }];
  let arguments = (ins Variadic<AnyRankedTensor>:$inputs,
                       Chain_FusionKindAttr:$kind);
  let results = (outs Variadic<AnyRankedTensor>:$results);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = [{
    `` $kind `(` $inputs `)` attr-dict `:` functional-type($inputs, $results) $body
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The GEMM of the body (its first op), and what follows it (a
    /// chain.add, chain.swiglu or chain.swiglu_grad; for the grouped kinds,
    /// the second product).
    ::mlir::Operation *getProduct();
    ::mlir::Operation *getEpilogue();
    AddOp getAdd();
    /// The chain.norm that starts a norm_* group's body, or null.
    NormOp getPrologue();

  private:
    ::mlir::FailureOr<::mlir::Value> verifySharedInput(bool norm,
                                                      const char *name);
    ::mlir::LogicalResult verifyGrouped(bool norm);
    ::mlir::LogicalResult verifyGroupedSwiglu(bool norm);

  public:
  }];
}

def Chain_YieldOp : Chain_Op<"yield", [Pure, Terminator, HasParent<"FusedOp">]> {
  let summary = "The results of a fusion group";
  let arguments = (ins Variadic<AnyRankedTensor>:$values);
  let assemblyFormat = "attr-dict ($values^ `:` type($values))?";
}

#endif // COLM_CHAIN_FUSED_OPS
