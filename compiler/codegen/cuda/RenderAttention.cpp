//===- RenderAttention.cpp - Fused causal attention as CUDA ---------------===//

#include "compiler/codegen/cuda/RenderAttention.h"

#include "compiler/codegen/cpu/RenderAttention.h"
#include "compiler/codegen/cpu/RenderUtil.h"

#include <cmath>

namespace colm::codegen::cuda {
namespace {

using cpu::replaceAll;

// Where key j's row is: contiguous, or (paged) the cached positions
// through the block table and then the new rows.
const char *kContiguousRows = R"CUDA(
#ifndef COLM_CONTIGUOUS_KEY_ROWS
#define COLM_CONTIGUOUS_KEY_ROWS
__device__ inline long long colm_keys(const ColmAttentionArgs &a) {
  return a.tk;
}
__device__ inline long long colm_key_row(const ColmAttentionArgs &a,
                                         long long j, const float **k,
                                         const float **v) {
  *k = a.k + j * a.ldk;
  *v = a.v + j * a.ldk;
  return 0;
}
#endif
)CUDA";

const char *kPagedRows = R"CUDA(
#ifndef COLM_PAGED_KEY_ROWS
#define COLM_PAGED_KEY_ROWS
__device__ inline long long colm_keys(const ColmPagedAttentionArgs &a) {
  return a.past + a.tq;
}
__device__ inline long long colm_key_row(const ColmPagedAttentionArgs &a,
                                         long long j, const float **k,
                                         const float **v) {
  if (j < a.past) {
    const long long row =
        (long long)a.blocks[j / a.block_size] * a.block_size +
        j % a.block_size;
    *k = a.k_cache + row * a.ld_cache;
    *v = a.v_cache + row * a.ld_cache;
  } else {
    *k = a.k + (j - a.past) * a.ldk;
    *v = a.v + (j - a.past) * a.ldk;
  }
  return 0;
}
#endif
)CUDA";

const char *kForward = R"CUDA(
extern "C" __global__ void @SYMBOL@_kernel(const @ARGS@ a) {
  constexpr int HD = @HD@, H = @H@, BQ = 16, BKV = 32, NT = 128;
  constexpr int DPL = (HD + 31) / 32; // head dimensions per lane
  constexpr bool CAUSAL = @CAUSAL@;
  const float scale = @SCALE@;
  const long long qTiles = (a.tq + BQ - 1) / BQ;
  if (qTiles == 0)
    return;
  const int h = int(blockIdx.x / qTiles);
  const long long i0 = (long long)(blockIdx.x % qTiles) * BQ;
  const int g = @KV_HEAD@;
  const long long tk = colm_keys(a), offset = tk - a.tq;
  __shared__ float Qs[BQ][HD], Ks[BKV][HD + 1], Vs[BKV][HD];
  __shared__ float Ps[NT / 32][BKV];
  const int tid = threadIdx.x, warp = tid / 32, lane = colm_lane_id();
  for (int e = tid; e < BQ * HD; e += NT) {
    const long long i = i0 + e / HD;
    Qs[e / HD][e % HD] = i < a.tq ? a.q[i * a.ldq + h * HD + e % HD] : 0.0f;
  }
  float m[4], l[4], o[4][DPL];
  for (int r = 0; r < 4; ++r) {
    m[r] = -COLM_INF;
    l[r] = 0.0f;
    for (int t = 0; t < DPL; ++t)
      o[r][t] = 0.0f;
  }
  const long long lastRow = (i0 + BQ < a.tq ? i0 + BQ : a.tq) - 1;
  long long kEnd = CAUSAL ? lastRow + offset + 1 : tk;
  kEnd = kEnd < tk ? kEnd : tk;
  for (long long j0 = 0; j0 < kEnd; j0 += BKV) {
    __syncthreads(); // every warp is done with the last tile
    for (int e = tid; e < BKV * HD; e += NT) {
      const long long j = j0 + e / HD;
      const bool in = j < tk;
      const float *kr = nullptr, *vr = nullptr;
      if (in)
        colm_key_row(a, j, &kr, &vr);
      Ks[e / HD][e % HD] = in ? kr[g * HD + e % HD] : 0.0f;
      Vs[e / HD][e % HD] = in ? vr[g * HD + e % HD] : 0.0f;
    }
    __syncthreads();
    for (int rr = 0; rr < 4; ++rr) {
      const int r = warp * 4 + rr;
      const long long i = i0 + r;
      if (i >= a.tq)
        break; // the whole warp: rows past the end
      const long long limit = CAUSAL ? i + offset : tk - 1;
      const long long j = j0 + lane;
      float s = -COLM_INF;
      if (j <= limit && j < tk) {
        float dot = 0.0f;
        for (int d = 0; d < HD; ++d)
          dot = fmaf(Qs[r][d], Ks[lane][d], dot);
        s = dot * scale;
      }
      float tileMax = s;
      for (int x = 16; x > 0; x /= 2)
        tileMax = fmaxf(tileMax, colm_shfl_xor(tileMax, x));
      const float mNew = fmaxf(m[rr], tileMax);
      if (mNew == -COLM_INF)
        continue; // no visible key yet (the same in every lane)
      const float corr = expf(m[rr] - mNew), p = expf(s - mNew);
      float psum = p;
      for (int x = 16; x > 0; x /= 2)
        psum += colm_shfl_xor(psum, x);
      l[rr] = l[rr] * corr + psum;
      m[rr] = mNew;
      Ps[warp][lane] = p;
      colm_syncwarp();
      for (int t = 0; t < DPL; ++t) {
        const int d = lane + 32 * t;
        if (d >= HD)
          break;
        float acc = o[rr][t] * corr;
        for (int c = 0; c < BKV; ++c)
          acc = fmaf(Ps[warp][c], Vs[c][d], acc);
        o[rr][t] = acc;
      }
      colm_syncwarp(); // Ps is rewritten for the next row
    }
  }
  for (int rr = 0; rr < 4; ++rr) {
    const long long i = i0 + warp * 4 + rr;
    if (i >= a.tq)
      break;
    for (int t = 0; t < DPL; ++t) {
      const int d = lane + 32 * t;
      if (d < HD)
        a.out[i * a.ldq + h * HD + d] = l[rr] > 0.0f ? o[rr][t] / l[rr] : 0.0f;
    }
    if (lane == 0)
      a.lse[h * a.tq + i] = l[rr] > 0.0f ? m[rr] + logf(l[rr]) : -COLM_INF;
  }
}
)CUDA";

// Blocks [0, H * qTiles) take (head, query tile) and accumulate dq; blocks
// after them take (kv head, key tile) and accumulate dk and dv.
const char *kBackward = R"CUDA(
extern "C" __global__ void @SYMBOL@_kernel(const ColmAttentionGradArgs a) {
  constexpr int HD = @HD@, H = @H@, HKV = @HKV@, BQ = 16, BKV = @BKV@,
                NT = 128;
  constexpr bool CAUSAL = @CAUSAL@;
  const float scale = @SCALE@;
  const long long qTiles = (a.tq + BQ - 1) / BQ, kTiles = (a.tk + BKV - 1) / BKV;
  const long long offset = a.tk - a.tq;
  __shared__ float Qs[BQ][HD], dOs[BQ][HD], Ks[BKV][HD + 1], Vs[BKV][HD + 1];
  __shared__ float Pm[BQ][BKV + 1], DS[BQ][BKV + 1], Ls[BQ], Ds[BQ];
  const int tid = threadIdx.x;

  // The query tile i0.. of head h into Qs, dOs, Ls (lse) and Ds (dout .
  // out), zero past the end.
  auto loadQueries = [&](int h, long long i0) {
    for (int e = tid; e < BQ * HD; e += NT) {
      const long long i = i0 + e / HD;
      const bool in = i < a.tq;
      Qs[e / HD][e % HD] = in ? a.q[i * a.ldq + h * HD + e % HD] : 0.0f;
      dOs[e / HD][e % HD] = in ? a.dout[i * a.ldq + h * HD + e % HD] : 0.0f;
    }
    if (tid < BQ) {
      const long long i = i0 + tid;
      float dsum = 0.0f;
      if (i < a.tq)
        for (int d = 0; d < HD; ++d)
          dsum = fmaf(a.dout[i * a.ldq + h * HD + d],
                      a.out[i * a.ldq + h * HD + d], dsum);
      Ds[tid] = dsum;
      Ls[tid] = i < a.tq ? a.lse[h * a.tq + i] : -COLM_INF;
    }
  };
  auto loadKeys = [&](int g, long long j0) {
    for (int e = tid; e < BKV * HD; e += NT) {
      const long long j = j0 + e / HD;
      const bool in = j < a.tk;
      Ks[e / HD][e % HD] = in ? a.k[j * a.ldk + g * HD + e % HD] : 0.0f;
      Vs[e / HD][e % HD] = in ? a.v[j * a.ldk + g * HD + e % HD] : 0.0f;
    }
  };
  // P and dS of the staged tiles, one entry per thread.
  auto scores = [&](long long i0, long long j0) {
    for (int e = tid; e < BQ * BKV; e += NT) {
      const int r = e / BKV, c = e % BKV;
      const long long i = i0 + r, j = j0 + c;
      float p = 0.0f, ds = 0.0f;
      const long long limit = CAUSAL ? i + offset : a.tk - 1;
      if (i < a.tq && j < a.tk && j <= limit && Ls[r] != -COLM_INF) {
        float s = 0.0f, dp = 0.0f;
        for (int d = 0; d < HD; ++d) {
          s = fmaf(Qs[r][d], Ks[c][d], s);
          dp = fmaf(dOs[r][d], Vs[c][d], dp);
        }
        p = expf(s * scale - Ls[r]);
        ds = p * (dp - Ds[r]) * scale;
      }
      Pm[r][c] = p;
      DS[r][c] = ds;
    }
  };

  if ((long long)blockIdx.x < H * qTiles) {
    const int h = int(blockIdx.x / qTiles);
    const long long i0 = (long long)(blockIdx.x % qTiles) * BQ;
    const int g = @KV_HEAD@;
    constexpr int PER = (BQ * HD + NT - 1) / NT;
    float dq[PER];
    for (int t = 0; t < PER; ++t)
      dq[t] = 0.0f;
    loadQueries(h, i0);
    const long long lastRow = (i0 + BQ < a.tq ? i0 + BQ : a.tq) - 1;
    long long kEnd = CAUSAL ? lastRow + offset + 1 : a.tk;
    kEnd = kEnd < a.tk ? kEnd : a.tk;
    for (long long j0 = 0; j0 < kEnd; j0 += BKV) {
      __syncthreads();
      loadKeys(g, j0);
      __syncthreads();
      scores(i0, j0);
      __syncthreads();
      for (int t = 0; t < PER; ++t) {
        const int e = tid + NT * t;
        if (e >= BQ * HD)
          break;
        float acc = dq[t];
        for (int c = 0; c < BKV; ++c)
          acc = fmaf(DS[e / HD][c], Ks[c][e % HD], acc);
        dq[t] = acc;
      }
    }
    for (int t = 0; t < PER; ++t) {
      const int e = tid + NT * t;
      const long long i = i0 + e / HD;
      if (e < BQ * HD && i < a.tq)
        a.dq[i * a.ldq + h * HD + e % HD] = dq[t];
    }
    return;
  }
  const long long kb = (long long)blockIdx.x - H * qTiles;
  if (kb >= HKV * kTiles)
    return;
  const int g = int(kb / kTiles);
  const long long j0 = (kb % kTiles) * BKV;
  constexpr int PER = (BKV * HD + NT - 1) / NT;
  float dk[PER], dv[PER];
  for (int t = 0; t < PER; ++t)
    dk[t] = dv[t] = 0.0f;
  loadKeys(g, j0);
  // Causal: query rows before j0 - offset see none of these keys.
  long long first = CAUSAL ? j0 - offset : 0;
  first = first > 0 ? first / BQ * BQ : 0;
  for (int h = 0; h < H; ++h) {
    if (@KV_HEAD@ != g)
      continue;
    for (long long i0 = first; i0 < a.tq; i0 += BQ) {
      __syncthreads();
      loadQueries(h, i0);
      __syncthreads();
      scores(i0, j0);
      __syncthreads();
      for (int t = 0; t < PER; ++t) {
        const int e = tid + NT * t;
        if (e >= BKV * HD)
          break;
        const int c = e / HD, d = e % HD;
        float accK = dk[t], accV = dv[t];
        for (int r = 0; r < BQ; ++r) {
          accV = fmaf(Pm[r][c], dOs[r][d], accV);
          accK = fmaf(DS[r][c], Qs[r][d], accK);
        }
        dk[t] = accK;
        dv[t] = accV;
      }
    }
  }
  for (int t = 0; t < PER; ++t) {
    const int e = tid + NT * t;
    const long long j = j0 + e / HD;
    if (e < BKV * HD && j < a.tk) {
      a.dk[j * a.ldk + g * HD + e % HD] = dk[t];
      a.dv[j * a.ldk + g * HD + e % HD] = dv[t];
    }
  }
}
)CUDA";

} // namespace

std::string renderAttention(const AttentionSpec &s, CudaBuild build) {
  bool backward = s.pass == AttentionPass::Backward;
  if (s.headDim > 128)
    return "#error \"the CUDA attention takes heads of at most 128\"\n";
  bool paged = s.pass == AttentionPass::Paged;
  std::string body =
      backward ? kBackward
               : std::string(paged ? kPagedRows : kContiguousRows) + kForward;
  replaceAll(body, "@SYMBOL@", cpu::attentionSymbol(s));
  replaceAll(body, "@ARGS@",
             paged ? "ColmPagedAttentionArgs" : "ColmAttentionArgs");
  replaceAll(body, "@HD@", std::to_string(s.headDim));
  replaceAll(body, "@H@", std::to_string(s.numHeads));
  replaceAll(body, "@HKV@", std::to_string(s.numKvHeads));
  replaceAll(body, "@BKV@", s.headDim > 64 ? "16" : "32");
  replaceAll(body, "@CAUSAL@", s.causal ? "true" : "false");
  char scale[64];
  std::snprintf(scale, sizeof scale, "%.9ef",
                double(float(1.0 / std::sqrt(double(s.headDim)))));
  replaceAll(body, "@SCALE@", scale);
  replaceAll(body, "@KV_HEAD@",
             s.mapping == KvMap::Tiled
                 ? "h % " + std::to_string(s.numKvHeads)
                 : "h * " + std::to_string(s.numKvHeads) + " / " +
                       std::to_string(s.numHeads));
  std::string grid = std::to_string(s.numHeads) +
                     " * ((a.tq + 15) / 16 > 0 ? (a.tq + 15) / "
                     "16 : 1)";
  if (backward) {
    std::string bkv = s.headDim > 64 ? "16" : "32";
    grid += " + " + std::to_string(s.numKvHeads) + " * ((a.tk + " + bkv +
            " - 1) / " + bkv + ")";
  }
  return assembleCuda(build, s.name(), cpu::attentionSymbol(s),
                      COLM_STRINGIFY(COLM_ATTENTION_ARGS_STRUCT),
                      backward ? "ColmAttentionGradArgs"
                      : paged  ? "ColmPagedAttentionArgs"
                               : "ColmAttentionArgs",
                      body, {grid, "128"});
}

} // namespace colm::codegen::cuda
