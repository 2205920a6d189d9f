//===- RenderPointwise.cpp - The row-wise kernels as host C++ -------------===//

#include "compiler/codegen/cpu/RenderPointwise.h"
#include "compiler/codegen/cpu/RenderUtil.h"

#include <cmath>
#include <cstdio>
#include <string>

namespace colm::codegen::cpu {
namespace {

// What every source starts with: the args structs, and no contraction into
// FMAs, so the kernel rounds where its reference does (it would be
// deterministic either way: every element runs the same code).
const char *kPrologue = R"CPP(
#include <math.h>
#include <stdint.h>
#pragma clang fp contract(off)

namespace {
// Rows [rows * t / T, rows * (t + 1) / T): depends only on rows and T.
inline void share(int64_t n, int thread, int threads, int64_t &b,
                  int64_t &e) {
  b = n * thread / threads;
  e = n * (thread + 1) / threads;
}
} // namespace
)CPP";

// The statistics of chain RMSNorm, shared with the GEMM's norm prologue so
// that both compute the same bits. Without contraction (the including
// source turns it off).
const char *kNormStats = R"CPP(
// Sum of p[j] * q[j] over [b, e) in double: four partial sums by position,
// combined in a fixed order; the same function wherever a statistic is
// needed, so the dx and dgain passes see the same bits.
inline double dot(const float *p, const float *q, int64_t b, int64_t e) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t j = b;
  for (; j + 4 <= e; j += 4) {
    s0 += double(p[j]) * q[j];
    s1 += double(p[j + 1]) * q[j + 1];
    s2 += double(p[j + 2]) * q[j + 2];
    s3 += double(p[j + 3]) * q[j + 3];
  }
  for (; j < e; ++j)
    s0 += double(p[j]) * q[j];
  return (s0 + s1) + (s2 + s3);
}

inline double rstd(const float *x, int64_t b, int64_t e, double eps) {
  return 1.0 / sqrt(dot(x, x, b, e) / double(e - b) + eps);
}

// y = x normalised per statistics group [bounds[g], bounds[g + 1]), times
// the gain: what chain.norm computes.
inline void normRow(const float *x, const float *gain, const int64_t *bounds,
                    int groups, double eps, float *y) {
  for (int g = 0; g < groups; ++g) {
    int64_t b = bounds[g], e = bounds[g + 1];
    double r = rstd(x, b, e, eps);
    for (int64_t j = b; j < e; ++j)
      y[j] = float(x[j] * r * gain[j]);
  }
}
)CPP";

const char *kNorm = R"CPP(
namespace {
constexpr int64_t W = @W@;
constexpr int NG = @NG@;
static const int64_t kBounds[NG + 1] = {@BOUNDS@};
constexpr double EPS = @EPS@;
constexpr int64_t DGAIN0 = @DGAIN0@;
@NORM_STATS@
inline double rstd(const float *x, int64_t b, int64_t e) {
  return rstd(x, b, e, EPS);
}
} // namespace

extern "C" void @SYMBOL@(const void *argp, int thread, int threads) {
  const ColmNormArgs *a = (const ColmNormArgs *)argp;
  int64_t r0, r1;
  share(a->rows, thread, threads, r0, r1);
  if (!@BACKWARD@) {
    for (int64_t t = r0; t < r1; ++t)
      normRow(a->x + t * W, a->gain, kBounds, NG, EPS, a->y + t * W);
    return;
  }
  // dx over this thread's rows.
  for (int64_t t = r0; t < r1; ++t) {
    const float *x = a->x + t * W, *dy = a->dy + t * W;
    float *dx = a->dx + t * W;
    for (int g = 0; g < NG; ++g) {
      int64_t b = kBounds[g], e = kBounds[g + 1];
      double n = double(e - b), r = rstd(x, b, e);
      // sum dy * gain * x, with dy * gain formed in double per element.
      double d0 = 0, d1 = 0, d2 = 0, d3 = 0;
      int64_t j = b;
      for (; j + 4 <= e; j += 4) {
        d0 += double(dy[j]) * a->gain[j] * x[j];
        d1 += double(dy[j + 1]) * a->gain[j + 1] * x[j + 1];
        d2 += double(dy[j + 2]) * a->gain[j + 2] * x[j + 2];
        d3 += double(dy[j + 3]) * a->gain[j + 3] * x[j + 3];
      }
      for (; j < e; ++j)
        d0 += double(dy[j]) * a->gain[j] * x[j];
      double d = (d0 + d1) + (d2 + d3), k = r * r * r / n * d;
      for (j = b; j < e; ++j)
        dx[j] = float(r * a->gain[j] * dy[j] - k * x[j]);
    }
  }
  // dgain over this thread's share of the trainable columns, every column
  // summed over all rows in ascending order.
  if (thread == 0)
    for (int64_t j = 0; j < DGAIN0; ++j)
      a->dgain[j] = 0.0f;
  int64_t c0, c1;
  share(W - DGAIN0, thread, threads, c0, c1);
  c0 += DGAIN0;
  c1 += DGAIN0;
  if (c0 >= c1)
    return;
  double acc[W]; // only [c0, c1) used
  for (int64_t j = c0; j < c1; ++j)
    acc[j] = 0;
  for (int64_t t = 0; t < a->rows; ++t) {
    const float *x = a->x + t * W, *dy = a->dy + t * W;
    for (int g = 0; g < NG; ++g) {
      int64_t b = kBounds[g], e = kBounds[g + 1];
      int64_t lo = b > c0 ? b : c0, hi = e < c1 ? e : c1;
      if (lo >= hi)
        continue;
      double r = rstd(x, b, e);
      for (int64_t j = lo; j < hi; ++j)
        acc[j] += double(dy[j]) * x[j] * r;
    }
  }
  for (int64_t j = c0; j < c1; ++j)
    a->dgain[j] = float(acc[j]);
}
)CPP";

// RoPE's constants, per-thread table of cosines and sines and rotation,
// shared with the GEMM's RoPE epilogue so that both compute the same bits.
// Without contraction (the including source turns it off).
const char *kRopeTable = R"CPP(
namespace rope {
constexpr int64_t HD = @HD@, HALF = HD / 2;
static const double kInvFreq[HALF] = {@INVFREQ@};
// Positions below this have their cosines and sines kept per thread (HD
// doubles each), computed once by the same expressions: libm's cos and sin
// cost more than the rotation itself.
constexpr int64_t KEPT = 8192;

inline void angles(double p, double *c, double *s) {
  for (int64_t m = 0; m < HALF; ++m) {
    double angle = p * kInvFreq[m];
    c[m] = cos(angle);
    s[m] = @INVERSE@ ? -sin(angle) : sin(angle);
  }
}

// cos at [0, HALF), sin at [HALF, HD) of position p, or null (p not kept,
// or out of memory: the caller computes them).
const double *kept(int64_t p) {
  static thread_local double *table = nullptr;
  static thread_local int64_t have = 0;
  if (p < 0 || p >= KEPT)
    return nullptr;
  if (p >= have) {
    int64_t n = p + 1 > 2 * have ? p + 1 : 2 * have;
    n = n < 256 ? 256 : (n > KEPT ? KEPT : n);
    double *t = (double *)realloc(table, (size_t)n * HD * sizeof(double));
    if (!t)
      return nullptr;
    for (int64_t q = have; q < n; ++q)
      angles(double(q), t + q * HD, t + q * HD + HALF);
    table = t;
    have = n;
  }
  return table + p * HD;
}

// Heads [0, heads) of one row at position `pos`, from src to dst (which may
// be src).
inline void rotate(const float *src, float *dst, int64_t heads, int64_t pos) {
  double own[HD];
  const double *cs = kept(pos);
  if (!cs) {
    angles(double(pos), own, own + HALF);
    cs = own;
  }
  const double *c = cs, *s = cs + HALF;
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t m = 0; m < HALF; ++m) {
      double lo = src[h * HD + m], hi = src[h * HD + m + HALF]; // y may be x
      dst[h * HD + m] = float(lo * c[m] - hi * s[m]);
      dst[h * HD + m + HALF] = float(hi * c[m] + lo * s[m]);
    }
}
} // namespace rope
)CPP";

const char *kRope = R"CPP(
#include <stdlib.h>
@ROPE_TABLE@
extern "C" void @SYMBOL@(const void *argp, int thread, int threads) {
  const ColmRopeArgs *a = (const ColmRopeArgs *)argp;
  constexpr int64_t W = @W@;
  int64_t r0, r1;
  share(a->rows, thread, threads, r0, r1);
  for (int64_t t = r0; t < r1; ++t)
    rope::rotate(a->x + t * W, a->y + t * W, W / rope::HD,
                 a->positions ? int64_t(a->positions[t]) : t);
}
)CPP";

const char *kSwiGlu = R"CPP(
namespace {
constexpr int64_t W = @W@;
@VEXP@
} // namespace

extern "C" void @SYMBOL@(const void *argp, int thread, int threads) {
  const ColmSwiGluArgs *a = (const ColmSwiGluArgs *)argp;
  int64_t r0, r1;
  share(a->rows, thread, threads, r0, r1);
  const float *__restrict gate = a->gate, *__restrict up = a->up;
  if (!@BACKWARD@) {
    float *__restrict y = a->y;
    for (int64_t i = r0 * W; i < r1 * W; ++i) {
      double g = gate[i], u = up[i], sg = 1.0 / (1.0 + vexp(-g));
      y[i] = float(g * sg * u);
    }
  } else {
    const float *__restrict dyp = a->dy;
    float *__restrict dgate = a->dgate, *__restrict dup = a->dup;
    for (int64_t i = r0 * W; i < r1 * W; ++i) {
      double g = gate[i], u = up[i], sg = 1.0 / (1.0 + vexp(-g));
      double dy = dyp[i];
      dgate[i] = float(dy * u * sg * (1.0 + g * (1.0 - sg)));
      dup[i] = float(dy * g * sg);
    }
  }
}
)CPP";

// Shared with the GEMM's SwiGLU epilogue, so that both round alike.
const char *kDoubleExp = R"CPP(
// exp in double without a libm call, so the loop below vectorises: 2^n
// exp(r) with |r| <= ln2 / 2 and Taylor terms to r^13 (truncation below
// 1e-17), within about an ulp of libm's; the result is rounded to float.
inline double vexp(double x) {
  const double xc = x < -745.0 ? -745.0 : (x > 709.7 ? 709.7 : x);
  const double n = __builtin_rint(xc * 0x1.71547652b82fep0);
  double r = __builtin_fma(n, -0x1.62e42fefa39efp-1, xc);
  r = __builtin_fma(n, -0x1.abc9e3b39803fp-56, r);
  double p = 1.0 / 6227020800.0;
  p = __builtin_fma(p, r, 1.0 / 479001600.0);
  p = __builtin_fma(p, r, 1.0 / 39916800.0);
  p = __builtin_fma(p, r, 1.0 / 3628800.0);
  p = __builtin_fma(p, r, 1.0 / 362880.0);
  p = __builtin_fma(p, r, 1.0 / 40320.0);
  p = __builtin_fma(p, r, 1.0 / 5040.0);
  p = __builtin_fma(p, r, 1.0 / 720.0);
  p = __builtin_fma(p, r, 1.0 / 120.0);
  p = __builtin_fma(p, r, 1.0 / 24.0);
  p = __builtin_fma(p, r, 1.0 / 6.0);
  p = __builtin_fma(p, r, 0.5);
  p = __builtin_fma(p, r, 1.0);
  p = __builtin_fma(p, r, 1.0);
  // 2^n in two normal factors, so that subnormal results come out right;
  // through int32 (AVX2 has no vector double to int64 conversion).
  const int32_t ni = (int32_t)n, na = ni / 2, nb = ni - na;
  const uint64_t ba = (uint64_t)(int64_t)(na + 1023) << 52,
                 bb = (uint64_t)(int64_t)(nb + 1023) << 52;
  double sa, sb;
  __builtin_memcpy(&sa, &ba, 8);
  __builtin_memcpy(&sb, &bb, 8);
  return p * sa * sb;
}
)CPP";

std::string assemble(const std::string &name, const char *argsStruct,
                     const std::string &body) {
  return "// Generated by colm: " + name + "\n" + kPrologue + argsStruct +
         "\n" + body;
}

} // namespace

std::string chainNormSymbol(const ChainNormSpec &spec) {
  return "colm_" + spec.name();
}
std::string ropeSymbol(const RopeSpec &spec) { return "colm_" + spec.name(); }
std::string swiGluSymbol(const SwiGluSpec &spec) {
  return "colm_" + spec.name();
}

std::string renderChainNorm(const ChainNormSpec &spec) {
  std::string bounds;
  for (int64_t b : spec.groupBounds)
    bounds += std::to_string(b) + ", ";
  std::string body = kNorm;
  replaceAll(body, "@SYMBOL@", chainNormSymbol(spec));
  replaceAll(body, "@W@", std::to_string(spec.width));
  replaceAll(body, "@NG@", std::to_string(spec.groupBounds.size() - 1));
  replaceAll(body, "@BOUNDS@", bounds);
  replaceAll(body, "@NORM_STATS@", kNormStats);
  replaceAll(body, "@EPS@", exact(spec.eps));
  replaceAll(body, "@DGAIN0@", std::to_string(spec.dgainBegin));
  replaceAll(body, "@BACKWARD@", spec.backward ? "true" : "false");
  return assemble(spec.name(), COLM_STRINGIFY(COLM_NORM_ARGS_STRUCT), body);
}

std::string renderRope(const RopeSpec &spec) {
  std::string body = kRope;
  replaceAll(body, "@ROPE_TABLE@",
             ropeSource(spec.headDim, spec.theta, spec.inverse));
  replaceAll(body, "@SYMBOL@", ropeSymbol(spec));
  replaceAll(body, "@W@", std::to_string(spec.width));
  return assemble(spec.name(), COLM_STRINGIFY(COLM_ROPE_ARGS_STRUCT), body);
}

std::string ropeSource(int64_t headDim, double theta, bool inverse) {
  // The same expression as the reference's, so the same doubles.
  std::string freqs;
  for (int64_t m = 0; m < headDim / 2; ++m)
    freqs += exact(std::pow(theta, -2.0 * double(m) / double(headDim))) + ", ";
  std::string body = kRopeTable;
  replaceAll(body, "@HD@", std::to_string(headDim));
  replaceAll(body, "@INVFREQ@", freqs);
  replaceAll(body, "@INVERSE@", inverse ? "true" : "false");
  return body;
}

const char *doubleExpSource() { return kDoubleExp; }

const char *normStatsSource() { return kNormStats; }

std::string renderSwiGlu(const SwiGluSpec &spec) {
  std::string body = kSwiGlu;
  replaceAll(body, "@SYMBOL@", swiGluSymbol(spec));
  replaceAll(body, "@W@", std::to_string(spec.width));
  replaceAll(body, "@VEXP@", kDoubleExp);
  replaceAll(body, "@BACKWARD@", spec.backward ? "true" : "false");
  return assemble(spec.name(), COLM_STRINGIFY(COLM_SWIGLU_ARGS_STRUCT), body);
}

} // namespace colm::codegen::cpu
