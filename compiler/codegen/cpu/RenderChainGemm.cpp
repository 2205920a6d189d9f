//===- RenderChainGemm.cpp - The chain GEMM as host C++ -------------------===//

#include "compiler/codegen/cpu/RenderChainGemm.h"
#include "compiler/codegen/cpu/RenderUtil.h"

#include "runtime/CpuInfo.h"

#include <algorithm>
#include <string>

namespace colm::codegen::cpu {
namespace {

// The body is the same for every spec; the spec and the knobs arrive as
// constants, so the host compiler unrolls the tile and keeps it in registers.
const char *kBody = R"CPP(
typedef float vec __attribute__((vector_size(@LANES@ * 4)));
typedef float vecu __attribute__((vector_size(@LANES@ * 4), aligned(4)));

namespace {

struct Block {
  int64_t n0, n1, k0, k1, m0, m1; // -1 ends: the dynamic size
};

static const Block kBlocks[] = {@BLOCKS@};
constexpr int kNumBlocks = sizeof(kBlocks) / sizeof(kBlocks[0]);
constexpr int MR = @MR@, NR = @NR@, KC = @KC@, MC = @MC@;
constexpr int NV = NR / @LANES@;
// Strips packed together per reduction chunk: their panels stay in L2.
constexpr int NS = @NS@;

inline vec loadu(const float *p) { return *(const vecu *)p; }
inline void storeu(float *p, vec v) { *(vecu *)p = v; }

// What the GEMM reads of A and B: the value, or (bf16 mixed precision) the
// value rounded to the nearest bf16, ties to even, NaN kept NaN.
constexpr bool BF16 = @BF16@;
inline float rd(float x) {
  if (!BF16)
    return x;
  uint32_t u;
  __builtin_memcpy(&u, &x, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u)
    u |= 0x00400000u;
  else
    u += 0x7fffu + ((u >> 16) & 1u);
  u &= 0xffff0000u;
  __builtin_memcpy(&x, &u, 4);
  return x;
}
typedef uint32_t vecw __attribute__((vector_size(@LANES@ * 4)));
inline vec rdv(vec x) {
  if (!BF16)
    return x;
  vecw u = (vecw)x;
  vecw nan = (vecw)((u & 0x7fffffffu) > 0x7f800000u);
  u = (u | (nan & 0x00400000u)) + ((0x7fffu + ((u >> 16) & 1u)) & ~nan);
  return (vec)(u & 0xffff0000u);
}

struct Operands {
  const float *a, *b;
  float *c;
  const float *r; // the addend, read on the last reduction chunk
  int64_t m, k, lda, ldb, ldc, ldr;
};

// C[R x NR] (+)= Apanel[kc x MR] * Bpanel[kc x NR]; one FMA chain per
// element, then + add[R x NR] when `add` is set (the last chunk of an add
// epilogue).
template <int R>
inline void tile(const float *ap, int64_t kc, const float *bp, float *c,
                 int64_t ldc, bool load, const float *add, int64_t ldr) {
#pragma clang fp contract(fast)
  vec acc[R][NV];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v)
      acc[r][v] = load ? loadu(c + r * ldc + v * @LANES@) : vec{};
  for (int64_t p = 0; p < kc; ++p) {
    vec b[NV];
    for (int v = 0; v < NV; ++v)
      b[v] = *(const vec *)(bp + p * NR + v * @LANES@);
    for (int r = 0; r < R; ++r) {
      float x = ap[p * MR + r];
      for (int v = 0; v < NV; ++v)
        acc[r][v] = acc[r][v] + x * b[v];
    }
  }
  if (add)
    for (int r = 0; r < R; ++r)
      for (int v = 0; v < NV; ++v)
        acc[r][v] = acc[r][v] + loadu(add + r * ldr + v * @LANES@);
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v)
      storeu(c + r * ldc + v * @LANES@, acc[r][v]);
}

template <int R>
void tileAny(const float *ap, int64_t kc, const float *bp, float *c,
             int64_t ldc, bool load, int rows, const float *add, int64_t ldr) {
  if constexpr (R > 1) {
    if (rows < R)
      return tileAny<R - 1>(ap, kc, bp, c, ldc, load, rows, add, ldr);
  }
  tile<R>(ap, kc, bp, c, ldc, load, add, ldr);
}

// Rows [i, i + rows) of strip [j, j + cols): full strips write C in place,
// the ragged last one goes through a small buffer. `last`: the last chunk
// of the reduction, where an add epilogue adds.
void rowTile(const Operands &o, int64_t i, int rows, int64_t j, int cols,
             const float *ap, int64_t kc, const float *bp, bool load,
             bool last) {
  const float *add = @ADDEND@ && last ? o.r + i * o.ldr + j : nullptr;
  if (cols == NR) {
    tileAny<MR>(ap, kc, bp, o.c + i * o.ldc + j, o.ldc, load, rows, add,
                o.ldr);
    return;
  }
  alignas(64) float buf[MR * NR];
  if (load)
    for (int r = 0; r < rows; ++r)
      for (int x = 0; x < cols; ++x)
        buf[r * NR + x] = o.c[(i + r) * o.ldc + j + x];
  tileAny<MR>(ap, kc, bp, buf, NR, load, rows, nullptr, 0);
  for (int r = 0; r < rows; ++r)
    for (int x = 0; x < cols; ++x)
      o.c[(i + r) * o.ldc + j + x] =
          add ? buf[r * NR + x] + add[r * o.ldr + x] : buf[r * NR + x];
}

// Bpanel[p][x] = b(p0 + p, j + x), zero past the strip's columns.
void pack(const Operands &o, int64_t p0, int64_t kc, int64_t j, int cols,
          float *bp) {
  for (int64_t p = 0; p < kc; ++p) {
    float *row = bp + p * NR;
    if (@BT@) {
      continue; // below, column by column: B's rows are contiguous
    } else {
      const float *src = o.b + (p0 + p) * o.ldb + j;
      for (int x = 0; x < cols; ++x)
        row[x] = rd(src[x]);
    }
    for (int x = cols; x < NR; ++x)
      row[x] = 0.0f;
  }
  if (@BT@) {
    for (int x = 0; x < cols; ++x) {
      const float *src = o.b + (j + x) * o.ldb + p0;
      for (int64_t p = 0; p < kc; ++p)
        bp[p * NR + x] = rd(src[p]);
    }
    for (int64_t p = 0; p < kc; ++p)
      for (int x = cols; x < NR; ++x)
        bp[p * NR + x] = 0.0f;
  }
}

// Apanel[t][p][r] = a(i0 + t * MR + r, p0 + p) for the row tiles t of
// [i0, i1): each tile reads one contiguous MR-float line per step.
void packA(const Operands &o, int64_t i0, int64_t i1, int64_t p0, int64_t kc,
           float *ap) {
  for (int64_t t = i0; t < i1; t += MR) {
    int rows = (int)(i1 - t < MR ? i1 - t : MR);
    float *dst = ap + ((t - i0) / MR) * kc * MR;
    if (@AT@) {
      for (int64_t p = 0; p < kc; ++p) {
        const float *src = o.a + (p0 + p) * o.lda + t;
        for (int r = 0; r < rows; ++r)
          dst[p * MR + r] = rd(src[r]);
        for (int r = rows; r < MR; ++r)
          dst[p * MR + r] = 0.0f;
      }
    } else {
      for (int r = 0; r < rows; ++r) {
        const float *src = o.a + (t + r) * o.lda + p0;
        for (int64_t p = 0; p < kc; ++p)
          dst[p * MR + r] = rd(src[p]);
      }
      for (int r = rows; r < MR; ++r)
        for (int64_t p = 0; p < kc; ++p)
          dst[p * MR + r] = 0.0f;
    }
  }
}

struct Strip {
  int block;
  int64_t j;
  int cols;
};

// At most this many rows with B stored [N, K] (a decode step's linears):
// each output is a dot product over a row of B, which is read once and not
// packed (packing would copy all of B for a row of work). Vector chunk c of
// the reduction goes to partial sum c mod 4, the last chunk zero-padded, and
// the partial sums meet in a fixed tree: the bits depend on the shapes only,
// and zero weights appended to a row (an expanded model's new chains) change
// none of them.
constexpr int64_t FEW_ROWS = 4;

inline float dot(const float *a, const float *w, int64_t k0, int64_t k1) {
#pragma clang fp contract(fast)
  vec acc[4] = {};
  int64_t p = k0;
  int c = 0;
  for (; p + @LANES@ <= k1; p += @LANES@, c = (c + 1) & 3)
    acc[c] = acc[c] + rdv(loadu(a + p)) * rdv(loadu(w + p));
  if (p < k1) {
    vec x = {}, y = {};
    for (int i = 0; p + i < k1; ++i) {
      x[i] = rd(a[p + i]);
      y[i] = rd(w[p + i]);
    }
    acc[c] = acc[c] + x * y;
  }
  vec s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
  float l[@LANES@];
  for (int i = 0; i < @LANES@; ++i)
    l[i] = s[i];
  for (int h = @LANES@ / 2; h >= 1; h /= 2)
    for (int i = 0; i < h; ++i)
      l[i] = l[i] + l[i + h];
  return l[0];
}

void fewRows(const Operands &o, const Strip *strips, int first, int last);

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

} // namespace

extern "C" void @SYMBOL@(const void *argp, int thread, int threads) {
  const ColmGemmArgs &args = *(const ColmGemmArgs *)argp;
  Operands o;
  o.a = args.a;
  o.b = args.b;
  o.c = args.c;
  o.m = @STATIC_M@ >= 0 ? @STATIC_M@ : args.m;
  o.k = @STATIC_K@ >= 0 ? @STATIC_K@ : args.k;
  o.lda = args.lda;
  o.ldb = args.ldb;
  o.ldc = args.ldc;
  o.r = args.r;
  o.ldr = args.ldr;

  // Every strip of every block, and the share of this thread: contiguous
  // strips with about 1/threads of the work each. Only the shapes decide.
  Strip strips[@STRIPS_MAX@];
  double work[@STRIPS_MAX@];
  int count = 0;
  double total = 0;
  for (int b = 0; b < kNumBlocks; ++b) {
    const Block &blk = kBlocks[b];
    int64_t k1 = blk.k1 < 0 ? o.k : blk.k1, m1 = blk.m1 < 0 ? o.m : blk.m1;
    for (int64_t j = blk.n0; j < blk.n1; j += NR) {
      int cols = (int)(blk.n1 - j < NR ? blk.n1 - j : NR);
      strips[count] = {b, j, cols};
      work[count] = double(cols) * double(k1 - blk.k0 + 1) *
                    double(m1 - blk.m0);
      total += work[count];
      ++count;
    }
  }
  int first = 0, last = 0;
  {
    double seen = 0;
    for (int s = 0; s < count; ++s) {
      // A strip belongs to the thread in whose share its middle falls.
      double mid = seen + work[s] / 2;
      int owner = total > 0 ? (int)(mid / total * threads) : 0;
      if (owner >= threads)
        owner = threads - 1;
      if (owner < thread)
        first = s + 1;
      if (owner <= thread)
        last = s + 1;
      seen += work[s];
    }
  }
    if (first >= last)
    return;
  if (@BT@ && !@AT@ && o.m <= FEW_ROWS) {
    fewRows(o, strips, first, last);
    return;
  }
  // B panels of one group, then the A panels of one row block.
  float *panels = scratch((size_t)NS * KC * NR + (size_t)MC * KC);
  if (!panels)
    return; // out of memory: the caller's sentinel check reports it
  float *apanels = panels + (size_t)NS * KC * NR;

  for (int s0 = first; s0 < last;) {
    // A group: up to NS strips of one block.
    int b = strips[s0].block;
    int s1 = s0;
    while (s1 < last && s1 - s0 < NS && strips[s1].block == b)
      ++s1;
    const Block &blk = kBlocks[b];
    int64_t k1 = blk.k1 < 0 ? o.k : blk.k1, m1 = blk.m1 < 0 ? o.m : blk.m1;
    if (blk.k0 == k1 && !@ACC@) {
      // An empty reduction: the product is zero.
      for (int64_t i = blk.m0; i < m1; ++i)
        for (int s = s0; s < s1; ++s)
          for (int x = 0; x < strips[s].cols; ++x)
            o.c[i * o.ldc + strips[s].j + x] =
                @ADDEND@ ? o.r[i * o.ldr + strips[s].j + x] : 0.0f;
    }
    for (int64_t p0 = blk.k0; p0 < k1; p0 += KC) {
      int64_t kc = k1 - p0 < KC ? k1 - p0 : KC;
      bool load = @ACC@ || p0 != blk.k0;
      bool last = p0 + kc == k1;
      for (int s = s0; s < s1; ++s)
        pack(o, p0, kc, strips[s].j, strips[s].cols,
             panels + (size_t)(s - s0) * KC * NR);
      for (int64_t i0 = blk.m0; i0 < m1; i0 += MC) {
        int64_t i1 = m1 - i0 < MC ? m1 : i0 + MC;
        packA(o, i0, i1, p0, kc, apanels);
        for (int s = s0; s < s1; ++s)
          for (int64_t i = i0; i < i1; i += MR)
            rowTile(o, i, (int)(i1 - i < MR ? i1 - i : MR), strips[s].j,
                    strips[s].cols, apanels + ((i - i0) / MR) * kc * MR, kc,
                    panels + (size_t)(s - s0) * KC * NR, load, last);
      }
    }
    s0 = s1;
  }
}

namespace {
void fewRows(const Operands &o, const Strip *strips, int first, int last) {
  for (int s = first; s < last; ++s) {
    const Block &blk = kBlocks[strips[s].block];
    int64_t k1 = blk.k1 < 0 ? o.k : blk.k1, m1 = blk.m1 < 0 ? o.m : blk.m1;
    for (int x = 0; x < strips[s].cols; ++x) {
      int64_t j = strips[s].j + x;
      const float *w = o.b + j * o.ldb;
      for (int64_t i = blk.m0; i < m1; ++i) {
        float sum = dot(o.a + i * o.lda, w, blk.k0, k1);
        float *c = o.c + i * o.ldc + j;
        *c = @ACC@      ? *c + sum
             : @ADDEND@ ? sum + o.r[i * o.ldr + j]
                        : sum;
      }
    }
  }
}
} // namespace
)CPP";

} // namespace

VectorIsa hostVectorIsa() {
  const CpuInfo &cpu = CpuInfo::host();
  if (cpu.avx512f)
    return {16, 32};
  if (cpu.avx2)
    return {8, 16};
  return {4, 16};
}

Status checkKnobsFit(const GemmKnobs &k, const VectorIsa &isa) {
  if (k.nr % isa.lanes != 0)
    return Status::error("nr " + std::to_string(k.nr) +
                         " is not a multiple of the " +
                         std::to_string(isa.lanes) + " vector lanes");
  int nv = k.nr / isa.lanes;
  int used = k.mr * nv + nv + 1;
  if (used > isa.registers)
    return Status::error(
        "a " + std::to_string(k.mr) + " x " + std::to_string(k.nr) +
        " tile needs " + std::to_string(used) +
        " vector registers, more than " + std::to_string(isa.registers));
  return Status::ok();
}

GemmKnobs defaultKnobs(const VectorIsa &isa) {
  GemmKnobs k;
  if (isa.lanes >= 16 && isa.registers >= 32) {
    k.mr = 12; // 12 x 32: 24 accumulators, 2 B vectors, 1 broadcast
    k.nr = 32;
  } else {
    k.mr = 6; // 6 x 16 on AVX2: 12 accumulators
    k.nr = 2 * isa.lanes;
  }
  k.kc = 256;
  k.mc = k.mr * 8;
  return k;
}

std::string chainGemmSymbol(const ChainGemmSpec &spec) {
  return "colm_" + spec.name();
}

std::string renderChainGemm(const ChainGemmSpec &spec, const VectorIsa &isa) {
  std::string blocks;
  for (const GemmBlock &b : spec.blocks)
    blocks += "{" + std::to_string(b.nBegin) + ", " + std::to_string(b.nEnd) +
              ", " + std::to_string(b.kBegin) + ", " + std::to_string(b.kEnd) +
              ", " + std::to_string(b.mBegin) + ", " + std::to_string(b.mEnd) +
              "}, ";
  int64_t strips = 0;
  for (const GemmBlock &b : spec.blocks)
    strips += (b.nEnd - b.nBegin + spec.knobs.nr - 1) / spec.knobs.nr;
  // About 256 KiB of packed panels per group.
  int64_t ns = std::max<int64_t>(
      1, (256 * 1024) / (int64_t(spec.knobs.kc) * spec.knobs.nr * 4));
  std::string body = kBody;
  replaceAll(body, "@SYMBOL@", chainGemmSymbol(spec));
  replaceAll(body, "@BLOCKS@", blocks);
  replaceAll(body, "@LANES@", std::to_string(isa.lanes));
  replaceAll(body, "@MR@", std::to_string(spec.knobs.mr));
  replaceAll(body, "@NR@", std::to_string(spec.knobs.nr));
  replaceAll(body, "@KC@", std::to_string(spec.knobs.kc));
  replaceAll(body, "@MC@", std::to_string(spec.knobs.mc));
  replaceAll(body, "@NS@", std::to_string(ns));
  replaceAll(body, "@STRIPS_MAX@", std::to_string(strips));
  replaceAll(body, "@STATIC_M@", "(" + std::to_string(spec.m) + "LL)");
  replaceAll(body, "@STATIC_K@", "(" + std::to_string(spec.k) + "LL)");
  replaceAll(body, "@AT@", spec.aTransposed ? "true" : "false");
  replaceAll(body, "@BT@", spec.bTransposed ? "true" : "false");
  replaceAll(body, "@ACC@", spec.accumulate ? "true" : "false");
  replaceAll(body, "@ADDEND@", spec.addend ? "true" : "false");
  replaceAll(body, "@BF16@", spec.bf16 ? "true" : "false");
  return "// Generated by colm: " + spec.name() +
         "\n#include <stdint.h>\n#include <stdlib.h>\n" +
         COLM_STRINGIFY(COLM_GEMM_ARGS_STRUCT) + "\n" + body;
}

} // namespace colm::codegen::cpu
