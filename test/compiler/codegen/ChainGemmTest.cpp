//===- ChainGemmTest.cpp - The chain GEMM against its reference -----------===//
//
// Every product of a chain linear (forward, input grad, weight grad), for
// several chain layouts, ragged shapes and tile shapes, rendered, compiled
// with the host compiler and run on 1..3 threads, against the plain-loop
// reference; and bit for bit the same result for every thread count and
// knob (one FMA chain per output element, in ascending order).
//
//===----------------------------------------------------------------------===//

#include "compiler/codegen/ChainGemm.h"
#include "compiler/codegen/Pointwise.h"
#include "compiler/codegen/cpu/CpuJit.h"
#include "compiler/codegen/cpu/RenderChainGemm.h"
#include "compiler/codegen/cpu/RenderPointwise.h"
#include "runtime/CpuInfo.h"

#include "KernelTestUtil.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <thread>

using namespace colm;
using namespace colm::codegen;

namespace {

using colm::test::runOnThreads;

struct Case {
  GemmUse use;
  std::vector<int64_t> chains;
  int64_t in, out, rows; // rows: the dynamic size (tokens)
};

ChainGemmSpec specFor(const Case &c) {
  switch (c.use) {
  case GemmUse::Forward:
    return chainLinearForward(c.chains, c.in, c.out);
  case GemmUse::InputGrad:
    return chainLinearInputGrad(c.chains, c.in, c.out);
  case GemmUse::WeightGrad:
    return chainLinearWeightGrad(c.chains, c.in, c.out);
  case GemmUse::Dense:
    return denseGemm(c.out, c.in, true);
  }
  return {};
}

struct Operands {
  std::vector<float> a, b, c;
  ColmGemmArgs args{};
};

Operands operands(const ChainGemmSpec &s, int64_t dynamic, unsigned seed) {
  Operands o;
  int64_t M = s.m < 0 ? dynamic : s.m, K = s.k < 0 ? dynamic : s.k, N = s.n;
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  o.a.resize(M * K);
  o.b.resize(K * N);
  o.c.assign(M * N, 0.0f);
  for (float &x : o.a)
    x = normal(rng);
  for (float &x : o.b)
    x = normal(rng);
  for (float &x : o.c)
    x = normal(rng); // what a kernel must overwrite, add to, or leave alone
  o.args = {o.a.data(),
            o.b.data(),
            o.c.data(),
            M,
            N,
            K,
            s.aTransposed ? M : K,
            s.bTransposed ? K : N,
            N};
  return o;
}

class ChainGemmTest : public colm::test::KernelTest {
protected:
  /// Compiles all specs at once (in parallel) and returns their entry
  /// points, in order.
  std::vector<ColmKernelFn>
  compile(const std::vector<ChainGemmSpec> &specs,
          const std::vector<cpu::VectorIsa> &isas = {}) {
    std::vector<KernelSource> sources;
    for (size_t i = 0; i < specs.size(); ++i) {
      const ChainGemmSpec &s = specs[i];
      EXPECT_TRUE(validateChainGemm(s).isOk())
          << validateChainGemm(s).message();
      sources.push_back(
          {s.name(), cpu::renderChainGemm(s, isas.empty() ? cpu::hostVectorIsa()
                                                          : isas[i])});
    }
    std::vector<std::string> symbols;
    for (const auto &s : specs)
      symbols.push_back(cpu::chainGemmSymbol(s));
    return KernelTest::compile(sources, symbols);
  }

  /// Every spec's kernel three ways on `isa`: as given, with other knobs (a
  /// narrow tile, odd kc, small row blocks) and with one kc chunk per pass
  /// (a 4 KiB L2), for checks that the bits depend on none of them.
  struct Variants {
    std::vector<ChainGemmSpec> specs, other;
    std::vector<ColmKernelFn> fns[3];
  };
  Variants compileVariants(const std::vector<ChainGemmSpec> &specs,
                           const cpu::VectorIsa &isa) {
    Variants out;
    out.specs = specs;
    out.other = specs;
    for (ChainGemmSpec &s : out.other)
      s.knobs = {4, 2 * isa.lanes, 17, 8};
    cpu::VectorIsa small = isa;
    small.l2Bytes = 4096;
    std::vector<cpu::VectorIsa> isas(specs.size(), isa),
        smalls(specs.size(), small);
    out.fns[0] = compile(specs, isas);
    out.fns[1] = compile(out.other, isas);
    out.fns[2] = compile(specs, smalls);
    return out;
  }
  /// Runs spec i's three kernels, each on 1..3 threads from C = `initial`,
  /// and calls check(c, what) on each result.
  template <class Check>
  void runVariants(const Variants &k, size_t i, Operands &o,
                   const std::vector<float> &initial, Check check) {
    for (size_t v = 0; v < 3; ++v)
      for (int threads : {1, 2, 3}) {
        o.c = initial;
        o.args.c = o.c.data();
        runOnThreads(k.fns[v][i], o.args, threads);
        std::string what = (v == 1 ? k.other[i] : k.specs[i]).name() +
                           (v == 2 ? " (one chunk per pass)" : "") + " on " +
                           std::to_string(threads) + " threads";
        check(o.c, what);
      }
  }
};

/// Per case, its spec (default knobs, kc 32: several reduction chunks) and
/// the same spec changed by `variant`: plain, variant, plain, variant, ...
/// A variant is another kernel that shares the plain one's tuned knobs.
template <typename Variant>
std::vector<ChainGemmSpec> withVariants(const std::vector<Case> &cases,
                                        Variant variant) {
  std::vector<ChainGemmSpec> specs;
  for (const Case &c : cases) {
    ChainGemmSpec plain = specFor(c);
    plain.knobs = cpu::defaultKnobs(cpu::hostVectorIsa());
    plain.knobs.kc = 32;
    ChainGemmSpec changed = plain;
    variant(changed);
    EXPECT_NE(plain.name(), changed.name());
    EXPECT_EQ(plain.shapeKey(), changed.shapeKey());
    specs.push_back(plain);
    specs.push_back(changed);
  }
  return specs;
}

/// |got - want| <= tol * (sum over the reduction of |a||b|): the bound of
/// any fp32 summation order, with a margin.
void expectClose(const ChainGemmSpec &s, const Operands &o,
                 const std::vector<float> &got, const std::vector<float> &want,
                 const std::vector<float> &initial, const std::string &what) {
  int64_t M = o.args.m, N = o.args.n, K = o.args.k;
  int bad = 0;
  for (const GemmBlock &blk : s.blocks) {
    int64_t kEnd = blk.kEnd < 0 ? K : blk.kEnd,
            mEnd = blk.mEnd < 0 ? M : blk.mEnd;
    for (int64_t i = blk.mBegin; i < mEnd; ++i)
      for (int64_t j = blk.nBegin; j < blk.nEnd; ++j) {
        double scale = s.accumulate ? std::abs(initial[i * N + j]) : 0.0;
        for (int64_t p = blk.kBegin; p < kEnd; ++p) {
          double a =
              s.aTransposed ? o.a[p * o.args.lda + i] : o.a[i * o.args.lda + p];
          double b =
              s.bTransposed ? o.b[j * o.args.ldb + p] : o.b[p * o.args.ldb + j];
          scale += std::abs(a * b);
        }
        double tol = 4e-7 * double(kEnd - blk.kBegin + 2) * (scale + 1e-30);
        if (std::abs(double(got[i * N + j]) - want[i * N + j]) > tol &&
            bad++ < 5)
          ADD_FAILURE() << what << ": C[" << i << ", " << j
                        << "] = " << got[i * N + j] << ", reference "
                        << want[i * N + j];
      }
  }
  // Outside every block C is untouched.
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      bool kept = false;
      for (const GemmBlock &blk : s.blocks) {
        int64_t mEnd = blk.mEnd < 0 ? M : blk.mEnd;
        kept |= j >= blk.nBegin && j < blk.nEnd && i >= blk.mBegin && i < mEnd;
      }
      if (!kept && got[i * N + j] != initial[i * N + j] && bad++ < 5)
        ADD_FAILURE() << what << ": C[" << i << ", " << j
                      << "] outside the blocks was written";
    }
  EXPECT_EQ(bad, 0) << what;
}

/// The host's default knobs with kc 32 (several reduction chunks even at
/// test sizes), in fp32 or bf16.
ChainGemmSpec testKnobs(ChainGemmSpec s, bool bf16) {
  s.knobs = cpu::defaultKnobs(cpu::hostVectorIsa());
  s.knobs.kc = 32;
  s.bf16 = bf16;
  return s;
}

} // namespace

TEST_F(ChainGemmTest, EveryChainProductMatchesTheReference) {
  std::vector<Case> cases;
  for (GemmUse use :
       {GemmUse::Forward, GemmUse::InputGrad, GemmUse::WeightGrad})
    for (auto chains : std::vector<std::vector<int64_t>>{
             {1}, {1, 1}, {2, 2, 4}, {1, 1, 2}, {3, 1}})
      cases.push_back({use, chains, 48, 80, 37});
  // Ragged strips and row tiles, and a dense product.
  cases.push_back({GemmUse::Forward, {2, 2, 4}, 40, 104, 13});
  cases.push_back({GemmUse::WeightGrad, {1, 1, 2}, 24, 56, 29});
  cases.push_back({GemmUse::Dense, {1}, 33, 70, 5});
  std::vector<ChainGemmSpec> specs;
  for (const Case &c : cases) {
    ChainGemmSpec s = specFor(c);
    s.knobs = cpu::defaultKnobs(cpu::hostVectorIsa());
    s.knobs.kc = 32; // several reduction chunks even at these sizes
    specs.push_back(s);
  }
  // The accumulating forms too (C += ...).
  for (size_t i = 0; i < 3; ++i) {
    ChainGemmSpec s = specs[i * 5 + 2];
    s.accumulate = true;
    specs.push_back(s);
    cases.push_back(cases[i * 5 + 2]);
  }
  std::vector<ColmKernelFn> fns = compile(specs);
  ASSERT_EQ(fns.size(), specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    const ChainGemmSpec &s = specs[i];
    Operands o = operands(s, cases[i].rows, static_cast<unsigned>(i));
    std::vector<float> initial = o.c, want = o.c;
    ColmGemmArgs ref = o.args;
    ref.c = want.data();
    chainGemmReference(s, ref);
    std::vector<float> first;
    for (int threads : {1, 2, 3}) {
      o.c = initial;
      o.args.c = o.c.data();
      runOnThreads(fns[i], o.args, threads);
      expectClose(s, o, o.c, want, initial,
                  s.name() + " on " + std::to_string(threads) + " threads");
      if (threads == 1)
        first = o.c;
      else
        EXPECT_EQ(o.c, first)
            << s.name() << ": " << threads << " threads differ from one";
    }
  }
}

// More rows than columns: threads split the rows (by work, so weight-grad
// blocks whose row ranges start inside a tile are split too); and with a
// small L2 the reduction takes several passes over B. The reference's
// results, and the same bits for every thread count and pass depth.
TEST_F(ChainGemmTest, RowSplitAndSeveralPassesGiveTheSameBits) {
  std::vector<Case> cases = {{GemmUse::Forward, {2, 2, 4}, 40, 24, 131},
                             {GemmUse::InputGrad, {1, 1, 2}, 32, 56, 97},
                             {GemmUse::WeightGrad, {2, 2, 4}, 24, 88, 75},
                             {GemmUse::WeightGrad, {3, 1}, 16, 61, 50}};
  cpu::VectorIsa host = cpu::hostVectorIsa(), small = host;
  small.l2Bytes = 4096; // one kc chunk per pass
  std::vector<ChainGemmSpec> specs;
  for (const Case &c : cases) {
    ChainGemmSpec s = specFor(c);
    s.knobs = cpu::defaultKnobs(host);
    s.knobs.kc = 16;
    specs.push_back(s);
  }
  // Two batches: a kernel's name does not say how deep its passes are.
  std::vector<ColmKernelFn> fns[2] = {
      compile(specs, std::vector<cpu::VectorIsa>(specs.size(), host)),
      compile(specs, std::vector<cpu::VectorIsa>(specs.size(), small))};
  ASSERT_EQ(fns[0].size(), specs.size());
  ASSERT_EQ(fns[1].size(), specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    const ChainGemmSpec &s = specs[i];
    Operands o = operands(s, cases[i].rows, static_cast<unsigned>(i));
    ASSERT_GT(o.args.m, s.n) << "the rows must outnumber the columns";
    std::vector<float> initial = o.c, want = o.c;
    ColmGemmArgs ref = o.args;
    ref.c = want.data();
    chainGemmReference(s, ref);
    std::vector<float> first;
    for (size_t v = 0; v < 2; ++v)
      for (int threads : {1, 2, 3}) {
        o.c = initial;
        o.args.c = o.c.data();
        runOnThreads(fns[v][i], o.args, threads);
        std::string what = s.name() + (v ? " (one chunk per pass)" : "") +
                           " on " + std::to_string(threads) + " threads";
        expectClose(s, o, o.c, want, initial, what);
        if (first.empty())
          first = o.c;
        else
          EXPECT_EQ(o.c, first) << what << " differs from one thread";
      }
  }
}

// One to four rows (a decode step) take the unpacked dot-product path when B
// is stored [N, K]: the reference's results within rounding, the same bits
// on any thread count, ragged reductions and accumulation included; and zero
// weights appended to the reduction (an expanded model) change no bit.
TEST_F(ChainGemmTest, FewRowsMatchTheReference) {
  std::vector<ChainGemmSpec> specs = {chainLinearForward({2, 2, 4}, 104, 72),
                                      chainLinearForward({1}, 37, 19),
                                      denseGemm(45, 67, true)};
  ChainGemmSpec acc = chainLinearForward({1, 1}, 96, 64);
  acc.accumulate = true;
  specs.push_back(acc);
  for (ChainGemmSpec &s : specs)
    s.knobs = cpu::defaultKnobs(cpu::hostVectorIsa());
  std::vector<ColmKernelFn> fns = compile(specs);
  ASSERT_EQ(fns.size(), specs.size());
  for (size_t i = 0; i < specs.size(); ++i)
    for (int64_t rows : {1, 2, 3, 4, 5, 7, 13, 16, 17}) {
      const ChainGemmSpec &s = specs[i];
      Operands o = operands(s, rows, static_cast<unsigned>(10 * i + rows));
      std::vector<float> initial = o.c, want = o.c;
      ColmGemmArgs ref = o.args;
      ref.c = want.data();
      chainGemmReference(s, ref);
      std::vector<float> first;
      for (int threads : {1, 2, 3}) {
        o.c = initial;
        o.args.c = o.c.data();
        runOnThreads(fns[i], o.args, threads);
        std::string what = s.name() + ", " + std::to_string(rows) +
                           " rows on " + std::to_string(threads) + " threads";
        expectClose(s, o, o.c, want, initial, what);
        if (threads == 1)
          first = o.c;
        else
          EXPECT_EQ(o.c, first) << what;
      }
      // Up to 16 rows (a decoding batch), each row has the bits it has
      // alone: a sequence decodes alike in a batch and on its own.
      for (int64_t r = 0; rows > 1 && rows <= 16 && r < rows; ++r) {
        std::vector<float> alone(o.c.begin() + r * s.n,
                                 o.c.begin() + (r + 1) * s.n);
        std::copy(initial.begin() + r * s.n, initial.begin() + (r + 1) * s.n,
                  alone.begin());
        ColmGemmArgs one = o.args;
        one.a = o.a.data() + r * o.args.lda;
        one.c = alone.data();
        one.m = 1;
        runOnThreads(fns[i], one, 2);
        EXPECT_TRUE(
            std::equal(alone.begin(), alone.end(), first.begin() + r * s.n))
            << s.name() << ": row " << r << " of " << rows
            << " differs from the same row alone";
      }
      // K + 21 with zero weights past K (any A there): the same bits.
      ChainGemmSpec wide = denseGemm(s.n, s.k + 21, true);
      wide.knobs = s.knobs;
      wide.accumulate = s.accumulate;
      if (i == 2) {
        auto wfn = compile({wide});
        ASSERT_EQ(wfn.size(), 1u);
        std::vector<float> a2(rows * wide.k, 3.5f), b2(wide.n * wide.k, 0.0f),
            c2 = initial;
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t k = 0; k < s.k; ++k)
            a2[r * wide.k + k] = o.a[r * s.k + k];
        for (int64_t j = 0; j < s.n; ++j)
          for (int64_t k = 0; k < s.k; ++k)
            b2[j * wide.k + k] = o.b[j * s.k + k];
        ColmGemmArgs w{a2.data(), b2.data(), c2.data(), rows,  wide.n,
                       wide.k,    wide.k,    wide.k,    wide.n};
        runOnThreads(wfn[0], w, 2);
        EXPECT_EQ(c2, first)
            << "zero weights past K changed the bits of " << rows << " rows";
      }
    }
}

// The add epilogue of a chain.fused gemm_add: C = product + R has exactly
// the bits of the product followed by a separate add, on the packed path
// (several reduction chunks, ragged strips and row tiles) and on the
// few-rows path, on any thread count; and the reference agrees.
TEST_F(ChainGemmTest, AddEpilogueHasTheBitsOfAProductThenAnAdd) {
  std::vector<Case> cases = {{GemmUse::Forward, {2, 2, 4}, 48, 80, 37},
                             {GemmUse::InputGrad, {1, 1, 2}, 40, 104, 13},
                             {GemmUse::Dense, {1}, 33, 70, 3},
                             {GemmUse::Forward, {1, 1}, 64, 64, 2}};
  std::vector<ChainGemmSpec> specs =
      withVariants(cases, [](ChainGemmSpec &s) { s.addend = true; });
  std::vector<ColmKernelFn> fns = compile(specs);
  ASSERT_EQ(fns.size(), specs.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    const ChainGemmSpec &plain = specs[2 * i], &fused = specs[2 * i + 1];
    Operands o = operands(plain, cases[i].rows, static_cast<unsigned>(i + 40));
    int64_t M = o.args.m, N = o.args.n;
    std::vector<float> r(M * N);
    std::mt19937 rng(static_cast<unsigned>(i));
    std::normal_distribution<float> normal;
    for (float &x : r)
      x = normal(rng);
    std::vector<float> initial = o.c;
    runOnThreads(fns[2 * i], o.args, 2);
    std::vector<float> want = o.c;
    for (int64_t e = 0; e < M * N; ++e)
      want[e] = want[e] + r[e];
    std::vector<float> ref = initial;
    ColmGemmArgs refArgs = o.args;
    refArgs.c = ref.data();
    refArgs.r = r.data();
    refArgs.ldr = N;
    chainGemmReference(fused, refArgs);
    for (int threads : {1, 2, 3}) {
      o.c = initial;
      o.args.c = o.c.data();
      o.args.r = r.data();
      o.args.ldr = N;
      runOnThreads(fns[2 * i + 1], o.args, threads);
      std::string what =
          fused.name() + " on " + std::to_string(threads) + " threads";
      EXPECT_EQ(o.c, want) << what << ": not the bits of product + add";
      int bad = 0;
      for (int64_t e = 0; e < M * N; ++e)
        if (std::abs(o.c[e] - ref[e]) > 1e-4f * (1.0f + std::abs(ref[e])) &&
            bad++ < 3)
          ADD_FAILURE() << what << ": C[" << e << "] = " << o.c[e]
                        << ", reference " << ref[e];
    }
  }
  // An addend needs every row written, and excludes accumulate.
  ChainGemmSpec both = specs[1];
  both.accumulate = true;
  EXPECT_FALSE(validateChainGemm(both).isOk());
  ChainGemmSpec grad = chainLinearWeightGrad({1, 1}, 8, 8);
  grad.addend = true;
  EXPECT_FALSE(validateChainGemm(grad).isOk());
}

// The SwiGLU epilogues: forward (the up projection P, then silu(g) P, P
// kept in c2) and backward (P = dh, then dgate in C and dup in c2) have the
// bits of the product followed by the SwiGLU kernel, on every thread count,
// on the packed, few-rows and row-split paths and ragged strips.
TEST_F(ChainGemmTest, SwiGluEpilogueHasTheBitsOfAProductThenASwiGlu) {
  std::vector<Case> cases = {{GemmUse::Forward, {2, 2, 4}, 48, 88, 37},
                             {GemmUse::Forward, {1, 1}, 64, 40, 3},
                             {GemmUse::Forward, {1, 1, 2}, 24, 40, 97},
                             {GemmUse::InputGrad, {1, 1, 2}, 40, 104, 13},
                             {GemmUse::InputGrad, {2, 2, 4}, 24, 64, 70}};
  std::vector<ChainGemmSpec> specs;
  std::vector<KernelSource> swiglus;
  std::vector<std::string> swigluSymbols;
  for (const Case &c : cases) {
    bool backward = c.use == GemmUse::InputGrad;
    std::vector<ChainGemmSpec> pair = withVariants({c}, [&](ChainGemmSpec &s) {
      s.swiglu = backward ? SwiGluEpilogue::Backward : SwiGluEpilogue::Forward;
    });
    ASSERT_TRUE(validateChainGemm(pair[1]).isOk())
        << validateChainGemm(pair[1]).message();
    specs.insert(specs.end(), pair.begin(), pair.end());
    SwiGluSpec sw{pair[0].n, backward};
    swiglus.push_back({sw.name(), cpu::renderSwiGlu(sw)});
    swigluSymbols.push_back(cpu::swiGluSymbol(sw));
  }
  std::vector<ColmKernelFn> fns = compile(specs);
  std::vector<ColmKernelFn> sfns = KernelTest::compile(swiglus, swigluSymbols);
  ASSERT_EQ(fns.size(), specs.size());
  ASSERT_EQ(sfns.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    const ChainGemmSpec &plain = specs[2 * i], &fused = specs[2 * i + 1];
    bool backward = fused.swiglu == SwiGluEpilogue::Backward;
    Operands o = operands(plain, cases[i].rows, static_cast<unsigned>(i + 60));
    int64_t M = o.args.m, N = o.args.n;
    std::vector<float> g(M * N), u(M * N);
    std::mt19937 rng(static_cast<unsigned>(i));
    std::normal_distribution<float> normal;
    for (size_t e = 0; e < g.size(); ++e) {
      g[e] = 3.0f * normal(rng);
      u[e] = normal(rng);
    }
    // Unfused: the product, then the SwiGLU kernel on it.
    std::vector<float> initial = o.c;
    runOnThreads(fns[2 * i], o.args, 2);
    std::vector<float> product = o.c, want(M * N), want2(M * N);
    ColmSwiGluArgs sa{g.data(),
                      backward ? u.data() : product.data(),
                      backward ? product.data() : nullptr,
                      backward ? nullptr : want.data(),
                      backward ? want.data() : nullptr,
                      backward ? want2.data() : nullptr,
                      M};
    runOnThreads(sfns[i], sa, 1);
    if (!backward)
      want2 = product;
    std::vector<float> ref = initial, ref2(M * N);
    ColmGemmArgs refArgs = o.args;
    refArgs.c = ref.data();
    refArgs.g = g.data();
    refArgs.u = u.data();
    refArgs.c2 = ref2.data();
    refArgs.lde = N;
    chainGemmReference(fused, refArgs);
    for (int threads : {1, 2, 3}) {
      o.c = initial;
      std::vector<float> c2(M * N, 7.0f);
      o.args.c = o.c.data();
      o.args.g = g.data();
      o.args.u = u.data();
      o.args.c2 = c2.data();
      o.args.lde = N;
      runOnThreads(fns[2 * i + 1], o.args, threads);
      std::string what =
          fused.name() + " on " + std::to_string(threads) + " threads";
      EXPECT_EQ(o.c, want) << what << ": not the bits of product + SwiGLU";
      EXPECT_EQ(c2, want2) << what << ": the second output differs";
      int bad = 0;
      for (int64_t e = 0; e < M * N; ++e)
        for (auto [got, r] : {std::pair{o.c[e], ref[e]}, {c2[e], ref2[e]}})
          if (std::abs(got - r) > 1e-4f * (1.0f + std::abs(r)) && bad++ < 3)
            ADD_FAILURE() << what << ": [" << e << "] = " << got
                          << ", reference " << r;
    }
  }
  // Not with an addend, accumulate, or blocks that skip rows.
  ChainGemmSpec both = specs[1];
  both.addend = true;
  EXPECT_FALSE(validateChainGemm(both).isOk());
  both = specs[1];
  both.accumulate = true;
  EXPECT_FALSE(validateChainGemm(both).isOk());
  ChainGemmSpec grad = chainLinearWeightGrad({1, 1}, 8, 8);
  grad.swiglu = SwiGluEpilogue::Forward;
  EXPECT_FALSE(validateChainGemm(grad).isOk());
}

// A grouped GEMM (q/k/v; gate/up with the SwiGLU): each product's C has
// exactly the bits of that product run alone (and, for the SwiGLU, of the
// gate alone then up with its epilogue), on the packed, few-rows and (bf16)
// AMX paths, on 1..3 threads; and the reference agrees.
TEST_F(ChainGemmTest, GroupedProductsHaveTheBitsOfEachProductAlone) {
  struct Group {
    std::vector<ChainGemmSpec> parts;
    bool swiglu, bf16;
  };
  const cpu::VectorIsa isa = cpu::hostVectorIsa();
  auto knobbed = testKnobs;
  std::vector<Group> groups;
  for (bool bf16 : {false, true}) {
    // q/k/v of a CoLM layer (GQA: k and v narrower), ragged strips.
    groups.push_back({{knobbed(chainLinearForward({2, 2}, 48, 72), bf16),
                       knobbed(chainLinearForward({2, 2}, 48, 40), bf16),
                       knobbed(chainLinearForward({2, 2}, 48, 40), bf16)},
                      false,
                      bf16});
    // k/v of CoLM-Air (dense), and gate/up with the SwiGLU.
    groups.push_back({{knobbed(denseGemm(24, 32, true), bf16),
                       knobbed(denseGemm(24, 32, true), bf16)},
                      false,
                      bf16});
    groups.push_back({{knobbed(chainLinearForward({1, 1, 2}, 64, 88), bf16),
                       knobbed(chainLinearForward({1, 1, 2}, 64, 88), bf16)},
                      true,
                      bf16});
  }
  std::vector<ChainGemmSpec> specs;
  for (const Group &g : groups) {
    ChainGemmSpec grouped = groupGemms(g.parts);
    if (g.swiglu)
      grouped.swiglu = SwiGluEpilogue::Forward;
    ASSERT_TRUE(validateChainGemm(grouped).isOk())
        << validateChainGemm(grouped).message();
    specs.push_back(grouped);
    for (size_t p = 0; p < g.parts.size(); ++p) {
      ChainGemmSpec alone = g.parts[p];
      if (g.swiglu && p == 1)
        alone.swiglu = SwiGluEpilogue::Forward;
      specs.push_back(alone);
    }
  }
  std::vector<ColmKernelFn> fns = compile(specs);
  ASSERT_EQ(fns.size(), specs.size());
  size_t at = 0;
  for (const Group &g : groups) {
    const ChainGemmSpec &grouped = specs[at];
    ColmKernelFn groupedFn = fns[at];
    size_t first = at + 1;
    at += 1 + g.parts.size();
    // 1, 5 and 16 rows take the few-rows path; 37 and 150 the packed one
    // (150 splits rows between threads).
    for (int64_t rows : {1, 5, 16, 37, 150}) {
      Operands o = operands(grouped, rows, static_cast<unsigned>(rows + at));
      const int64_t N = grouped.n, K = grouped.k;
      // Each product alone (the SwiGLU's up reads the gate alone's C).
      std::vector<std::vector<float>> alone(g.parts.size());
      std::vector<float> keptUp(rows * g.parts.back().n, 0.0f);
      for (size_t p = 0; p < g.parts.size(); ++p) {
        int64_t n = g.parts[p].n, start = groupStart(grouped, int(p));
        alone[p].assign(rows * n, 0.0f);
        ColmGemmArgs a{};
        a.a = o.a.data();
        a.b = o.b.data() + start * K;
        a.c = alone[p].data();
        a.m = rows;
        a.n = n;
        a.k = K;
        a.lda = K;
        a.ldb = K;
        a.ldc = n;
        if (g.swiglu && p == 1) {
          a.g = alone[0].data();
          a.c2 = keptUp.data();
          a.lde = n;
        }
        runOnThreads(fns[first + p], a, 2);
      }
      std::vector<float> initial = o.c, ref = o.c, refUp(rows * N);
      ColmGemmArgs refArgs = o.args;
      refArgs.c = ref.data();
      setContiguousGroups(grouped, refArgs);
      if (g.swiglu) {
        refArgs.g = ref.data();
        refArgs.c2 = refUp.data();
        refArgs.lde = N;
      }
      chainGemmReference(grouped, refArgs);
      for (int threads : {1, 2, 3}) {
        o.c = initial;
        std::vector<float> up(rows * N, 7.0f);
        o.args.c = o.c.data();
        setContiguousGroups(grouped, o.args);
        if (g.swiglu) {
          o.args.g = o.c.data();
          o.args.c2 = up.data();
          o.args.lde = N;
        }
        runOnThreads(groupedFn, o.args, threads);
        std::string what = grouped.name() + " at " + std::to_string(rows) +
                           " rows on " + std::to_string(threads) + " threads";
        int bad = 0;
        for (size_t p = 0; p < g.parts.size(); ++p) {
          int64_t n = g.parts[p].n, start = groupStart(grouped, int(p));
          for (int64_t i = 0; i < rows; ++i)
            for (int64_t j = 0; j < n; ++j) {
              float got = o.c[i * N + start + j], want = alone[p][i * n + j],
                    r = ref[i * N + start + j];
              if (got != want && bad++ < 5)
                ADD_FAILURE() << what << ": product " << p << " [" << i << ", "
                              << j << "] = " << got << ", alone " << want;
              if (std::abs(got - r) > 2e-4f * (1.0f + std::abs(r)) && bad++ < 5)
                ADD_FAILURE() << what << ": product " << p << " [" << i << ", "
                              << j << "] = " << got << ", reference " << r;
            }
        }
        if (g.swiglu)
          for (int64_t i = 0; i < rows; ++i)
            for (int64_t j = 0; j < g.parts[1].n; ++j)
              if (up[i * N + j] != keptUp[i * g.parts[1].n + j] && bad++ < 5)
                ADD_FAILURE() << what << ": the kept up [" << i << ", " << j
                              << "] differs";
        EXPECT_EQ(bad, 0) << what;
      }
    }
  }
  // What a grouped GEMM refuses: products of different blocks under a
  // SwiGLU, one product, an addend, accumulate, gradients.
  ChainGemmSpec bad = groupGemms(
      {chainLinearForward({1, 1}, 8, 8), chainLinearForward({1, 3}, 8, 8)});
  EXPECT_TRUE(validateChainGemm(bad).isOk());
  bad.swiglu = SwiGluEpilogue::Forward;
  EXPECT_FALSE(validateChainGemm(bad).isOk());
  EXPECT_FALSE(
      validateChainGemm(groupGemms({chainLinearForward({1}, 8, 8)})).isOk());
  ChainGemmSpec added = groupGemms(
      {chainLinearForward({1}, 8, 8), chainLinearForward({1}, 8, 8)});
  added.addend = true;
  EXPECT_FALSE(validateChainGemm(added).isOk());
  added.addend = false;
  added.accumulate = true;
  EXPECT_FALSE(validateChainGemm(added).isOk());
  EXPECT_FALSE(validateChainGemm(groupGemms({chainLinearInputGrad({1}, 8, 8),
                                             chainLinearInputGrad({1}, 8, 8)}))
                   .isOk());
}

// A norm prologue: the product of RMSNorm(x) * gain has exactly the bits of
// the norm kernel and then the product, and the kept normalised rows are the
// norm kernel's; for one product and grouped ones (with the SwiGLU), fp32
// and bf16, on the packed, few-rows and row-split paths, 1..3 threads.
TEST_F(ChainGemmTest, NormPrologueHasTheBitsOfTheNormThenTheProduct) {
  const cpu::VectorIsa isa = cpu::hostVectorIsa();
  struct Case {
    ChainGemmSpec plain; // the product without the prologue
    std::vector<int64_t> stats;
  };
  std::vector<Case> cases;
  for (bool bf16 : {false, true}) {
    auto knobbed = [&](ChainGemmSpec s) { return testKnobs(s, bf16); };
    cases.push_back(
        {knobbed(chainLinearForward({1, 1, 2}, 48, 40)), {0, 12, 24, 48}});
    cases.push_back({knobbed(groupGemms({chainLinearForward({2, 2}, 48, 72),
                                         chainLinearForward({2, 2}, 48, 40),
                                         chainLinearForward({2, 2}, 48, 40)})),
                     {0, 24, 48}});
    ChainGemmSpec mlp =
        knobbed(groupGemms({chainLinearForward({1, 3}, 64, 88),
                            chainLinearForward({1, 3}, 64, 88)}));
    mlp.swiglu = SwiGluEpilogue::Forward;
    cases.push_back({mlp, {0, 16, 64}});
  }
  std::vector<ChainGemmSpec> specs;
  std::vector<KernelSource> norms;
  std::vector<std::string> normSymbols;
  for (const Case &c : cases) {
    ChainGemmSpec fused = c.plain;
    fused.normBounds = c.stats;
    fused.normEps = 1e-5;
    ASSERT_TRUE(validateChainGemm(fused).isOk())
        << validateChainGemm(fused).message();
    specs.push_back(c.plain);
    specs.push_back(fused);
    ChainNormSpec n;
    n.width = c.plain.k;
    n.groupBounds = c.stats;
    n.eps = 1e-5;
    norms.push_back({n.name(), cpu::renderChainNorm(n)});
    normSymbols.push_back(cpu::chainNormSymbol(n));
  }
  std::vector<ColmKernelFn> fns = compile(specs);
  std::vector<ColmKernelFn> nfns = KernelTest::compile(norms, normSymbols);
  ASSERT_EQ(fns.size(), specs.size());
  ASSERT_EQ(nfns.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    const ChainGemmSpec &plain = specs[2 * i], &fused = specs[2 * i + 1];
    bool swiglu = plain.swiglu == SwiGluEpilogue::Forward;
    for (int64_t rows : {1, 5, 16, 37, 150}) {
      Operands o = operands(plain, rows, static_cast<unsigned>(i * 7 + rows));
      const int64_t N = plain.n, K = plain.k;
      std::vector<float> gain(K);
      std::mt19937 rng(static_cast<unsigned>(i + rows));
      std::normal_distribution<float> normal;
      for (float &g : gain)
        g = 1.0f + 0.5f * normal(rng);
      for (int64_t e = 0; e < rows * K; e += 7)
        o.a[e] *= 20.0f; // rows of uneven scale: the statistics matter
      // Unfused: the norm kernel, then the product of its output.
      std::vector<float> y(rows * K);
      ColmNormArgs na{o.a.data(), gain.data(), nullptr, y.data(),
                      nullptr,    nullptr,     rows};
      runOnThreads(nfns[i], na, 2);
      std::vector<float> initial = o.c, want = o.c, wantUp(rows * N);
      ColmGemmArgs pa = o.args;
      pa.a = y.data();
      pa.c = want.data();
      setContiguousGroups(plain, pa);
      if (swiglu) {
        pa.g = want.data();
        pa.c2 = wantUp.data();
        pa.lde = N;
      }
      runOnThreads(fns[2 * i], pa, 2);
      std::vector<float> ref = initial, refUp(rows * N), refY(rows * K);
      ColmGemmArgs ra = o.args;
      ra.c = ref.data();
      ra.gain = gain.data();
      ra.an = refY.data();
      setContiguousGroups(fused, ra);
      if (swiglu) {
        ra.g = ref.data();
        ra.c2 = refUp.data();
        ra.lde = N;
      }
      chainGemmReference(fused, ra);
      for (int threads : {1, 2, 3}) {
        std::vector<float> c = initial, up(rows * N), kept(rows * K, 7.0f);
        ColmGemmArgs fa = o.args;
        fa.c = c.data();
        fa.gain = gain.data();
        fa.an = kept.data();
        setContiguousGroups(fused, fa);
        if (swiglu) {
          fa.g = c.data();
          fa.c2 = up.data();
          fa.lde = N;
        }
        runOnThreads(fns[2 * i + 1], fa, threads);
        std::string what = fused.name() + " at " + std::to_string(rows) +
                           " rows on " + std::to_string(threads) + " threads";
        EXPECT_EQ(c, want) << what << ": not the bits of the norm, then "
                           << "the product";
        EXPECT_EQ(kept, y) << what << ": the kept rows are not the norm's";
        if (swiglu)
          EXPECT_EQ(up, wantUp) << what << ": the kept up differs";
        int bad = 0;
        for (size_t e = 0; e < c.size(); ++e)
          if (std::abs(c[e] - ref[e]) > 2e-4f * (1.0f + std::abs(ref[e])) &&
              bad++ < 3)
            ADD_FAILURE() << what << ": [" << e << "] = " << c[e]
                          << ", reference " << ref[e];
        for (size_t e = 0; e < kept.size(); ++e)
          if (std::abs(kept[e] - refY[e]) >
                  1e-5f * (1.0f + std::abs(refY[e])) &&
              bad++ < 3)
            ADD_FAILURE() << what << ": normalised [" << e << "] = " << kept[e]
                          << ", reference " << refY[e];
      }
    }
  }
  // Statistics groups must cover [0, K) in order, on A stored [M, K].
  ChainGemmSpec bad = chainLinearForward({1}, 8, 8);
  bad.normBounds = {0, 4};
  EXPECT_FALSE(validateChainGemm(bad).isOk());
  bad.normBounds = {0, 6, 4, 8};
  EXPECT_FALSE(validateChainGemm(bad).isOk());
  ChainGemmSpec grad = chainLinearWeightGrad({1}, 8, 8);
  grad.normBounds = {0, 8};
  EXPECT_FALSE(validateChainGemm(grad).isOk());
}

// A RoPE epilogue: the rotated products have exactly the bits of the
// product and then the RoPE kernel, at given positions and at the row
// index; one product and grouped q/k/v (v not rotated, a chain boundary
// inside a head), with a norm prologue too, fp32 and bf16, on the packed,
// few-rows and row-split paths, 1..3 threads.
TEST_F(ChainGemmTest, RopeEpilogueHasTheBitsOfTheProductThenRope) {
  const cpu::VectorIsa isa = cpu::hostVectorIsa();
  const int64_t hd = 16;
  struct Case {
    ChainGemmSpec plain;
    unsigned rotate;
  };
  std::vector<Case> cases;
  for (bool bf16 : {false, true}) {
    auto knobbed = [&](ChainGemmSpec s) { return testKnobs(s, bf16); };
    cases.push_back({knobbed(chainLinearForward({1, 1, 2}, 40, 48)), 1u});
    cases.push_back(
        {knobbed(groupGemms({chainLinearForward({1, 1, 2}, 40, 48),
                             chainLinearForward({1, 1, 2}, 40, 32),
                             chainLinearForward({1, 1, 2}, 40, 32)})),
         3u});
    ChainGemmSpec normed = cases.back().plain;
    normed.normBounds = {0, 10, 20, 40};
    normed.normEps = 1e-5;
    cases.push_back({normed, 3u});
  }
  std::vector<ChainGemmSpec> specs;
  std::vector<KernelSource> ropes;
  std::vector<std::string> ropeSymbols;
  for (const Case &c : cases) {
    ChainGemmSpec fused = c.plain;
    fused.ropeProducts = c.rotate;
    fused.ropeHeadDim = hd;
    fused.ropeTheta = 10000.0;
    ASSERT_TRUE(validateChainGemm(fused).isOk())
        << validateChainGemm(fused).message();
    specs.push_back(c.plain);
    specs.push_back(fused);
  }
  for (int64_t width : {48, 32}) {
    RopeSpec r{width, hd, 10000.0, false};
    ropes.push_back({r.name(), cpu::renderRope(r)});
    ropeSymbols.push_back(cpu::ropeSymbol(r));
  }
  std::vector<ColmKernelFn> fns = compile(specs);
  std::vector<ColmKernelFn> rfns = KernelTest::compile(ropes, ropeSymbols);
  ASSERT_EQ(fns.size(), specs.size());
  ASSERT_EQ(rfns.size(), 2u);
  for (size_t i = 0; i < cases.size(); ++i) {
    const ChainGemmSpec &plain = specs[2 * i], &fused = specs[2 * i + 1];
    for (int64_t rows : {1, 5, 16, 37, 150})
      for (bool given : {true, false}) {
        Operands o = operands(plain, rows, static_cast<unsigned>(i + rows));
        const int64_t N = plain.n, K = plain.k;
        std::vector<float> gain(K, 1.25f);
        std::vector<int32_t> positions(rows);
        for (int64_t r = 0; r < rows; ++r)
          positions[r] = int32_t((r * 37 + 11) % 9000); // some past KEPT
        const int32_t *pos = given ? positions.data() : nullptr;
        // Unfused: the product, then RoPE on each rotated product.
        std::vector<float> initial = o.c, want = o.c;
        ColmGemmArgs pa = o.args;
        pa.c = want.data();
        pa.gain = gain.data();
        setContiguousGroups(plain, pa);
        runOnThreads(fns[2 * i], pa, 2);
        size_t products = std::max<size_t>(1, plain.groupColumns.size());
        for (size_t g = 0; g < products; ++g) {
          if (!(cases[i].rotate >> g & 1))
            continue;
          int64_t n = plain.groupColumns.empty() ? N : plain.groupColumns[g];
          int64_t start = groupStart(plain, int(g));
          std::vector<float> part(rows * n);
          for (int64_t r = 0; r < rows; ++r)
            for (int64_t j = 0; j < n; ++j)
              part[r * n + j] = want[r * N + start + j];
          ColmRopeArgs ra{part.data(), pos, part.data(), rows};
          runOnThreads(rfns[n == 48 ? 0 : 1], ra, 1);
          for (int64_t r = 0; r < rows; ++r)
            for (int64_t j = 0; j < n; ++j)
              want[r * N + start + j] = part[r * n + j];
        }
        std::vector<float> ref = initial;
        ColmGemmArgs refArgs = o.args;
        refArgs.c = ref.data();
        refArgs.gain = gain.data();
        refArgs.positions = pos;
        setContiguousGroups(fused, refArgs);
        chainGemmReference(fused, refArgs);
        for (int threads : {1, 2, 3}) {
          std::vector<float> c = initial;
          ColmGemmArgs fa = o.args;
          fa.c = c.data();
          fa.gain = gain.data();
          fa.positions = pos;
          setContiguousGroups(fused, fa);
          runOnThreads(fns[2 * i + 1], fa, threads);
          std::string what = fused.name() + " at " + std::to_string(rows) +
                             " rows" + (given ? "" : " (row index)") + " on " +
                             std::to_string(threads) + " threads";
          EXPECT_EQ(c, want) << what << ": not the bits of the product, then "
                             << "RoPE";
          int bad = 0;
          for (size_t e = 0; e < c.size(); ++e)
            if (std::abs(c[e] - ref[e]) > 2e-4f * (1.0f + std::abs(ref[e])) &&
                bad++ < 3)
              ADD_FAILURE() << what << ": [" << e << "] = " << c[e]
                            << ", reference " << ref[e];
        }
      }
  }
  // A head size that does not divide a rotated product, or with an
  // epilogue, is refused.
  ChainGemmSpec bad = chainLinearForward({1}, 8, 24);
  bad.ropeProducts = 1;
  bad.ropeHeadDim = 16;
  bad.ropeTheta = 10000.0;
  EXPECT_FALSE(validateChainGemm(bad).isOk());
  bad.ropeHeadDim = 8;
  EXPECT_TRUE(validateChainGemm(bad).isOk());
  bad.addend = true;
  EXPECT_FALSE(validateChainGemm(bad).isOk());
}

// bf16 mixed precision: A and B rounded to bf16 as they are read, fp32
// products and sums. Every product of a chain linear, packed and few-rows
// paths, within fp32 rounding of the reference that rounds its inputs the
// same way, the same bits on every thread count, and measurably not the
// fp32 result.
TEST_F(ChainGemmTest, Bf16RoundsTheInputsAndAccumulatesInFp32) {
  EXPECT_EQ(roundToBf16(1.0f), 1.0f);
  EXPECT_EQ(roundToBf16(1.0f + 0x1p-8f), 1.0f); // a tie: to even
  EXPECT_EQ(roundToBf16(1.0f + 0x1p-7f + 0x1p-8f), 1.0f + 0x1p-6f); // tie, up
  EXPECT_EQ(roundToBf16(1.0f + 0x1p-8f + 0x1p-20f), 1.0f + 0x1p-7f);
  EXPECT_EQ(roundToBf16(-3.0f), -3.0f);
  EXPECT_TRUE(std::isnan(roundToBf16(std::nanf(""))));
  float tinyNan;
  uint32_t bits = 0x7f800001u; // a NaN whose payload truncation would drop
  std::memcpy(&tinyNan, &bits, 4);
  EXPECT_TRUE(std::isnan(roundToBf16(tinyNan)));
  EXPECT_TRUE(std::isinf(roundToBf16(INFINITY)));

  std::vector<Case> cases = {{GemmUse::Forward, {2, 2, 4}, 48, 80, 37},
                             {GemmUse::InputGrad, {1, 1, 2}, 40, 104, 13},
                             {GemmUse::WeightGrad, {1, 1, 2}, 24, 56, 29},
                             {GemmUse::Forward, {1, 1}, 67, 45, 3}};
  std::vector<ChainGemmSpec> specs =
      withVariants(cases, [](ChainGemmSpec &s) { s.bf16 = true; });
  std::vector<ColmKernelFn> fns = compile(specs);
  ASSERT_EQ(fns.size(), specs.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    const ChainGemmSpec &plain = specs[2 * i], &bf16 = specs[2 * i + 1];
    Operands o = operands(bf16, cases[i].rows, static_cast<unsigned>(i + 60));
    std::vector<float> initial = o.c, want = o.c;
    ColmGemmArgs ref = o.args;
    ref.c = want.data();
    chainGemmReference(bf16, ref);
    // The reference on inputs rounded beforehand is the same reference.
    Operands rounded = o;
    for (float &x : rounded.a)
      x = roundToBf16(x);
    for (float &x : rounded.b)
      x = roundToBf16(x);
    std::vector<float> wantRounded = initial;
    ColmGemmArgs ref2 = o.args;
    ref2.a = rounded.a.data();
    ref2.b = rounded.b.data();
    ref2.c = wantRounded.data();
    chainGemmReference(plain, ref2);
    EXPECT_EQ(want, wantRounded) << bf16.name();
    std::vector<float> first;
    for (int threads : {1, 2, 3}) {
      o.c = initial;
      o.args.c = o.c.data();
      runOnThreads(fns[2 * i + 1], o.args, threads);
      std::string what =
          bf16.name() + " on " + std::to_string(threads) + " threads";
      expectClose(bf16, o, o.c, want, initial, what);
      if (threads == 1)
        first = o.c;
      else
        EXPECT_EQ(o.c, first) << what;
    }
    o.c = initial;
    o.args.c = o.c.data();
    runOnThreads(fns[2 * i], o.args, 2);
    EXPECT_NE(o.c, first) << bf16.name() << " computed the fp32 product";
  }
}

/// A random addend R for a spec with an add epilogue, set in `o` (and kept
/// alive by the caller); empty otherwise.
std::vector<float> addendFor(const ChainGemmSpec &s, Operands &o,
                             unsigned seed) {
  std::vector<float> addend;
  if (!s.addend)
    return addend;
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  addend.resize(o.c.size());
  for (float &x : addend)
    x = normal(rng);
  o.args.r = addend.data();
  o.args.ldr = o.args.n;
  return addend;
}

/// What a bf16 pair-dot kernel computes, step for step: per element, from C
/// (accumulate) or zero, for each pair of steps (p, p + 1) from the block's
/// first, acc += a(p+1) b(p+1) then acc += a(p) b(p), on bf16-rounded inputs
/// (each product exact in fp32), the step past an odd end zero; then the
/// addend. vdpbf16ps is specified so (and measured so on Zen 4).
std::vector<float> pairDotModel(const ChainGemmSpec &s, const Operands &o,
                                const std::vector<float> &initial,
                                const std::vector<float> &addend) {
  int64_t M = o.args.m, N = o.args.n, K = o.args.k;
  std::vector<float> c = initial;
  auto a = [&](int64_t i, int64_t p) {
    return roundToBf16(s.aTransposed ? o.a[p * o.args.lda + i]
                                     : o.a[i * o.args.lda + p]);
  };
  auto b = [&](int64_t p, int64_t j) {
    return roundToBf16(s.bTransposed ? o.b[j * o.args.ldb + p]
                                     : o.b[p * o.args.ldb + j]);
  };
  for (const GemmBlock &blk : s.blocks) {
    int64_t kEnd = blk.kEnd < 0 ? K : blk.kEnd,
            mEnd = blk.mEnd < 0 ? M : blk.mEnd;
    for (int64_t i = blk.mBegin; i < mEnd; ++i)
      for (int64_t j = blk.nBegin; j < blk.nEnd; ++j) {
        volatile float acc = s.accumulate ? c[i * N + j] : 0.0f;
        for (int64_t p = blk.kBegin; p < kEnd; p += 2) {
          float lo = a(i, p) * b(p, j);
          float hi = p + 1 < kEnd ? a(i, p + 1) * b(p + 1, j) : 0.0f;
          acc = acc + hi;
          acc = acc + lo;
        }
        c[i * N + j] = addend.empty() ? acc : acc + addend[i * N + j];
      }
  }
  return c;
}

// bf16 GEMMs on pair dot products (vdpbf16ps, or its emulation on a CPU
// without AVX512_BF16, which is how CI checks the packing): exactly the
// pair model's bits, for every product, odd dynamic reductions, ragged
// strips and row tiles, the row split, several passes, odd kc (rounded up
// to whole pairs), the add epilogue and accumulation, on 1..3 threads; and
// a block boundary on an odd step falls back to the rounding kernel.
TEST_F(ChainGemmTest, Bf16PairDotProductsHaveThePairModelsBits) {
  std::vector<Case> cases = {{GemmUse::Forward, {2, 2, 4}, 48, 80, 37},
                             {GemmUse::InputGrad, {1, 1, 2}, 40, 104, 13},
                             {GemmUse::WeightGrad, {1, 1, 2}, 24, 56, 29},
                             {GemmUse::WeightGrad, {2, 2, 4}, 24, 88, 75},
                             {GemmUse::Forward, {2, 2, 4}, 40, 24, 131},
                             {GemmUse::Dense, {1}, 70, 33, 21},
                             {GemmUse::Forward, {2, 2, 4}, 48, 80, 37},
                             {GemmUse::InputGrad, {1, 1, 2}, 40, 104, 13}};
  cpu::VectorIsa dot = cpu::hostVectorIsa();
  dot.bf16Dot = true;
  dot.amx = false; // vdpbf16ps (or its emulation); AMX below
  std::vector<ChainGemmSpec> specs;
  for (size_t i = 0; i < cases.size(); ++i) {
    ChainGemmSpec s = specFor(cases[i]);
    s.bf16 = true;
    s.knobs = cpu::defaultKnobs(dot);
    s.knobs.kc = 32;
    if (i == 6)
      s.addend = true;
    if (i == 7)
      s.accumulate = true;
    ASSERT_TRUE(cpu::usesBf16Dot(s, dot)) << s.name();
    specs.push_back(s);
  }
  Variants k = compileVariants(specs, dot);
  for (auto &f : k.fns)
    ASSERT_EQ(f.size(), specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    const ChainGemmSpec &s = specs[i];
    Operands o = operands(s, cases[i].rows, static_cast<unsigned>(i + 80));
    std::vector<float> addend = addendFor(s, o, static_cast<unsigned>(i));
    std::vector<float> initial = o.c;
    std::vector<float> want = pairDotModel(s, o, initial, addend);
    runVariants(k, i, o, initial,
                [&](const std::vector<float> &c, const std::string &what) {
                  int bad = 0;
                  for (size_t e = 0; e < want.size(); ++e)
                    if (std::memcmp(&c[e], &want[e], 4) != 0 && bad++ < 3)
                      ADD_FAILURE() << what << ": C[" << e << "] = " << c[e]
                                    << ", the pair model " << want[e];
                  EXPECT_EQ(bad, 0) << what;
                });
    // And the pair model is the bf16 reference within fp32 rounding.
    std::vector<float> ref = initial;
    ColmGemmArgs refArgs = o.args;
    refArgs.c = ref.data();
    chainGemmReference(s, refArgs);
    expectClose(s, o, want, ref, initial, s.name() + " (the pair model)");
  }
  // A chain boundary on an odd step: no pairs, the rounding kernel.
  ChainGemmSpec odd = chainLinearForward({1, 2}, 33, 48);
  odd.bf16 = true;
  ASSERT_EQ(odd.blocks[0].kEnd % 2, 1);
  EXPECT_FALSE(cpu::usesBf16Dot(odd, dot));
  EXPECT_FALSE(cpu::usesBf16Dot(specFor(cases[0]), dot)) << "fp32 spec";
}

// bf16 GEMMs on AMX tiles (tdpbf16ps, where the host has AMX-BF16 and Linux
// grants the tile state): within fp32 rounding of the bf16 reference, and
// the same bits on 1..3 threads, for other knobs and one chunk per pass
// (the pairs are grouped on a fixed grid of steps), for every product,
// block boundaries off that grid, odd dynamic reductions, ragged strips and
// row tiles, the add epilogue and accumulation. tdpbf16ps does not round
// after every pair, so the bits differ from the pair model's.
TEST_F(ChainGemmTest, AmxTilesMatchTheReferenceWithFixedBits) {
  cpu::VectorIsa amx = cpu::hostVectorIsa();
  if (!amx.amx)
    GTEST_SKIP() << "no AMX-BF16 here (or COLM_AMX=0)";
  std::vector<Case> cases = {{GemmUse::Forward, {2, 2, 4}, 48, 80, 37},
                             {GemmUse::InputGrad, {1, 1, 2}, 40, 104, 13},
                             {GemmUse::WeightGrad, {1, 1, 2}, 24, 56, 29},
                             {GemmUse::WeightGrad, {2, 2, 4}, 24, 88, 75},
                             {GemmUse::Forward, {2, 2, 4}, 128, 96, 131},
                             {GemmUse::Dense, {1}, 70, 33, 21},
                             {GemmUse::Forward, {2, 2, 4}, 48, 80, 37},
                             {GemmUse::InputGrad, {1, 1, 2}, 40, 104, 13}};
  std::vector<ChainGemmSpec> specs;
  for (size_t i = 0; i < cases.size(); ++i) {
    ChainGemmSpec s = specFor(cases[i]);
    s.bf16 = true;
    s.knobs.kc = 64;
    if (i == 6)
      s.addend = true;
    if (i == 7)
      s.accumulate = true;
    ASSERT_TRUE(cpu::usesBf16Dot(s, amx)) << s.name();
    EXPECT_NE(cpu::renderChainGemm(s, amx).find("_tile_dpbf16ps(0"),
              std::string::npos);
    specs.push_back(s);
  }
  Variants k = compileVariants(specs, amx);
  for (auto &f : k.fns)
    ASSERT_EQ(f.size(), specs.size());
  int differFromPairs = 0;
  for (size_t i = 0; i < specs.size(); ++i) {
    const ChainGemmSpec &s = specs[i];
    Operands o = operands(s, cases[i].rows, static_cast<unsigned>(i + 90));
    std::vector<float> addend = addendFor(s, o, static_cast<unsigned>(i));
    std::vector<float> initial = o.c, want = o.c, first;
    ColmGemmArgs ref = o.args;
    ref.c = want.data();
    chainGemmReference(s, ref);
    runVariants(k, i, o, initial,
                [&](const std::vector<float> &c, const std::string &what) {
                  expectClose(s, o, c, want, initial, what);
                  if (first.empty())
                    first = c;
                  else
                    EXPECT_EQ(c, first) << what;
                });
    differFromPairs += first != pairDotModel(s, o, initial, addend);
  }
  EXPECT_GT(differFromPairs, 0) << "no case ran on AMX tiles";
}

// Weights stored as bf16 bits (an inference program's, converted when
// bound) give exactly the bits of the bf16 kernel on the fp32 weights: few
// rows and packed, ragged strips, an odd reduction, with pair dot products
// and without, on 1..3 threads.
TEST_F(ChainGemmTest, Bf16WeightsGiveTheBitsOfRoundingFp32Weights) {
  std::vector<Case> cases = {{GemmUse::Forward, {2, 2, 4}, 48, 80, 3},
                             {GemmUse::Forward, {2, 2, 4}, 48, 80, 37},
                             {GemmUse::Forward, {1, 1, 2}, 40, 104, 131},
                             {GemmUse::Dense, {1}, 45, 33, 9},
                             {GemmUse::Dense, {1}, 45, 33, 2}};
  for (bool pairs : {false, true}) {
    cpu::VectorIsa isa = cpu::hostVectorIsa();
    isa.bf16Dot = pairs;
    std::vector<ChainGemmSpec> specs =
        withVariants(cases, [](ChainGemmSpec &s) {
          s.bf16 = true;
          s.bBf16 = true;
        });
    for (size_t i = 0; i < specs.size(); i += 2)
      specs[i].bf16 = true; // the rounding kernel on fp32 weights
    std::vector<ColmKernelFn> fns =
        compile(specs, std::vector<cpu::VectorIsa>(specs.size(), isa));
    ASSERT_EQ(fns.size(), specs.size());
    for (size_t i = 0; i < cases.size(); ++i) {
      const ChainGemmSpec &f32 = specs[2 * i], &b16 = specs[2 * i + 1];
      Operands o = operands(f32, cases[i].rows, static_cast<unsigned>(i + 90));
      std::vector<uint16_t> bits(o.b.size());
      for (size_t e = 0; e < bits.size(); ++e)
        bits[e] = toBf16Bits(o.b[e]);
      std::vector<float> initial = o.c;
      runOnThreads(fns[2 * i], o.args, 2);
      std::vector<float> want = o.c;
      for (int threads : {1, 2, 3}) {
        o.c = initial;
        o.args.c = o.c.data();
        ColmGemmArgs args = o.args;
        args.b = reinterpret_cast<const float *>(bits.data());
        runOnThreads(fns[2 * i + 1], args, threads);
        EXPECT_EQ(o.c, want) << b16.name() << (pairs ? " (pairs)" : "")
                             << " on " << threads << " threads";
      }
      // And the reference reads the bits alike.
      std::vector<float> ref = initial;
      ColmGemmArgs refArgs = o.args;
      refArgs.b = reinterpret_cast<const float *>(bits.data());
      refArgs.c = ref.data();
      chainGemmReference(b16, refArgs);
      expectClose(f32, o, want, ref, initial, b16.name() + " reference");
    }
  }
  ChainGemmSpec grad = chainLinearInputGrad({1, 1}, 8, 8);
  grad.bf16 = grad.bBf16 = true;
  EXPECT_FALSE(validateChainGemm(grad).isOk()) << "B stored [K, N]";
}

TEST_F(ChainGemmTest, EveryTileAndBlockingGivesTheSameBits) {
  cpu::VectorIsa isa = cpu::hostVectorIsa();
  ChainGemmSpec base = chainLinearForward({2, 2, 4}, 64, 96);
  std::vector<ChainGemmSpec> specs;
  for (GemmKnobs k :
       {GemmKnobs{1, isa.lanes, 16, 1}, GemmKnobs{4, 2 * isa.lanes, 48, 8},
        GemmKnobs{6, 2 * isa.lanes, 256, 12}}) {
    ChainGemmSpec s = base;
    s.knobs = k;
    ASSERT_TRUE(cpu::checkKnobsFit(k, isa).isOk());
    specs.push_back(s);
  }
  std::vector<ColmKernelFn> fns = compile(specs);
  ASSERT_EQ(fns.size(), specs.size());
  std::vector<float> first;
  for (size_t i = 0; i < specs.size(); ++i) {
    Operands o = operands(specs[i], 23, 7);
    runOnThreads(fns[i], o.args, 2);
    if (i == 0)
      first = o.c;
    else
      EXPECT_EQ(o.c, first) << specs[i].name();
  }
}

TEST(ChainGemmSpecTest, BlocksSkipWhatTheChainRuleZeroes) {
  // [2, 2, 4] over in = out = 8: forward column block i reduces over the
  // first 2, 4, 8 inputs; the useful work is 2*2 + 2*4 + 4*8 = 44 of 64.
  ChainGemmSpec f = chainLinearForward({2, 2, 4}, 8, 8);
  ASSERT_EQ(f.blocks.size(), 3u);
  EXPECT_EQ(f.blocks[1], (GemmBlock{2, 4, 0, 4, 0, -1}));
  EXPECT_EQ(f.multiplyAddsPerRow(), 44);
  // The input gradient and the weight gradient skip the same blocks.
  EXPECT_EQ(chainLinearInputGrad({2, 2, 4}, 8, 8).multiplyAddsPerRow(), 44);
  EXPECT_EQ(chainLinearWeightGrad({2, 2, 4}, 8, 8).multiplyAddsPerRow(), 44);
  // With chain 1 frozen its two output rows are never computed: 44 - 2*2.
  ChainGemmSpec frozen = chainLinearWeightGrad({2, 2, 4}, 8, 8, 2);
  EXPECT_EQ(frozen.multiplyAddsPerRow(), 40);
  EXPECT_EQ(frozen.blocks[0].mBegin, 2);
  EXPECT_EQ(frozen.blocks[2].mBegin, 4);
  EXPECT_TRUE(validateChainGemm(f).isOk());
  ChainGemmSpec gap = f;
  gap.blocks[1].nBegin = 3;
  EXPECT_FALSE(validateChainGemm(gap).isOk());
  ChainGemmSpec knobs = f;
  knobs.knobs.nr = 12;
  EXPECT_FALSE(validateChainGemm(knobs).isOk());
  EXPECT_FALSE(cpu::checkKnobsFit({16, 64, 256, 16}, {16, 32}).isOk());
}
