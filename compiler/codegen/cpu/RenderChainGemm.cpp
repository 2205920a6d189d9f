//===- RenderChainGemm.cpp - The chain GEMM as host C++ -------------------===//

#include "compiler/codegen/cpu/RenderChainGemm.h"
#include "compiler/codegen/cpu/RenderPointwise.h"
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
  int g;                          // the product of a grouped GEMM
};

static const Block kBlocks[] = {@BLOCKS@};
constexpr int kNumBlocks = sizeof(kBlocks) / sizeof(kBlocks[0]);
// A grouped GEMM's products (1: not grouped) and the first column of each
// in the blocks' numbering; a strip's columns are its product's own.
constexpr int GROUPS = @GROUPS@;
static const int64_t kGroupStart[] = {@GROUP_STARTS@};
constexpr int MR = @MR@, NR = @NR@, KC = @KC@, MC = @MC@;
constexpr int NV = NR / @LANES@;

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

// bf16 pair dot products: A and B packed as 32-bit words that hold the bf16
// of two consecutive reduction steps (the even step in the low half), and
// per lane acc += hi(a) hi(b), then acc += lo(a) lo(b): `vdpbf16ps` where
// the CPU has AVX512_BF16, else those two FMAs (a bf16 product is exact in
// fp32, so each step rounds once either way). The pairs start at even
// steps, so the order of each element's reduction is fixed by the shapes.
#define DOT @DOT@
constexpr int64_t STEP = DOT ? 2 : 1; // reduction steps per packed row
constexpr int64_t packedRows(int64_t steps) { return (steps + STEP - 1) / STEP; }
typedef uint32_t word __attribute__((may_alias));
inline uint32_t bitsOf(float x) {
  uint32_t u;
  __builtin_memcpy(&u, &x, 4);
  return u;
}
inline uint32_t pairWord(float lo, float hi) {
  return (bitsOf(rd(hi)) & 0xffff0000u) | (bitsOf(rd(lo)) >> 16);
}
inline vecw pairWords(vec lo, vec hi) {
  return ((vecw)rdv(hi) & 0xffff0000u) | ((vecw)rdv(lo) >> 16);
}
// The even and the odd steps of 2 x LANES consecutive ones.
inline vec evenSteps(vec a, vec b) { return __builtin_shufflevector(a, b, @EVEN@); }
inline vec oddSteps(vec a, vec b) { return __builtin_shufflevector(a, b, @ODD@); }
#if DOT && defined(__AVX512BF16__) && @LANES@ == 16
inline vec dotPair(vec acc, vecw a, vecw b) {
  return _mm512_dpbf16_ps(acc, (__m512bh)a, (__m512bh)b);
}
#else
inline vec dotPair(vec acc, vecw a, vecw b) {
  acc = acc + (vec)(a & 0xffff0000u) * (vec)(b & 0xffff0000u);
  return acc + (vec)(a << 16) * (vec)(b << 16);
}
#endif

// AMX-BF16: the pair products of a bf16 GEMM on tdpbf16ps tiles, over the
// same pair words (the even step in the low half) that vdpbf16ps reads.
#define AMX @AMX@

struct Operands {
  const float *a, *b;
  float *c;
  const float *r; // the addend, read on the last reduction chunk
  int64_t m, k, lda, ldb, ldc, ldr;
  const float *g, *u; // a SwiGLU epilogue's gate and up, rows lde apart
  float *c2;          // and its second output
  int64_t lde;
  // Each product's B, C and strides (a grouped GEMM; [0] is b, c, ...).
  const float *bs[GROUPS];
  float *cs[GROUPS];
  int64_t ldbs[GROUPS], ldcs[GROUPS];
  const float *gain; // a norm prologue's gain, and the kept normalised A
  float *an;
  int64_t a0; // the first row of A that `a` holds (A stored [M, K])
  const int32_t *positions; // a RoPE epilogue's, or null (the row index)
};

// A norm prologue: the product reads chain RMSNorm(A) * gain, made by the
// norm kernel's own code (the same bits), row block by row block into a
// buffer that the packing reads; the normalised rows reach memory only
// when kept (args.an). NORM_GROUPS == 0: none.
constexpr int NORM_GROUPS = @NORM_GROUPS@;
static const int64_t kNormBounds[] = {@NORM_BOUNDS@};
constexpr double NORM_EPS = @NORM_EPS@;
#pragma clang fp contract(off)
@NORM_STATS@
#pragma clang fp contract(on)

// A RoPE epilogue: products whose bit is set in ROPE are rotated per head
// of rope::HD columns, by the RoPE kernel's own code (the same bits), once
// all of a head's strips are final for a block of rows. Threads then split
// the strips only where a head starts (see unitStart). ROPE == 0: none.
constexpr unsigned ROPE = @ROPE@;
#pragma clang fp contract(off)
@ROPE_TABLE@
#pragma clang fp contract(on)

// The operands of product g: its own B and C.
inline Operands at(const Operands &o, int g) {
  if (GROUPS == 1)
    return o;
  Operands r = o;
  r.b = o.bs[g];
  r.c = o.cs[g];
  r.ldb = o.ldbs[g];
  r.ldc = o.ldcs[g];
  return r;
}

// B's element at `idx` (stored [N, K]), as the product reads it: rounded
// from fp32, or stored as bf16 bits (an inference program's weights,
// rounded alike when they were bound).
constexpr bool B16 = @B16@;
typedef uint16_t vech __attribute__((vector_size(@LANES@ * 2), aligned(2)));
inline const uint16_t *bBits(const Operands &o) {
  return (const uint16_t *)o.b;
}
inline float bAt(const Operands &o, int64_t idx) {
  if (!B16)
    return rd(o.b[idx]);
  uint32_t u = uint32_t(bBits(o)[idx]) << 16;
  float x;
  __builtin_memcpy(&x, &u, 4);
  return x;
}
inline vec bVec(const Operands &o, int64_t idx) {
  if (!B16)
    return rdv(loadu(o.b + idx));
  vech h = *(const vech *)(bBits(o) + idx);
  return (vec)(__builtin_convertvector(h, vecw) << 16);
}
// One of B's rows from `idx` on, for the prefetcher.
inline const char *bByte(const Operands &o, int64_t idx) {
  return B16 ? (const char *)(bBits(o) + idx) : (const char *)(o.b + idx);
}

// The SwiGLU epilogue (0: none, 1: forward, 2: backward) on C's rows
// [i, i + rows) x columns [j, j + cols), which hold the finished product P:
// forward C = silu(g) P (c2 = P when kept), backward (P = dh) C = dgate and
// c2 = dup. In double and without contraction, exactly as the SwiGLU kernel
// computes from a stored P.
constexpr int SWIGLU = @SWIGLU@;
// A grouped SwiGLU: up's epilogue reads the gate, so a thread that splits
// strips takes each gate strip with the up strip beside it (the entry point
// interleaves them; see unitStart).
constexpr bool PAIRED = GROUPS == 2 && SWIGLU == 1;
#pragma clang fp contract(off)
@VEXP@
inline void swigluTile(const Operands &o, int64_t i, int rows, int64_t j,
                       int cols) {
  for (int r = 0; r < rows; ++r) {
    const int64_t e = (i + r) * o.lde + j;
    float *__restrict c = o.c + (i + r) * o.ldc + j;
    const float *__restrict g = o.g + e;
    if (SWIGLU == 1) {
      if (o.c2)
        for (int x = 0; x < cols; ++x)
          o.c2[e + x] = c[x];
      for (int x = 0; x < cols; ++x) {
        double p = c[x], gx = g[x], sg = 1.0 / (1.0 + vexp(-gx));
        c[x] = float(gx * sg * p);
      }
    } else {
      const float *__restrict u = o.u + e;
      float *__restrict dup = o.c2 + e;
      for (int x = 0; x < cols; ++x) {
        double p = c[x], gx = g[x], ux = u[x], sg = 1.0 / (1.0 + vexp(-gx));
        c[x] = float(p * ux * sg * (1.0 + gx * (1.0 - sg)));
        dup[x] = float(p * gx * sg);
      }
    }
  }
}
#pragma clang fp contract(on)

// C[R x NR] (+)= Apanel[kc x MR] * Bpanel[kc x NR]; one FMA chain per
// element, then + add[R x NR] when `add` is set (the last chunk of an add
// epilogue). `next`: the C tile visited after this one, fetched into the
// cache meanwhile (C streams once per reduction chunk and its rows are far
// apart, so a tile's first loads would otherwise wait on memory).
template <int R>
inline void tile(const float *ap, int64_t kc, const float *bp, float *c,
                 int64_t ldc, bool load, const float *add, int64_t ldr,
                 const float *next) {
#pragma clang fp contract(fast)
  if (next)
    for (int r = 0; r < MR; ++r) {
      __builtin_prefetch(next + r * ldc, 1);
      __builtin_prefetch(next + r * ldc + NR - 1, 1);
    }
  vec acc[R][NV];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v)
      acc[r][v] = load ? loadu(c + r * ldc + v * @LANES@) : vec{};
#if DOT
  const word *aw = (const word *)ap, *bw = (const word *)bp;
  for (int64_t q = 0; q < packedRows(kc); ++q) {
    vecw b[NV];
    for (int v = 0; v < NV; ++v)
      b[v] = *(const vecw *)(bw + q * NR + v * @LANES@);
    for (int r = 0; r < R; ++r) {
      vecw x = vecw{} + aw[q * MR + r];
      for (int v = 0; v < NV; ++v)
        acc[r][v] = dotPair(acc[r][v], x, b[v]);
    }
  }
#else
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
#endif
  if (add)
    for (int r = 0; r < R; ++r)
      for (int v = 0; v < NV; ++v)
        acc[r][v] = acc[r][v] + loadu(add + r * ldr + v * @LANES@);
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v)
      storeu(c + r * ldc + v * @LANES@, acc[r][v]);
}

#if AMX
// Tile registers 0-3 hold C (rows 0-15 / 16-31 x columns 0-15 / 16-31), 4-5
// the row halves of A, 6-7 the column halves of B: 16 rows of 64 bytes
// each, configured once per thread.
struct alignas(64) TileConfig {
  uint8_t palette, start;
  uint8_t reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
};
inline void amxConfigure() {
  static thread_local bool configured = false;
  if (configured)
    return;
  TileConfig cfg = {};
  cfg.palette = 1;
  for (int t = 0; t < 8; ++t) {
    cfg.rows[t] = 16;
    cfg.colsb[t] = 64;
  }
  _tile_loadconfig(&cfg);
  configured = true;
}

// Pairs of A per packed row: whole tiles of 16.
constexpr int64_t amxPairs(int64_t steps) {
  return (packedRows(steps) + 15) / 16 * 16;
}

// C[32 x 32] (+)= A[32 x kc] B[kc x 32] over steps [k0, k0 + kc), A packed
// row by row (`pq` words per row), B as the pair panel. tdpbf16ps does not
// round after every pair, so its bits depend on how pairs are grouped: the
// groups of 16 pairs lie on a fixed grid of steps (multiples of 32), the
// same whatever the thread count, the knobs or the pass. A group that the
// range cuts (at a block's first or last step) is read from a copy with its
// pairs in their grid places and zeros elsewhere.
void amxTile(const word *ap, int64_t pq, int64_t k0, int64_t kc,
             const word *bp, float *c, int64_t ldc, bool load) {
  static_assert(MR == 32 && NR == 32, "the AMX tile is 32 x 32");
  amxConfigure();
  if (load) {
    _tile_loadd(0, c, ldc * 4);
    _tile_loadd(1, c + 16, ldc * 4);
    _tile_loadd(2, c + 16 * ldc, ldc * 4);
    _tile_loadd(3, c + 16 * ldc + 16, ldc * 4);
  } else {
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
  }
  const int64_t pairs = packedRows(kc);
  // Pairs [q, q + n) of the range at places [at, at + n) of a group.
  auto partial = [&](int64_t q, int64_t n, int64_t at) {
    alignas(64) uint32_t a[32 * 16], b[16 * NR];
    for (int x = 0; x < 32 * 16; ++x)
      a[x] = 0u;
    for (int x = 0; x < 16 * NR; ++x)
      b[x] = 0u;
    for (int r = 0; r < 32; ++r)
      for (int64_t x = 0; x < n; ++x)
        a[r * 16 + at + x] = ap[r * pq + q + x];
    for (int64_t x = 0; x < n; ++x)
      for (int y = 0; y < NR; ++y)
        b[(at + x) * NR + y] = bp[(q + x) * NR + y];
    _tile_loadd(4, a, 64);
    _tile_loadd(5, a + 16 * 16, 64);
    _tile_loadd(6, b, NR * 4);
    _tile_loadd(7, b + 16, NR * 4);
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  };
  int64_t q = 0;
  int64_t head = (k0 % 32) / 2; // k0 is even
  if (head) {
    int64_t n = 16 - head < pairs ? 16 - head : pairs;
    partial(0, n, head);
    q = n;
  }
  for (; q + 16 <= pairs; q += 16) {
    _tile_loadd(4, ap + q, pq * 4);
    _tile_loadd(5, ap + 16 * pq + q, pq * 4);
    _tile_loadd(6, bp + q * NR, NR * 4);
    _tile_loadd(7, bp + q * NR + 16, NR * 4);
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }
  if (q < pairs)
    partial(q, pairs - q, 0);
  _tile_stored(0, c, ldc * 4);
  _tile_stored(1, c + 16, ldc * 4);
  _tile_stored(2, c + 16 * ldc, ldc * 4);
  _tile_stored(3, c + 16 * ldc + 16, ldc * 4);
}
#endif

template <int R>
void tileAny(const float *ap, int64_t kc, const float *bp, float *c,
             int64_t ldc, bool load, int rows, const float *add, int64_t ldr,
             const float *next) {
  if constexpr (R > 1) {
    if (rows < R)
      return tileAny<R - 1>(ap, kc, bp, c, ldc, load, rows, add, ldr, next);
  }
  tile<R>(ap, kc, bp, c, ldc, load, add, ldr, next);
}

// Rows [i, i + rows) of strip [j, j + cols): full strips write C in place,
// the ragged last one goes through a small buffer. `last`: the last chunk
// of the reduction, where an add epilogue adds. `next`: the C tile that
// follows, to prefetch.
void rowTile(const Operands &o, int64_t i, int rows, int64_t j, int cols,
             const float *ap, int64_t apq, int64_t k0, int64_t kc,
             const float *bp, bool load, bool last, const float *next) {
  const float *add = @ADDEND@ && last ? o.r + i * o.ldr + j : nullptr;
#if AMX
  {
    // A full tile in place, a ragged one through a zeroed buffer.
    bool direct = rows == MR && cols == NR;
    alignas(64) float buf[MR * NR];
    float *dst = direct ? o.c + i * o.ldc + j : buf;
    int64_t ld = direct ? o.ldc : NR;
    if (!direct) {
      for (int x = 0; x < MR * NR; ++x)
        buf[x] = 0.0f;
      if (load)
        for (int r = 0; r < rows; ++r)
          for (int x = 0; x < cols; ++x)
            buf[r * NR + x] = o.c[(i + r) * o.ldc + j + x];
    }
    amxTile((const word *)ap, apq, k0, kc, (const word *)bp, dst, ld, load);
    for (int r = 0; r < rows; ++r)
      for (int x = 0; x < cols; ++x) {
        float v = dst[r * ld + x];
        o.c[(i + r) * o.ldc + j + x] = add ? v + add[r * o.ldr + x] : v;
      }
    (void)next;
    return;
  }
#else
  (void)apq;
  (void)k0;
#endif
#if !AMX
  if (cols == NR) {
    tileAny<MR>(ap, kc, bp, o.c + i * o.ldc + j, o.ldc, load, rows, add,
                o.ldr, next);
    return;
  }
  alignas(64) float buf[MR * NR];
  if (load)
    for (int r = 0; r < rows; ++r)
      for (int x = 0; x < cols; ++x)
        buf[r * NR + x] = o.c[(i + r) * o.ldc + j + x];
  tileAny<MR>(ap, kc, bp, buf, NR, load, rows, nullptr, 0, nullptr);
  for (int r = 0; r < rows; ++r)
    for (int x = 0; x < cols; ++x)
      o.c[(i + r) * o.ldc + j + x] =
          add ? buf[r * NR + x] + add[r * o.ldr + x] : buf[r * NR + x];
#endif
}

struct Strip {
  int block, g; // g: the product of a grouped GEMM (j counts its columns)
  int64_t j;
  int cols;
  int64_t k0, k1, m0, m1; // the block's ranges, dynamic ends resolved
};

inline bool rotated(int g) { return (ROPE >> g) & 1; }
// Whether strip s starts a unit that one thread computes whole: always,
// but inside a head of a rotated product, and (PAIRED, strips interleaved)
// at an up strip.
inline bool unitStart(const Strip *strips, int s) {
  if (PAIRED)
    return s % 2 == 0;
  return s == 0 || strips[s].g != strips[s - 1].g || !rotated(strips[s].g) ||
         strips[s].j % rope::HD == 0;
}
// Rows [i0, i1) of the rotated strips [sa, sb) (whole units), finished.
inline void rotateRows(const Operands &o, const Strip *strips, int sa, int sb,
                       int64_t i0, int64_t i1) {
  for (int s = sa; s < sb;) {
    int e = s + 1;
    while (e < sb && !unitStart(strips, e))
      ++e;
    if (rotated(strips[s].g)) {
      const Operands og = at(o, strips[s].g);
      int64_t j0 = strips[s].j, j1 = strips[e - 1].j + strips[e - 1].cols;
      for (int64_t i = i0; i < i1; ++i) {
        float *row = og.c + i * og.ldc + j0;
        rope::rotate(row, row, (j1 - j0) / rope::HD,
                     o.positions ? int64_t(o.positions[i]) : i);
      }
    }
    s = e;
  }
}

// Rows of A packed per reduction chunk, rounded up to whole tiles.
constexpr int64_t MCP = (MC + MR - 1) / MR * MR;
// Reduction per pass over B: the MCP x KS floats of A stay in L2 while
// every strip's kc-deep panels stream through L1.
constexpr int64_t KS = @KS@;
// Bpanel[p][x] = b(p0 + p, j + x), zero past the strip's columns; B
// stored [N, K] (the strip's rows are contiguous in the reduction).
void packTransposed(const Operands &o, int64_t p0, int64_t kc, int64_t j,
                    int cols, float *__restrict bp) {
  if (DOT) {
    // Bpanel[q][x] = the pair of steps (2q, 2q + 1), from 2 x LANES steps
    // of each of the strip's rows at a time.
    word *__restrict bw = (word *)bp;
    int64_t p = 0;
    for (; p + 2 * @LANES@ <= kc; p += 2 * @LANES@) {
      vecw w[NR];
      for (int x = 0; x < NR; ++x) {
        int64_t idx = (j + x) * o.ldb + p0 + p;
        // NR rows in flight are more streams than the hardware follows.
        __builtin_prefetch(bByte(o, idx + 4 * @LANES@));
        __builtin_prefetch(bByte(o, idx + 5 * @LANES@));
        if (x >= cols) {
          w[x] = vecw{};
        } else if (B16) {
          // The pairs are already side by side.
          __builtin_memcpy(&w[x], bBits(o) + idx, sizeof w[x]);
        } else {
          vec v0 = loadu(o.b + idx), v1 = loadu(o.b + idx + @LANES@);
          w[x] = pairWords(evenSteps(v0, v1), oddSteps(v0, v1));
        }
      }
      for (int l = 0; l < @LANES@; ++l)
        for (int x = 0; x < NR; ++x)
          bw[(p / 2 + l) * NR + x] = w[x][l];
    }
    for (; p < kc; p += 2)
      for (int x = 0; x < NR; ++x) {
        int64_t idx = (j + x) * o.ldb + p0 + p;
        bw[(p / 2) * NR + x] =
            x < cols ? pairWord(bAt(o, idx), p + 1 < kc ? bAt(o, idx + 1) : 0.0f)
                     : 0u;
      }
    return;
  }
  // A vector of each of the strip's rows at a time, written out transposed.
  int64_t p = 0;
  for (; p + @LANES@ <= kc; p += @LANES@) {
    vec v[NR];
    for (int x = 0; x < NR; ++x) {
      int64_t idx = (j + x) * o.ldb + p0 + p;
      __builtin_prefetch(bByte(o, idx + 2 * @LANES@));
      v[x] = x < cols ? bVec(o, idx) : vec{};
    }
    for (int l = 0; l < @LANES@; ++l)
      for (int x = 0; x < NR; ++x)
        bp[(p + l) * NR + x] = v[x][l];
  }
  for (; p < kc; ++p)
    for (int x = 0; x < NR; ++x)
      bp[p * NR + x] = x < cols ? bAt(o, (j + x) * o.ldb + p0 + p) : 0.0f;
}

// How many steps of the reduction ahead a pack prefetches A's or B's rows.
constexpr int64_t AHEAD = 8;

// The panels of strips [sa, sb) for the pass over [ks0, ks1), each strip
// from its block's part of it. B stored [K, N]: row by row, so each of B's
// rows is read once, front to back.
void packPass(const Operands &o, const Strip *strips, int sa, int sb,
              int64_t ra, int64_t rb, int64_t ks0, int64_t ks1,
              float *panels) {
  for (int s = sa; s < sb; ++s) {
    const Strip &st = strips[s];
    int64_t kb = ks0 > st.k0 ? ks0 : st.k0, ke = ks1 < st.k1 ? ks1 : st.k1;
    if (@BT@ && kb < ke && st.m0 < rb && st.m1 > ra)
      packTransposed(at(o, st.g), kb, ke - kb, st.j, st.cols,
                     panels + (size_t)(s - sa) * KS * NR);
  }
  if (@BT@)
    return;
  for (int64_t p = ks0; p < ks1; p += STEP) {
    const float *row = o.b + p * o.ldb;
    if (p + AHEAD < ks1)
      for (int64_t x = strips[sa].j; x < strips[sb - 1].j + NR; x += 16)
        for (int r = 0; r < STEP; ++r)
          __builtin_prefetch(row + (AHEAD + r) * o.ldb + x);
    for (int s = sa; s < sb; ++s) {
      const Strip &st = strips[s];
      int64_t kb = ks0 > st.k0 ? ks0 : st.k0, ke = ks1 < st.k1 ? ks1 : st.k1;
      if (p < kb || p >= ke || st.m0 >= rb || st.m1 <= ra)
        continue;
      if (DOT) {
        // Rows p and p + 1 (zero past the strip's reduction) as pairs.
        word *__restrict dst =
            (word *)(panels + (size_t)(s - sa) * KS * NR) + (p - kb) / 2 * NR;
        const float *lo = row + st.j, *hi = p + 1 < ke ? lo + o.ldb : nullptr;
        if (st.cols == NR && hi)
          for (int v = 0; v < NV; ++v) {
            vecw w = pairWords(loadu(lo + v * @LANES@), loadu(hi + v * @LANES@));
            __builtin_memcpy(dst + v * @LANES@, &w, sizeof w);
          }
        else
          for (int x = 0; x < NR; ++x)
            dst[x] = x < st.cols ? pairWord(lo[x], hi ? hi[x] : 0.0f) : 0u;
        continue;
      }
      float *__restrict dst =
          panels + (size_t)(s - sa) * KS * NR + (p - kb) * NR;
      const float *__restrict src = row + st.j;
      if (st.cols == NR && !BF16) {
        __builtin_memcpy(dst, src, NR * 4);
      } else if (st.cols == NR) {
        for (int x = 0; x < NR; ++x)
          dst[x] = rd(src[x]);
      } else {
        for (int x = 0; x < NR; ++x)
          dst[x] = x < st.cols ? rd(src[x]) : 0.0f;
      }
    }
  }
}

// Apanel[t][p][r] = a(i0 + t * MR + r, p0 + p) for the row tiles t of
// [i0, i1): each tile reads one contiguous MR-float line per step.
void packA(const Operands &o, int64_t i0, int64_t i1, int64_t p0, int64_t kc,
           float *ap) {
  if (@AT@) {
    // A's rows are the reduction: one contiguous run of the block's
    // columns per step, dealt out to the tiles (one pass over each line).
    int64_t full = (i1 - i0) / MR;
    for (int64_t p = 0; p < kc; p += STEP) {
      const float *src = o.a + (p0 + p) * o.lda + i0;
      if (p + AHEAD < kc)
        for (int64_t x = 0; x < i1 - i0; x += 16)
          for (int r = 0; r < STEP; ++r)
            __builtin_prefetch(src + (AHEAD + r) * o.lda + x);
      if (DOT) {
        // Steps p and p + 1 of the run as pairs, then dealt out.
        const float *hi = p + 1 < kc ? src + o.lda : nullptr;
        int64_t n = i1 - i0, x = 0;
        uint32_t run[MCP];
        if (hi)
          for (; x + @LANES@ <= n; x += @LANES@) {
            vecw w = pairWords(loadu(src + x), loadu(hi + x));
            __builtin_memcpy(run + x, &w, sizeof w);
          }
        for (; x < n; ++x)
          run[x] = pairWord(src[x], hi ? hi[x] : 0.0f);
        word *aw = (word *)ap;
        int64_t stride = packedRows(kc) * MR;
        for (int64_t t = 0; t < full; ++t)
          __builtin_memcpy(aw + t * stride + p / 2 * MR, run + t * MR, MR * 4);
        for (int r = 0; full * MR < n && r < MR; ++r)
          aw[full * stride + p / 2 * MR + r] =
              full * MR + r < n ? run[full * MR + r] : 0u;
        continue;
      }
      for (int64_t t = 0; t < full; ++t) {
        float *__restrict dst = ap + t * kc * MR + p * MR;
        if (!BF16)
          __builtin_memcpy(dst, src + t * MR, MR * 4);
        else
          for (int r = 0; r < MR; ++r)
            dst[r] = rd(src[t * MR + r]);
      }
      if (full * MR < i1 - i0) {
        int rows = (int)(i1 - i0 - full * MR);
        for (int r = 0; r < MR; ++r)
          ap[full * kc * MR + p * MR + r] =
              r < rows ? rd(src[full * MR + r]) : 0.0f;
      }
    }
    return;
  }
  for (int64_t t = i0; t < i1; t += MR) {
    int rows = (int)(i1 - t < MR ? i1 - t : MR);
    float *dst = ap + ((t - i0) / MR) * packedRows(kc) * MR;
    // The tile's rows side by side, a step of each at a time: MR
    // sequential streams that the prefetcher follows.
    const float *src[MR];
    for (int r = 0; r < MR; ++r)
      src[r] = o.a + (t + (r < rows ? r : 0) - o.a0) * o.lda + p0;
    int64_t p = 0;
    if (DOT) {
      word *dw = (word *)dst;
      if (rows == MR)
        for (; p + 2 * @LANES@ <= kc; p += 2 * @LANES@) {
          vecw w[MR];
          for (int r = 0; r < MR; ++r) {
            vec v0 = loadu(src[r] + p), v1 = loadu(src[r] + p + @LANES@);
            w[r] = pairWords(evenSteps(v0, v1), oddSteps(v0, v1));
          }
          for (int l = 0; l < @LANES@; ++l)
            for (int r = 0; r < MR; ++r)
              dw[(p / 2 + l) * MR + r] = w[r][l];
        }
      for (; p < kc; p += 2)
        for (int r = 0; r < MR; ++r)
          dw[(p / 2) * MR + r] =
              r < rows ? pairWord(src[r][p], p + 1 < kc ? src[r][p + 1] : 0.0f)
                       : 0u;
      continue;
    }
    if (rows == MR)
      for (; p + @LANES@ <= kc; p += @LANES@) {
        vec v[MR];
        for (int r = 0; r < MR; ++r)
          v[r] = rdv(loadu(src[r] + p));
        for (int l = 0; l < @LANES@; ++l)
          for (int r = 0; r < MR; ++r)
            dst[(p + l) * MR + r] = v[r][l];
      }
    for (; p < kc; ++p)
      for (int r = 0; r < MR; ++r)
        dst[p * MR + r] = r < rows ? rd(src[r][p]) : 0.0f;
  }
}

// At most this many rows with B stored [N, K] (a decode step's linears, for
// one sequence or a decoding batch of up to 16): each output is a dot
// product over a row of B, which is read once and not packed (packing would
// copy all of B for a few rows of work). FEW_R rows x FEW_J columns are
// computed at once, so each vector load of A or B feeds several FMAs. Every
// output sums its vector chunks in order into one vector, the last chunk
// zero-padded, then the lanes meet in a fixed tree: the bits depend on the
// shapes only (not on how many rows run beside a row, so a sequence decodes
// to the same bits alone or in a batch), and zero weights appended to a row
// (an expanded model's new chains) change none of them.
constexpr int64_t FEW_ROWS = 16;
constexpr int FEW_J = 4, FEW_R = @LANES@ / FEW_J > 0 ? @LANES@ / FEW_J : 1;

// The lanes' tree of FEW_R x FEW_J = LANES outputs at once: each level adds
// the halves of every output's partial vector, two vectors into one, the
// very additions of the one-output tree; after the last, lane i holds
// output i.
@FOLDS@

// Rows a, a + lda, ... (R of them, the last `valid` repeated past it;
// already rounded in bf16 mixed precision) times rows w, w + ldb, ... of B
// (J of them; B's elements k0 .. k1 of each), into out[r * FEW_J + j].
template <int R, int J>
inline void dots(const float *a, int64_t lda, const Operands &o, int64_t w,
                 int64_t ldb, int64_t k0, int64_t k1, float *out,
                 int valid = R) {
#pragma clang fp contract(fast)
  const float *ar[R];
  for (int r = 0; r < R; ++r)
    ar[r] = a + (r < valid ? r : valid - 1) * lda;
  vec acc[R][J] = {};
  int64_t p = k0;
  for (; p + @LANES@ <= k1; p += @LANES@) {
    vec b[J], x[R];
    // The next J rows of B (the next call's), one group ahead: the
    // hardware prefetcher alone leaves the FMAs waiting on memory.
    for (int j = 0; j < J; ++j)
      __builtin_prefetch(bByte(o, w + (J + j) * ldb + p));
    for (int j = 0; j < J; ++j)
      b[j] = bVec(o, w + j * ldb + p);
    for (int r = 0; r < R; ++r)
      x[r] = loadu(ar[r] + p);
    for (int r = 0; r < R; ++r)
      for (int j = 0; j < J; ++j)
        acc[r][j] = acc[r][j] + x[r] * b[j];
  }
  if (p < k1) {
    vec b[J] = {}, x[R] = {};
    for (int i = 0; p + i < k1; ++i) {
      for (int j = 0; j < J; ++j)
        b[j][i] = bAt(o, w + j * ldb + p + i);
      for (int r = 0; r < R; ++r)
        x[r][i] = ar[r][p + i];
    }
    for (int r = 0; r < R; ++r)
      for (int j = 0; j < J; ++j)
        acc[r][j] = acc[r][j] + x[r] * b[j];
  }
  if (R * J == @LANES@) {
    vec v[@LANES@];
    for (int r = 0; r < R; ++r)
      for (int j = 0; j < J; ++j)
        v[r * J + j] = acc[r][j];
    vec all = foldAll(v);
    for (int r = 0; r < R; ++r)
      for (int j = 0; j < J; ++j)
        out[r * FEW_J + j] = all[r * J + j];
    return;
  }
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < J; ++j) {
      float l[@LANES@];
      for (int i = 0; i < @LANES@; ++i)
        l[i] = acc[r][j][i];
      for (int h = @LANES@ / 2; h >= 1; h /= 2)
        for (int i = 0; i < h; ++i)
          l[i] = l[i] + l[i + h];
      out[r * FEW_J + j] = l[0];
    }
}

void fewRows(const Operands &o, const Strip *strips, int first, int last);

#if AMX
// v[r][l] -> v[l][r] for 16 x 16 words: each stage swaps one bit of the row
// with the same bit of the lane.
inline void transpose16(vecw (&v)[16]) {
#define COLM_STAGE(S, LO, HI)                                                  \
  for (int i = 0; i < 16; ++i)                                                 \
    if (!(i & S)) {                                                            \
      vecw a = v[i], b = v[i + S];                                             \
      v[i] = __builtin_shufflevector(a, b, LO);                                \
      v[i + S] = __builtin_shufflevector(a, b, HI);                            \
    }
#define COLM_L(...) __VA_ARGS__
  COLM_STAGE(8, COLM_L(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23),
             COLM_L(8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30,
                    31))
  COLM_STAGE(4, COLM_L(0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27),
             COLM_L(4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31))
  COLM_STAGE(2, COLM_L(0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29),
             COLM_L(2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31))
  COLM_STAGE(1, COLM_L(0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30),
             COLM_L(1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31))
#undef COLM_L
#undef COLM_STAGE
}

// A's rows [i0, i1) for AMX: per 32-row tile, row after row of
// amxPairs(kc) pair words (zero past the reduction and past i1).
void packAmx(const Operands &o, int64_t i0, int64_t i1, int64_t p0,
             int64_t kc, float *ap) {
  const int64_t pq = amxPairs(kc), n = i1 - i0, pairs = packedRows(kc);
  const int64_t padded = (n + MR - 1) / MR * MR;
  word *aw = (word *)ap;
  auto rowAt = [&](int64_t x) { return aw + (x / MR) * MR * pq + (x % MR) * pq; };
  if (@AT@) {
    // A stored [K, M]: steps p and p + 1 are two of its rows, read front to
    // back. 16 pairs x 16 rows at a time, transposed in registers.
    int64_t p = 0;
    for (; p + 32 <= kc; p += 32) {
      int64_t x = 0;
      for (; x + 16 <= n; x += 16) {
        vecw w[16];
        for (int q = 0; q < 16; ++q) {
          const float *lo = o.a + (p0 + p + 2 * q) * o.lda + i0 + x;
          w[q] = pairWords(loadu(lo), loadu(lo + o.lda));
        }
        transpose16(w);
        for (int l = 0; l < 16; ++l)
          __builtin_memcpy(rowAt(x + l) + p / 2, &w[l], 64);
      }
      for (; x < n; ++x)
        for (int q = 0; q < 16; ++q) {
          const float *lo = o.a + (p0 + p + 2 * q) * o.lda + i0 + x;
          rowAt(x)[p / 2 + q] = pairWord(lo[0], lo[o.lda]);
        }
    }
    for (; p < kc; p += 2) {
      const float *lo = o.a + (p0 + p) * o.lda + i0;
      const float *hi = p + 1 < kc ? lo + o.lda : nullptr;
      if (p + AHEAD < kc)
        for (int64_t x = 0; x < n; x += 16) {
          __builtin_prefetch(lo + AHEAD * o.lda + x);
          __builtin_prefetch(lo + (AHEAD + 1) * o.lda + x);
        }
      int64_t x = 0;
      for (; x + @LANES@ <= n; x += @LANES@) {
        vecw w = pairWords(loadu(lo + x), hi ? loadu(hi + x) : vec{});
        for (int l = 0; l < @LANES@; ++l)
          rowAt(x + l)[p / 2] = w[l];
      }
      for (; x < n; ++x)
        rowAt(x)[p / 2] = pairWord(lo[x], hi ? hi[x] : 0.0f);
    }
    for (int64_t x = 0; x < n; ++x)
      for (int64_t q = pairs; q < pq; ++q)
        rowAt(x)[q] = 0u;
  } else {
    for (int64_t x = 0; x < n; ++x) {
      const float *src = o.a + (i0 + x - o.a0) * o.lda + p0;
      word *dst = rowAt(x);
      int64_t p = 0;
      for (; p + 2 * @LANES@ <= kc; p += 2 * @LANES@) {
        vec v0 = loadu(src + p), v1 = loadu(src + p + @LANES@);
        vecw w = pairWords(evenSteps(v0, v1), oddSteps(v0, v1));
        __builtin_memcpy(dst + p / 2, &w, sizeof w);
      }
      for (; p < kc; p += 2)
        dst[p / 2] = pairWord(src[p], p + 1 < kc ? src[p + 1] : 0.0f);
      for (int64_t q = pairs; q < pq; ++q)
        dst[q] = 0u;
    }
  }
  for (int64_t x = n; x < padded; ++x)
    for (int64_t q = 0; q < pq; ++q)
      rowAt(x)[q] = 0u;
}
#endif

@SCRATCH@

@SHARE@
constexpr int64_t MAX_UNITS = @MAX_UNITS@;

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
  o.g = args.g;
  o.u = args.u;
  o.c2 = args.c2;
  o.lde = args.lde;
  o.gain = args.gain;
  o.an = args.an;
  o.a0 = 0;
  o.positions = args.positions;
  for (int g = 0; g < GROUPS; ++g) {
    o.bs[g] = g ? args.gb[g - 1] : args.b;
    o.cs[g] = g ? args.gc[g - 1] : args.c;
    o.ldbs[g] = g ? args.gldb[g - 1] : args.ldb;
    o.ldcs[g] = g ? args.gldc[g - 1] : args.ldc;
  }

  Strip strips[@STRIPS_MAX@];
  double work[@STRIPS_MAX@];
  int count = 0;
  for (int b = 0; b < kNumBlocks; ++b) {
    const Block &blk = kBlocks[b];
    int64_t k1 = blk.k1 < 0 ? o.k : blk.k1, m1 = blk.m1 < 0 ? o.m : blk.m1;
    for (int64_t j = blk.n0; j < blk.n1; j += NR) {
      int cols = (int)(blk.n1 - j < NR ? blk.n1 - j : NR);
      strips[count] = {b, blk.g, j - kGroupStart[blk.g], cols, blk.k0, k1,
                       blk.m0, m1};
      work[count] = double(cols) * double(k1 - blk.k0 + 1) *
                    double(m1 - blk.m0);
      ++count;
    }
  }
  // This thread's part of C: rows [ra, rb) of strips [sa, sb). The rows are
  // split when they outnumber the columns (each thread then packs only its
  // own rows of A, the larger operand), the strips otherwise; by work, from
  // the shapes alone. The split never changes an element's reduction order.
  int sa = 0, sb = count;
  int64_t ra = 0, rb = o.m;
  bool few = @BT@ && !@AT@ && o.m <= FEW_ROWS;
  int64_t units = (o.m + MR - 1) / MR;
  if (!few && threads > 1 && o.m > @N@ && units >= threads &&
      units <= MAX_UNITS) {
    double rowWork[MAX_UNITS];
    for (int64_t u = 0; u < units; ++u) {
      int64_t u0 = u * MR, u1 = u0 + MR < o.m ? u0 + MR : o.m;
      rowWork[u] = 0;
      for (int s = 0; s < count; ++s) {
        int64_t lo = u0 > strips[s].m0 ? u0 : strips[s].m0;
        int64_t hi = u1 < strips[s].m1 ? u1 : strips[s].m1;
        if (lo < hi)
          rowWork[u] += double(strips[s].cols) *
                        double(strips[s].k1 - strips[s].k0 + 1) *
                        double(hi - lo);
      }
    }
    int64_t first, last;
    share(
        units, [&](int64_t u) { return rowWork[u]; }, thread, threads, &first,
        &last);
    ra = first * MR;
    rb = last * MR < o.m ? last * MR : o.m;
  } else {
    if (PAIRED) {
      // Gate and up have the same strips: interleaved, each gate strip
      // before the up strip beside it.
      Strip byProduct[@STRIPS_MAX@];
      double workOf[@STRIPS_MAX@];
      int half = count / 2;
      for (int s = 0; s < count; ++s) {
        byProduct[s] = strips[s];
        workOf[s] = work[s];
      }
      for (int s = 0; s < half; ++s)
        for (int g = 0; g < 2; ++g) {
          strips[2 * s + g] = byProduct[g * half + s];
          work[2 * s + g] = workOf[g * half + s];
        }
    }
    // Whole units of strips (unitStart): a head of a rotated product, a
    // gate/up pair, or one strip.
    int units = 0, unitFirst[@STRIPS_MAX@ + 1];
    double unitWork[@STRIPS_MAX@];
    for (int s = 0; s < count; ++s) {
      if (unitStart(strips, s)) {
        unitFirst[units] = s;
        unitWork[units++] = 0;
      }
      unitWork[units - 1] += work[s];
    }
    unitFirst[units] = count;
    int64_t first, last;
    share(
        units, [&](int64_t u) { return unitWork[u]; }, thread, threads,
        &first, &last);
    sa = unitFirst[first];
    sb = unitFirst[last];
  }
  if (sa >= sb || ra >= rb)
    return;
  if (few) {
    fewRows(o, strips, sa, sb);
    return;
  }

  int64_t kLo = 0, kHi = 0;
  for (int s = sa; s < sb; ++s) {
    const Strip &st = strips[s];
    int64_t m0 = st.m0 > ra ? st.m0 : ra, m1 = st.m1 < rb ? st.m1 : rb;
    if (m0 >= m1)
      continue;
    if (st.k0 == st.k1) {
      // An empty reduction: the product is zero.
      const Operands og = at(o, st.g);
      if (!@ACC@)
        for (int64_t i = m0; i < m1; ++i) {
          for (int x = 0; x < st.cols; ++x)
            og.c[i * og.ldc + st.j + x] =
                @ADDEND@ ? o.r[i * o.ldr + st.j + x] : 0.0f;
          if (SWIGLU && st.g == GROUPS - 1)
            swigluTile(og, i, 1, st.j, st.cols);
        }
      continue;
    }
    // The union of the strips' reductions (kLo == kHi: none seen yet).
    bool first = kLo == kHi;
    kLo = first || st.k0 < kLo ? st.k0 : kLo;
    kHi = first || st.k1 > kHi ? st.k1 : kHi;
  }
  if (kLo >= kHi)
    return;
  size_t bFloats = (size_t)(sb - sa) * KS * NR;
  size_t nFloats = NORM_GROUPS ? (size_t)MC * o.k : 0;
  float *panels = scratch(bFloats + (size_t)MCP * KS + nFloats);
  if (!panels)
    return; // out of memory: the caller's sentinel check reports it
  float *apanels = panels + bFloats;
  float *normed = apanels + (size_t)MCP * KS;
  // Who writes the kept normalised rows: each thread its own when rows are
  // split, else the owner of the first strip.
  const bool writer = ra > 0 || rb < o.m || sa == 0;

  // Passes and chunks end on multiples of KS and KC (AMX groups pairs on a
  // fixed grid of steps: chunks must not cut a group).
  for (int64_t ks0 = kLo, ks1; ks0 < kHi; ks0 = ks1) {
    ks1 = (ks0 / KS + 1) * KS < kHi ? (ks0 / KS + 1) * KS : kHi;
    // Every strip's B for this pass, packed once.
    packPass(o, strips, sa, sb, ra, rb, ks0, ks1, panels);
    for (int64_t i0 = ra; i0 < rb;) {
      // A row block that no block's row range starts or ends inside.
      int64_t i1 = i0 + MC < rb ? i0 + MC : rb;
      for (int s = sa; s < sb; ++s) {
        if (strips[s].m0 > i0 && strips[s].m0 < i1)
          i1 = strips[s].m0;
        if (strips[s].m1 > i0 && strips[s].m1 < i1)
          i1 = strips[s].m1;
      }
      // The reduction that the strips on these rows need, packed once.
      int64_t ka = ks1, kz = ks0;
      for (int s = sa; s < sb; ++s) {
        const Strip &st = strips[s];
        if (st.m0 > i0 || st.m1 < i1)
          continue;
        int64_t kb = ks0 > st.k0 ? ks0 : st.k0, ke = ks1 < st.k1 ? ks1 : st.k1;
        if (kb < ke) {
          ka = kb < ka ? kb : ka;
          kz = ke > kz ? ke : kz;
        }
      }
      if (ka < kz) {
        int64_t alen = kz - ka;
        Operands on = o; // what the packing reads: A, or its normalised rows
        if (NORM_GROUPS) {
          for (int64_t i = i0; i < i1; ++i) {
            float *y = normed + (i - i0) * o.k;
            normRow(o.a + i * o.lda, o.gain, kNormBounds, NORM_GROUPS,
                    NORM_EPS, y);
            if (o.an && writer && ks0 == kLo)
              __builtin_memcpy(o.an + i * o.k, y, o.k * sizeof(float));
          }
          on.a = normed;
          on.lda = o.k;
          on.a0 = i0;
        }
#if AMX
        packAmx(on, i0, i1, ka, alen, apanels);
        const int64_t apq = amxPairs(alen);
#else
        packA(on, i0, i1, ka, alen, apanels);
        const int64_t apq = 0;
#endif
        for (int64_t c0 = ka, c1; c0 < kz; c0 = c1) {
          c1 = (c0 / KC + 1) * KC < kz ? (c0 / KC + 1) * KC : kz;
          for (int s = sa; s < sb; ++s) {
            const Strip &st = strips[s];
            if (st.m0 > i0 || st.m1 < i1)
              continue;
            int64_t kb = c0 > st.k0 ? c0 : st.k0, ke = c1 < st.k1 ? c1 : st.k1;
            if (kb >= ke)
              continue;
            bool load = @ACC@ || kb != st.k0, last = ke == st.k1;
            int64_t kp = ks0 > st.k0 ? ks0 : st.k0; // the panel's first step
            const float *bp =
                panels + (size_t)(s - sa) * KS * NR + (kb - kp) / STEP * NR;
            const Operands og = at(o, st.g);
            for (int64_t i = i0; i < i1; i += MR) {
              const float *next =
                  i + MR < i1 ? og.c + (i + MR) * og.ldc + st.j : nullptr;
              const float *ap =
                  AMX ? apanels + ((i - i0) / MR) * MR * apq + (kb - ka) / 2
                      : apanels + ((i - i0) / MR) * packedRows(alen) * MR +
                            (kb - ka) / STEP * MR;
              rowTile(og, i, (int)(i1 - i < MR ? i1 - i : MR), st.j, st.cols,
                      ap, apq, kb, ke - kb, bp, load, last, next);
            }
          }
        }
        if (SWIGLU)
          // The SwiGLU epilogue of the strips that these rows finished in
          // this pass, row by row over runs of adjacent strips: the gate and
          // up rows then stream front to back (tile by tile they were
          // latency-bound, rows lde apart).
          for (int64_t i = i0; i < i1; ++i)
            for (int s = sa; s < sb;) {
              const Strip &st = strips[s];
              // (Of a grouped SwiGLU, the up strips: their gate strips are
              // earlier ones of this thread, finished in this pass too.)
              auto done = [&](const Strip &t) {
                return t.m0 <= i0 && t.m1 >= i1 && t.k1 > ks0 && t.k1 <= ks1 &&
                       t.k0 < t.k1 && t.g == GROUPS - 1;
              };
              if (!done(st)) {
                ++s;
                continue;
              }
              int e = s + 1;
              while (e < sb && done(strips[e]) &&
                     strips[e].j == strips[e - 1].j + strips[e - 1].cols)
                ++e;
              swigluTile(at(o, st.g), i, 1, st.j,
                         (int)(strips[e - 1].j + strips[e - 1].cols - st.j));
              s = e;
            }
        if (ROPE && ks1 == kHi)
          // Every strip of these rows is final after the last pass.
          rotateRows(o, strips, sa, sb, i0, i1);
      }
      i0 = i1;
    }
  }
}

namespace {
void fewRows(const Operands &src, const Strip *strips, int first, int last) {
  Operands all = src;
  if (NORM_GROUPS || BF16) {
    float *buf = scratch((size_t)(2 * all.m * all.k));
    if (!buf)
      return; // out of memory: the caller's sentinel check reports it
    if (NORM_GROUPS) {
      // The few rows normalised once (kept by the first strip's owner).
      float *y = buf + all.m * all.k;
      for (int64_t i = 0; i < all.m; ++i)
        normRow(src.a + i * src.lda, src.gain, kNormBounds, NORM_GROUPS,
                NORM_EPS, y + i * all.k);
      if (src.an && first == 0)
        __builtin_memcpy(src.an, y, all.m * all.k * sizeof(float));
      all.a = y;
      all.lda = all.k;
    }
    if (BF16) {
      // A's few rows rounded once, not once per group of columns.
      for (int64_t i = 0; i < all.m; ++i) {
        const float *row = all.a + i * all.lda;
        int64_t p = 0;
        for (; p + @LANES@ <= all.k; p += @LANES@)
          storeu(buf + i * all.k + p, rdv(loadu(row + p)));
        for (; p < all.k; ++p)
          buf[i * all.k + p] = rd(row[p]);
      }
      all.a = buf;
      all.lda = all.k;
    }
  }
  for (int s = first; s < last; ++s) {
    // A gate strip comes before the up strip beside it (see PAIRED).
    const Operands o = at(all, strips[s].g);
    const Block &blk = kBlocks[strips[s].block];
    int64_t k1 = blk.k1 < 0 ? o.k : blk.k1, m1 = blk.m1 < 0 ? o.m : blk.m1;
    const int64_t j1 = strips[s].j + strips[s].cols;
    for (int64_t j0 = strips[s].j; j0 < j1;) {
      int cols = j1 - j0 >= FEW_J ? FEW_J : 1;
      for (int64_t i0 = blk.m0; i0 < m1;) {
        // Two or three rows run as FEW_R (the last repeated): one pass
        // over B's rows in L1 costs less than a pass per row.
        int rows = m1 - i0 >= FEW_R ? FEW_R : int(m1 - i0);
        float sums[FEW_R * FEW_J];
        const float *a = o.a + i0 * o.lda;
        int64_t w = j0 * o.ldb;
        if (rows > 1 && cols == FEW_J)
          dots<FEW_R, FEW_J>(a, o.lda, o, w, o.ldb, blk.k0, k1, sums, rows);
        else if (cols == FEW_J)
          dots<1, FEW_J>(a, o.lda, o, w, o.ldb, blk.k0, k1, sums);
        else if (rows > 1)
          dots<FEW_R, 1>(a, o.lda, o, w, o.ldb, blk.k0, k1, sums, rows);
        else
          dots<1, 1>(a, o.lda, o, w, o.ldb, blk.k0, k1, sums);
        for (int r = 0; r < rows; ++r)
          for (int x = 0; x < cols; ++x) {
            int64_t i = i0 + r, j = j0 + x;
            float sum = sums[r * FEW_J + x];
            float *c = o.c + i * o.ldc + j;
            *c = @ACC@      ? *c + sum
                 : @ADDEND@ ? sum + o.r[i * o.ldr + j]
                            : sum;
          }
        if (SWIGLU && strips[s].g == GROUPS - 1)
          for (int r = 0; r < rows; ++r)
            swigluTile(o, i0 + r, 1, j0, cols);
        i0 += rows;
      }
      j0 += cols;
    }
    if (ROPE && rotated(strips[s].g) &&
        (s + 1 == last || unitStart(strips, s + 1))) {
      int u = s;
      while (!unitStart(strips, u))
        --u;
      rotateRows(all, strips, u, s + 1, 0, all.m);
    }
  }
}
} // namespace
)CPP";

/// fold<h>(u, v) for every level of the lanes' tree (h = lanes/2 .. 1), and
/// foldAll over `lanes` vectors (see the kernel's comment).
std::string foldSource(int lanes) {
  std::string out;
  for (int h = lanes / 2; h >= 1; h /= 2) {
    std::string lo, hi;
    for (int from = 0; from < 2; ++from)
      for (int seg = 0; seg < lanes / (2 * h); ++seg)
        for (int i = 0; i < h; ++i) {
          int at = from * lanes + seg * 2 * h + i;
          lo += (lo.empty() ? "" : ", ") + std::to_string(at);
          hi += (hi.empty() ? "" : ", ") + std::to_string(at + h);
        }
    out += "inline vec fold" + std::to_string(h) +
           "(vec u, vec v) {\n  return __builtin_shufflevector(u, v, " + lo +
           ") +\n         __builtin_shufflevector(u, v, " + hi + ");\n}\n";
  }
  out += "inline vec foldAll(vec *v) {\n";
  int n = lanes;
  for (int h = lanes / 2; h >= 1; h /= 2, n /= 2)
    out += "  for (int q = 0; q < " + std::to_string(n / 2) +
           "; ++q)\n    v[q] = fold" + std::to_string(h) +
           "(v[2 * q], v[2 * q + 1]);\n";
  out += "  return v[0];\n}\n";
  return out;
}

} // namespace

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

bool usesBf16Dot(const ChainGemmSpec &spec, const VectorIsa &isa) {
  if (!spec.bf16 || !isa.bf16Dot)
    return false;
  // Pairs start at even steps: every block's reduction must begin on one
  // and end on one, or at the end of the whole reduction (padded there).
  for (const GemmBlock &b : spec.blocks)
    if (b.kBegin % 2 != 0 ||
        (b.kEnd >= 0 && b.kEnd % 2 != 0 && b.kEnd != spec.k))
      return false;
  return true;
}

std::string renderChainGemm(const ChainGemmSpec &spec, const VectorIsa &isa) {
  bool dot = usesBf16Dot(spec, isa);
  std::string blocks;
  for (const GemmBlock &b : spec.blocks)
    blocks += "{" + std::to_string(b.nBegin) + ", " + std::to_string(b.nEnd) +
              ", " + std::to_string(b.kBegin) + ", " + std::to_string(b.kEnd) +
              ", " + std::to_string(b.mBegin) + ", " + std::to_string(b.mEnd) +
              ", " + std::to_string(b.group) + "}, ";
  int groups = std::max<int>(1, static_cast<int>(spec.groupColumns.size()));
  std::string starts;
  for (int g = 0; g < groups; ++g)
    starts += std::to_string(groupStart(spec, g)) + ", ";
  // A pass over B reduces over as many kc chunks as keep the packed rows
  // of A (mcp x ks floats) within 3/8 of L2, beside C's rows and B's panel.
  GemmKnobs kn = spec.knobs;
  if (dot)
    kn.kc += kn.kc % 2; // chunks of whole pairs
  // AMX: 32 x 32 tiles of C (four tile registers), the same pair panels.
  bool amx = dot && isa.amx;
  if (amx) {
    kn.mr = 32;
    kn.nr = 32;
    kn.kc = (kn.kc + 31) / 32 * 32; // whole tiles of 16 pairs
  }
  int64_t strips = 0;
  for (const GemmBlock &b : spec.blocks)
    strips += (b.nEnd - b.nBegin + kn.nr - 1) / kn.nr;
  int64_t mcp = (kn.mc + kn.mr - 1) / kn.mr * kn.mr;
  int64_t ks =
      int64_t(kn.kc) *
      std::max<int64_t>(1, isa.l2Bytes * 3 / 8 / (mcp * int64_t(kn.kc) * 4));
  // Rows split between threads in tiles, up to this many (more: strips).
  int64_t maxUnits = spec.m >= 0 ? (spec.m + kn.mr - 1) / kn.mr : 8192;
  std::string body = kBody;
  replaceAll(body, "@SYMBOL@", chainGemmSymbol(spec));
  replaceAll(body, "@BLOCKS@", blocks);
  replaceAll(body, "@GROUPS@", std::to_string(groups));
  replaceAll(body, "@ROPE@", std::to_string(spec.ropeProducts) + "u");
  replaceAll(body, "@ROPE_TABLE@",
             spec.ropeProducts
                 ? ropeSource(spec.ropeHeadDim, spec.ropeTheta, false)
                 : "namespace rope {\nconstexpr int64_t HD = 1;\ninline "
                   "void rotate(const float *, float *, int64_t, int64_t) "
                   "{}\n} // namespace rope\n");
  std::string normBounds;
  for (int64_t b : spec.normBounds)
    normBounds += std::to_string(b) + ", ";
  replaceAll(
      body, "@NORM_GROUPS@",
      std::to_string(spec.normBounds.empty() ? 0 : spec.normBounds.size() - 1));
  replaceAll(body, "@NORM_BOUNDS@", normBounds.empty() ? "0" : normBounds);
  replaceAll(body, "@NORM_EPS@", exact(spec.normEps));
  replaceAll(body, "@NORM_STATS@",
             spec.normBounds.empty()
                 ? "inline void normRow(const float *, const float *, const "
                   "int64_t *, int, double, float *) {}"
                 : normStatsSource());
  replaceAll(body, "@GROUP_STARTS@", starts);
  replaceAll(body, "@LANES@", std::to_string(isa.lanes));
  replaceAll(body, "@FOLDS@", foldSource(isa.lanes));
  replaceAll(body, "@MR@", std::to_string(kn.mr));
  replaceAll(body, "@NR@", std::to_string(kn.nr));
  replaceAll(body, "@KC@", std::to_string(kn.kc));
  replaceAll(body, "@MC@", std::to_string(kn.mc));
  replaceAll(body, "@KS@", std::to_string(ks));
  replaceAll(body, "@MAX_UNITS@",
             std::to_string(std::max<int64_t>(1, maxUnits)));
  replaceAll(body, "@N@", std::to_string(spec.n));
  replaceAll(body, "@STRIPS_MAX@", std::to_string(strips));
  replaceAll(body, "@STATIC_M@", "(" + std::to_string(spec.m) + "LL)");
  replaceAll(body, "@STATIC_K@", "(" + std::to_string(spec.k) + "LL)");
  replaceAll(body, "@AT@", spec.aTransposed ? "true" : "false");
  replaceAll(body, "@BT@", spec.bTransposed ? "true" : "false");
  replaceAll(body, "@ACC@", spec.accumulate ? "true" : "false");
  replaceAll(body, "@ADDEND@", spec.addend ? "true" : "false");
  replaceAll(body, "@SWIGLU@",
             std::to_string(spec.swiglu == SwiGluEpilogue::Forward    ? 1
                            : spec.swiglu == SwiGluEpilogue::Backward ? 2
                                                                      : 0));
  replaceAll(body, "@VEXP@", doubleExpSource());
  replaceAll(body, "@SCRATCH@", scratchSource());
  replaceAll(body, "@SHARE@", shareSource());
  replaceAll(body, "@BF16@", spec.bf16 ? "true" : "false");
  replaceAll(body, "@DOT@", dot ? "1" : "0");
  replaceAll(body, "@AMX@", amx ? "1" : "0");
  replaceAll(body, "@B16@", spec.bBf16 ? "true" : "false");
  std::string even, odd;
  for (int l = 0; l < isa.lanes; ++l) {
    even += (l ? ", " : "") + std::to_string(2 * l);
    odd += (l ? ", " : "") + std::to_string(2 * l + 1);
  }
  replaceAll(body, "@EVEN@", even);
  replaceAll(body, "@ODD@", odd);
  return "// Generated by colm: " + spec.name() +
         "\n#include <math.h>\n#include <stdint.h>\n#include <stdlib.h>\n" +
         (dot ? "#include <immintrin.h>\n" : "") +
         COLM_STRINGIFY(COLM_GEMM_ARGS_STRUCT) + "\n" + body;
}

} // namespace colm::codegen::cpu
