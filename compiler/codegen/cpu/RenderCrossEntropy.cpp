//===- RenderCrossEntropy.cpp - LM head + cross-entropy as host C++ -------===//

#include "compiler/codegen/cpu/RenderCrossEntropy.h"
#include "compiler/codegen/cpu/RenderPointwise.h"
#include "compiler/codegen/cpu/RenderUtil.h"

#include <string>

namespace colm::codegen::cpu {
namespace {

// Contraction is off and every FMA is written out, so the two phases (two
// libraries) compute each logit with exactly the same operations.
const char *kBody = R"CPP(
#include <math.h>
#include <stdlib.h>

#pragma clang fp contract(off)

namespace {

constexpr int64_t V = @VOCAB@, DK = @WIDTH@, DW0 = @DWBEGIN@, R = @CHUNK@;
constexpr bool ACC = @ACC@, ROWS = @ROWS@, GRAD = @GRAD@;

typedef float v16 __attribute__((vector_size(64)));
typedef float v16u __attribute__((vector_size(64), aligned(4)));

// Register blocks: RB rows of X by VB vocabulary rows (logits), and RB rows
// (dX) or VB vocabulary rows (dW) by one vector of 16: RB x VB independent
// chains, as many as the vector registers hold. They interleave chains;
// every value is still one fixed chain.
constexpr int RB = @RB@, VB = @VB@;

inline v16 load(const float *p) { return *(const v16u *)p; }
inline v16 splat(float x) {
  return (v16){x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x};
}
inline float tree(v16 acc) {
  float l[16];
  for (int i = 0; i < 16; ++i)
    l[i] = acc[i];
  for (int h = 8; h >= 1; h /= 2)
    for (int i = 0; i < h; ++i)
      l[i] = l[i] + l[i + h];
  return l[0];
}

// Each logit x[:DK] . w[:DK]: 16 lanes of FMA chains, the tail in a chain
// of its own, then a fixed pairwise tree; NR x NV of them at once.
template <int NR, int NV>
inline void logitBlock(const float *x, int64_t ldx, const float *w,
                       int64_t ldw, float *out, int64_t ldo) {
  v16 acc[NR][NV];
  for (int r = 0; r < NR; ++r)
    for (int v = 0; v < NV; ++v)
      acc[r][v] = v16{};
  int64_t c = 0;
  for (; c + 16 <= DK; c += 16) {
    v16 xv[NR];
    for (int r = 0; r < NR; ++r)
      xv[r] = load(x + r * ldx + c);
    for (int v = 0; v < NV; ++v) {
      const v16 wv = load(w + v * ldw + c);
      for (int r = 0; r < NR; ++r)
        acc[r][v] = __builtin_elementwise_fma(xv[r], wv, acc[r][v]);
    }
  }
  for (int r = 0; r < NR; ++r)
    for (int v = 0; v < NV; ++v) {
      float tail = 0.0f;
      for (int64_t t = c; t < DK; ++t)
        tail = __builtin_fmaf(x[r * ldx + t], w[v * ldw + t], tail);
      out[r * ldo + v] = tree(acc[r][v]) + tail;
    }
}

@DISPATCH@
// out[r * ldo + v - v0] = logit of row r of x and vocabulary row v, for
// rows [0, rows) and v in [v0, v1).
inline void logits(const float *x, int64_t ldx, int64_t rows, const float *w,
                   int64_t ldw, int64_t v0, int64_t v1, float *out,
                   int64_t ldo) {
  for (int64_t r = 0; r < rows; r += RB)
    for (int64_t v = v0; v < v1; v += VB)
      dispatch<RB>(rows - r < RB ? rows - r : RB, [&](auto nr) {
        dispatch<VB>(v1 - v < VB ? v1 - v : VB, [&](auto nv) {
          logitBlock<decltype(nr)::value, decltype(nv)::value>(
              x + r * ldx, ldx, w + v * ldw, ldw, out + r * ldo + (v - v0),
              ldo);
        });
      });
}

// y[r][c] = (init ? y[r][c] : 0) + sum over k in [0, n) of g[r * ldg + k]
// b[k][c], for NR rows of y and columns [c0, cols): per element one FMA
// chain over ascending k.
template <int NR>
inline void accumulateRows(const float *g, int64_t ldg, const float *b,
                           int64_t ldb, int64_t n, float *y, int64_t ldy,
                           int64_t c0, int64_t cols, bool init) {
  int64_t c = c0;
  for (; c + 16 <= cols; c += 16) {
    v16 acc[NR];
    for (int r = 0; r < NR; ++r)
      acc[r] = init ? load(y + r * ldy + c) : v16{};
    for (int64_t k = 0; k < n; ++k) {
      const v16 bv = load(b + k * ldb + c);
      for (int r = 0; r < NR; ++r)
        acc[r] = __builtin_elementwise_fma(splat(g[r * ldg + k]), bv, acc[r]);
    }
    for (int r = 0; r < NR; ++r)
      *(v16u *)(y + r * ldy + c) = acc[r];
  }
  for (; c < cols; ++c)
    for (int r = 0; r < NR; ++r) {
      float acc = init ? y[r * ldy + c] : 0.0f;
      for (int64_t k = 0; k < n; ++k)
        acc = __builtin_fmaf(g[r * ldg + k], b[k * ldb + c], acc);
      y[r * ldy + c] = acc;
    }
}

@VEXP@
// dlogit of one entry from its row's statistics (the rows phase's); vexp
// (the SwiGLU kernel's exponential, within about an ulp of libm's) inlines
// and vectorises where libm's exp is a call per logit.
inline float dlogit(float logit, double m, double sum, bool target,
                    double coef) {
  double p = vexp((double)logit - m) / sum;
  return (float)(coef * (p - (target ? 1.0 : 0.0)));
}

@SCRATCH@

void rowsPhase(const ColmCrossEntropyArgs &a, int thread, int threads) {
  const int64_t T = a.t;
  const int64_t i0 = T * thread / threads, i1 = T * (thread + 1) / threads;
  if (i0 >= i1)
    return;
  const double coef = a.scale / (double)T;
  float *buf = scratch((size_t)(R * V));
  if (!buf)
    return;
  for (int64_t c0 = i0; c0 < i1; c0 += R) {
    int64_t rows = i1 - c0 < R ? i1 - c0 : R;
    logits(a.x + c0 * a.ldx, a.ldx, rows, a.w, a.ldw, 0, V, buf, V);
    for (int64_t r = 0; r < rows; ++r) {
      int64_t i = c0 + r;
      float *L = buf + r * V;
      double m = -INFINITY, sum = 0;
      for (int64_t v = 0; v < V; ++v)
        m = (double)L[v] > m ? (double)L[v] : m;
      for (int64_t v = 0; v < V; ++v)
        sum += vexp((double)L[v] - m);
      int32_t tg = a.targets[i];
      bool ok = tg >= 0 && tg < V;
      a.workspace[3 * i] = m;
      a.workspace[3 * i + 1] = sum;
      a.workspace[3 * i + 2] = ok ? m + log(sum) - (double)L[tg] : NAN;
      if (!GRAD)
        continue;
      // The logits become dlogits in place.
      for (int64_t v = 0; v < V; ++v)
        L[v] = dlogit(L[v], m, sum, v == tg, coef);
    }
    if (!GRAD)
      continue;
    // dX = dlogits W, RB rows at a time.
    for (int64_t r = 0; r < rows; r += RB)
      dispatch<RB>(rows - r < RB ? rows - r : RB, [&](auto nr) {
        accumulateRows<decltype(nr)::value>(buf + r * V, V, a.w, a.ldw, V,
                                            a.dx + (c0 + r) * a.lddx, a.lddx,
                                            0, DK, ACC);
      });
  }
}

void vocabPhase(const ColmCrossEntropyArgs &a, int thread, int threads) {
  const int64_t T = a.t;
  if (thread == 0) {
    double total = 0;
    for (int64_t i = 0; i < T; ++i)
      total += a.workspace[3 * i + 2];
    *a.loss = T ? total / (double)T : 0.0;
  }
  if (!GRAD)
    return;
  const int64_t v0 = V * thread / threads, v1 = V * (thread + 1) / threads;
  if (v0 >= v1)
    return;
  if (!ACC)
    for (int64_t v = v0; v < v1; ++v)
      for (int64_t c = DW0; c < DK; ++c)
        a.dw[v * a.lddw + c] = 0.0f;
  if (T == 0)
    return;
  const double coef = a.scale / (double)T;
  const int64_t nv = v1 - v0;
  float *G = scratch((size_t)(2 * R * nv));
  if (!G)
    return;
  float *Gt = G + R * nv;
  for (int64_t c0 = 0; c0 < T; c0 += R) {
    int64_t rows = T - c0 < R ? T - c0 : R;
    // G^T: the dlogits of vocabulary row v at Gt[(v - v0) * R + r].
    logits(a.x + c0 * a.ldx, a.ldx, rows, a.w, a.ldw, v0, v1, G, nv);
    for (int64_t r = 0; r < rows; ++r) {
      int64_t i = c0 + r;
      double m = a.workspace[3 * i], sum = a.workspace[3 * i + 1];
      int32_t tg = a.targets[i];
      for (int64_t v = v0; v < v1; ++v)
        Gt[(v - v0) * R + r] =
            dlogit(G[r * nv + v - v0], m, sum, v == tg, coef);
    }
    // Each dW element: one FMA chain over the rows in ascending order, VB
    // vocabulary rows at a time.
    for (int64_t v = v0; v < v1; v += VB)
      dispatch<VB>(v1 - v < VB ? v1 - v : VB, [&](auto n) {
        accumulateRows<decltype(n)::value>(Gt + (v - v0) * R, R,
                                           a.x + c0 * a.ldx, a.ldx, rows,
                                           a.dw + v * a.lddw, a.lddw, DW0, DK,
                                           true);
      });
  }
}

} // namespace

extern "C" void @SYMBOL@(const void *argp, int thread, int threads) {
  const ColmCrossEntropyArgs &a = *(const ColmCrossEntropyArgs *)argp;
  if (ROWS)
    rowsPhase(a, thread, threads);
  else
    vocabPhase(a, thread, threads);
}
)CPP";

} // namespace

std::string crossEntropySymbol(const CrossEntropySpec &spec) {
  return "colm_" + spec.name();
}

std::string renderCrossEntropy(const CrossEntropySpec &spec,
                               const VectorIsa &isa) {
  std::string body = kBody;
  // Chains per block: 8 vectors of 16 floats' worth of accumulators (16
  // zmm with AVX-512, 16 ymm with AVX2 for half as many vectors of 16).
  bool wide = isa.registers >= 32 && isa.lanes >= 16;
  replaceAll(body, "@RB@", wide ? "4" : "2");
  replaceAll(body, "@VEXP@", doubleExpSource());
  replaceAll(body, "@DISPATCH@", dispatchSource());
  replaceAll(body, "@SCRATCH@", scratchSource());
  replaceAll(body, "@VB@", wide ? "4" : "2");
  replaceAll(body, "@SYMBOL@", crossEntropySymbol(spec));
  replaceAll(body, "@VOCAB@", std::to_string(spec.vocab) + "LL");
  replaceAll(body, "@WIDTH@", std::to_string(spec.width) + "LL");
  replaceAll(body, "@DWBEGIN@", std::to_string(spec.dwBegin) + "LL");
  replaceAll(body, "@CHUNK@", std::to_string(spec.chunkRows) + "LL");
  replaceAll(body, "@ACC@", spec.accumulate ? "true" : "false");
  replaceAll(body, "@GRAD@", spec.gradients ? "true" : "false");
  replaceAll(body, "@ROWS@",
             spec.phase == CrossEntropyPhase::Rows ? "true" : "false");
  return "// Generated by colm: " + spec.name() +
         "\n#include <stdint.h>\n#include <stddef.h>\n" +
         COLM_STRINGIFY(COLM_CROSS_ENTROPY_ARGS_STRUCT) + "\n" + body;
}

} // namespace colm::codegen::cpu
