//===- RenderPointwise.cpp - Row-wise kernels as CUDA ---------------------===//

#include "compiler/codegen/cuda/RenderPointwise.h"

#include "compiler/codegen/cpu/RenderPointwise.h"
#include "compiler/codegen/cpu/RenderUtil.h"
#include "runtime/abi/PointwiseAbi.h"

#include <cmath>

namespace colm::codegen::cuda {
namespace {

using cpu::chainNormSymbol;
using cpu::exact;
using cpu::replaceAll;
using cpu::ropeSymbol;
using cpu::swiGluSymbol;

// One block of 128 threads per row, at most 4096 blocks (grid-stride over
// the rows).
const char *kRowGrid = "a.rows < 4096 ? a.rows : 4096";
const char *kRowBlock = "128";

const char *kBlockSum = R"CUDA(
// The block's sum of v (double), for every thread; `partial` holds one
// value per warp. Barriers before and after: the buffer is reused.
__device__ double blockSum(double v, double *partial) {
  for (int d = 16; d > 0; d /= 2)
    v += colm_shfl_down(v, d);
  unsigned warp = threadIdx.x / 32, warps = (blockDim.x + 31) / 32;
  __syncthreads();
  if (colm_lane_id() == 0)
    partial[warp] = v;
  __syncthreads();
  double s = 0;
  for (unsigned w = 0; w < warps; ++w)
    s += partial[w];
  return s;
}
)CUDA";

const char *kNorm = R"CUDA(
@BLOCK_SUM@
extern "C" __global__ void @SYMBOL@_kernel(const ColmNormArgs a) {
  __shared__ double partial[32];
  const long long bounds[] = {@BOUNDS@};
  for (long long row = blockIdx.x; row < a.rows; row += gridDim.x) {
    const float *x = a.x + row * @W@;
    float *y = a.y + row * @W@;
    for (int g = 0; g < @NG@; ++g) {
      long long b = bounds[g], e = bounds[g + 1];
      double ss = 0;
      for (long long j = b + threadIdx.x; j < e; j += blockDim.x)
        ss += double(x[j]) * x[j];
      double r = 1.0 / sqrt(blockSum(ss, partial) / double(e - b) + @EPS@);
      for (long long j = b + threadIdx.x; j < e; j += blockDim.x)
        y[j] = float(x[j] * r * a.gain[j]);
    }
  }
}
)CUDA";

// The backward: blocks [0, R) take rows (dx, grid-stride), blocks [R, R +
// C) take chunks of 128 trainable gain columns (dgain, each column summed
// over all rows in ascending order, one thread per column; the chunk's
// block recomputes each row's statistics for the groups it touches).
const char *kNormGrad = R"CUDA(
@BLOCK_SUM@
extern "C" __global__ void @SYMBOL@_kernel(const ColmNormArgs a) {
  __shared__ double partial[32];
  const long long bounds[] = {@BOUNDS@};
  const long long rowBlocks = a.rows < 4096 ? a.rows : 4096;
  if ((long long)blockIdx.x < rowBlocks) {
    for (long long row = blockIdx.x; row < a.rows; row += rowBlocks) {
      const float *x = a.x + row * @W@, *dy = a.dy + row * @W@;
      float *dx = a.dx + row * @W@;
      for (int g = 0; g < @NG@; ++g) {
        long long b = bounds[g], e = bounds[g + 1];
        double ss = 0, dot = 0;
        for (long long j = b + threadIdx.x; j < e; j += blockDim.x) {
          ss += double(x[j]) * x[j];
          dot += double(dy[j]) * a.gain[j] * x[j];
        }
        double n = double(e - b);
        double r = 1.0 / sqrt(blockSum(ss, partial) / n + @EPS@);
        double k = r * r * r / n * blockSum(dot, partial);
        for (long long j = b + threadIdx.x; j < e; j += blockDim.x)
          dx[j] = float(r * a.gain[j] * dy[j] - k * x[j]);
      }
    }
    return;
  }
  long long c0 = @DGAIN0@ + ((long long)blockIdx.x - rowBlocks) * blockDim.x;
  long long j = c0 + threadIdx.x;
  if (blockIdx.x == rowBlocks)
    for (long long z = threadIdx.x; z < @DGAIN0@; z += blockDim.x)
      a.dgain[z] = 0.0f; // frozen chains' columns
  double acc = 0;
  for (long long row = 0; row < a.rows; ++row) {
    const float *x = a.x + row * @W@, *dy = a.dy + row * @W@;
    for (int g = 0; g < @NG@; ++g) {
      long long b = bounds[g], e = bounds[g + 1];
      if (e <= c0 || b >= c0 + (long long)blockDim.x)
        continue; // no column of this chunk in the group
      double ss = 0;
      for (long long q = b + threadIdx.x; q < e; q += blockDim.x)
        ss += double(x[q]) * x[q];
      double r = 1.0 / sqrt(blockSum(ss, partial) / double(e - b) + @EPS@);
      if (j >= b && j < e && j < @W@)
        acc += double(dy[j]) * x[j] * r;
    }
  }
  if (j < @W@)
    a.dgain[j] = float(acc);
}
)CUDA";

const char *kRope = R"CUDA(
extern "C" __global__ void @SYMBOL@_kernel(const ColmRopeArgs a) {
  const double invFreq[@HALF@] = {@INVFREQ@};
  for (long long row = blockIdx.x; row < a.rows; row += gridDim.x) {
    double pos = a.positions ? double(a.positions[row]) : double(row);
    const float *src = a.x + row * @W@;
    float *dst = a.y + row * @W@;
    // One pair (m, m + half) of one head per thread: both read before
    // either is written, so y may be x.
    for (long long p = threadIdx.x; p < @W@ / 2; p += blockDim.x) {
      long long h = p / @HALF@, m = p % @HALF@;
      double angle = pos * invFreq[m], c = cos(angle), s = sin(angle);
      if (@INVERSE@)
        s = -s;
      double lo = src[h * @HD@ + m], hi = src[h * @HD@ + m + @HALF@];
      dst[h * @HD@ + m] = float(lo * c - hi * s);
      dst[h * @HD@ + m + @HALF@] = float(hi * c + lo * s);
    }
  }
}
)CUDA";

const char *kSwiGlu = R"CUDA(
extern "C" __global__ void @SYMBOL@_kernel(const ColmSwiGluArgs a) {
  const long long n = a.rows * @W@;
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x) {
    double g = a.gate[i], u = a.up[i], sg = 1.0 / (1.0 + exp(-g));
    if (!@BACKWARD@) {
      a.y[i] = float(g * sg * u);
    } else {
      double dy = a.dy[i];
      a.dgate[i] = float(dy * u * sg * (1.0 + g * (1.0 - sg)));
      a.dup[i] = float(dy * g * sg);
    }
  }
}
)CUDA";

std::string ll(int64_t v) { return std::to_string(v) + "LL"; }

} // namespace

std::string renderChainNorm(const ChainNormSpec &spec, CudaBuild build) {
  std::string body = spec.backward ? kNormGrad : kNorm;
  replaceAll(body, "@BLOCK_SUM@", kBlockSum);
  std::string bounds;
  for (int64_t b : spec.groupBounds)
    bounds += ll(b) + ", ";
  replaceAll(body, "@SYMBOL@", chainNormSymbol(spec));
  replaceAll(body, "@W@", ll(spec.width));
  replaceAll(body, "@NG@", std::to_string(spec.groupBounds.size() - 1));
  replaceAll(body, "@BOUNDS@", bounds);
  replaceAll(body, "@EPS@", exact(spec.eps));
  replaceAll(body, "@DGAIN0@", ll(spec.dgainBegin));
  std::string grid = kRowGrid;
  if (spec.backward)
    grid = "(" + grid + ") + (" + ll(spec.width - spec.dgainBegin) +
           " + 127) / 128 + (" + ll(spec.width - spec.dgainBegin) +
           " == 0 ? 1 : 0)";
  return assembleCuda(build, spec.name(), chainNormSymbol(spec),
                      COLM_STRINGIFY(COLM_NORM_ARGS_STRUCT), "ColmNormArgs",
                      body, {grid, kRowBlock});
}

std::string renderRope(const RopeSpec &spec, CudaBuild build) {
  // The same expression as the reference's, so the same doubles.
  std::string freqs;
  for (int64_t m = 0; m < spec.headDim / 2; ++m)
    freqs +=
        exact(std::pow(spec.theta, -2.0 * double(m) / double(spec.headDim))) +
        ", ";
  std::string body = kRope;
  replaceAll(body, "@SYMBOL@", ropeSymbol(spec));
  replaceAll(body, "@W@", ll(spec.width));
  replaceAll(body, "@HD@", ll(spec.headDim));
  replaceAll(body, "@HALF@", ll(spec.headDim / 2));
  replaceAll(body, "@INVFREQ@", freqs);
  replaceAll(body, "@INVERSE@", spec.inverse ? "true" : "false");
  return assembleCuda(build, spec.name(), ropeSymbol(spec),
                      COLM_STRINGIFY(COLM_ROPE_ARGS_STRUCT), "ColmRopeArgs",
                      body, {kRowGrid, kRowBlock});
}

std::string renderSwiGlu(const SwiGluSpec &spec, CudaBuild build) {
  std::string body = kSwiGlu;
  replaceAll(body, "@SYMBOL@", swiGluSymbol(spec));
  replaceAll(body, "@W@", ll(spec.width));
  replaceAll(body, "@BACKWARD@", spec.backward ? "true" : "false");
  std::string grid = "(a.rows * " + ll(spec.width) +
                     " + 255) / 256 < 1024 ? (a.rows * " + ll(spec.width) +
                     " + 255) / 256 : 1024";
  return assembleCuda(build, spec.name(), swiGluSymbol(spec),
                      COLM_STRINGIFY(COLM_SWIGLU_ARGS_STRUCT), "ColmSwiGluArgs",
                      body, {grid, "256"});
}

} // namespace colm::codegen::cuda
