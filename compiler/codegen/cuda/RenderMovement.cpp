//===- RenderMovement.cpp - Element-wise and copy kernels as CUDA ---------===//

#include "compiler/codegen/cuda/RenderMovement.h"

#include "compiler/codegen/cpu/RenderMovement.h"
#include "compiler/codegen/cpu/RenderUtil.h"
#include "runtime/abi/MovementAbi.h"

namespace colm::codegen::cuda {
namespace {

using cpu::copySymbol;
using cpu::elementwiseSymbol;
using cpu::replaceAll; // the renderers' shared helpers (RenderUtil.h)

// Blocks of 256 threads, at most 1024 blocks: the grid-stride loops cover
// the rest (on the emulator, fewer and larger blocks cost less).
const char *kGrid = "(a.rows * @ELEMS@ + 255) / 256 < 1024 ? "
                    "(a.rows * @ELEMS@ + 255) / 256 : 1024";

const char *kElementwise = R"CUDA(
extern "C" __global__ void @SYMBOL@_kernel(const ColmElementwiseArgs a) {
  const int64_t n = a.rows * @W@;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
       i += (int64_t)gridDim.x * blockDim.x)
    a.y[i] = a.a[i] @OP@ a.b[i];
}
)CUDA";

const char *kCopy = R"CUDA(
extern "C" __global__ void @SYMBOL@_kernel(const ColmCopyArgs a) {
  // Every element of each destination row: copied, or zeroed past the
  // source's width when the spec says so.
  const int64_t cols = @ZERO@ ? @DS@ : @W@, n = a.rows * cols;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
       i += (int64_t)gridDim.x * blockDim.x) {
    int64_t r = i / cols, j = i % cols;
    if (!@ZERO@)
      a.y[r * @DS@ + @DO@ + j] = a.x[r * @SS@ + j];
    else if (j >= @DO@ && j < @DO@ + @W@)
      a.y[r * @DS@ + j] = a.x[r * @SS@ + j - @DO@];
    else
      a.y[r * @DS@ + j] = 0.0f;
  }
}
)CUDA";

} // namespace

std::string renderElementwise(const ElementwiseSpec &spec, CudaBuild build) {
  std::string body = kElementwise, grid = kGrid;
  replaceAll(body, "@SYMBOL@", elementwiseSymbol(spec));
  replaceAll(body, "@W@", std::to_string(spec.width) + "LL");
  replaceAll(body, "@OP@", spec.op == ElementwiseSpec::Op::Mul ? "*" : "+");
  replaceAll(grid, "@ELEMS@", std::to_string(spec.width));
  return assembleCuda(build, spec.name(), elementwiseSymbol(spec),
                      COLM_STRINGIFY(COLM_ELEMENTWISE_ARGS_STRUCT),
                      "ColmElementwiseArgs", body, {grid, "256"});
}

std::string renderCopy(const CopySpec &spec, CudaBuild build) {
  std::string body = kCopy, grid = kGrid;
  replaceAll(body, "@SYMBOL@", copySymbol(spec));
  replaceAll(body, "@W@", std::to_string(spec.width) + "LL");
  replaceAll(body, "@SS@", std::to_string(spec.srcStride) + "LL");
  replaceAll(body, "@DS@", std::to_string(spec.dstStride) + "LL");
  replaceAll(body, "@DO@", std::to_string(spec.dstOffset) + "LL");
  replaceAll(body, "@ZERO@", spec.zeroRest ? "true" : "false");
  replaceAll(grid, "@ELEMS@",
             std::to_string(spec.zeroRest ? spec.dstStride : spec.width));
  return assembleCuda(build, spec.name(), copySymbol(spec),
                      COLM_STRINGIFY(COLM_COPY_ARGS_STRUCT), "ColmCopyArgs",
                      body, {grid, "256"});
}

} // namespace colm::codegen::cuda
