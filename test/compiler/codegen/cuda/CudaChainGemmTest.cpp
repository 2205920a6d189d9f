//===- CudaChainGemmTest.cpp - The CUDA chain GEMM ------------------------===//
//
// Every form of the chain GEMM (the three chain products, dense, transposed
// B, accumulation, the add, SwiGLU and RoPE epilogues, grouped products,
// the norm prologue, bf16 weights), fp32 on FMA tiles and bf16 on the
// tensor-core path, on the SIMT emulator under every schedule against the
// reference: every output the reference writes within a rounding bound,
// every other element untouched. Row counts cover one partial tile, full
// tiles and an edge tile; the NVRTC build compiles for sm_80 and sm_90.
//
//===----------------------------------------------------------------------===//
#include "compiler/codegen/ChainGemm.h"
#include "compiler/codegen/cpu/RenderChainGemm.h"
#include "compiler/codegen/cuda/GemmTuner.h"
#include "compiler/codegen/cuda/RenderChainGemm.h"

#include "../KernelTestUtil.h"
#include "CudaTestUtil.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>

using namespace colm;
using namespace colm::codegen;

namespace {

class CudaChainGemmTest : public colm::test::KernelTest {};

using colm::test::kSchedules;

/// Every operand of one run of `s` at `rows` dynamic rows, random, with
/// the pointers and strides set as the lowering sets them.
struct Operands {
  std::vector<float> a, gain, an, r, g, u, c2;
  std::vector<std::vector<float>> b, c;
  std::vector<std::vector<uint16_t>> b16;
  std::vector<int32_t> positions;
  ColmGemmArgs args{};
};

Operands makeRun(const ChainGemmSpec &s, int64_t rows, unsigned seed) {
  Operands o;
  int64_t M = s.m < 0 ? rows : s.m, K = s.k < 0 ? rows : s.k;
  std::vector<int64_t> cols =
      s.groupColumns.empty() ? std::vector<int64_t>{s.n} : s.groupColumns;
  o.a = colm::test::randomNormal(size_t(M * K), seed);
  o.args.a = o.a.data();
  o.args.m = M;
  o.args.n = s.n;
  o.args.k = K;
  o.args.lda = s.aTransposed ? M : K;
  for (size_t g = 0; g < cols.size(); ++g) {
    o.b.push_back(colm::test::randomNormal(size_t(K * cols[g]), seed + 1 + g));
    o.c.push_back(colm::test::randomNormal(size_t(M * cols[g]), seed + 10 + g));
    const float *b = o.b.back().data();
    if (s.bBf16) {
      o.b16.emplace_back();
      for (float x : o.b.back())
        o.b16.back().push_back(toBf16Bits(x));
      b = reinterpret_cast<const float *>(o.b16.back().data());
    }
    int64_t ldb = s.bTransposed || s.bBf16 ? K : cols[g];
    if (g == 0) {
      o.args.b = b;
      o.args.ldb = ldb;
      o.args.ldc = cols[g];
    } else {
      o.args.gb[g - 1] = b;
      o.args.gldb[g - 1] = ldb;
      o.args.gldc[g - 1] = cols[g];
    }
  }
  int64_t last = cols.back();
  if (s.addend) {
    o.r = colm::test::randomNormal(size_t(M * s.n), seed + 20);
    o.args.r = o.r.data();
    o.args.ldr = s.n;
  }
  if (s.swiglu != SwiGluEpilogue::None) {
    o.g = colm::test::randomNormal(size_t(M * last), seed + 21);
    o.u = colm::test::randomNormal(size_t(M * last), seed + 22);
    o.c2 = colm::test::randomNormal(size_t(M * last), seed + 23);
    o.args.lde = last;
  }
  if (!s.normBounds.empty()) {
    o.gain = colm::test::randomNormal(size_t(K), seed + 24);
    o.an = colm::test::randomNormal(size_t(M * K), seed + 25);
    for (size_t i = 0; i < o.a.size(); i += 7)
      o.a[i] *= 20.0f; // rows of different scales per statistics group
  }
  for (int64_t i = 0; i < M; ++i)
    o.positions.push_back(int32_t((i * 37 + 11) % 3000));
  return o;
}

/// Points `o.args` at its own buffers (after a copy of the Operands).
void bind(const ChainGemmSpec &s, Operands &o) {
  o.args.a = o.a.data();
  for (size_t g = 0; g < o.c.size(); ++g) {
    const float *b = s.bBf16 ? reinterpret_cast<const float *>(o.b16[g].data())
                             : o.b[g].data();
    (g == 0 ? o.args.b : o.args.gb[g - 1]) = b;
    (g == 0 ? o.args.c : o.args.gc[g - 1]) = o.c[g].data();
  }
  o.args.r = o.r.empty() ? nullptr : o.r.data();
  o.args.u = o.u.empty() ? nullptr : o.u.data();
  o.args.c2 = o.c2.empty() ? nullptr : o.c2.data();
  // A grouped SwiGLU reads the gate from its own output.
  o.args.g = o.g.empty()              ? nullptr
             : s.groupColumns.empty() ? o.g.data()
                                      : o.c[0].data();
  o.args.gain = o.gain.empty() ? nullptr : o.gain.data();
  o.args.an = o.an.empty() ? nullptr : o.an.data();
  o.args.positions = s.ropeProducts ? o.positions.data() : nullptr;
}

/// |got - want| within fp32 (and the mma's) rounding of a K-long sum of
/// O(1) products; a wrong range, element or epilogue is off by O(1).
void expectNear(const std::vector<float> &got, const std::vector<float> &want,
                int64_t K, const std::string &what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int bad = 0;
  double tol = 2e-6 * double(K + 8);
  for (size_t i = 0; i < got.size(); ++i)
    if (!(std::abs(double(got[i]) - want[i]) <=
          tol * (1 + std::abs(double(want[i])))) &&
        bad++ < 3)
      ADD_FAILURE() << what << ": [" << i << "] = " << got[i] << ", reference "
                    << want[i];
}

std::vector<ChainGemmSpec> gemmSpecs() {
  std::vector<ChainGemmSpec> specs;
  for (bool bf16 : {false, true}) {
    std::vector<ChainGemmSpec> some;
    for (auto chains : std::vector<std::vector<int64_t>>{{1, 1}, {2, 2, 4}})
      for (ChainGemmSpec s : {chainLinearForward(chains, 64, 96),
                              chainLinearInputGrad(chains, 64, 96),
                              chainLinearWeightGrad(chains, 64, 96),
                              chainLinearWeightGrad(chains, 64, 96, 2)})
        some.push_back(s);
    some.push_back(chainLinearForward({3, 1}, 40, 72)); // ragged tiles
    some.push_back(denseGemm(40, 50, true));
    some.push_back(denseGemm(40, 50, false));
    ChainGemmSpec acc = chainLinearWeightGrad({1, 1}, 64, 96);
    acc.accumulate = true;
    some.push_back(acc);
    ChainGemmSpec add = chainLinearForward({1, 1}, 64, 64);
    add.addend = true;
    some.push_back(add);
    for (SwiGluEpilogue e :
         {SwiGluEpilogue::Forward, SwiGluEpilogue::Backward}) {
      ChainGemmSpec sw = chainLinearForward({1, 3}, 64, 80);
      if (e == SwiGluEpilogue::Backward)
        sw = chainLinearInputGrad({1, 3}, 80, 64);
      sw.swiglu = e;
      some.push_back(sw);
    }
    ChainGemmSpec qkv = groupGemms({chainLinearForward({2, 2}, 48, 72),
                                    chainLinearForward({2, 2}, 48, 40),
                                    chainLinearForward({2, 2}, 48, 40)});
    some.push_back(qkv);
    ChainGemmSpec mlp = groupGemms({chainLinearForward({1, 1, 2}, 64, 88),
                                    chainLinearForward({1, 1, 2}, 64, 88)});
    mlp.swiglu = SwiGluEpilogue::Forward;
    some.push_back(mlp);
    ChainGemmSpec normed = mlp;
    normed.normBounds = {0, 16, 32, 64};
    normed.normEps = 1e-5;
    some.push_back(normed);
    ChainGemmSpec normedQkv = qkv;
    normedQkv.normBounds = {0, 24, 48};
    normedQkv.normEps = 1e-6;
    some.push_back(normedQkv);
    ChainGemmSpec roped = groupGemms({chainLinearForward({1, 1, 2}, 40, 48),
                                      chainLinearForward({1, 1, 2}, 40, 32),
                                      chainLinearForward({1, 1, 2}, 40, 32)});
    roped.ropeProducts = 3;
    roped.ropeHeadDim = 16;
    roped.ropeTheta = 10000.0;
    roped.normBounds = {0, 10, 20, 40};
    roped.normEps = 1e-5;
    some.push_back(roped);
    ChainGemmSpec wideHeads = chainLinearForward({1, 1}, 32, 192);
    wideHeads.ropeProducts = 1;
    wideHeads.ropeHeadDim = 96; // a tile of one 96-column head
    wideHeads.ropeTheta = 500000.0;
    some.push_back(wideHeads);
    for (ChainGemmSpec &s : some) {
      s.bf16 = bf16;
      specs.push_back(s);
    }
    if (bf16) {
      ChainGemmSpec w = chainLinearForward({1, 1, 2}, 64, 96);
      w.bf16 = w.bBf16 = true;
      specs.push_back(w);
    }
  }
  return specs;
}

} // namespace

TEST_F(CudaChainGemmTest, EveryFormOnTheEmulatorMatchesTheReference) {
  std::vector<ChainGemmSpec> specs = gemmSpecs();
  std::vector<KernelSource> sources;
  std::vector<std::string> symbols;
  for (const ChainGemmSpec &s : specs) {
    ASSERT_TRUE(validateChainGemm(s).isOk())
        << s.name() << ": " << validateChainGemm(s).message();
    sources.push_back(
        {"cuda_" + s.name(),
         codegen::cuda::renderChainGemm(s, codegen::cuda::CudaBuild::HostSim)});
    symbols.push_back(cpu::chainGemmSymbol(s));
  }
  std::vector<ColmKernelFn> fns =
      compile(sources, symbols, codegen::cuda::hostSimFlags());
  ASSERT_EQ(fns.size(), specs.size());
  for (const char *schedule : kSchedules) {
    setenv("COLM_SIMT_SCHEDULE", schedule, 1);
    for (int64_t rows : {5, 64, 130})
      for (size_t i = 0; i < specs.size(); ++i) {
        const ChainGemmSpec &s = specs[i];
        int threads = rows == 130 ? 2 : 1;
        Operands got = makeRun(s, rows, unsigned(i * 100 + rows));
        Operands want = got;
        bind(s, got);
        bind(s, want);
        colm::test::runOnThreads(fns[i], got.args, threads);
        chainGemmReference(s, want.args);
        std::string what = s.name() + (s.bf16 ? " bf16" : "") + ", " +
                           schedule + ", " + std::to_string(rows) + " rows";
        int64_t K = got.args.k;
        for (size_t g = 0; g < got.c.size(); ++g)
          expectNear(got.c[g], want.c[g], K,
                     what + ", C of product " + std::to_string(g));
        expectNear(got.c2, want.c2, K, what + ", c2");
        expectNear(got.an, want.an, K, what + ", the normalised A");
      }
  }
  unsetenv("COLM_SIMT_SCHEDULE");
}

TEST_F(CudaChainGemmTest, NvrtcBuildCompilesForSm80AndSm90) {
  COLM_SKIP_WITHOUT_NVRTC();
  for (const ChainGemmSpec &s : gemmSpecs())
    EXPECT_EQ(colm::test::nvrtcCheck(codegen::cuda::renderChainGemm(
                                         s, codegen::cuda::CudaBuild::Nvrtc),
                                     cpu::chainGemmSymbol(s) + "_kernel"),
              "")
        << s.name();
}

namespace {

/// Specs where the tile could matter: reductions starting off a multiple of
/// 16 (input grads of 30 + 10 columns), ragged tiles, grouped products with
/// RoPE heads and a norm prologue, the gate/up pair, accumulation.
std::vector<ChainGemmSpec> tileSpecs() {
  std::vector<ChainGemmSpec> out;
  for (bool bf16 : {false, true}) {
    std::vector<ChainGemmSpec> some = {
        chainLinearInputGrad({3, 1}, 40, 72),
        chainLinearForward({3, 1}, 40, 72),
        chainLinearWeightGrad({1, 1, 2}, 64, 96),
    };
    ChainGemmSpec roped = groupGemms({chainLinearForward({1, 1, 2}, 40, 48),
                                      chainLinearForward({1, 1, 2}, 40, 32),
                                      chainLinearForward({1, 1, 2}, 40, 32)});
    roped.ropeProducts = 3;
    roped.ropeHeadDim = 16;
    roped.ropeTheta = 10000.0;
    roped.normBounds = {0, 10, 20, 40};
    roped.normEps = 1e-5;
    some.push_back(roped);
    ChainGemmSpec mlp = groupGemms({chainLinearForward({1, 1, 2}, 64, 88),
                                    chainLinearForward({1, 1, 2}, 64, 88)});
    mlp.swiglu = SwiGluEpilogue::Forward;
    some.push_back(mlp);
    ChainGemmSpec acc = chainLinearWeightGrad({1, 1}, 64, 96);
    acc.accumulate = true;
    some.push_back(acc);
    // fp32 adds in k order whatever the tile: two forms are enough there.
    for (size_t i = 0; i < some.size(); ++i)
      if (bf16 || i == 0 || i == 3) {
        some[i].bf16 = bf16;
        out.push_back(some[i]);
      }
  }
  return out;
}

} // namespace

TEST_F(CudaChainGemmTest, TilesNeverChangeTheBits) {
  // Every candidate tile of the tuner gives the default tile's bits (and so
  // the reference within rounding), at an edge tile of rows.
  std::vector<ChainGemmSpec> specs;
  std::vector<size_t> firstOf; // per base spec: its default's index
  for (const ChainGemmSpec &base : tileSpecs()) {
    std::vector<CudaGemmTile> tiles = codegen::cuda::tileCandidates(base);
    ASSERT_GE(tiles.size(), 8u) << base.name();
    ASSERT_EQ(tiles[0], CudaGemmTile{});
    firstOf.push_back(specs.size());
    for (const CudaGemmTile &t : tiles) {
      ChainGemmSpec s = base;
      s.knobs.cuda = t;
      specs.push_back(s);
    }
  }
  firstOf.push_back(specs.size());
  std::vector<KernelSource> sources;
  std::vector<std::string> symbols;
  for (const ChainGemmSpec &s : specs) {
    sources.push_back(
        {"cuda_" + s.name(),
         codegen::cuda::renderChainGemm(s, codegen::cuda::CudaBuild::HostSim)});
    symbols.push_back(cpu::chainGemmSymbol(s));
  }
  std::vector<ColmKernelFn> fns =
      compile(sources, symbols, codegen::cuda::hostSimFlags());
  ASSERT_EQ(fns.size(), specs.size());
  setenv("COLM_SIMT_SCHEDULE", "greedy", 1);
  for (size_t b = 0; b + 1 < firstOf.size(); ++b) {
    std::vector<std::vector<float>> first;
    for (size_t i = firstOf[b]; i < firstOf[b + 1]; ++i) {
      const ChainGemmSpec &s = specs[i];
      Operands got = makeRun(s, 150, unsigned(b * 100 + 7));
      bind(s, got);
      colm::test::runOnThreads(fns[i], got.args, 2);
      std::vector<std::vector<float>> outs = got.c;
      outs.push_back(got.c2);
      outs.push_back(got.an);
      if (i == firstOf[b]) {
        Operands want = makeRun(s, 150, unsigned(b * 100 + 7));
        bind(s, want);
        chainGemmReference(s, want.args);
        for (size_t g = 0; g < got.c.size(); ++g)
          expectNear(got.c[g], want.c[g], got.args.k, s.name());
        first = outs;
        continue;
      }
      for (size_t o = 0; o < outs.size(); ++o)
        EXPECT_TRUE(outs[o] == first[o])
            << s.name() << (s.bf16 ? " bf16" : "") << " (tile "
            << codegen::cuda::describeTile(s.knobs.cuda) << "): output " << o
            << " differs from the default tile's";
    }
  }
  unsetenv("COLM_SIMT_SCHEDULE");
}

TEST_F(CudaChainGemmTest, EveryCandidateTileCompilesWithoutSpills) {
  COLM_SKIP_WITHOUT_NVRTC();
  // Grouped products with a norm prologue and RoPE, fp32 (the largest FMA
  // register tiles) and bf16, and a plain bf16 weight gradient.
  std::vector<ChainGemmSpec> specs = tileSpecs();
  for (const ChainGemmSpec &base : {specs[1], specs[2 + 3], specs[2 + 2]})
    for (const CudaGemmTile &t : codegen::cuda::tileCandidates(base)) {
      ChainGemmSpec s = base;
      s.knobs.cuda = t;
      EXPECT_EQ(colm::test::nvrtcCheck(codegen::cuda::renderChainGemm(
                                           s, codegen::cuda::CudaBuild::Nvrtc),
                                       cpu::chainGemmSymbol(s) + "_kernel"),
                "")
          << s.name();
    }
}
