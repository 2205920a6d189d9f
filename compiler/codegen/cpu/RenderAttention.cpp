//===- RenderAttention.cpp - Fused attention as host C++ ------------------===//

#include "compiler/codegen/cpu/RenderAttention.h"
#include "compiler/codegen/cpu/RenderUtil.h"

#include <cmath>
#include <cstdio>
#include <string>

namespace colm::codegen::cpu {
namespace {

// Shared by both passes: the constants of the spec, per-thread scratch, the
// work split and the register-blocked pieces both passes are made of. Every
// product is one of two register blocks of 6 rows by up to 4 vectors of 16
// floats: `dots` (rows against a transposed tile: scores, dP) and
// `accumulate` (rows of coefficients times rows of vectors: P V, dS K,
// P^T dout, dS^T q). Exponentials are a polynomial in the vector lanes.
const char *kCommon = R"CPP(
namespace {

constexpr int64_t H = @H@, HKV = @HKV@, HD = @HD@;
constexpr int64_t BQ = @BQ@, BK = @BK@;
constexpr bool TILED = @TILED@, CAUSAL = @CAUSAL@;
// float(1/sqrt(hd)) and float(log2(e)/sqrt(hd)), printed to round-trip.
constexpr float SCALE = @SCALE@f, SCALE2 = @SCALE2@f;
constexpr float LN2 = 0.693147181f, LOG2E = 1.44269504f;
constexpr int64_t PER = H / HKV; // query heads per key/value head
// A head row is HV vectors of 16 floats, the last with HT lanes (0: full);
// scratch rows are padded to HDP, key tiles to BKP.
constexpr int64_t HV = (HD + 15) / 16, HT = HD % 16, HDP = HV * 16;
constexpr int64_t BKP = (BK + 15) / 16 * 16;
// Rows of a register block, and its most vectors of 16 floats: MR x NVB
// accumulators plus operands fit the registers (4 of 32 zmm with AVX-512;
// 1 of 16 ymm with AVX2, where a vector of 16 takes two).
constexpr int MR = 6, NVB = @NVB@;

typedef float v16 __attribute__((vector_size(64)));
typedef float v16u __attribute__((vector_size(64), aligned(4)));
typedef int32_t iv16 __attribute__((vector_size(64)));

inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
inline v16 splat(float x) {
  return (v16){x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x};
}
inline v16 fma16(v16 a, v16 b, v16 c) {
  return __builtin_elementwise_fma(a, b, c);
}
// max without NaN handling: one instruction.
inline v16 max16(v16 a, v16 b) { return a > b ? a : b; }
inline v16 select16(iv16 mask, v16 a, v16 b) {
  return (v16)(((iv16)a & mask) | ((iv16)b & ~mask));
}
// Lanes 16c.. of a tile at or before `limit`.
inline iv16 visible(int64_t c, int64_t limit) {
  const iv16 lane = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
  return lane <= (int32_t)(limit - 16 * c);
}

// Vector c of a head row: a ragged head's last one touches its HT lanes only
// (the row's neighbours may be another head, or past the buffer).
inline v16 loadRow(const float *p, int64_t c) {
  if (HT != 0 && c == HV - 1) {
    v16 t = {};
    for (int k = 0; k < HT; ++k)
      t[k] = p[16 * c + k];
    return t;
  }
  return *(const v16u *)(p + 16 * c);
}
inline void storeRow(float *p, int64_t c, v16 x) {
  if (HT != 0 && c == HV - 1) {
    for (int k = 0; k < HT; ++k)
      p[16 * c + k] = x[k];
    return;
  }
  *(v16u *)(p + 16 * c) = x;
}

// A finished row: out = O / l, lse = the log-sum-exp of the scaled scores
// (m in log2 units); a row that saw no key is zero.
inline void finishRow(const float *o, float m, float l, float *dst,
                      float *lse) {
  const float inv = l > 0.0f ? 1.0f / l : 0.0f;
  for (int64_t d = 0; d < HD; ++d)
    dst[d] = o[d] * inv;
  *lse = l > 0.0f ? m * LN2 + logf(l) : -__builtin_inff();
}

// 2^x for a vector (Cephes' exp2f: x = n + r with |r| <= 1/2, a degree-6
// polynomial in r, 2^n through the exponent bits); within 2 ulp, 0 below
// -127, so the score loops vectorize. Scores are scaled by log2(e) / sqrt(hd)
// to use it.
inline v16 vexp2(v16 x) {
  x = __builtin_elementwise_min(__builtin_elementwise_max(x, splat(-127.0f)),
                                splat(127.0f));
  const v16 n = __builtin_elementwise_roundeven(x);
  const v16 r = x - n;
  v16 y = splat(1.535336188319500e-4f);
  y = fma16(y, r, splat(1.339887440266574e-3f));
  y = fma16(y, r, splat(9.618437357674640e-3f));
  y = fma16(y, r, splat(5.550332471162809e-2f));
  y = fma16(y, r, splat(2.402264791363012e-1f));
  y = fma16(y, r, splat(6.931472028550421e-1f));
  y = fma16(y, r, splat(1.0f));
  const iv16 e = (__builtin_convertvector(n, iv16) + 127) << 23;
  return y * (v16)e;
}
// Fixed trees of halves: the same bits wherever a row is reduced.
inline float vmax(v16 x) {
  typedef float v8 __attribute__((vector_size(32)));
  typedef float v4 __attribute__((vector_size(16)));
  v8 a = __builtin_elementwise_max(
      __builtin_shufflevector(x, x, 0, 1, 2, 3, 4, 5, 6, 7),
      __builtin_shufflevector(x, x, 8, 9, 10, 11, 12, 13, 14, 15));
  v4 b = __builtin_elementwise_max(__builtin_shufflevector(a, a, 0, 1, 2, 3),
                                   __builtin_shufflevector(a, a, 4, 5, 6, 7));
  float c = b[0] > b[2] ? b[0] : b[2], d = b[1] > b[3] ? b[1] : b[3];
  return c > d ? c : d;
}
inline float vsum(v16 x) {
  typedef float v8 __attribute__((vector_size(32)));
  typedef float v4 __attribute__((vector_size(16)));
  v8 a = __builtin_shufflevector(x, x, 0, 1, 2, 3, 4, 5, 6, 7) +
         __builtin_shufflevector(x, x, 8, 9, 10, 11, 12, 13, 14, 15);
  v4 b = __builtin_shufflevector(a, a, 0, 1, 2, 3) +
         __builtin_shufflevector(a, a, 4, 5, 6, 7);
  return (b[0] + b[2]) + (b[1] + b[3]);
}

@SCRATCH@
@SHARE@

@DISPATCH@
// s[r][16c + j] = a[r] . bt[:, 16c + j] for R rows and NV key vectors, bt
// transposed (d-major): R x NV accumulators, one FMA chain along d each.
template <int R, int NV>
inline void dotsBlock(const float *a, int64_t lda, const float *bt,
                      int64_t ldb, float *s, int64_t lds) {
  v16 acc[R][NV];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < NV; ++c)
      acc[r][c] = v16{};
  for (int64_t d = 0; d < HD; ++d) {
    v16 b[NV];
    for (int c = 0; c < NV; ++c)
      b[c] = *(const v16u *)(bt + d * ldb + 16 * c);
    for (int r = 0; r < R; ++r) {
      const v16 x = splat(a[r * lda + d]);
      for (int c = 0; c < NV; ++c)
        acc[r][c] = fma16(x, b[c], acc[r][c]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < NV; ++c)
      *(v16 *)(s + r * lds + 16 * c) = acc[r][c];
}

// The first 16 nvec columns of s (rows of lds, 64-byte aligned) for rows
// rows of a.
inline void dots(int64_t rows, int64_t nvec, const float *a, int64_t lda,
                 const float *bt, int64_t ldb, float *s, int64_t lds) {
  for (int64_t c = 0; c < nvec; c += NVB)
    dispatch<MR>(rows, [&](auto r) {
      dispatch<NVB>(min64(NVB, nvec - c), [&](auto v) {
        dotsBlock<decltype(r)::value, decltype(v)::value>(
            a, lda, bt + 16 * c, ldb, s + 16 * c, lds);
      });
    });
}

// How accBlock starts from o: as it is, scaled by alpha, or from zero.
enum Start { Add, Rescale, Fresh };

// o[r] = (o[r], alpha[r] o[r] or 0, as START says) + sum over k in [k0, k1) of
// coef[r sa + k sk] b[k], on head-row vectors C0..C0+NV: R x NV
// accumulators, one FMA chain along k each.
template <int R, int C0, int NV, Start START>
inline void accBlock(const float *coef, int64_t sa, int64_t sk,
                     const float *b, int64_t ldb, int64_t k0, int64_t k1,
                     float *o, int64_t ldo, const float *alpha) {
  v16 acc[R][NV];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < NV; ++c) {
      acc[r][c] = START == Fresh ? v16{} : loadRow(o + r * ldo, C0 + c);
      if (START == Rescale)
        acc[r][c] *= alpha[r];
    }
  for (int64_t k = k0; k < k1; ++k) {
    v16 x[NV];
    for (int c = 0; c < NV; ++c)
      x[c] = loadRow(b + k * ldb, C0 + c);
    for (int r = 0; r < R; ++r) {
      const v16 p = splat(coef[r * sa + k * sk]);
      for (int c = 0; c < NV; ++c)
        acc[r][c] = fma16(p, x[c], acc[r][c]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < NV; ++c)
      storeRow(o + r * ldo, C0 + c, acc[r][c]);
}

template <int R, Start START, int C0 = 0>
inline void accRows(const float *coef, int64_t sa, int64_t sk, const float *b,
                    int64_t ldb, int64_t k0, int64_t k1, float *o, int64_t ldo,
                    const float *alpha) {
  if constexpr (C0 < HV) {
    constexpr int NV = HV - C0 < NVB ? int(HV - C0) : NVB;
    accBlock<R, C0, NV, START>(coef, sa, sk, b, ldb, k0, k1, o, ldo, alpha);
    accRows<R, START, C0 + NVB>(coef, sa, sk, b, ldb, k0, k1, o, ldo, alpha);
  }
}

template <Start START>
inline void accumulate(int64_t rows, const float *coef, int64_t sa, int64_t sk,
                       const float *b, int64_t ldb, int64_t k0, int64_t k1,
                       float *o, int64_t ldo, const float *alpha = nullptr) {
  dispatch<MR>(rows, [&](auto r) {
    accRows<decltype(r)::value, START>(coef, sa, sk, b, ldb, k0, k1, o, ldo,
                                        alpha);
  });
}

// rows x HD of src (rows of ld) into dst (rows of HDP, zero padded): rows
// of q and dout are ldq apart, so a block of them shares a few cache sets.
inline void packRows(const float *src, int64_t ld, int64_t rows, float *dst) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < HV; ++c)
      *(v16 *)(dst + r * HDP + 16 * c) = loadRow(src + r * ld, c);
}

// One butterfly level of a 16 x 16 transpose: rows i and i + S swap their
// off-diagonal S-blocks.
#define COLM_SWAP_LO(j) (((j) & S) ? 16 + (j) - S : (j))
#define COLM_SWAP_HI(j) (((j) & S) ? 16 + (j) : (j) + S)
template <int S> inline void butterfly(v16 *t) {
  for (int i = 0; i < 16; ++i)
    if (!(i & S)) {
      const v16 a = t[i], b = t[i + S];
      t[i] = __builtin_shufflevector(
          a, b, COLM_SWAP_LO(0), COLM_SWAP_LO(1), COLM_SWAP_LO(2),
          COLM_SWAP_LO(3), COLM_SWAP_LO(4), COLM_SWAP_LO(5), COLM_SWAP_LO(6),
          COLM_SWAP_LO(7), COLM_SWAP_LO(8), COLM_SWAP_LO(9), COLM_SWAP_LO(10),
          COLM_SWAP_LO(11), COLM_SWAP_LO(12), COLM_SWAP_LO(13),
          COLM_SWAP_LO(14), COLM_SWAP_LO(15));
      t[i + S] = __builtin_shufflevector(
          a, b, COLM_SWAP_HI(0), COLM_SWAP_HI(1), COLM_SWAP_HI(2),
          COLM_SWAP_HI(3), COLM_SWAP_HI(4), COLM_SWAP_HI(5), COLM_SWAP_HI(6),
          COLM_SWAP_HI(7), COLM_SWAP_HI(8), COLM_SWAP_HI(9), COLM_SWAP_HI(10),
          COLM_SWAP_HI(11), COLM_SWAP_HI(12), COLM_SWAP_HI(13),
          COLM_SWAP_HI(14), COLM_SWAP_HI(15));
    }
}

// dst[d][j] = rows[j][d0 + d] for a 16 x 16 block, in registers.
inline void transposeBlock(const float *const *rows, int64_t d0, float *dst,
                           int64_t ldd) {
  v16 t[16];
  for (int j = 0; j < 16; ++j)
    t[j] = *(const v16u *)(rows[j] + d0);
  butterfly<8>(t);
  butterfly<4>(t);
  butterfly<2>(t);
  butterfly<1>(t);
  for (int d = 0; d < 16; ++d)
    *(v16u *)(dst + d * ldd) = t[d];
}

// dst[d][j] = src[j][d] for keys [0, n) of a head, zero for keys [n, pad):
// whole 16 x 16 blocks in registers, ragged edges one by one.
inline void transpose(const float *src, int64_t ld, int64_t n, int64_t pad,
                      float *dst, int64_t ldd) {
  for (int64_t j0 = 0; j0 < n; j0 += 16) {
    const int64_t nj = min64(16, n - j0);
    const float *rows[16];
    for (int j = 0; j < 16; ++j)
      rows[j] = src + (j0 + j) * ld;
    for (int64_t d0 = 0; d0 < HD; d0 += 16) {
      const int64_t nd = min64(16, HD - d0);
      if (nj == 16 && nd == 16) {
        transposeBlock(rows, d0, dst + d0 * ldd + j0, ldd);
        continue;
      }
      for (int64_t j = 0; j < nj; ++j)
        for (int64_t d = 0; d < nd; ++d)
          dst[(d0 + d) * ldd + j0 + j] = src[(j0 + j) * ld + d0 + d];
    }
  }
  for (int64_t d = 0; d < HD; ++d)
    for (int64_t j = n; j < pad; ++j)
      dst[d * ldd + j] = 0.0f;
}

// The online-softmax step of R rows over NV score vectors each (raw dots
// at s, rows of BKP): row r sees keys up to min(last, limit + r step).
// Stores p = 2^(x - max) at s, rescales l by alpha = 2^(m - max) and adds
// the row sums, updates m. The rows' chains are interleaved (they are
// latency-bound one by one); MASK is off when every row sees every vector.
template <int R, int NV, bool MASK>
inline void softmaxBlock(float *s, int64_t limit, int64_t step, int64_t last,
                         float *m, float *l, float *alpha) {
  v16 x[R][NV];
  float mNew[R], mSub[R];
  v16 shift = {};
  for (int r = 0; r < R; ++r) {
    const int64_t lim = min64(last, limit + r * step);
    v16 mv = splat(-__builtin_inff());
    for (int c = 0; c < NV; ++c) {
      x[r][c] = *(v16 *)(s + r * BKP + 16 * c) * SCALE2;
      if (MASK)
        x[r][c] = select16(visible(c, lim), x[r][c], splat(-__builtin_inff()));
      mv = max16(mv, x[r][c]);
    }
    const float mx = vmax(mv);
    mNew[r] = m[r] > mx ? m[r] : mx;
    // Nothing visible yet: the row stays empty (masked lanes give 2^-inf).
    mSub[r] = mNew[r] == -__builtin_inff() ? 0.0f : mNew[r];
    shift[r] = m[r] - mSub[r];
  }
  v16 sum[R];
  for (int r = 0; r < R; ++r) {
    sum[r] = v16{};
    for (int c = 0; c < NV; ++c) {
      const v16 p = vexp2(x[r][c] - mSub[r]);
      *(v16 *)(s + r * BKP + 16 * c) = p;
      sum[r] += p;
    }
  }
  const v16 scales = vexp2(shift);
  for (int r = 0; r < R; ++r) {
    alpha[r] = scales[r];
    l[r] = l[r] * alpha[r] + vsum(sum[r]);
    m[r] = mNew[r];
  }
}

// softmaxBlock for rows of more than NVB vectors (wide key tiles): the
// scaled scores go back to memory instead of registers (the same bits).
template <int R, bool MASK>
inline void softmaxWide(float *s, int64_t nvec, int64_t limit, int64_t step,
                        int64_t last, float *m, float *l, float *alpha) {
  float mNew[R], mSub[R];
  v16 shift = {}, sum[R];
  for (int r = 0; r < R; ++r) {
    const int64_t lim = min64(last, limit + r * step);
    v16 mv = splat(-__builtin_inff());
    for (int64_t c = 0; c < nvec; ++c) {
      v16 x = *(v16 *)(s + r * BKP + 16 * c) * SCALE2;
      if (MASK)
        x = select16(visible(c, lim), x, splat(-__builtin_inff()));
      *(v16 *)(s + r * BKP + 16 * c) = x;
      mv = max16(mv, x);
    }
    const float mx = vmax(mv);
    mNew[r] = m[r] > mx ? m[r] : mx;
    mSub[r] = mNew[r] == -__builtin_inff() ? 0.0f : mNew[r];
    shift[r] = m[r] - mSub[r];
    sum[r] = v16{};
    for (int64_t c = 0; c < nvec; ++c) {
      const v16 p = vexp2(*(v16 *)(s + r * BKP + 16 * c) - mSub[r]);
      *(v16 *)(s + r * BKP + 16 * c) = p;
      sum[r] += p;
    }
  }
  const v16 scales = vexp2(shift);
  for (int r = 0; r < R; ++r) {
    alpha[r] = scales[r];
    l[r] = l[r] * alpha[r] + vsum(sum[r]);
    m[r] = mNew[r];
  }
}

// One row's probabilities p = 2^(s log2(e) / sqrt(hd) - lse2) over NV
// vectors (zero past `limit`) and dS = p (dP - D) / sqrt(hd) in place of dP.
template <int NV>
inline void gradRow(float *p, float *ds, int64_t limit, float lse2, float Di) {
  const bool full = limit >= 16 * NV - 1;
  for (int c = 0; c < NV; ++c) {
    v16 pc = vexp2(*(v16 *)(p + 16 * c) * SCALE2 - lse2);
    if (!full)
      pc = select16(visible(c, limit), pc, v16{});
    *(v16 *)(p + 16 * c) = pc;
    *(v16 *)(ds + 16 * c) = pc * (*(v16 *)(ds + 16 * c) - Di) * SCALE;
  }
}

} // namespace
)CPP";

// The paged forward (decoding over a paged cache). Every query row reads
// the key and value rows in place through the block table, 16 keys at a
// time at fixed positions: each chunk's keys are transposed once for a block
// of 16 rows, and each row's scores and weighted sums accumulate in the same
// order whatever rows run beside it. So a row's bits never depend on tq
// (a speculative verify against plain decoding, a prompt cut into chunks
// against the whole, a cached prefix against a fresh prefill) or on the
// thread count.
const char *kPaged = R"CPP(
namespace {
constexpr int64_t RB = 16; // rows per unit
constexpr int RG = 4;      // rows per register block
constexpr int CV = 4;      // vectors of 16 keys per chunk
constexpr int64_t CK = 16 * CV;

// Kt[d][j] = chunk key j's column d, for keys [0, nk) of the chunk (zero up
// to CK).
inline void transposeChunk(const float *const *kr, int64_t nk, float *Kt) {
  for (int64_t j0 = 0; j0 < CK; j0 += 16)
    for (int64_t d0 = 0; d0 < HD; d0 += 16) {
      const int64_t nd = min64(16, HD - d0);
      if (j0 + 16 <= nk && nd == 16) {
        transposeBlock(kr + j0, d0, Kt + d0 * CK + j0, CK);
        continue;
      }
      for (int64_t d = 0; d < nd; ++d)
        for (int64_t j = j0; j < j0 + 16; ++j)
          Kt[(d0 + d) * CK + j] = j < nk ? kr[j][d0 + d] : 0.0f;
    }
}

// Rows r0.. (R of them) of a unit against one chunk of keys j0.. (nk):
// scores from Kt, the online softmax, and P V into O.
template <int R>
inline void chunkRows(const ColmPagedAttentionArgs &a, int64_t h, int64_t r0,
                      int64_t j0, int64_t nk, const float *Kt,
                      const float *const *vr, float *O, float *m, float *l) {
  v16 S[R][CV];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < CV; ++c)
      S[r][c] = v16{};
  const float *q[R];
  for (int r = 0; r < R; ++r)
    q[r] = a.q + (r0 + r) * a.ldq + h * HD;
  for (int64_t d = 0; d < HD; ++d) {
    v16 kt[CV];
    for (int c = 0; c < CV; ++c)
      kt[c] = *(const v16 *)(Kt + d * CK + 16 * c);
    for (int r = 0; r < R; ++r) {
      const v16 qd = splat(q[r][d]);
      for (int c = 0; c < CV; ++c)
        S[r][c] = fma16(qd, kt[c], S[r][c]);
    }
  }
  float alpha[R];
  int64_t most = 0;
  for (int r = 0; r < R; ++r) {
    // Row r0 + r sees keys up to past + r0 + r.
    const int64_t limit = min64(nk, a.past + r0 + r - j0 + 1) - 1;
    most = max64(most, limit + 1);
    v16 mx = splat(-__builtin_inff());
    for (int c = 0; c < CV; ++c) {
      S[r][c] = select16(visible(c, limit), S[r][c] * SCALE2,
                         splat(-__builtin_inff()));
      mx = max16(mx, S[r][c]);
    }
    const float mc = vmax(mx), mNew = m[r] > mc ? m[r] : mc;
    if (mNew == -__builtin_inff()) {
      alpha[r] = 1.0f;
      for (int c = 0; c < CV; ++c)
        S[r][c] = v16{};
      continue;
    }
    alpha[r] = vexp2(splat(m[r] - mNew))[0];
    v16 sum = {};
    for (int c = 0; c < CV; ++c) {
      S[r][c] = select16(visible(c, limit), vexp2(S[r][c] - splat(mNew)),
                         v16{});
      sum += S[r][c];
    }
    l[r] = l[r] * alpha[r] + vsum(sum);
    m[r] = mNew;
  }
  // The probabilities through memory: each is broadcast into the FMA.
  alignas(64) float P[R][CK];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < CV; ++c)
      *(v16 *)(P[r] + 16 * c) = S[r][c];
  for (int64_t c = 0; c < HV; ++c) {
    v16 acc[R];
    for (int r = 0; r < R; ++r)
      acc[r] = *(v16 *)(O + r * HDP + 16 * c) * alpha[r];
    for (int64_t j = 0; j < most; ++j) {
      const v16 v = loadRow(vr[j], c);
      for (int r = 0; r < R; ++r)
        acc[r] = fma16(splat(P[r][j]), v, acc[r]);
    }
    for (int r = 0; r < R; ++r)
      *(v16 *)(O + r * HDP + 16 * c) = acc[r];
  }
}

inline void pagedRows(const ColmPagedAttentionArgs &a, int thread,
                      int threads) {
  const int64_t tq = a.tq;
  const int64_t blocks = (tq + RB - 1) / RB;
  // Units of a key/value head and a row block: each chunk of keys is
  // transposed once for the PER query heads that read it.
  int64_t first, last;
  share(
      HKV * blocks,
      [&](int64_t u) {
        const int64_t rb = u % blocks;
        return double(min64(RB, tq - rb * RB)) *
               double(a.past + min64(tq, (rb + 1) * RB));
      },
      thread, threads, &first, &last);
  if (first >= last)
    return;
  float *O = scratch(PER * RB * HDP + 2 * PER * RB + HDP * CK);
  if (!O)
    return; // out of memory: the caller's sentinel check reports it
  float *m = O + PER * RB * HDP, *l = m + PER * RB, *Kt = l + PER * RB;
  const float *kr[CK], *vr[CK];
  for (int64_t u = first; u < last; ++u) {
    const int64_t g = u / blocks, r0 = (u % blocks) * RB;
    const int64_t rows = min64(RB, tq - r0);
    for (int64_t e = 0; e < PER * RB; ++e) {
      for (int64_t d = 0; d < HDP; ++d)
        O[e * HDP + d] = 0.0f;
      m[e] = -__builtin_inff();
      l[e] = 0.0f;
    }
    // The unit's last row sees keys up to past + r0 + rows - 1.
    const int64_t kEnd = a.past + r0 + rows;
    for (int64_t j0 = 0; j0 < kEnd; j0 += CK) {
      const int64_t nk = min64(CK, kEnd - j0);
      // The cached keys block by block (one division per chunk), then the
      // new rows.
      int64_t block = j0 / a.block_size, at = j0 % a.block_size;
      for (int64_t j = 0; j < nk; ++j) {
        const int64_t p = j0 + j;
        if (p < a.past) {
          const int64_t row = (int64_t)a.blocks[block] * a.block_size + at;
          kr[j] = a.k_cache + row * a.ld_cache + g * HD;
          vr[j] = a.v_cache + row * a.ld_cache + g * HD;
          if (++at == a.block_size) {
            ++block;
            at = 0;
          }
        } else {
          kr[j] = a.k + (p - a.past) * a.ldk + g * HD;
          vr[j] = a.v + (p - a.past) * a.ldk + g * HD;
        }
      }
      transposeChunk(kr, nk, Kt);
      for (int64_t n = 0; n < PER; ++n) {
        const int64_t h = TILED ? g + n * HKV : g * PER + n;
        float *On = O + n * RB * HDP, *mn = m + n * RB, *ln = l + n * RB;
        // Rows that see none of the chunk skip it (as alone they would).
        for (int64_t r = max64(0, j0 - a.past - r0); r < rows; r += RG)
          dispatch<RG>(min64(RG, rows - r), [&](auto c) {
            constexpr int R = decltype(c)::value;
            chunkRows<R>(a, h, r0 + r, j0, nk, Kt, vr, On + r * HDP, mn + r,
                         ln + r);
          });
      }
    }
    for (int64_t n = 0; n < PER; ++n) {
      const int64_t h = TILED ? g + n * HKV : g * PER + n;
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t e = n * RB + r;
        finishRow(O + e * HDP, m[e], l[e], a.out + (r0 + r) * a.ldq + h * HD,
                  a.lse + h * tq + r0 + r);
      }
    }
  }
}
} // namespace

extern "C" void @SYMBOL@(const void *argp, int thread, int threads) {
#pragma clang fp contract(fast)
  pagedRows(*(const ColmPagedAttentionArgs *)argp, thread, threads);
}
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
  // Units in (key/value head, query head reading it, query block) order, so
  // a thread transposes each K it reads once.
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
  // K^T of one key/value head, padded so a tile's last vector stays inside.
  const int64_t ldkt = (tk + 15) / 16 * 16 + 16;
  float *Kt = scratch(HD * ldkt + 2 * BQ * HDP + MR * BKP + 2 * BQ);
  if (!Kt)
    return; // out of memory: the caller's sentinel check reports it
  float *O = Kt + HD * ldkt, *Q = O + BQ * HDP, *S = Q + BQ * HDP,
        *m = S + MR * BKP, *l = m + BQ;
  int64_t packed = -1;
  for (int64_t u = first; u < last; ++u) {
    const int64_t g = u / (PER * blocks), n = u / blocks % PER,
                  qb = u % blocks;
    const int64_t h = TILED ? g + n * HKV : g * PER + n;
    const int64_t i0 = qb * BQ, rows = min64(i0 + BQ, tq) - i0;
    const int64_t kEnd = keyEnd(qb);
    if (g != packed) {
      int64_t kMax = 0;
      for (int64_t w = u; w < last && w / (PER * blocks) == g; ++w)
        kMax = max64(kMax, keyEnd(w % blocks));
      transpose(a.k + g * HD, a.ldk, kMax, ldkt, Kt, ldkt);
      packed = g;
    }
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t d = 0; d < HDP; ++d)
        O[r * HDP + d] = 0.0f;
      m[r] = -__builtin_inff();
      l[r] = 0.0f;
    }
    const float *vg = a.v + g * HD;
    packRows(a.q + i0 * a.ldq + h * HD, a.ldq, rows, Q);
    for (int64_t j0 = 0; j0 < kEnd; j0 += BK) {
      const int64_t nk = min64(BK, kEnd - j0);
      for (int64_t r0 = 0; r0 < rows; r0 += MR) {
        const int64_t R = min64(MR, rows - r0);
        // Keys [0, vis) of the tile are visible to some row of the block.
        const int64_t vis =
            CAUSAL ? min64(nk, i0 + r0 + R + offset - j0) : nk;
        if (vis <= 0)
          continue;
        const int64_t nvec = (vis + 15) / 16;
        dots(R, nvec, Q + r0 * HDP, HDP, Kt + j0, ldkt, S, BKP);
        // The first row sees the fewest keys: no masks if it sees them all.
        float alpha[MR];
        const int64_t limit = CAUSAL ? i0 + r0 + offset - j0 : nk - 1;
        const bool mask = limit < 16 * nvec - 1 || nk < 16 * nvec;
        dispatch<MR>(R, [&](auto r) {
          constexpr int RR = decltype(r)::value;
          if (nvec > NVB) {
            if (mask)
              softmaxWide<RR, true>(S, nvec, limit, CAUSAL, nk - 1, m + r0,
                                    l + r0, alpha);
            else
              softmaxWide<RR, false>(S, nvec, limit, CAUSAL, nk - 1, m + r0,
                                     l + r0, alpha);
            return;
          }
          dispatch<NVB>(nvec, [&](auto v) {
            constexpr int NV = decltype(v)::value;
            if (mask)
              softmaxBlock<RR, NV, true>(S, limit, CAUSAL, nk - 1, m + r0,
                                         l + r0, alpha);
            else
              softmaxBlock<RR, NV, false>(S, limit, CAUSAL, nk - 1, m + r0,
                                          l + r0, alpha);
          });
        });
        accumulate<Rescale>(R, S, BKP, 1, vg + j0 * a.ldk, a.ldk, 0, vis,
                            O + r0 * HDP, HDP, alpha);
      }
    }
    for (int64_t r = 0; r < rows; ++r)
      finishRow(O + r * HDP, m[r], l[r], a.out + (i0 + r) * a.ldq + h * HD,
                a.lse + h * tq + i0 + r);
  }
}
)CPP";

const char *kBackward = R"CPP(
namespace {

// One thread's backward: its scratch and the pieces both work splits are
// made of.
struct Grad {
  const ColmAttentionGradArgs &a;
  int64_t tq, tk, offset, ldkt;
  float *Kt, *Vt, *dK, *dV, *P, *dS, *Q, *G, *D;
  int64_t packed = -1;

  int64_t headOf(int64_t g, int64_t n) const {
    return TILED ? g + n * HKV : g * PER + n;
  }
  // Query blocks [qb * BQ, ...) that see key j0 start here.
  int64_t firstBlock(int64_t j0) const {
    return CAUSAL ? max64(0, j0 - offset) / BQ : 0;
  }
  int64_t keyEnd(int64_t qb) const {
    return CAUSAL ? min64(tk, min64((qb + 1) * BQ, tq) + offset) : tk;
  }

  // K^T and V^T of key/value head g, every key, and D of its heads' rows.
  void pack(int64_t g) {
    if (g == packed)
      return;
    transpose(a.k + g * HD, a.ldk, tk, ldkt, Kt, ldkt);
    transpose(a.v + g * HD, a.ldk, tk, ldkt, Vt, ldkt);
    for (int64_t n = 0; n < PER; ++n)
      for (int64_t i = 0; i < tq; ++i) {
        const float *o = a.out + i * a.ldq + headOf(g, n) * HD;
        const float *go = a.dout + i * a.ldq + headOf(g, n) * HD;
        v16 sum = {}; // in lanes: one chain is latency-bound
        for (int64_t c = 0; c < HV; ++c)
          sum = fma16(loadRow(go, c), loadRow(o, c), sum);
        D[n * tq + i] = vsum(sum); // sum_j p dp = dout . out
      }
    packed = g;
  }

  // Query block qb of head n of g against key tile [j0, j0 + nk): P and dS
  // recomputed from lse, then dq of the rows (DQ) and dK, dV of the tile
  // (DKV, accumulated in dK and dV). Blocks and their register blocks sit
  // at fixed rows whichever split runs them, so every value comes from the
  // same operations in both.
  template <bool DQ, bool DKV>
  void block(int64_t g, int64_t n, int64_t qb, int64_t j0, int64_t nk) {
    const int64_t h = headOf(g, n), i0 = qb * BQ, rows = min64(BQ, tq - i0);
    packRows(a.q + i0 * a.ldq + h * HD, a.ldq, rows, Q);
    packRows(a.dout + i0 * a.ldq + h * HD, a.ldq, rows, G);
    const float *Dh = D + n * tq + i0;
    const float *kj = a.k + j0 * a.ldk + g * HD;
    for (int64_t r0 = 0; r0 < rows; r0 += MR) {
      const int64_t R = min64(MR, rows - r0);
      const int64_t vis = CAUSAL ? min64(nk, i0 + r0 + R + offset - j0) : nk;
      if (vis <= 0)
        continue; // rows before the tile: never read below
      const int64_t nvec = (vis + 15) / 16;
      float *p = P + r0 * BKP, *ds = dS + r0 * BKP;
      dots(R, nvec, Q + r0 * HDP, HDP, Kt + j0, ldkt, p, BKP);
      dots(R, nvec, G + r0 * HDP, HDP, Vt + j0, ldkt, ds, BKP);
      dispatch<int(BKP / 16)>(nvec, [&](auto v) {
        for (int64_t r = 0; r < R; ++r) {
          const int64_t i = i0 + r0 + r;
          const int64_t limit =
              CAUSAL ? min64(nk - 1, i + offset - j0) : nk - 1;
          gradRow<decltype(v)::value>(p + r * BKP, ds + r * BKP, limit,
                                      a.lse[h * tq + i] * LOG2E, Dh[r0 + r]);
        }
      });
      for (int64_t r = 0; r < R; ++r)
        for (int64_t c = nvec; c < (nk + 15) / 16; ++c)
          *(v16 *)(p + r * BKP + 16 * c) = *(v16 *)(ds + r * BKP + 16 * c) =
              v16{};
      if (DQ) { // dq += dS K; the first tile (every row sees it) starts it
        float *dq = a.dq + (i0 + r0) * a.ldq + h * HD;
        if (j0 == 0)
          accumulate<Fresh>(R, ds, BKP, 1, kj, a.ldk, 0, vis, dq, a.ldq);
        else
          accumulate<Add>(R, ds, BKP, 1, kj, a.ldk, 0, vis, dq, a.ldq);
      }
    }
    if (DKV) // dV += P^T dout, dK += dS^T q over the rows that see the keys
      for (int64_t jb = 0; jb < nk; jb += MR) {
        const int64_t J = min64(MR, nk - jb);
        const int64_t r0 = CAUSAL ? max64(0, j0 + jb - offset - i0) : 0;
        if (r0 >= rows)
          break;
        accumulate<Add>(J, P + jb, 1, BKP, G, HDP, r0, rows, dV + jb * HDP,
                        HDP);
        accumulate<Add>(J, dS + jb, 1, BKP, Q, HDP, r0, rows, dK + jb * HDP,
                        HDP);
      }
  }

  // dK and dV of tile [j0, j0 + nk) of g from every query that sees it,
  // and with DQ the whole dq of those queries' rows as well.
  template <bool DQ> void keyTile(int64_t g, int64_t j0, int64_t nk) {
    for (int64_t j = 0; j < nk * HDP; ++j)
      dK[j] = dV[j] = 0.0f;
    const int64_t blocks = (tq + BQ - 1) / BQ;
    for (int64_t n = 0; n < PER; ++n)
      for (int64_t qb = firstBlock(j0); qb < blocks; ++qb)
        block<DQ, true>(g, n, qb, j0, nk);
    for (int64_t j = 0; j < nk; ++j)
      for (int64_t c = 0; c < HV; ++c) {
        storeRow(a.dk + (j0 + j) * a.ldk + g * HD, c,
                 *(v16 *)(dK + j * HDP + 16 * c));
        storeRow(a.dv + (j0 + j) * a.ldk + g * HD, c,
                 *(v16 *)(dV + j * HDP + 16 * c));
      }
  }
};

} // namespace

extern "C" void @SYMBOL@(const void *argp, int thread, int threads) {
#pragma clang fp contract(fast)
  const ColmAttentionGradArgs &a = *(const ColmAttentionGradArgs *)argp;
  const int64_t tq = a.tq, tk = a.tk;
  const int64_t ldkt = (tk + 15) / 16 * 16 + 16;
  float *Kt = scratch(2 * HD * ldkt + 2 * BK * HDP + 2 * BQ * BKP +
                      2 * BQ * HDP + PER * tq);
  if (!Kt)
    return; // out of memory: the caller's sentinel check reports it
  Grad w{a, tq, tk, tk - tq, ldkt, Kt};
  w.Vt = Kt + HD * ldkt;
  w.dK = w.Vt + HD * ldkt;
  w.dV = w.dK + BK * HDP;
  w.P = w.dV + BK * HDP;
  w.dS = w.P + BQ * BKP;
  w.Q = w.dS + BQ * BKP;
  w.G = w.Q + BQ * HDP;
  w.D = w.G + BQ * HDP;
  const int64_t tiles = (tk + BK - 1) / BK, blocks = (tq + BQ - 1) / BQ;
  // Whole key/value heads per thread (each thread writes dK, dV and the dq
  // of the heads reading them in one pass), or, with more threads than that
  // keeps busy, key ranges (dK, dV) and query blocks (dq) as separate units
  // that recompute P and dS: 7 products instead of 5, about 1.5 times the
  // time. The same bits either way: every output is one FMA chain over the
  // rows or keys in order, where a split only skips exact zero products
  // (chains start at +0 and never reach -0).
  const int64_t busiest = (HKV + threads - 1) / threads;
  if (double(threads) / 1.5 <= double(HKV) / double(busiest)) {
    int64_t first, last;
    share(HKV, [](int64_t) { return 1.0; }, thread, threads, &first, &last);
    for (int64_t g = first; g < last; ++g) {
      w.pack(g);
      for (int64_t t = 0; t < tiles; ++t)
        w.keyTile<true>(g, t * BK, min64(BK, tk - t * BK));
    }
    return;
  }
  // Per key/value head: its key ranges of KU (finer than tiles, for the
  // balance), then the query blocks of its heads.
  constexpr int64_t KU = BK < 32 ? BK : 32;
  const int64_t ranges = (tk + KU - 1) / KU, per = ranges + PER * blocks;
  int64_t first, last;
  share(
      HKV * per,
      [&](int64_t u) { // products of rows and keys
        const int64_t t = u % per;
        if (t < ranges)
          return 4.0 * PER * double(tq - w.firstBlock(t * KU) * BQ) *
                 double(min64(KU, tk - t * KU));
        const int64_t qb = (t - ranges) % blocks;
        return 3.0 * double(min64(BQ, tq - qb * BQ)) * double(w.keyEnd(qb));
      },
      thread, threads, &first, &last);
  for (int64_t u = first; u < last; ++u) {
    const int64_t g = u / per, t = u % per;
    w.pack(g);
    if (t < ranges) {
      w.keyTile<false>(g, t * KU, min64(KU, tk - t * KU));
      continue;
    }
    const int64_t n = (t - ranges) / blocks, qb = (t - ranges) % blocks;
    for (int64_t j0 = 0; j0 < w.keyEnd(qb); j0 += BK)
      w.block<true, false>(g, n, qb, j0, min64(BK, tk - j0));
  }
}
)CPP";

} // namespace

std::string attentionSymbol(const AttentionSpec &spec) {
  return "colm_" + spec.name();
}

std::string renderAttention(const AttentionSpec &spec, const VectorIsa &isa) {
  std::string body =
      std::string(kCommon) + (spec.pass == AttentionPass::Forward    ? kForward
                              : spec.pass == AttentionPass::Backward ? kBackward
                                                                     : kPaged);
  char scale[32];
  std::snprintf(scale, sizeof scale, "%.9e",
                double(float(1.0 / std::sqrt(double(spec.headDim)))));
  replaceAll(body, "@SYMBOL@", attentionSymbol(spec));
  replaceAll(body, "@H@", std::to_string(spec.numHeads));
  replaceAll(body, "@HKV@", std::to_string(spec.numKvHeads));
  replaceAll(body, "@HD@", std::to_string(spec.headDim));
  replaceAll(body, "@DISPATCH@", dispatchSource());
  replaceAll(body, "@SCRATCH@", scratchSource());
  replaceAll(body, "@SHARE@", shareSource());
  replaceAll(body, "@NVB@", isa.registers >= 32 && isa.lanes >= 16 ? "4" : "1");
  replaceAll(body, "@BQ@", std::to_string(spec.knobs.blockQ));
  replaceAll(body, "@BK@", std::to_string(spec.knobs.blockK));
  replaceAll(body, "@TILED@", spec.mapping == KvMap::Tiled ? "true" : "false");
  replaceAll(body, "@CAUSAL@", spec.causal ? "true" : "false");
  replaceAll(body, "@SCALE@", scale);
  std::snprintf(
      scale, sizeof scale, "%.9e",
      double(float(1.4426950408889634 / std::sqrt(double(spec.headDim)))));
  replaceAll(body, "@SCALE2@", scale);
  return "// Generated by colm: " + spec.name() +
         "\n#include <math.h>\n#include <stdint.h>\n#include <stdlib.h>\n" +
         COLM_STRINGIFY(COLM_ATTENTION_ARGS_STRUCT) + "\n" + body;
}

} // namespace colm::codegen::cpu
