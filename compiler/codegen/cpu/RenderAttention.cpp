//===- RenderAttention.cpp - Fused attention as host C++ ------------------===//

#include "compiler/codegen/cpu/RenderAttention.h"
#include "compiler/codegen/cpu/RenderUtil.h"

#include <cmath>
#include <cstdio>
#include <string>

namespace colm::codegen::cpu {
namespace {

// Shared by both passes: the constants of the spec and per-thread scratch.
const char *kCommon = R"CPP(
namespace {

constexpr int64_t H = @H@, HKV = @HKV@, HD = @HD@;
constexpr int64_t BQ = @BQ@, BK = @BK@;
constexpr bool TILED = @TILED@, CAUSAL = @CAUSAL@;
// float(1/sqrt(hd)), printed to round-trip.
constexpr float SCALE = @SCALE@f;

inline int64_t kvHeadOf(int64_t h) { return TILED ? h % HKV : h * HKV / H; }
inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

float *scratch(size_t floats) {
  static thread_local float *buf = nullptr;
  static thread_local size_t have = 0;
  if (have < floats) {
    free(buf);
    buf = (float *)aligned_alloc(64, ((floats * 4 + 63) / 64) * 64);
    have = buf ? floats : 0;
  }
  return buf;
}

// Units [first, last) of thread `thread`: a unit belongs to the thread in
// whose equal share of the total work its middle falls. Only shapes decide.
template <class Work>
void share(int64_t units, Work work, int thread, int threads, int64_t *first,
           int64_t *last) {
  double total = 0;
  for (int64_t u = 0; u < units; ++u)
    total += work(u);
  double seen = 0;
  *first = *last = 0;
  for (int64_t u = 0; u < units; ++u) {
    double w = work(u);
    int owner = total > 0 ? (int)((seen + w / 2) / total * threads) : 0;
    if (owner >= threads)
      owner = threads - 1;
    if (owner < thread)
      *first = u + 1;
    if (owner <= thread)
      *last = u + 1;
    seen += w;
  }
}

} // namespace
)CPP";

const char *kForward = R"CPP(
extern "C" void @SYMBOL@(const void *argp, int thread, int threads) {
#pragma clang fp contract(fast)
  const ColmAttentionArgs &a = *(const ColmAttentionArgs *)argp;
  const int64_t tq = a.tq, tk = a.tk, offset = a.tk - a.tq;
  const int64_t blocks = (tq + BQ - 1) / BQ;
  // The keys rows [i0, i0 + BQ) see: up to the last row's position.
  auto keyEnd = [&](int64_t qb) {
    int64_t i1 = min64((qb + 1) * BQ, tq);
    return CAUSAL ? min64(tk, i1 - 1 + offset + 1) : tk;
  };
  int64_t first, last;
  share(
      H * blocks,
      [&](int64_t u) {
        int64_t qb = u % blocks;
        return double(min64((qb + 1) * BQ, tq) - qb * BQ) *
               double(keyEnd(qb) + 1);
      },
      thread, threads, &first, &last);
  if (first >= last)
    return;
  float *Q = scratch(BQ * HD * 2 + HD * BK + BQ * BK + 2 * BQ);
  if (!Q)
    return; // out of memory: the caller's sentinel check reports it
  float *acc = Q + BQ * HD, *Kt = acc + BQ * HD, *S = Kt + HD * BK,
        *m = S + BQ * BK, *l = m + BQ;
  for (int64_t u = first; u < last; ++u) {
    const int64_t h = u / blocks, qb = u % blocks, g = kvHeadOf(h);
    const int64_t i0 = qb * BQ, rows = min64(i0 + BQ, tq) - i0;
    const int64_t kEnd = keyEnd(qb);
    for (int64_t r = 0; r < rows; ++r) {
      const float *src = a.q + (i0 + r) * a.ldq + h * HD;
      for (int64_t d = 0; d < HD; ++d) {
        Q[r * HD + d] = src[d];
        acc[r * HD + d] = 0.0f;
      }
      m[r] = -__builtin_inff();
      l[r] = 0.0f;
    }
    for (int64_t j0 = 0; j0 < kEnd; j0 += BK) {
      const int64_t nk = min64(BK, kEnd - j0);
      // K tile transposed: the score loop runs along keys, in vectors.
      for (int64_t j = 0; j < nk; ++j) {
        const float *src = a.k + (j0 + j) * a.ldk + g * HD;
        for (int64_t d = 0; d < HD; ++d)
          Kt[d * BK + j] = src[d];
      }
      for (int64_t r = 0; r < rows; ++r) {
        float *s = S + r * BK;
        for (int64_t j = 0; j < nk; ++j)
          s[j] = 0.0f;
        for (int64_t d = 0; d < HD; ++d) {
          const float x = Q[r * HD + d];
          const float *kt = Kt + d * BK;
          for (int64_t j = 0; j < nk; ++j)
            s[j] += x * kt[j];
        }
        // Keys 0..limit of the tile are visible to this row.
        const int64_t limit = CAUSAL ? i0 + r + offset - j0 : nk - 1;
        float mx = -__builtin_inff();
        for (int64_t j = 0; j < nk; ++j) {
          float x = j <= limit ? s[j] * SCALE : -__builtin_inff();
          s[j] = x;
          mx = x > mx ? x : mx;
        }
        const float mnew = m[r] > mx ? m[r] : mx;
        if (mnew == -__builtin_inff())
          continue; // nothing visible yet
        const float alpha = expf(m[r] - mnew);
        float sum = 0.0f;
        for (int64_t j = 0; j < nk; ++j) {
          float p = expf(s[j] - mnew);
          s[j] = p;
          sum += p;
        }
        l[r] = l[r] * alpha + sum;
        m[r] = mnew;
        float *o = acc + r * HD;
        for (int64_t d = 0; d < HD; ++d)
          o[d] *= alpha;
        for (int64_t j = 0; j < nk; ++j) {
          const float p = s[j];
          const float *vr = a.v + (j0 + j) * a.ldk + g * HD;
          for (int64_t d = 0; d < HD; ++d)
            o[d] += p * vr[d];
        }
      }
    }
    for (int64_t r = 0; r < rows; ++r) {
      float *dst = a.out + (i0 + r) * a.ldq + h * HD;
      // A row that sees no key (no causal mask and no keys) is zero.
      const float inv = l[r] > 0.0f ? 1.0f / l[r] : 0.0f;
      for (int64_t d = 0; d < HD; ++d)
        dst[d] = acc[r * HD + d] * inv;
      a.lse[h * tq + i0 + r] =
          l[r] > 0.0f ? m[r] + logf(l[r]) : -__builtin_inff();
    }
  }
}
)CPP";

const char *kBackward = R"CPP(
extern "C" void @SYMBOL@(const void *argp, int thread, int threads) {
#pragma clang fp contract(fast)
  const ColmAttentionGradArgs &a = *(const ColmAttentionGradArgs *)argp;
  const int64_t tq = a.tq, tk = a.tk, offset = a.tk - a.tq;
  constexpr int64_t PER = H / HKV; // query heads per key/value head
  int64_t first, last;
  share(HKV, [](int64_t) { return 1.0; }, thread, threads, &first, &last);
  if (first >= last)
    return;
  float *Kt = scratch(4 * HD * BK + 3 * BK + PER * tq);
  if (!Kt)
    return; // out of memory: the caller's sentinel check reports it
  float *Vt = Kt + HD * BK, *dK = Vt + HD * BK, *dV = dK + BK * HD,
        *s = dV + BK * HD, *dp = s + BK, *ds = dp + BK, *D = ds + BK;
  for (int64_t g = first; g < last; ++g) {
    // This thread is the only writer of dq for the heads that read g.
    for (int64_t h = 0, n = 0; h < H; ++h) {
      if (kvHeadOf(h) != g)
        continue;
      for (int64_t i = 0; i < tq; ++i) {
        const float *o = a.out + i * a.ldq + h * HD;
        const float *go = a.dout + i * a.ldq + h * HD;
        float *dq = a.dq + i * a.ldq + h * HD;
        float sum = 0.0f;
        for (int64_t d = 0; d < HD; ++d) {
          sum += go[d] * o[d];
          dq[d] = 0.0f;
        }
        D[n * tq + i] = sum; // sum_j p dp = dout . out
      }
      ++n;
    }
    for (int64_t j0 = 0; j0 < tk; j0 += BK) {
      const int64_t nk = min64(BK, tk - j0);
      for (int64_t j = 0; j < nk; ++j) {
        const float *kr = a.k + (j0 + j) * a.ldk + g * HD;
        const float *vr = a.v + (j0 + j) * a.ldk + g * HD;
        for (int64_t d = 0; d < HD; ++d) {
          Kt[d * BK + j] = kr[d];
          Vt[d * BK + j] = vr[d];
          dK[j * HD + d] = 0.0f;
          dV[j * HD + d] = 0.0f;
        }
      }
      for (int64_t h = 0, n = 0; h < H; ++h) {
        if (kvHeadOf(h) != g)
          continue;
        // The first query that sees key j0.
        const int64_t iStart = CAUSAL ? max64(0, j0 - offset) : 0;
        for (int64_t i = iStart; i < tq; ++i) {
          const float *qi = a.q + i * a.ldq + h * HD;
          const float *go = a.dout + i * a.ldq + h * HD;
          const float lse = a.lse[h * tq + i], Di = D[n * tq + i];
          for (int64_t j = 0; j < nk; ++j)
            s[j] = dp[j] = 0.0f;
          for (int64_t d = 0; d < HD; ++d) {
            const float x = qi[d], y = go[d];
            const float *kt = Kt + d * BK, *vt = Vt + d * BK;
            for (int64_t j = 0; j < nk; ++j) {
              s[j] += x * kt[j];
              dp[j] += y * vt[j];
            }
          }
          const int64_t limit = CAUSAL ? i + offset - j0 : nk - 1;
          for (int64_t j = 0; j < nk; ++j) {
            float p = j <= limit ? expf(s[j] * SCALE - lse) : 0.0f;
            s[j] = p;
            ds[j] = p * (dp[j] - Di) * SCALE;
          }
          float *dq = a.dq + i * a.ldq + h * HD;
          for (int64_t j = 0; j < nk; ++j) {
            const float p = s[j], e = ds[j];
            float *dkj = dK + j * HD, *dvj = dV + j * HD;
            const float *kr = a.k + (j0 + j) * a.ldk + g * HD;
            for (int64_t d = 0; d < HD; ++d) {
              dvj[d] += p * go[d];
              dkj[d] += e * qi[d];
              dq[d] += e * kr[d];
            }
          }
        }
        ++n;
      }
      for (int64_t j = 0; j < nk; ++j) {
        float *dk = a.dk + (j0 + j) * a.ldk + g * HD;
        float *dv = a.dv + (j0 + j) * a.ldk + g * HD;
        for (int64_t d = 0; d < HD; ++d) {
          dk[d] = dK[j * HD + d];
          dv[d] = dV[j * HD + d];
        }
      }
    }
  }
}
)CPP";

} // namespace

std::string attentionSymbol(const AttentionSpec &spec) {
  return "colm_" + spec.name();
}

std::string renderAttention(const AttentionSpec &spec) {
  std::string body =
      std::string(kCommon) +
      (spec.pass == AttentionPass::Forward ? kForward : kBackward);
  char scale[32];
  std::snprintf(scale, sizeof scale, "%.9e",
                double(float(1.0 / std::sqrt(double(spec.headDim)))));
  replaceAll(body, "@SYMBOL@", attentionSymbol(spec));
  replaceAll(body, "@H@", std::to_string(spec.numHeads));
  replaceAll(body, "@HKV@", std::to_string(spec.numKvHeads));
  replaceAll(body, "@HD@", std::to_string(spec.headDim));
  replaceAll(body, "@BQ@", std::to_string(spec.knobs.blockQ));
  replaceAll(body, "@BK@", std::to_string(spec.knobs.blockK));
  replaceAll(body, "@TILED@", spec.mapping == KvMap::Tiled ? "true" : "false");
  replaceAll(body, "@CAUSAL@", spec.causal ? "true" : "false");
  replaceAll(body, "@SCALE@", scale);
  return "// Generated by colm: " + spec.name() +
         "\n#include <math.h>\n#include <stdint.h>\n#include <stdlib.h>\n" +
         COLM_STRINGIFY(COLM_ATTENTION_ARGS_STRUCT) + "\n" + body;
}

} // namespace colm::codegen::cpu
