//===- RenderCrossEntropy.cpp - LM head + cross-entropy as host C++ -------===//

#include "compiler/codegen/cpu/RenderCrossEntropy.h"
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

// x[:DK] . w[:DK]: 16 lanes of FMA chains, the tail in a chain of its own,
// then a fixed pairwise tree.
inline float dot(const float *x, const float *w) {
  v16 acc = {};
  int64_t c = 0;
  for (; c + 16 <= DK; c += 16)
    acc = __builtin_elementwise_fma(*(const v16u *)(x + c),
                                    *(const v16u *)(w + c), acc);
  float tail = 0.0f;
  for (; c < DK; ++c)
    tail = __builtin_fmaf(x[c], w[c], tail);
  float l[16];
  for (int i = 0; i < 16; ++i)
    l[i] = acc[i];
  for (int h = 8; h >= 1; h /= 2)
    for (int i = 0; i < h; ++i)
      l[i] = l[i] + l[i + h];
  return l[0] + tail;
}

// dlogit of one entry from its row's statistics (the rows phase's).
inline float dlogit(float logit, double m, double sum, bool target,
                    double coef) {
  double p = exp((double)logit - m) / sum;
  return (float)(coef * (p - (target ? 1.0 : 0.0)));
}

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

void rowsPhase(const ColmCrossEntropyArgs &a, int thread, int threads) {
  const int64_t T = a.t;
  const int64_t i0 = T * thread / threads, i1 = T * (thread + 1) / threads;
  if (i0 >= i1)
    return;
  const double coef = a.scale / (double)T;
  float *buf = scratch((size_t)(R * V + DK));
  if (!buf)
    return;
  float *acc = buf + R * V;
  for (int64_t c0 = i0; c0 < i1; c0 += R) {
    int64_t rows = i1 - c0 < R ? i1 - c0 : R;
    for (int64_t r = 0; r < rows; ++r) {
      const float *x = a.x + (c0 + r) * a.ldx;
      float *L = buf + r * V;
      for (int64_t v = 0; v < V; ++v)
        L[v] = dot(x, a.w + v * a.ldw);
    }
    for (int64_t r = 0; r < rows; ++r) {
      int64_t i = c0 + r;
      float *L = buf + r * V;
      double m = -INFINITY, sum = 0;
      for (int64_t v = 0; v < V; ++v)
        m = (double)L[v] > m ? (double)L[v] : m;
      for (int64_t v = 0; v < V; ++v)
        sum += exp((double)L[v] - m);
      int32_t tg = a.targets[i];
      bool ok = tg >= 0 && tg < V;
      a.workspace[3 * i] = m;
      a.workspace[3 * i + 1] = sum;
      a.workspace[3 * i + 2] = ok ? m + log(sum) - (double)L[tg] : NAN;
      if (!GRAD)
        continue;
      // The logits become dlogits in place, then dX = dlogits W.
      for (int64_t v = 0; v < V; ++v)
        L[v] = dlogit(L[v], m, sum, v == tg, coef);
      float *dx = a.dx + i * a.lddx;
      for (int64_t c = 0; c < DK; ++c)
        acc[c] = ACC ? dx[c] : 0.0f;
      for (int64_t v = 0; v < V; ++v) {
        const float g = L[v];
        const float *w = a.w + v * a.ldw;
        for (int64_t c = 0; c < DK; ++c)
          acc[c] = __builtin_fmaf(g, w[c], acc[c]);
      }
      for (int64_t c = 0; c < DK; ++c)
        dx[c] = acc[c];
    }
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
  float *G = scratch((size_t)(R * nv));
  if (!G)
    return;
  for (int64_t c0 = 0; c0 < T; c0 += R) {
    int64_t rows = T - c0 < R ? T - c0 : R;
    for (int64_t r = 0; r < rows; ++r) {
      int64_t i = c0 + r;
      const float *x = a.x + i * a.ldx;
      double m = a.workspace[3 * i], sum = a.workspace[3 * i + 1];
      int32_t tg = a.targets[i];
      for (int64_t v = v0; v < v1; ++v)
        G[r * nv + v - v0] =
            dlogit(dot(x, a.w + v * a.ldw), m, sum, v == tg, coef);
    }
    // Each dW element: one FMA chain over the rows in ascending order.
    for (int64_t v = v0; v < v1; ++v) {
      float *dw = a.dw + v * a.lddw;
      for (int64_t r = 0; r < rows; ++r) {
        const float g = G[r * nv + v - v0];
        const float *x = a.x + (c0 + r) * a.ldx;
        for (int64_t c = DW0; c < DK; ++c)
          dw[c] = __builtin_fmaf(g, x[c], dw[c]);
      }
    }
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

std::string renderCrossEntropy(const CrossEntropySpec &spec) {
  std::string body = kBody;
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
