//===- KernelDialect.td - the lowered kernel program ------*- tablegen -*-===//
#ifndef COLM_KERNEL_DIALECT
#define COLM_KERNEL_DIALECT

include "mlir/IR/OpBase.td"

def Kernel_Dialect : Dialect {
  let name = "kernel";
  let cppNamespace = "::colm::kernel";
  let summary = "The lowered kernel program: kernels, buffers with their "
                "plan, launches";
  let description = [{
    The layer below `chain`: what the lowering of a chain-dialect function
    produces and what every target renders. A `kernel.program` holds

    - `kernel.def`: one kernel, described by a spec attribute
      (`#kernel.gemm<...>`, `#kernel.attention<...>`, ...) with its static
      shapes, its chain-block structure and its tuning knobs;
    - `kernel.buffer`: a buffer with its role, element type, shape and, for
      the program's own buffers, its offset in the arena (the liveness plan);
    - `kernel.launch`: one run of a kernel with the fields of its argument
      struct (pointers into buffers, integers, floats) and the buffers it
      zero-fills first.

    Nothing in it is specific to a target but the knobs' values: the CPU
    renderer and the CUDA renderer read the same program. Shapes, counts and
    offsets may depend on the sizes chosen at run time (`v0`, `v1`, ... name
    the program's `variables` in order): `8 * v0 + 64`.

    The verifier checks what any target relies on: symbols resolve, every
    arena buffer lies inside the arena, views lie inside their buffer, and no
    two buffers that are live at the same launch share arena bytes.
  }];
  let useDefaultAttributePrinterParser = 1;
  let extraClassDeclaration = [{
  private:
    void registerAttributes();
  public:
  }];
}

class Kernel_Op<string mnemonic, list<Trait> traits = []>
    : Op<Kernel_Dialect, mnemonic, traits>;

#endif // COLM_KERNEL_DIALECT
