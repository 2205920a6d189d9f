//===- RenderCrossEntropy.cpp - LM head + cross-entropy as CUDA -----------===//

#include "compiler/codegen/cuda/RenderCrossEntropy.h"

#include "compiler/codegen/cpu/RenderCrossEntropy.h"
#include "compiler/codegen/cpu/RenderUtil.h"

namespace colm::codegen::cuda {
namespace {

using cpu::replaceAll;

const char *kBody = R"CUDA(
// The block's max (or sum) of v, for every thread; barriers around the
// shared buffer's reuse.
__device__ double blockReduce(double v, double *partial, bool max) {
  for (int d = 16; d > 0; d /= 2) {
    double o = colm_shfl_xor(v, d);
    v = max ? (o > v ? o : v) : v + o;
  }
  const int warp = threadIdx.x / 32, warps = (blockDim.x + 31) / 32;
  __syncthreads();
  if (colm_lane_id() == 0)
    partial[warp] = v;
  __syncthreads();
  double r = partial[0];
  for (int w = 1; w < warps; ++w)
    r = max ? (partial[w] > r ? partial[w] : r) : r + partial[w];
  return r;
}

// One fp32 FMA chain over the first DK columns, ascending.
__device__ float dotRow(const float *x, const float *w, long long n) {
  float acc = 0.0f;
  for (long long c = 0; c < n; ++c)
    acc = fmaf(x[c], w[c], acc);
  return acc;
}

extern "C" __global__ void @SYMBOL@_kernel(const ColmCrossEntropyArgs a) {
  constexpr long long V = @VOCAB@, DK = @WIDTH@, DW0 = @DWBEGIN@;
  constexpr bool ACC = @ACC@, ROWS = @ROWS@, GRAD = @GRAD@;
  constexpr int NT = 256, CPT = int((DK + NT - 1) / NT);
  __shared__ double partial[32];
  __shared__ float dl[NT];
  const int tid = threadIdx.x;
  const long long T = a.t;
  const double coef = T ? a.scale / double(T) : 0.0;
  if (ROWS) {
    for (long long i = blockIdx.x; i < T; i += gridDim.x) {
      const float *x = a.x + i * a.ldx;
      double m = -COLM_INF, s = 0;
      for (long long v = tid; v < V; v += NT) {
        const double L = dotRow(x, a.w + v * a.ldw, DK);
        if (L > m) {
          s = s * exp(m - L) + 1.0;
          m = L;
        } else {
          s += exp(L - m);
        }
      }
      const double M = blockReduce(m, partial, true);
      const double S =
          blockReduce(m == -COLM_INF ? 0.0 : s * exp(m - M), partial, false);
      const int tg = a.targets[i];
      const bool ok = tg >= 0 && tg < V;
      if (tid == 0) {
        a.workspace[3 * i] = M;
        a.workspace[3 * i + 1] = S;
        a.workspace[3 * i + 2] =
            ok ? M + log(S) - double(dotRow(x, a.w + tg * a.ldw, DK))
               : colm_bits_float(0x7fc00000u);
      }
      if (!GRAD)
        continue;
      float acc[CPT];
      for (int t = 0; t < CPT; ++t) {
        const long long c = tid + NT * t;
        acc[t] = ACC && c < DK ? a.dx[i * a.lddx + c] : 0.0f;
      }
      for (long long v0 = 0; v0 < V; v0 += NT) {
        __syncthreads(); // the last chunk is read
        const long long v = v0 + tid;
        if (v < V)
          dl[tid] = float(coef * (exp(double(dotRow(x, a.w + v * a.ldw, DK)) -
                                      M) / S -
                                  (v == tg ? 1.0 : 0.0)));
        __syncthreads();
        const int n = int(V - v0 < NT ? V - v0 : NT);
        for (int t = 0; t < CPT; ++t) {
          const long long c = tid + NT * t;
          if (c < DK)
            for (int u = 0; u < n; ++u)
              acc[t] = fmaf(dl[u], a.w[(v0 + u) * a.ldw + c], acc[t]);
        }
      }
      for (int t = 0; t < CPT; ++t) {
        const long long c = tid + NT * t;
        if (c < DK)
          a.dx[i * a.lddx + c] = acc[t];
      }
    }
    return;
  }
  if (blockIdx.x == 0 && tid == 0) {
    double total = 0;
    for (long long i = 0; i < T; ++i)
      total += a.workspace[3 * i + 2];
    *a.loss = T ? total / double(T) : 0.0;
  }
  if (!GRAD)
    return;
  for (long long v = blockIdx.x; v < V; v += gridDim.x) {
    const float *w = a.w + v * a.ldw;
    float acc[CPT];
    for (int t = 0; t < CPT; ++t) {
      const long long c = DW0 + tid + NT * t;
      acc[t] = ACC && c < DK ? a.dw[v * a.lddw + c] : 0.0f;
    }
    for (long long i0 = 0; i0 < T; i0 += NT) {
      __syncthreads();
      const long long i = i0 + tid;
      if (i < T)
        dl[tid] = float(
            coef * (exp(double(dotRow(a.x + i * a.ldx, w, DK)) -
                        a.workspace[3 * i]) /
                        a.workspace[3 * i + 1] -
                    (a.targets[i] == v ? 1.0 : 0.0)));
      __syncthreads();
      const int n = int(T - i0 < NT ? T - i0 : NT);
      for (int t = 0; t < CPT; ++t) {
        const long long c = DW0 + tid + NT * t;
        if (c < DK)
          for (int r = 0; r < n; ++r)
            acc[t] = fmaf(dl[r], a.x[(i0 + r) * a.ldx + c], acc[t]);
      }
    }
    for (int t = 0; t < CPT; ++t) {
      const long long c = DW0 + tid + NT * t;
      if (c < DK)
        a.dw[v * a.lddw + c] = acc[t];
    }
  }
}
)CUDA";

} // namespace

std::string renderCrossEntropy(const CrossEntropySpec &s, CudaBuild build) {
  std::string body = kBody;
  bool rows = s.phase == CrossEntropyPhase::Rows;
  replaceAll(body, "@SYMBOL@", cpu::crossEntropySymbol(s));
  replaceAll(body, "@VOCAB@", std::to_string(s.vocab) + "LL");
  replaceAll(body, "@WIDTH@", std::to_string(s.width) + "LL");
  replaceAll(body, "@DWBEGIN@", std::to_string(s.dwBegin) + "LL");
  replaceAll(body, "@ACC@", s.accumulate ? "true" : "false");
  replaceAll(body, "@ROWS@", rows ? "true" : "false");
  replaceAll(body, "@GRAD@", s.gradients ? "true" : "false");
  std::string grid =
      rows ? "a.t < 1 ? 1 : a.t < 4096 ? a.t : 4096"
           : (s.vocab < 4096 ? std::to_string(s.vocab) : std::string("4096"));
  return assembleCuda(build, s.name(), cpu::crossEntropySymbol(s),
                      COLM_STRINGIFY(COLM_CROSS_ENTROPY_ARGS_STRUCT),
                      "ColmCrossEntropyArgs", body, {grid, "256"});
}

} // namespace colm::codegen::cuda
