//===- RenderMovement.cpp - Element-wise and copy kernels as CUDA ---------===//

#include "compiler/codegen/cuda/RenderMovement.h"

#include "compiler/codegen/cpu/RenderMovement.h"
#include "compiler/codegen/cpu/RenderUtil.h"
#include "runtime/abi/MovementAbi.h"

namespace colm::codegen::cuda {
namespace {

using cpu::copySymbol;
using cpu::elementwiseSymbol;
using cpu::embedSymbol;
using cpu::exact;
using cpu::replaceAll; // the renderers' shared helpers (RenderUtil.h)
using cpu::weightedSumSymbol;

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

// The lookup: one thread per element; an id outside the vocabulary gives a
// NaN row, as the reference does.
const char *kEmbed = R"CUDA(
extern "C" __global__ void @SYMBOL@_kernel(const ColmEmbedArgs a) {
  const int64_t n = a.rows * @W@;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
       i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t id = a.tokens[i / @W@];
    a.y[i] = id >= 0 && id < @V@ ? a.table[id * @W@ + i % @W@]
                                 : colm_bits_float(0x7fc00000u);
  }
}
)CUDA";

// The gradient without atomics: one block per vocabulary row (grid-stride),
// one thread per column, summing the rows of dy whose token is that row in
// ascending order (deterministic; every row of dy is scanned once per
// vocabulary row, which a GPU version at large vocabularies should replace
// by a sort of the tokens). Columns before dBegin (frozen chains) are 0.
const char *kEmbedGrad = R"CUDA(
extern "C" __global__ void @SYMBOL@_kernel(const ColmEmbedArgs a) {
  for (int64_t v = blockIdx.x; v < @V@; v += gridDim.x)
    for (int64_t j = threadIdx.x; j < @W@; j += blockDim.x) {
      double acc = 0;
      if (j >= @D0@)
        for (int64_t r = 0; r < a.rows; ++r)
          if (a.tokens[r] == v)
            acc += a.dy[r * @W@ + j];
      a.dtable[v * @W@ + j] = float(acc);
    }
}
)CUDA";

// A handful of scalars: one thread, the reference's order and statements.
const char *kWeightedSum = R"CUDA(
extern "C" __global__ void @SYMBOL@_kernel(const ColmWeightedSumArgs a) {
  if (threadIdx.x != 0 || blockIdx.x != 0)
    return;
  const double weights[] = {@WEIGHTS@};
  double sum = 0;
  for (int i = 0; i < @N@; ++i) {
    double term = weights[i] * a.inputs[i];
    sum += term;
  }
  if (a.out)
    a.out[0] = float(sum);
  if (a.outDouble)
    a.outDouble[0] = sum;
}
)CUDA";

} // namespace

std::string renderEmbed(const EmbedSpec &spec, CudaBuild build) {
  std::string body = spec.backward ? kEmbedGrad : kEmbed, grid = kGrid;
  replaceAll(body, "@SYMBOL@", embedSymbol(spec));
  replaceAll(body, "@W@", std::to_string(spec.width) + "LL");
  replaceAll(body, "@V@", std::to_string(spec.vocab) + "LL");
  replaceAll(body, "@D0@", std::to_string(spec.dBegin) + "LL");
  replaceAll(grid, "@ELEMS@", std::to_string(spec.width));
  if (spec.backward)
    grid = spec.vocab < 4096 ? std::to_string(spec.vocab) : "4096";
  return assembleCuda(build, spec.name(), embedSymbol(spec),
                      COLM_STRINGIFY(COLM_EMBED_ARGS_STRUCT), "ColmEmbedArgs",
                      body, {grid, spec.backward ? "128" : "256"});
}

std::string renderWeightedSum(const WeightedSumSpec &spec, CudaBuild build) {
  std::string body = kWeightedSum, weights;
  for (double w : spec.weights)
    weights += exact(w) + ", ";
  replaceAll(body, "@SYMBOL@", weightedSumSymbol(spec));
  replaceAll(body, "@WEIGHTS@", weights.empty() ? "0.0" : weights);
  replaceAll(body, "@N@", std::to_string(spec.weights.size()));
  return assembleCuda(build, spec.name(), weightedSumSymbol(spec),
                      COLM_STRINGIFY(COLM_WEIGHTED_SUM_ARGS_STRUCT),
                      "ColmWeightedSumArgs", body, {"1", "32"});
}

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
