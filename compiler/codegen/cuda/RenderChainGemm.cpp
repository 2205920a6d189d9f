//===- RenderChainGemm.cpp - The chain GEMM as CUDA -----------------------===//

#include "compiler/codegen/cuda/RenderChainGemm.h"

#include "compiler/codegen/cpu/RenderChainGemm.h"
#include "compiler/codegen/cpu/RenderUtil.h"

#include <algorithm>
#include <cmath>

namespace colm::codegen::cuda {
namespace {

using cpu::exact;
using cpu::replaceAll;

// A block of 256 threads per BM-row tile of BNL columns of one product
// (BN >= BNL staged, a multiple of 16; the tile is the spec's CUDA knob).
// The column ranges of the tile's columns are looked up once per pass into
// shared memory; the reduction runs over their union in steps of BK.
// Knobs never change the bits: the fp32 path adds every product in k order
// (zeros outside a column's range add nothing), and the tensor-core path
// starts the union on a multiple of 16, so every column's k16 steps are the
// same whichever tile holds it.
const char *kGemm = R"CUDA(
struct ColmGemmBlock {
  long long n0, n1, k0, k1, m0, m1;
  int g;
};

extern "C" __global__ void @SYMBOL@_kernel(const ColmGemmArgs a) {
  constexpr int BM = @BM@, BK = @BK@, BN = @BN@, BNL = @BNL@, NT = 256;
  constexpr int CST = BN + 1; // the staged tile's row stride (floats)
  constexpr int AST = BK + 8; // bf16 rows: 80 bytes, 16-byte aligned
  const long long M = @M@, K = @K@;
  const ColmGemmBlock blocks[] = {@BLOCKS@};
  const long long prodTiles[] = {@PROD_TILES@};
  const long long prodCols[] = {@PROD_COLS@};
  const long long prodStart[] = {@PROD_START@};
  __shared__ __align__(16) unsigned char smem[@SMEM@];
  __shared__ long long colK0[BN], colK1[BN], colM0[BN], colM1[BN];
  const int tid = threadIdx.x;
  const long long rowTiles = (M + BM - 1) / BM;
  if (rowTiles == 0)
    return;
  const long long colTile = (long long)blockIdx.x / rowTiles;
  const long long r0 = ((long long)blockIdx.x % rowTiles) * BM;
  int g0 = 0;
  while (g0 + 1 < @NP@ && colTile >= prodTiles[g0 + 1])
    ++g0;
  const long long c0 = (colTile - prodTiles[g0]) * BNL;

#if @NORM@
  // The norm prologue: each row's statistics per group (a warp per row, in
  // double as the norm kernel), then A is read normalised.
  const long long bounds[] = {@NORM_BOUNDS@};
  constexpr int NG = @NG@;
  __shared__ double rstd[BM * NG];
  {
    const int warp = tid / 32, lane = colm_lane_id();
    for (int r = warp; r < BM; r += NT / 32) {
      const long long i = r0 + r;
      for (int q = 0; q < NG; ++q) {
        double ss = 0;
        if (i < M)
          for (long long j = bounds[q] + lane; j < bounds[q + 1]; j += 32) {
            double x = a.a[i * a.lda + j];
            ss += x * x;
          }
        for (int d = 16; d > 0; d /= 2)
          ss += colm_shfl_xor(ss, d);
        if (lane == 0)
          rstd[r * NG + q] =
              1.0 / sqrt(ss / double(bounds[q + 1] - bounds[q]) + @NORM_EPS@);
      }
    }
  }
  __syncthreads();
  auto loadA = [&](long long i, int r, long long p) -> float {
    int q = 0;
    while (p >= bounds[q + 1])
      ++q;
    return float(a.a[i * a.lda + p] * rstd[r * NG + q] * a.gain[p]);
  };
  if (a.an && g0 == 0 && c0 == 0)
    for (long long e = tid; e < BM * K; e += NT) {
      const long long i = r0 + e / K;
      if (i < M)
        a.an[i * K + e % K] = loadA(i, int(e / K), e % K);
    }
#else
  auto loadA = [&](long long i, int, long long p) -> float {
    return @A_AT@;
  };
#endif

  for (int pass = 0; pass < @PASSES@; ++pass) {
    const int g = g0 + pass;
    const float *B = g == 0 ? a.b : a.gb[g - 1];
    float *C = g == 0 ? a.c : a.gc[g - 1];
    const long long ldb = g == 0 ? a.ldb : a.gldb[g - 1];
    const long long ldc = g == 0 ? a.ldc : a.gldc[g - 1];
    __syncthreads(); // the last pass's epilogue has read the staged tile
    if (tid < BN) {
      long long k0 = 0, k1 = 0, m0 = 0, m1 = 0;
      const long long j = prodStart[g] + c0 + tid;
      if (tid < BNL && c0 + tid < prodCols[g])
        for (const ColmGemmBlock &b : blocks)
          if (b.g == g && j >= b.n0 && j < b.n1) {
            k0 = b.k0;
            k1 = b.k1 < 0 ? K : b.k1;
            m0 = b.m0;
            m1 = b.m1 < 0 ? M : b.m1;
          }
      colK0[tid] = k0;
      colK1[tid] = k1;
      colM0[tid] = m0;
      colM1[tid] = m1;
    }
    __syncthreads();
    // The union of the columns' ranges (the same in every thread).
    long long kLo = K, kHi = 0;
    bool rows = false;
    for (int c = 0; c < BN; ++c)
      if (colM1[c] > colM0[c]) {
        rows |= colM0[c] < r0 + BM && colM1[c] > r0;
        if (colK1[c] > colK0[c]) {
          kLo = colK0[c] < kLo ? colK0[c] : kLo;
          kHi = colK1[c] > kHi ? colK1[c] : kHi;
        }
      }
    if (!rows)
      continue; // no kept row in this tile: skipped whole
    float *Cs = (float *)smem;
#if @MMA@
    kLo = kLo / 16 * 16;
#endif

#if @MMA@
    // Tensor cores: warp w owns the MT m16 tiles from row (w % 4) BM / 4
    // and n8 tiles (w / 4) NTW..; A [BM][AST] and B [BN][AST] as bf16
    // bits, k fastest.
    constexpr int NTW = BN / 16, MT = BM / 64;
    unsigned short *As = (unsigned short *)smem, *Bs = As + BM * AST;
    const int lane = colm_lane_id(), wm = (tid / 32) % 4, wn = tid / 128;
    float acc[MT][NTW][4];
    for (int u = 0; u < MT; ++u)
      for (int t = 0; t < NTW; ++t)
        for (int v = 0; v < 4; ++v)
          acc[u][t][v] = 0.0f;
    for (long long k0 = kLo; k0 < kHi; k0 += BK) {
      for (int e = tid; e < BM * BK; e += NT) {
        const int r = @A_ROW@, p = @A_COL@;
        const long long i = r0 + r, kk = k0 + p;
        As[r * AST + p] =
            colm_bf16_bits(i < M && kk < kHi ? loadA(i, r, kk) : 0.0f);
      }
      for (int e = tid; e < BN * BK; e += NT) {
        const int c = @B_COL@, p = @B_ROW@;
        const long long kk = k0 + p, j = c0 + c;
        Bs[c * AST + p] = kk >= colK0[c] && kk < colK1[c] ? @B16_AT@ : 0;
      }
      __syncthreads();
      for (int kk = 0; kk < BK; kk += 16) {
        unsigned af[MT][4];
        for (int u = 0; u < MT; ++u)
          colm_ldmatrix_x4(af[u], &As[(wm * 16 * MT + u * 16 + lane % 16) *
                                          AST +
                                      kk + lane / 16 * 8]);
        for (int t = 0; t < NTW; ++t) {
          unsigned bf[2];
          colm_ldmatrix_x2(bf, &Bs[((wn * NTW + t) * 8 + lane % 8) * AST +
                                   kk + (lane / 8) % 2 * 8]);
          for (int u = 0; u < MT; ++u)
            colm_mma_bf16_16816(acc[u][t], af[u], bf, acc[u][t]);
        }
      }
      __syncthreads();
    }
    for (int u = 0; u < MT; ++u)
      for (int t = 0; t < NTW; ++t) {
        const int row = wm * 16 * MT + u * 16 + lane / 4,
                  col = (wn * NTW + t) * 8 + lane % 4 * 2;
        Cs[row * CST + col] = acc[u][t][0];
        Cs[row * CST + col + 1] = acc[u][t][1];
        Cs[(row + 8) * CST + col] = acc[u][t][2];
        Cs[(row + 8) * CST + col + 1] = acc[u][t][3];
      }
#else
    // FMA micro-tiles: thread (ty, tx) owns rows TM ty.. and columns tx +
    // 16 j; A [BK][BM + 1] and B [BK][BN + 1], fp32 (the padding keeps the
    // staging stores, k fastest, off one bank).
    constexpr int TM = BM / 16, TN = BN / 16, FA = BM + 1, FB = BN + 1;
    float *As = (float *)smem, *Bs = As + BK * FA;
    const int ty = tid / 16, tx = tid % 16;
    float acc[TM][TN];
    for (int r = 0; r < TM; ++r)
      for (int j = 0; j < TN; ++j)
        acc[r][j] = 0.0f;
    for (long long k0 = kLo; k0 < kHi; k0 += BK) {
      for (int e = tid; e < BM * BK; e += NT) {
        const int r = @A_ROW@, p = @A_COL@;
        const long long i = r0 + r, kk = k0 + p;
        As[p * FA + r] = i < M && kk < kHi ? loadA(i, r, kk) : 0.0f;
      }
      for (int e = tid; e < BN * BK; e += NT) {
        const int c = @B_COL@, p = @B_ROW@;
        const long long kk = k0 + p, j = c0 + c;
        Bs[p * FB + c] = kk >= colK0[c] && kk < colK1[c] ? @B_AT@ : 0.0f;
      }
      __syncthreads();
      for (int p = 0; p < BK; ++p) {
        float av[TM], bv[TN];
        for (int r = 0; r < TM; ++r)
          av[r] = As[p * FA + ty * TM + r];
        for (int j = 0; j < TN; ++j)
          bv[j] = Bs[p * FB + tx + 16 * j];
        for (int r = 0; r < TM; ++r)
          for (int j = 0; j < TN; ++j)
            acc[r][j] = fmaf(av[r], bv[j], acc[r][j]);
      }
      __syncthreads();
    }
    for (int r = 0; r < TM; ++r)
      for (int j = 0; j < TN; ++j)
        Cs[(ty * TM + r) * CST + tx + 16 * j] = acc[r][j];
#endif
    __syncthreads();

    if (!((@ROPE@ >> g) & 1)) {
      // One element per thread in row order; rows outside the column's
      // block (and columns past the product) are never written.
      for (int e = tid; e < BM * BNL; e += NT) {
        const int r = e / BNL, c = e % BNL;
        const long long i = r0 + r, j = c0 + c;
        if (i < colM0[c] || i >= colM1[c])
          continue;
        const float p = Cs[r * CST + c];
        float *out = C + i * ldc + j;
        @EPILOGUE@
      }
    } else {
      // RoPE: one pair (m, m + half) of a head per thread.
      const double invFreq[] = {@INV_FREQ@};
      constexpr int HD = @HD@, HALF = HD / 2;
      for (int e = tid; e < BM * (BNL / 2); e += NT) {
        const int r = e / (BNL / 2), q = e % (BNL / 2);
        const int lo = q / HALF * HD + q % HALF, hi = lo + HALF;
        const long long i = r0 + r;
        if (i < colM0[lo] || i >= colM1[lo])
          continue;
        double x = @ROPE_LO@, y = @ROPE_HI@;
        double pos = a.positions ? double(a.positions[i]) : double(i);
        double angle = pos * invFreq[q % HALF], cs = cos(angle),
               sn = sin(angle);
        C[i * ldc + c0 + lo] = float(x * cs - y * sn);
        C[i * ldc + c0 + hi] = float(y * cs + x * sn);
      }
    }
  }
}
)CUDA";

std::string ll(int64_t v) { return std::to_string(v) + "LL"; }

} // namespace

TileGeometry tileGeometry(const ChainGemmSpec &s) {
  const CudaGemmTile &t = s.knobs.cuda;
  TileGeometry g;
  g.bm = t.bm;
  g.bk = t.bk;
  // The tile's logical columns: the knob's, or whole RoPE heads.
  g.bnl = t.bn;
  if (s.ropeProducts) {
    int64_t hd = s.ropeHeadDim;
    g.bnl = hd <= t.bn ? hd * (t.bn / hd) : hd;
  }
  g.bn = (g.bnl + 15) / 16 * 16;
  int64_t staged = g.bm * (g.bn + 1) * 4,
          inputs = s.bf16 ? (g.bm + g.bn) * (g.bk + 8) * 2
                          : (g.bk * (g.bm + 1) + g.bk * (g.bn + 1)) * 4;
  g.smemBytes = std::max(staged, inputs);
  return g;
}

Status checkTile(const ChainGemmSpec &s) {
  TileGeometry g = tileGeometry(s);
  if (g.bnl > 128)
    return Status::error(s.name() + ": the CUDA chain GEMM takes RoPE heads "
                                    "of at most 128 columns");
  if (g.smemBytes > kMaxStaticShared)
    return Status::error(
        s.name() + ": the CUDA tile " + std::to_string(s.knobs.cuda.bm) + "x" +
        std::to_string(s.knobs.cuda.bn) + "x" +
        std::to_string(s.knobs.cuda.bk) + " needs " +
        std::to_string(g.smemBytes) + " bytes of shared memory (at most " +
        std::to_string(kMaxStaticShared) + ")");
  return Status::ok();
}

std::string renderChainGemm(const ChainGemmSpec &s, CudaBuild build) {
  if (Status st = checkTile(s); !st)
    return "#error \"" + st.message() + "\"\n";
  TileGeometry geo = tileGeometry(s);
  const int64_t BM = geo.bm, bnl = geo.bnl, bn = geo.bn;
  bool mma = s.bf16;
  bool grouped = !s.groupColumns.empty();
  bool gatedPair = grouped && s.swiglu == SwiGluEpilogue::Forward;
  std::vector<int64_t> cols =
      grouped ? s.groupColumns : std::vector<int64_t>{s.n};
  // The grid's products: a gate/up pair is launched over the gate's tiles,
  // each block doing the gate then the up beside it.
  size_t gridProducts = gatedPair ? 1 : cols.size();
  std::string tiles, colsText, starts;
  int64_t tileCount = 0, start = 0;
  for (size_t g = 0; g < cols.size(); ++g) {
    if (g < gridProducts) {
      tiles += ll(tileCount) + ", ";
      tileCount += (cols[g] + bnl - 1) / bnl;
    }
    colsText += ll(cols[g]) + ", ";
    starts += ll(start) + ", ";
    start += cols[g];
  }
  tiles += ll(tileCount);
  std::string blocks;
  for (const GemmBlock &b : s.blocks)
    blocks += "{" + ll(b.nBegin) + ", " + ll(b.nEnd) + ", " + ll(b.kBegin) +
              ", " + ll(b.kEnd) + ", " + ll(b.mBegin) + ", " + ll(b.mEnd) +
              ", " + std::to_string(b.group) + "}, ";

  std::string body = kGemm;
  replaceAll(body, "@BM@", std::to_string(BM));
  replaceAll(body, "@BK@", std::to_string(geo.bk));
  replaceAll(body, "@BN@", std::to_string(bn));
  replaceAll(body, "@BNL@", std::to_string(bnl));
  replaceAll(body, "@M@", s.m < 0 ? "a.m" : ll(s.m));
  replaceAll(body, "@K@", s.k < 0 ? "a.k" : ll(s.k));
  replaceAll(body, "@BLOCKS@", blocks);
  replaceAll(body, "@PROD_TILES@", tiles);
  replaceAll(body, "@PROD_COLS@", colsText);
  replaceAll(body, "@PROD_START@", starts);
  replaceAll(body, "@NP@", std::to_string(gridProducts));
  replaceAll(body, "@PASSES@", gatedPair ? "2" : "1");
  replaceAll(body, "@SMEM@", std::to_string(geo.smemBytes));
  replaceAll(body, "@MMA@", mma ? "1" : "0");

  bool norm = !s.normBounds.empty();
  replaceAll(body, "@NORM@", norm ? "1" : "0");
  std::string bounds;
  for (int64_t b : s.normBounds)
    bounds += ll(b) + ", ";
  replaceAll(body, "@NORM_BOUNDS@", norm ? bounds : "0");
  replaceAll(body, "@NG@",
             std::to_string(norm ? s.normBounds.size() - 1 : size_t(1)));
  replaceAll(body, "@NORM_EPS@", exact(s.normEps));

  // Staging order: the operand's contiguous index fastest.
  replaceAll(body, "@A_AT@",
             s.aTransposed ? "a.a[p * a.lda + i]" : "a.a[i * a.lda + p]");
  replaceAll(body, "@A_ROW@", s.aTransposed ? "e % BM" : "e / BK");
  replaceAll(body, "@A_COL@", s.aTransposed ? "e / BM" : "e % BK");
  bool bByColumn = s.bTransposed || s.bBf16;
  replaceAll(body, "@B_COL@", bByColumn ? "e / BK" : "e % BN");
  replaceAll(body, "@B_ROW@", bByColumn ? "e % BK" : "e / BN");
  std::string bAt = s.bTransposed ? "B[j * ldb + kk]" : "B[kk * ldb + j]";
  replaceAll(body, "@B_AT@", bAt);
  replaceAll(body, "@B16_AT@",
             s.bBf16 ? "((const unsigned short *)B)[j * ldb + kk]"
                     : "colm_bf16_bits(" + bAt + ")");

  std::string epilogue;
  if (s.accumulate) {
    epilogue = "*out = *out + p;";
  } else {
    if (gatedPair)
      epilogue = "if (g == 0) {\n          *out = p; // the gate, read by "
                 "up's epilogue\n          continue;\n        }\n        ";
    std::string value = s.addend ? "p + a.r[i * a.ldr + j]" : "p";
    if (s.swiglu == SwiGluEpilogue::None) {
      epilogue += "*out = " + value + ";";
    } else {
      epilogue += "const long long e2 = i * a.lde + j;\n"
                  "        const double gv = a.g[e2], sg = 1.0 / (1.0 + "
                  "exp(-gv)), pv = p;\n        ";
      if (s.swiglu == SwiGluEpilogue::Forward)
        epilogue += "if (a.c2)\n          a.c2[e2] = p;\n"
                    "        *out = float(gv * sg * pv);";
      else
        epilogue += "const double u = a.u[e2];\n"
                    "        *out = float(pv * u * sg * (1.0 + gv * (1.0 - "
                    "sg)));\n        a.c2[e2] = float(pv * gv * sg);";
    }
  }
  replaceAll(body, "@EPILOGUE@", epilogue);

  replaceAll(body, "@ROPE@", std::to_string(s.ropeProducts) + "u");
  std::string freqs = "0.0";
  if (s.ropeProducts) {
    // The same expression as the reference's, so the same doubles.
    freqs.clear();
    for (int64_t m = 0; m < s.ropeHeadDim / 2; ++m)
      freqs += exact(std::pow(s.ropeTheta,
                              -2.0 * double(m) / double(s.ropeHeadDim))) +
               ", ";
  }
  replaceAll(body, "@INV_FREQ@", freqs);
  replaceAll(body, "@HD@", std::to_string(s.ropeProducts ? s.ropeHeadDim : 2));
  std::string addLo = s.addend ? " + a.r[i * a.ldr + c0 + lo]" : "";
  std::string addHi = s.addend ? " + a.r[i * a.ldr + c0 + hi]" : "";
  replaceAll(body, "@ROPE_LO@", "float(Cs[r * CST + lo]" + addLo + ")");
  replaceAll(body, "@ROPE_HI@", "float(Cs[r * CST + hi]" + addHi + ")");

  replaceAll(body, "@SYMBOL@", cpu::chainGemmSymbol(s));
  std::string m = s.m < 0 ? "a.m" : ll(s.m);
  std::string rowTiles = "((" + m + " + " + std::to_string(BM - 1) + ") / " +
                         std::to_string(BM) + ")";
  std::string grid =
      ll(tileCount) + " * (" + rowTiles + " > 0 ? " + rowTiles + " : 1)";
  return assembleCuda(build, s.name(), cpu::chainGemmSymbol(s),
                      COLM_STRINGIFY(COLM_GEMM_ARGS_STRUCT), "ColmGemmArgs",
                      body, {grid, "256"});
}

} // namespace colm::codegen::cuda
