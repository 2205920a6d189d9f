//===- RenderMovement.cpp - The data-movement kernels as host C++ ---------===//

#include "compiler/codegen/cpu/RenderMovement.h"
#include "compiler/codegen/cpu/RenderUtil.h"

#include <algorithm>
#include <cstdio>
#include <string>

namespace colm::codegen::cpu {
namespace {

// No contraction: the weighted sum must round its products where the
// reference does.
const char *kPrologue = R"CPP(
#include <stdint.h>
#pragma clang fp contract(off)

namespace {
// [n * t / T, n * (t + 1) / T): depends only on n and T.
[[maybe_unused]] inline void share(int64_t n, int thread, int threads,
                                   int64_t &b, int64_t &e) {
  b = n * thread / threads;
  e = n * (thread + 1) / threads;
}
} // namespace
)CPP";

const char *kEmbedForward = R"CPP(
namespace {
constexpr int64_t V = @V@, W = @W@;
} // namespace

extern "C" void @SYMBOL@(const void *argp, int thread, int threads) {
  const ColmEmbedArgs *a = (const ColmEmbedArgs *)argp;
  int64_t r0, r1;
  share(a->rows, thread, threads, r0, r1);
  for (int64_t r = r0; r < r1; ++r) {
    int64_t id = a->tokens[r];
    float *y = a->y + r * W;
    if (id < 0 || id >= V) {
      for (int64_t j = 0; j < W; ++j)
        y[j] = __builtin_nanf("");
      continue;
    }
    __builtin_memcpy(y, a->table + id * W, W * sizeof(float));
  }
}
)CPP";

const char *kEmbedBackward = R"CPP(
namespace {
constexpr int64_t V = @V@, W = @W@, D0 = @D0@;
// Accumulator blocks: CB columns of VB vocabulary rows.
constexpr int64_t CB = @CB@, VB = @VB@;

// acc[(id - v0) * CB + k] += dy[r, c + k] over every row, ascending, whose
// token is in [v0, v0 + nv); N columns (CB: the full block, unrolled).
template <int64_t N>
inline void accumulate(const ColmEmbedArgs *a, double *acc, int64_t v0,
                       int64_t nv, int64_t c, int64_t n) {
  for (int64_t r = 0; r < a->rows; ++r) {
    int64_t id = (int64_t)a->tokens[r] - v0;
    if (id < 0 || id >= nv)
      continue;
    double *dst = acc + id * CB;
    const float *src = a->dy + r * W + c;
    for (int64_t k = 0; k < (N ? N : n); ++k)
      dst[k] += (double)src[k];
  }
}
} // namespace

extern "C" void @SYMBOL@(const void *argp, int thread, int threads) {
  const ColmEmbedArgs *a = (const ColmEmbedArgs *)argp;
  if (D0 > 0) {
    int64_t v0, v1;
    share(V, thread, threads, v0, v1);
    for (int64_t v = v0; v < v1; ++v)
      for (int64_t j = 0; j < D0; ++j)
        a->dtable[v * W + j] = 0.0f;
  }
  int64_t c0, c1;
  share(W - D0, thread, threads, c0, c1);
  c0 += D0;
  c1 += D0;
  double acc[VB * CB];
  for (int64_t c = c0; c < c1; c += CB) {
    int64_t n = c1 - c < CB ? c1 - c : CB;
    for (int64_t v0 = 0; v0 < V; v0 += VB) {
      int64_t nv = V - v0 < VB ? V - v0 : VB;
      for (int64_t i = 0; i < nv * CB; ++i)
        acc[i] = 0;
      if (n == CB)
        accumulate<CB>(a, acc, v0, nv, c, n);
      else
        accumulate<0>(a, acc, v0, nv, c, n);
      for (int64_t v = 0; v < nv; ++v)
        for (int64_t k = 0; k < n; ++k)
          a->dtable[(v0 + v) * W + c + k] = (float)acc[v * CB + k];
    }
  }
}
)CPP";

const char *kElementwise = R"CPP(
namespace {
constexpr int64_t W = @W@, L = 16;
typedef float Lanes __attribute__((vector_size(L * sizeof(float))));
} // namespace

extern "C" void @SYMBOL@(const void *argp, int thread, int threads) {
  const ColmElementwiseArgs *a = (const ColmElementwiseArgs *)argp;
  int64_t n = a->rows * W, c0, c1;
  share((n + L - 1) / L, thread, threads, c0, c1);
  int64_t i = c0 * L, e = c1 * L < n ? c1 * L : n;
  for (; i + L <= e; i += L) {
    Lanes x, y;
    __builtin_memcpy(&x, a->a + i, sizeof x);
    __builtin_memcpy(&y, a->b + i, sizeof y);
    Lanes z = x @OP@ y;
    __builtin_memcpy(a->y + i, &z, sizeof z);
  }
  for (; i < e; ++i)
    a->y[i] = a->a[i] @OP@ a->b[i];
}
)CPP";

const char *kCopy = R"CPP(
namespace {
constexpr int64_t W = @W@, SS = @SS@, DS = @DS@, DO = @DO@;
constexpr bool ZERO = @ZERO@;
} // namespace

extern "C" void @SYMBOL@(const void *argp, int thread, int threads) {
  const ColmCopyArgs *a = (const ColmCopyArgs *)argp;
  int64_t r0, r1;
  share(a->rows, thread, threads, r0, r1);
  if (r0 >= r1)
    return;
  if (W == SS && W == DS) { // dense: the share is one block
    __builtin_memcpy(a->y + r0 * W, a->x + r0 * W,
                     (r1 - r0) * W * sizeof(float));
    return;
  }
  for (int64_t r = r0; r < r1; ++r) {
    float *y = a->y + r * DS;
    if (ZERO && DO > 0)
      __builtin_memset(y, 0, DO * sizeof(float));
    __builtin_memcpy(y + DO, a->x + r * SS, W * sizeof(float));
    if (ZERO && DS > DO + W)
      __builtin_memset(y + DO + W, 0, (DS - DO - W) * sizeof(float));
  }
}
)CPP";

const char *kWeightedSum = R"CPP(
namespace {
constexpr int N = @N@;
static const double kWeights[N] = {@WEIGHTS@};
} // namespace

extern "C" void @SYMBOL@(const void *argp, int thread, int threads) {
  (void)threads;
  if (thread != 0)
    return;
  const ColmWeightedSumArgs *a = (const ColmWeightedSumArgs *)argp;
  double sum = 0;
  for (int i = 0; i < N; ++i)
    sum += kWeights[i] * a->inputs[i];
  if (a->out)
    a->out[0] = (float)sum;
  if (a->outDouble)
    a->outDouble[0] = sum;
}
)CPP";

std::string assemble(const std::string &name, const char *argsStruct,
                     const std::string &body) {
  return "// Generated by colm: " + name + "\n" + kPrologue + argsStruct +
         "\n" + body;
}

/// Doubles in embed backward's accumulator (128 KiB: stays in L2).
constexpr int64_t kEmbedAccumulator = 16384;

} // namespace

std::string embedSymbol(const EmbedSpec &spec) { return "colm_" + spec.name(); }
std::string elementwiseSymbol(const ElementwiseSpec &spec) {
  return "colm_" + spec.name();
}
std::string copySymbol(const CopySpec &spec) { return "colm_" + spec.name(); }
std::string weightedSumSymbol(const WeightedSumSpec &spec) {
  return "colm_" + spec.name();
}

std::string renderEmbed(const EmbedSpec &spec) {
  std::string body = spec.backward ? kEmbedBackward : kEmbedForward;
  if (spec.backward) {
    // At least 16 columns (a cache line of dy per row and block); wider when
    // the vocabulary is small, so fewer passes over the tokens.
    int64_t cb =
        std::clamp<int64_t>(kEmbedAccumulator / spec.vocab / 16 * 16, 16, 256);
    int64_t vb = std::min<int64_t>(spec.vocab, kEmbedAccumulator / cb);
    replaceAll(body, "@D0@", std::to_string(spec.dBegin));
    replaceAll(body, "@CB@", std::to_string(cb));
    replaceAll(body, "@VB@", std::to_string(vb));
  }
  replaceAll(body, "@SYMBOL@", embedSymbol(spec));
  replaceAll(body, "@V@", std::to_string(spec.vocab));
  replaceAll(body, "@W@", std::to_string(spec.width));
  return assemble(spec.name(), COLM_STRINGIFY(COLM_EMBED_ARGS_STRUCT), body);
}

std::string renderElementwise(const ElementwiseSpec &spec) {
  std::string body = kElementwise;
  replaceAll(body, "@SYMBOL@", elementwiseSymbol(spec));
  replaceAll(body, "@W@", std::to_string(spec.width));
  replaceAll(body, "@OP@", spec.op == ElementwiseSpec::Op::Mul ? "*" : "+");
  return assemble(spec.name(), COLM_STRINGIFY(COLM_ELEMENTWISE_ARGS_STRUCT),
                  body);
}

std::string renderCopy(const CopySpec &spec) {
  std::string body = kCopy;
  replaceAll(body, "@SYMBOL@", copySymbol(spec));
  replaceAll(body, "@W@", std::to_string(spec.width));
  replaceAll(body, "@SS@", std::to_string(spec.srcStride));
  replaceAll(body, "@DS@", std::to_string(spec.dstStride));
  replaceAll(body, "@DO@", std::to_string(spec.dstOffset));
  replaceAll(body, "@ZERO@", spec.zeroRest ? "true" : "false");
  return assemble(spec.name(), COLM_STRINGIFY(COLM_COPY_ARGS_STRUCT), body);
}

std::string renderWeightedSum(const WeightedSumSpec &spec) {
  std::string weights;
  for (double w : spec.weights)
    weights += exact(w) + ", ";
  std::string body = kWeightedSum;
  replaceAll(body, "@SYMBOL@", weightedSumSymbol(spec));
  replaceAll(body, "@N@", std::to_string(spec.weights.size()));
  replaceAll(body, "@WEIGHTS@", weights);
  return assemble(spec.name(), COLM_STRINGIFY(COLM_WEIGHTED_SUM_ARGS_STRUCT),
                  body);
}

} // namespace colm::codegen::cpu
