//===- RenderAdamW.cpp - AdamW over flat memory as CUDA -------------------===//

#include "compiler/codegen/cuda/RenderAdamW.h"

#include "compiler/codegen/cpu/RenderAdamW.h"
#include "compiler/codegen/cpu/RenderUtil.h"

namespace colm::codegen::cuda {
namespace {

using cpu::replaceAll;

const char *kBody = R"CUDA(
struct ColmAdamWSegment {
  long long offset, size;
  bool decay, masked;
  long long start;      // index in the segments' concatenation
  long long firstBlock; // SumSquares: the index of its first block
};
__device__ const ColmAdamWSegment kSegments[] = {@SEGMENTS@};
constexpr int kNumSegments = @NUM_SEGMENTS@;
constexpr long long kEntries = @ENTRIES@, kBlocks = @BLOCKS@,
                    kBlock = @BLOCK@;

// The last segment whose `field` is at most x (binary search).
__device__ int segmentAt(long long x, bool byBlock) {
  int lo = 0, hi = kNumSegments - 1;
  while (lo < hi) {
    int mid = (lo + hi + 1) / 2;
    long long v = byBlock ? kSegments[mid].firstBlock : kSegments[mid].start;
    if (v <= x)
      lo = mid;
    else
      hi = mid - 1;
  }
  return lo;
}

extern "C" __global__ void @SYMBOL@_kernel(const ColmAdamWArgs a) {
  if (@SUMSQ@) {
    __shared__ double partial[32];
    for (long long b = blockIdx.x; b < kBlocks; b += gridDim.x) {
      const int si = segmentAt(b, true);
      const ColmAdamWSegment &s = kSegments[si];
      const long long j0 = (b - s.firstBlock) * kBlock;
      const long long n = s.size - j0 < kBlock ? s.size - j0 : kBlock;
      const float *g = a.grad + s.offset + j0;
      const uint8_t *mask = s.masked ? a.masks[si] + j0 : nullptr;
      double acc = 0;
      for (long long j = threadIdx.x; j < n; j += blockDim.x)
        if (!mask || mask[j]) {
          double x = g[j];
          acc += x * x;
        }
      for (int d = 16; d > 0; d /= 2)
        acc += colm_shfl_xor(acc, d);
      __syncthreads(); // the last block's sums are read
      if (colm_lane_id() == 0)
        partial[threadIdx.x / 32] = acc;
      __syncthreads();
      if (threadIdx.x == 0) {
        double sum = 0;
        for (unsigned w = 0; w < (blockDim.x + 31) / 32; ++w)
          sum += partial[w];
        a.partials[b] = sum;
      }
    }
    return;
  }
  const double lr = a.lr, b1 = a.beta1, b2 = a.beta2, eps = a.eps;
  const double scale = a.grad_scale, bc1 = a.bias_correction1,
               bc2 = a.bias_correction2;
  for (long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x;
       e < kEntries; e += (long long)gridDim.x * blockDim.x) {
    const int si = segmentAt(e, false);
    const ColmAdamWSegment &s = kSegments[si];
    const long long j = e - s.start;
    if (s.masked && !a.masks[si][j])
      continue;
    const long long k = s.offset + j;
    const double wd = s.decay ? a.weight_decay : 0.0;
    double pj = a.param[k];
    double gj = (double)a.grad[k] * scale;
    pj -= lr * wd * pj;
    float m = (float)(b1 * a.exp_avg[k] + (1.0 - b1) * gj);
    float v = (float)(b2 * a.exp_avg_sq[k] + (1.0 - b2) * gj * gj);
    a.exp_avg[k] = m;
    a.exp_avg_sq[k] = v;
    double mHat = m / bc1;
    double vHat = v / bc2;
    pj -= lr * mHat / (sqrt(vHat) + eps);
    a.param[k] = (float)pj;
  }
}
)CUDA";

} // namespace

std::string renderAdamW(const AdamWSpec &spec, CudaBuild build) {
  int64_t start = 0, block = 0;
  std::string segments = adamWSegmentTable(spec, start, block);

  bool sumsq = spec.mode == AdamWMode::SumSquares;
  std::string body = kBody;
  replaceAll(body, "@SYMBOL@", cpu::adamWSymbol(spec));
  replaceAll(body, "@SEGMENTS@", segments);
  replaceAll(body, "@NUM_SEGMENTS@", std::to_string(spec.segments.size()));
  replaceAll(body, "@ENTRIES@", std::to_string(start) + "LL");
  replaceAll(body, "@BLOCKS@", std::to_string(block) + "LL");
  replaceAll(body, "@BLOCK@", std::to_string(spec.blockSize) + "LL");
  replaceAll(body, "@SUMSQ@", sumsq ? "true" : "false");
  auto capped = [](int64_t n) {
    return std::to_string(n < 1 ? 1 : n < 4096 ? n : 4096);
  };
  return assembleCuda(
      build, spec.name(), cpu::adamWSymbol(spec),
      COLM_STRINGIFY(COLM_ADAMW_ARGS_STRUCT), "ColmAdamWArgs", body,
      {sumsq ? capped(block) : capped((start + 255) / 256), "256"});
}

} // namespace colm::codegen::cuda
