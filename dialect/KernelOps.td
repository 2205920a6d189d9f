//===- KernelOps.td - programs, kernels, buffers, launches -*- tablegen -*-===//
#ifndef COLM_KERNEL_OPS
#define COLM_KERNEL_OPS

include "dialect/KernelAttrs.td"
include "mlir/IR/OpBase.td"
include "mlir/IR/SymbolInterfaces.td"
include "mlir/IR/BuiltinAttributes.td"

def Kernel_ProgramOp : Kernel_Op<"program", [Symbol, SymbolTable,
    IsolatedFromAbove, NoTerminator, SingleBlock, NoRegionArguments]> {
  let summary = "A lowered program: its kernels, buffers and launches";
  let description = [{
    The launches run in order. `sizes`: what the program was compiled for;
    `variables` with `max`: the sizes chosen at run time (`v0`, `v1`, ...)
    and the largest value of each, which the arena is planned for. `arena`:
    the bytes of the arena that holds every temporary and output buffer.

    ```mlir
    kernel.program @forward target "cpu" sizes {sequences = 1 : i64}
        variables ["tokens"] max [512] arena 4096 {
      kernel.def @add_w64 symbol "colm_add_w64" #kernel.elementwise<op = add, width = 64>
      kernel.buffer @x input f32 [v0, 64]
      kernel.buffer @y output f32 [v0, 64] at 0
      kernel.launch @add_w64 (0 = @x[0], 8 = @x[0], 16 = @y[0], 24 = int v0)
          bytes 32 label "y = x + x" flops 0.0
    }
    ```
  }];
  let arguments = (ins SymbolNameAttr:$sym_name, StrAttr:$target,
                       DictionaryAttr:$sizes, StrArrayAttr:$variables,
                       DenseI64ArrayAttr:$max_sizes, I64Attr:$arena_bytes);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = [{
    $sym_name `target` $target `sizes` $sizes `variables` $variables
    `max` $max_sizes `arena` $arena_bytes attr-dict-with-keyword $body
  }];
  let hasRegionVerifier = 1;
  let skipDefaultBuilders = 1;
  let builders = [OpBuilder<(ins "::llvm::StringRef":$name,
      "::llvm::StringRef":$target, "::mlir::DictionaryAttr":$sizes,
      "::llvm::ArrayRef<::llvm::StringRef>":$variables,
      "::llvm::ArrayRef<int64_t>":$maxSizes, "int64_t":$arenaBytes)>];
}

def Kernel_DefOp : Kernel_Op<"def", [Symbol, HasParent<"ProgramOp">]> {
  let summary = "A kernel: its entry symbol and its spec";
  let description = [{
    The spec is one of `#kernel.gemm`, `#kernel.norm`, `#kernel.rope`,
    `#kernel.swiglu`, `#kernel.attention`, `#kernel.cross_entropy`,
    `#kernel.embed`, `#kernel.elementwise`, `#kernel.copy`,
    `#kernel.weighted_sum`. A target renders the spec into source whose
    entry point is `symbol`.
  }];
  let arguments = (ins SymbolNameAttr:$sym_name, StrAttr:$symbol,
                       AnyAttr:$spec);
  let assemblyFormat = "$sym_name `symbol` $symbol $spec attr-dict";
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// "gemm", "norm", ... (the spec's mnemonic).
    ::llvm::StringRef getKind();
  }];
}

def Kernel_BufferOp : Kernel_Op<"buffer", [Symbol, HasParent<"ProgramOp">]> {
  let summary = "A buffer: role, element type, shape, place";
  let description = [{
    `role`: `temporary` (in the arena, dead outside its live range),
    `output` (in the arena, read back after a run), `input` (bound by the
    caller: tokens, targets), `param` (bound by the caller: the model
    parameter of that name). `element`: f32, i32, f64 or bf16 (bf16 bit
    patterns). Arena buffers are `at` a byte offset (a multiple of 64); a
    view is `view @base [element]`: the memory of another buffer.

    ```mlir
    kernel.buffer @q temporary f32 [v0, 64] at 4096
    kernel.buffer @q_chain1 temporary f32 [v0, 32] view @q [0]
    ```
  }];
  let arguments = (ins SymbolNameAttr:$sym_name, StrAttr:$role,
                       TypeAttr:$element, ArrayAttr:$shape,
                       OptionalAttr<I64Attr>:$offset,
                       OptionalAttr<FlatSymbolRefAttr>:$view_of,
                       OptionalAttr<AnyAttr>:$view_element);
  let hasCustomAssemblyFormat = 1;
  let hasVerifier = 1;
}

def Kernel_LaunchOp : Kernel_Op<"launch", [HasParent<"ProgramOp">]> {
  let summary = "One run of a kernel with its argument struct";
  let description = [{
    `(offset = field, ...)`: the struct's fields at their byte offsets; a
    field is `@buffer[element]` (a pointer), `null`, `int SIZE` or
    `float VALUE`. `bytes`: the struct's size. `zero [@b, ...]`: buffers set
    to zero before the kernel runs (accumulating outputs); a launch without
    a kernel only zero-fills. `label` and `flops` are for profiles.
  }];
  let arguments = (ins OptionalAttr<FlatSymbolRefAttr>:$kernel,
                       ArrayAttr:$args, I64Attr:$arg_bytes,
                       ArrayAttr:$zero, StrAttr:$label, F64Attr:$flops);
  let hasCustomAssemblyFormat = 1;
  let hasVerifier = 1;
}

#endif // COLM_KERNEL_OPS
