//===- ChainDialect.td - the chain dialect ----------------*- tablegen -*-===//
#ifndef COLM_CHAIN_DIALECT
#define COLM_CHAIN_DIALECT

include "mlir/IR/OpBase.td"

def Chain_Dialect : Dialect {
  let name = "chain";
  let cppNamespace = "::colm::chain";
  let summary = "Chain-of-Model graphs: chained tensors and the CoLM layer steps";
  let description = [{
    The `chain` dialect describes Chain-of-Model networks (Song et al., 2025).
    A hidden dimension split into ordered chains carries the encoding
    `#chain.layout<[c_1, ..., c_n]>` on its tensor type: chain `i` owns the
    contiguous slice `[X*S_{i-1}/S, X*S_i/S)` of the last dimension. Weights
    of chain linears carry `#chain.blocks<[...]>`: both dimensions are split
    and only blocks on or below the chain diagonal take part.

    The causal rule (output chain `i` depends only on input chains `1..i`) is
    a property of whole graphs; `chain-verify-causality` proves it. Op
    verifiers check shapes and that every split is exact.
  }];
  let useDefaultAttributePrinterParser = 1;
  let extraClassDeclaration = [{
  private:
    // Defined next to the attribute storage classes (ChainAttrs.cpp).
    void registerAttributes();
  public:
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect"];
}

class Chain_Op<string mnemonic, list<Trait> traits = []>
    : Op<Chain_Dialect, mnemonic, traits>;

#endif // COLM_CHAIN_DIALECT
