//===- ChainAttrs.td - chain layouts and enums ------------*- tablegen -*-===//
#ifndef COLM_CHAIN_ATTRS
#define COLM_CHAIN_ATTRS

include "dialect/ChainDialect.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"
include "mlir/IR/TensorEncoding.td"

class Chain_Attr<string name, string attrMnemonic, list<Trait> traits = []>
    : AttrDef<Chain_Dialect, name, traits> {
  let mnemonic = attrMnemonic;
}

// Shared by the two chain encodings: the ratios C and the arithmetic on them.
class Chain_RatiosAttr<string name, string attrMnemonic>
    : Chain_Attr<name, attrMnemonic,
                 [DeclareAttrInterfaceMethods<VerifiableTensorEncoding>]> {
  let parameters = (ins ArrayRefParameter<"int64_t", "chain ratios">:$ratios);
  let assemblyFormat = "`<` `[` $ratios `]` `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// Number of chains n.
    unsigned numChains() const { return getRatios().size(); }
    /// S_k = c_1 + ... + c_k (S_0 = 0).
    int64_t ratioPrefix(unsigned k) const;
    /// S = S_n.
    int64_t ratioSum() const { return ratioPrefix(numChains()); }
    /// Width of prefix k of a dimension of size `dim` (exact split assumed).
    int64_t prefixWidth(int64_t dim, unsigned k) const {
      return dim * ratioPrefix(k) / ratioSum();
    }
    /// [begin, end) of chain i (1-based) in a dimension of size `dim`.
    int64_t chainBegin(int64_t dim, unsigned i) const {
      return prefixWidth(dim, i - 1);
    }
    int64_t chainEnd(int64_t dim, unsigned i) const {
      return prefixWidth(dim, i);
    }
    /// True when `dim` splits exactly in these ratios.
    bool divides(int64_t dim) const;
    /// The chain (1-based) that owns index `pos` of a dimension of size `dim`.
    unsigned chainOf(int64_t dim, int64_t pos) const;
    /// The same encoding restricted to the first k chains.
    }] # name # [{Attr prefix(unsigned k) const;
  }];
}

def Chain_LayoutAttr : Chain_RatiosAttr<"Layout", "layout"> {
  let summary = "The last dimension is split into chains in the ratios C";
  let description = [{
    Tensor encoding of a chained value (activations, gains, embedding and
    LM-head tables): the last dimension is split into `n` contiguous chains
    in the ratios `C`. Example: `tensor<?x512xf32, #chain.layout<[2, 2, 4]>>`
    has chains of width 128, 128 and 256.
  }];
}

def Chain_BlocksAttr : Chain_RatiosAttr<"Blocks", "blocks"> {
  let summary = "A [out, in] weight split into chain blocks on both dimensions";
  let description = [{
    Tensor encoding of a chain-linear weight `[out, in]`: rows and columns
    are both split in the ratios `C`. Block `(i, j)` (rows of output chain
    `i`, columns of input chain `j`) takes part only when `j <= i`.
  }];
}

def KvMapping_Grouped : I32EnumAttrCase<"grouped", 0>;
def KvMapping_Tiled : I32EnumAttrCase<"tiled", 1>;
def Chain_KvMapping : I32EnumAttr<"KvMapping",
    "which key/value head each query head reads",
    [KvMapping_Grouped, KvMapping_Tiled]> {
  let cppNamespace = "::colm::chain";
  let genSpecializedAttr = 0;
}
def Chain_KvMappingAttr : EnumAttr<Chain_Dialect, Chain_KvMapping, "kv_mapping"> {
  let summary = "grouped: head j reads floor(j*h_kv/h); tiled: j mod h_kv";
}

#endif // COLM_CHAIN_ATTRS
