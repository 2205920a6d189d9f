//===- KernelAttrs.td - kernel specs and launch fields ----*- tablegen -*-===//
//
// One attribute per kernel kind, parallel to the kernel descriptions of
// compiler/codegen (ChainGemmSpec, AttentionSpec, ...): every field of a
// spec is a parameter, so a program read back renders the same kernels.
//
//===----------------------------------------------------------------------===//
#ifndef COLM_KERNEL_ATTRS
#define COLM_KERNEL_ATTRS

include "dialect/KernelDialect.td"
include "mlir/IR/AttrTypeBase.td"

class Kernel_Attr<string name, string attrMnemonic, list<Trait> traits = []>
    : AttrDef<Kernel_Dialect, name, traits> {
  let mnemonic = attrMnemonic;
}

// Parameters that print as the model's words: `true`, `forward`, `1.0e-05`.
def Kernel_Bool : AttrOrTypeParameter<"bool", "a flag"> {
  let parser = "::colm::kernel::parseBool($_parser)";
  let printer = "$_printer << ($_self ? \"true\" : \"false\")";
}
def Kernel_Keyword : AttrOrTypeParameter<"::llvm::StringRef", "a keyword"> {
  let allocator = [{$_dst = $_allocator.copyInto($_self);}];
  let cppStorageType = "std::string";
  let parser = "::colm::kernel::parseKeyword($_parser)";
  let printer = "$_printer << $_self";
}
// Floats are kept as attributes (they hash); printed as the shortest
// decimal that reads back exactly.
def Kernel_Double : AttrOrTypeParameter<"::mlir::FloatAttr", "a float, exact"> {
  let parser = "::colm::kernel::parseDoubleAttr($_parser)";
  let printer = "::colm::kernel::printDouble($_printer, $_self.getValueAsDouble())";
}
def Kernel_Doubles : AttrOrTypeParameter<"::mlir::DenseF64ArrayAttr",
                                         "floats, exact"> {
  let parser = "::colm::kernel::parseDoubles($_parser)";
  let printer = "::colm::kernel::printDoubles($_printer, $_self.asArrayRef())";
}
def Kernel_Ints : AttrOrTypeParameter<"::llvm::ArrayRef<int64_t>", "integers"> {
  let allocator = [{$_dst = $_allocator.copyInto($_self);}];
  let cppStorageType = "::llvm::SmallVector<int64_t>";
  let parser = "::colm::kernel::parseInts($_parser)";
  let printer = "::colm::kernel::printInts($_printer, $_self)";
}
// A grouped GEMM's products' columns; omitted (empty) for one product.
def Kernel_GroupColumns : AttrOrTypeParameter<"::llvm::ArrayRef<int64_t>",
                                              "grouped products' columns"> {
  let allocator = [{$_dst = $_allocator.copyInto($_self);}];
  let cppStorageType = "::llvm::SmallVector<int64_t>";
  let parser = "::colm::kernel::parseInts($_parser)";
  let printer = "::colm::kernel::printInts($_printer, $_self)";
  let defaultValue = "::colm::kernel::NoInts()";
}
// Integers omitted when empty: a tuned CUDA tile, absent for the default.
def Kernel_OptionalInts : AttrOrTypeParameter<"::llvm::ArrayRef<int64_t>",
                                              "integers, or none"> {
  let allocator = [{$_dst = $_allocator.copyInto($_self);}];
  let cppStorageType = "::llvm::SmallVector<int64_t>";
  let parser = "::colm::kernel::parseInts($_parser)";
  let printer = "::colm::kernel::printInts($_printer, $_self)";
  let defaultValue = "::colm::kernel::NoInts()";
}
// A norm prologue's eps; omitted when there is no prologue.
def Kernel_OptionalDouble : AttrOrTypeParameter<"::mlir::FloatAttr",
                                                "a float, exact, or none"> {
  let parser = "::colm::kernel::parseDoubleAttr($_parser)";
  let printer = "::colm::kernel::printDouble($_printer, $_self.getValueAsDouble())";
  let defaultValue = "::mlir::FloatAttr()";
}
// GEMM blocks, six integers each: `[n 0:128 k 0:128 m 0:?, ...]`.
def Kernel_Blocks : AttrOrTypeParameter<"::llvm::ArrayRef<int64_t>",
                                        "chain blocks"> {
  let allocator = [{$_dst = $_allocator.copyInto($_self);}];
  let cppStorageType = "::llvm::SmallVector<int64_t>";
  let parser = "::colm::kernel::parseBlocks($_parser)";
  let printer = "::colm::kernel::printBlocks($_printer, $_self)";
}
// A size: an i64 IntegerAttr, or a #kernel.size when it depends on the
// run-time sizes. Printed bare: `64`, `8 * v0 + 64`.
def Kernel_SizeParam : AttrOrTypeParameter<"::mlir::Attribute", "a size"> {
  let parser = "::colm::kernel::parseSize($_parser)";
  let printer = "::colm::kernel::printSize($_printer, $_self)";
}

def Kernel_SizeAttr : Kernel_Attr<"Size", "size"> {
  let summary = "constant + sum of coefficient x run-time size";
  let description = [{
    A dimension, count or offset that depends on the sizes a program runs
    at: `#kernel.size<8 * v0 + 64>`, where `v0` is the program's first
    variable. Coefficients are positive. A constant is an i64 integer
    instead.
  }];
  let parameters = (ins "int64_t":$constant, Kernel_Ints:$terms);
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// terms() holds (variable index, coefficient) pairs, by index.
    size_t numTerms() const { return getTerms().size() / 2; }
  }];
}

// Launch fields: one per field of a launch's argument struct, at its byte
// offset.
def Kernel_PointerArgAttr : Kernel_Attr<"PointerArg", "ptr"> {
  let summary = "a pointer to an element of a buffer (no buffer: null)";
  let parameters = (ins "int64_t":$offset,
                        OptionalParameter<"::mlir::FlatSymbolRefAttr">:$buffer,
                        Kernel_SizeParam:$element);
  // `<8 = @x[0]>`, `<8 = null>`.
  let hasCustomAssemblyFormat = 1;
}
def Kernel_IntArgAttr : Kernel_Attr<"IntArg", "int"> {
  let summary = "an integer field";
  let parameters = (ins "int64_t":$offset, Kernel_SizeParam:$value);
  let assemblyFormat = "`<` $offset `=` $value `>`";
}
def Kernel_FloatArgAttr : Kernel_Attr<"FloatArg", "float"> {
  let summary = "a float field";
  let parameters = (ins "int64_t":$offset, Kernel_Double:$value);
  let assemblyFormat = "`<` $offset `=` $value `>`";
}

// The kernel kinds.
class Kernel_SpecAttr<string name, string attrMnemonic>
    : Kernel_Attr<name, attrMnemonic> {
  let assemblyFormat = "`<` struct(params) `>`";
}

def Kernel_GemmAttr : Kernel_SpecAttr<"Gemm", "gemm"> {
  let summary = "A block-skipping chain GEMM C = A x B";
  let description = [{
    `use`: forward, input_grad, weight_grad or dense. `m`, `n`, `k`: static
    sizes, -1 for the dynamic one. Each block computes columns `n` of C,
    reducing over `k`, for rows `m` (`?`: up to the dynamic size); the
    blocks of a chain linear are those on or below the chain diagonal.
    `swiglu`: none, forward or backward (the epilogue). `bf16`: inputs
    rounded to bf16 as they are read; `b_bf16`: B stored as bf16. `mr`,
    `nr`, `kc`, `mc`: the tuning knobs (register tile, cache blocking).
    `groups` (a grouped GEMM only): the columns of each product of the
    shared A (q/k/v, gate/up), whose blocks follow one another in `n`.
    `norm`, `norm_eps` (a norm prologue only): the statistics groups' bounds
    of the chain RMSNorm applied to A as it is read, and its eps. `rope`,
    `rope_head_dim`, `rope_theta` (a RoPE epilogue only): the products
    rotated per head, the head size and theta. `cuda_tile` (omitted for
    the default 64 x 64 x 32): the CUDA kernel's block tile, rows x columns
    x reduction step, and a fourth 1 when cuBLASLt runs the GEMM instead.
  }];
  let genVerifyDecl = 1;
  let parameters = (ins Kernel_Keyword:$use, "int64_t":$m, "int64_t":$n,
                        "int64_t":$k, Kernel_Bool:$a_transposed,
                        Kernel_Bool:$b_transposed, Kernel_Bool:$accumulate,
                        Kernel_Bool:$addend, Kernel_Keyword:$swiglu,
                        Kernel_Bool:$bf16, Kernel_Bool:$b_bf16,
                        Kernel_Blocks:$blocks, "int64_t":$mr, "int64_t":$nr,
                        "int64_t":$kc, "int64_t":$mc,
                        Kernel_GroupColumns:$groups, Kernel_GroupColumns:$norm,
                        Kernel_OptionalDouble:$norm_eps,
                        Kernel_GroupColumns:$rope,
                        DefaultValuedParameter<"int64_t", "0">:$rope_head_dim,
                        Kernel_OptionalDouble:$rope_theta,
                        Kernel_OptionalInts:$cuda_tile);
}

def Kernel_NormAttr : Kernel_SpecAttr<"Norm", "norm"> {
  let summary = "Chain RMSNorm over statistics groups (or its gradient)";
  let parameters = (ins "int64_t":$width, Kernel_Ints:$group_bounds,
                        Kernel_Double:$eps, Kernel_Bool:$backward,
                        "int64_t":$dgain_begin);
}

def Kernel_RopeAttr : Kernel_SpecAttr<"Rope", "rope"> {
  let summary = "Rotary position embedding per head (inverse: its gradient)";
  let parameters = (ins "int64_t":$width, "int64_t":$head_dim,
                        Kernel_Double:$theta, Kernel_Bool:$inverse);
}

def Kernel_SwiGluAttr : Kernel_SpecAttr<"SwiGlu", "swiglu"> {
  let summary = "gate * sigmoid(gate) * up (or its gradient)";
  let parameters = (ins "int64_t":$width, Kernel_Bool:$backward);
}

def Kernel_AttentionAttr : Kernel_SpecAttr<"Attention", "attention"> {
  let summary = "Fused causal attention with an online softmax over tiles";
  let description = [{
    `pass`: forward, backward, or paged (the forward over a paged
    key/value cache read through a block table, then the new rows:
    decoding); `mapping`: grouped or tiled (which
    key/value head each query head reads); `block_q`, `block_k`: the tiles.
  }];
  let genVerifyDecl = 1;
  let parameters = (ins Kernel_Keyword:$pass, "int64_t":$heads,
                        "int64_t":$kv_heads, "int64_t":$head_dim,
                        Kernel_Keyword:$mapping, Kernel_Bool:$causal,
                        "int64_t":$block_q, "int64_t":$block_k);
}

def Kernel_CrossEntropyAttr : Kernel_SpecAttr<"CrossEntropy", "cross_entropy"> {
  let summary = "LM head fused with cross-entropy, in chunks of rows";
  let description = [{
    `phase`: rows (loss and dX) or vocab (dW); the head reads `width`
    columns and writes dW from `dw_begin` on.
  }];
  let genVerifyDecl = 1;
  let parameters = (ins Kernel_Keyword:$phase, "int64_t":$vocab,
                        "int64_t":$width, "int64_t":$dw_begin,
                        "int64_t":$chunk_rows, Kernel_Bool:$accumulate,
                        Kernel_Bool:$gradients);
}

def Kernel_EmbedAttr : Kernel_SpecAttr<"Embed", "embed"> {
  let summary = "Embedding rows (or their gradient from column d_begin on)";
  let parameters = (ins "int64_t":$vocab, "int64_t":$width,
                        Kernel_Bool:$backward, "int64_t":$d_begin);
}

def Kernel_ElementwiseAttr : Kernel_SpecAttr<"Elementwise", "elementwise"> {
  let summary = "y = a op b (op: add or mul)";
  let genVerifyDecl = 1;
  let parameters = (ins Kernel_Keyword:$op, "int64_t":$width);
}

def Kernel_CopyAttr : Kernel_SpecAttr<"Copy", "copy"> {
  let summary = "Strided row copies (chain prefix, extend, concat)";
  let parameters = (ins "int64_t":$width, "int64_t":$src_stride,
                        "int64_t":$dst_stride, "int64_t":$dst_offset,
                        Kernel_Bool:$zero_rest);
}

def Kernel_WeightedSumAttr : Kernel_SpecAttr<"WeightedSum", "weighted_sum"> {
  let summary = "sum of weights[i] x inputs[i] (the multi-chain loss)";
  let parameters = (ins Kernel_Doubles:$weights);
}

#endif // COLM_KERNEL_ATTRS
