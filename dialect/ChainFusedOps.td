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
def Chain_FusionKind : I32EnumAttr<"FusionKind",
    "what a fusion group computes in one kernel",
    [FusionKind_GemmAdd]> {
  let cppNamespace = "::colm::chain";
  let genSpecializedAttr = 0;
}
def Chain_FusionKindAttr : EnumAttr<Chain_Dialect, Chain_FusionKind, "fusion_kind"> {
  let summary = "gemm_add: a linear product plus an addend, in the GEMM's epilogue";
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
    /// gemm_add: the product and the add of the body.
    ::mlir::Operation *getProduct();
    AddOp getAdd();
  }];
}

def Chain_YieldOp : Chain_Op<"yield", [Pure, Terminator, HasParent<"FusedOp">]> {
  let summary = "The results of a fusion group";
  let arguments = (ins Variadic<AnyRankedTensor>:$values);
  let assemblyFormat = "attr-dict ($values^ `:` type($values))?";
}

#endif // COLM_CHAIN_FUSED_OPS
