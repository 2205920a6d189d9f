//===- PointwiseTest.cpp - The row-wise kernels against their references --===//
//
// Chain RMSNorm, RoPE and SwiGLU, forward and backward, for several chain
// layouts and ragged row counts (fewer rows than threads too), rendered,
// compiled with the host compiler and run on 1..3 threads against the
// plain-loop references, bit for bit the same for every thread count; and
// the references themselves against hand-computed values and finite
// differences.
//
// Tolerance: the kernels evaluate the references' formulas in double and
// round to float once per output; only the order of the double sums (and
// FMA contraction in the reference) differs, i.e. ~1e-16 relative before
// the final rounding. So 2 float ulps of the result plus 1e-9 absolute
// (for results that cancel to near zero from O(1) terms) is a bound with
// margin; any real bug (a wrong group, eps, sign, position, column) is
// off by far more.
//
//===----------------------------------------------------------------------===//

#include "compiler/codegen/Pointwise.h"
#include "compiler/codegen/cpu/CpuJit.h"
#include "compiler/codegen/cpu/RenderPointwise.h"
#include "runtime/KernelAbi.h"

#include "KernelTestUtil.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <random>
#include <thread>
#include <unistd.h>

using namespace colm;
using namespace colm::codegen;

namespace {

using colm::test::runOnThreads;

std::vector<float> randomVector(size_t n, unsigned seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  std::vector<float> v(n);
  for (float &x : v)
    x = scale * normal(rng);
  return v;
}

int expectClose(const std::vector<float> &got, const std::vector<float> &want,
                const std::string &what) {
  EXPECT_EQ(got.size(), want.size()) << what;
  int bad = 0;
  for (size_t i = 0; i < got.size() && i < want.size(); ++i) {
    double tol = 2.4e-7 * std::abs(double(want[i])) + 1e-9;
    if (!(std::abs(double(got[i]) - want[i]) <= tol) && bad++ < 5)
      ADD_FAILURE() << what << ": [" << i << "] = " << got[i] << ", reference "
                    << want[i];
  }
  return bad;
}

class PointwiseTest : public colm::test::KernelTest {
protected:
};

/// Runs `fn` on 1..3 threads through `run(threads) -> outputs`, checks each
/// against `want` and every thread count against one thread, bit for bit.
void checkThreads(const std::string &what,
                  const std::function<std::vector<float>(int)> &run,
                  const std::vector<float> &want) {
  std::vector<float> first;
  for (int threads : {1, 2, 3}) {
    std::vector<float> got = run(threads);
    EXPECT_EQ(expectClose(got, want,
                          what + " on " + std::to_string(threads) + " threads"),
              0);
    if (threads == 1)
      first = got;
    else
      EXPECT_TRUE(got == first)
          << what << ": " << threads << " threads differ from one";
  }
}

const std::vector<int64_t> kRows = {37, 2, 0};

} // namespace

TEST_F(PointwiseTest, ChainNormMatchesTheReference) {
  struct Case {
    std::vector<int64_t> stats;
    int64_t width;
    bool backward;
    std::vector<int64_t> gainChains;
    unsigned fromChain;
  };
  std::vector<Case> cases;
  for (bool backward : {false, true}) {
    for (auto stats : std::vector<std::vector<int64_t>>{
             {1}, {1, 1}, {2, 2, 4}, {1, 1, 2}, {3, 1}})
      cases.push_back({stats, 48, backward, {}, 0});
    // Ragged groups (11 and 22: the partial sums' tails).
    cases.push_back({{1, 2}, 33, backward, {}, 0});
  }
  // Frozen chains: stats over one group, the gain chained [1, 1, 2].
  cases.push_back({{1}, 64, true, {1, 1, 2}, 2});
  cases.push_back({{2, 2, 4}, 80, true, {2, 2, 4}, 3});
  std::vector<ChainNormSpec> specs;
  std::vector<KernelSource> sources;
  std::vector<std::string> symbols;
  for (const Case &c : cases) {
    ChainNormSpec s = chainNorm(c.stats, c.width, 1e-5, c.backward,
                                c.gainChains, c.fromChain);
    ASSERT_TRUE(validateChainNorm(s).isOk()) << validateChainNorm(s).message();
    specs.push_back(s);
    sources.push_back({s.name(), cpu::renderChainNorm(s)});
    symbols.push_back(cpu::chainNormSymbol(s));
  }
  EXPECT_EQ(specs[specs.size() - 2].dgainBegin, 16);
  EXPECT_EQ(specs.back().dgainBegin, 40);
  std::vector<ColmKernelFn> fns = compile(sources, symbols);
  ASSERT_EQ(fns.size(), specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    const ChainNormSpec &s = specs[i];
    int64_t w = s.width;
    for (int64_t rows : kRows) {
      unsigned seed = unsigned(i * 10 + rows);
      std::vector<float> x = randomVector(rows * w, seed, 2.0f),
                         gain = randomVector(w, seed + 1),
                         dy = randomVector(rows * w, seed + 2);
      auto args = [&](std::vector<float> &out, std::vector<float> &dgain) {
        ColmNormArgs a{x.data(), gain.data(), dy.data(), nullptr,
                       nullptr,  nullptr,     rows};
        out.assign(rows * w, 7.0f); // what the kernel must overwrite
        dgain.assign(w, 7.0f);
        if (s.backward) {
          a.dx = out.data();
          a.dgain = dgain.data();
        } else {
          a.y = out.data();
        }
        return a;
      };
      std::vector<float> want, wantGain;
      chainNormReference(s, args(want, wantGain));
      if (s.backward)
        want.insert(want.end(), wantGain.begin(), wantGain.end());
      checkThreads(
          s.name() + " rows " + std::to_string(rows),
          [&](int threads) {
            std::vector<float> got, gotGain;
            runOnThreads(fns[i], args(got, gotGain), threads);
            if (s.backward)
              got.insert(got.end(), gotGain.begin(), gotGain.end());
            return got;
          },
          want);
    }
  }
}

TEST_F(PointwiseTest, RopeMatchesTheReference) {
  std::vector<RopeSpec> specs;
  for (bool inverse : {false, true}) {
    specs.push_back({64, 16, 10000.0, inverse});
    specs.push_back({96, 32, 500000.0, inverse});
    specs.push_back({12, 4, 100.0, inverse});
  }
  std::vector<KernelSource> sources;
  std::vector<std::string> symbols;
  for (const RopeSpec &s : specs) {
    ASSERT_TRUE(validateRope(s).isOk()) << validateRope(s).message();
    sources.push_back({s.name(), cpu::renderRope(s)});
    symbols.push_back(cpu::ropeSymbol(s));
  }
  std::vector<ColmKernelFn> fns = compile(sources, symbols);
  ASSERT_EQ(fns.size(), specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    const RopeSpec &s = specs[i];
    for (int64_t rows : kRows)
      for (bool withPositions : {true, false})
        for (bool inPlace : {false, true}) {
          unsigned seed = unsigned(i * 10 + rows);
          std::vector<float> x = randomVector(rows * s.width, seed);
          std::vector<int32_t> positions(rows);
          std::mt19937 rng(seed);
          for (int32_t &p : positions)
            p = int32_t(rng() % 4096); // packed sequences: any order
          ColmRopeArgs a{x.data(), withPositions ? positions.data() : nullptr,
                         nullptr, rows};
          std::vector<float> want(rows * s.width);
          a.y = want.data();
          ropeReference(s, a);
          checkThreads(
              s.name() + " rows " + std::to_string(rows) +
                  (withPositions ? " positions" : " row index") +
                  (inPlace ? " in place" : ""),
              [&](int threads) {
                std::vector<float> got(rows * s.width, 7.0f);
                if (inPlace)
                  got = x;
                ColmRopeArgs b = a;
                b.x = inPlace ? got.data() : x.data();
                b.y = got.data();
                runOnThreads(fns[i], b, threads);
                return got;
              },
              want);
        }
  }
}

TEST_F(PointwiseTest, SwiGluMatchesTheReference) {
  std::vector<SwiGluSpec> specs = {{40, false}, {176, false}, {7, false},
                                   {40, true},  {176, true},  {7, true}};
  std::vector<KernelSource> sources;
  std::vector<std::string> symbols;
  for (const SwiGluSpec &s : specs) {
    ASSERT_TRUE(validateSwiGlu(s).isOk());
    sources.push_back({s.name(), cpu::renderSwiGlu(s)});
    symbols.push_back(cpu::swiGluSymbol(s));
  }
  std::vector<ColmKernelFn> fns = compile(sources, symbols);
  ASSERT_EQ(fns.size(), specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    const SwiGluSpec &s = specs[i];
    int64_t w = s.width;
    for (int64_t rows : kRows) {
      unsigned seed = unsigned(i * 10 + rows);
      // Scale 6: saturated gates on both sides too.
      std::vector<float> gate = randomVector(rows * w, seed, 6.0f),
                         up = randomVector(rows * w, seed + 1),
                         dy = randomVector(rows * w, seed + 2);
      auto args = [&](std::vector<float> &o1, std::vector<float> &o2) {
        o1.assign(rows * w, 7.0f);
        o2.assign(rows * w, 7.0f);
        ColmSwiGluArgs a{gate.data(), up.data(), dy.data(), nullptr,
                         nullptr,     nullptr,   rows};
        if (s.backward) {
          a.dgate = o1.data();
          a.dup = o2.data();
        } else {
          a.y = o1.data();
        }
        return a;
      };
      std::vector<float> want, want2;
      swiGluReference(s, args(want, want2));
      if (s.backward)
        want.insert(want.end(), want2.begin(), want2.end());
      checkThreads(
          s.name() + " rows " + std::to_string(rows),
          [&](int threads) {
            std::vector<float> got, got2;
            runOnThreads(fns[i], args(got, got2), threads);
            if (s.backward)
              got.insert(got.end(), got2.begin(), got2.end());
            return got;
          },
          want);
    }
  }
}

//===----------------------------------------------------------------------===//
// The references themselves
//===----------------------------------------------------------------------===//

TEST(PointwiseReferenceTest, NormByHand) {
  // Groups [0, 2) and [2, 4), eps 0: rms(3, 4) = sqrt(12.5), rms(1, 1) = 1.
  ChainNormSpec s = chainNorm({1, 1}, 4, 0.0, false);
  EXPECT_EQ(s.groupBounds, (std::vector<int64_t>{0, 2, 4}));
  std::vector<float> x = {3, 4, 1, 1}, gain = {1, 1, 2, 0.5f}, y(4);
  chainNormReference(
      s, {x.data(), gain.data(), nullptr, y.data(), nullptr, nullptr, 1});
  EXPECT_NEAR(y[0], 0.8485281f, 1e-6);
  EXPECT_NEAR(y[1], 1.1313708f, 1e-6);
  EXPECT_FLOAT_EQ(y[2], 2.0f);
  EXPECT_FLOAT_EQ(y[3], 0.5f);
}

TEST(PointwiseReferenceTest, NormGradIsTheFiniteDifference) {
  // L = sum dy * norm(x, gain); groups {0, 2, 6}; the gain's chain 1 frozen.
  int64_t rows = 3, w = 6;
  ChainNormSpec fwd = chainNorm({1, 2}, w, 1e-5, false);
  ChainNormSpec bwd = chainNorm({1, 2}, w, 1e-5, true, {1, 2}, 2);
  ASSERT_EQ(bwd.dgainBegin, 2);
  std::vector<float> x = randomVector(rows * w, 1), gain = randomVector(w, 2),
                     dy = randomVector(rows * w, 3);
  std::vector<float> dx(rows * w), dgain(w, 7.0f);
  chainNormReference(bwd, {x.data(), gain.data(), dy.data(), nullptr, dx.data(),
                           dgain.data(), rows});
  auto loss = [&]() {
    std::vector<float> y(rows * w);
    chainNormReference(fwd, {x.data(), gain.data(), nullptr, y.data(), nullptr,
                             nullptr, rows});
    double l = 0;
    for (int64_t i = 0; i < rows * w; ++i)
      l += double(dy[i]) * y[i];
    return l;
  };
  const float h = 1e-2f;
  auto fd = [&](float &v) {
    float keep = v;
    v = keep + h;
    double up = loss();
    v = keep - h;
    double down = loss();
    v = keep;
    return (up - down) / (2.0 * h);
  };
  for (int64_t i = 0; i < rows * w; ++i)
    EXPECT_NEAR(dx[i], fd(x[i]), 3e-3) << "dx[" << i << "]";
  for (int64_t j = 0; j < w; ++j)
    EXPECT_NEAR(dgain[j], j < 2 ? 0.0 : fd(gain[j]), 3e-3)
        << "dgain[" << j << "]";
}

TEST(PointwiseReferenceTest, RopeByHandAndItsGradientIsTheTranspose) {
  // head_dim 4, theta 100: frequencies 1 and 100^-0.5 = 0.1; position 2.
  RopeSpec s{4, 4, 100.0, false};
  std::vector<float> x = {1, 2, 3, 4}, y(4);
  int32_t pos = 2;
  ropeReference(s, {x.data(), &pos, y.data(), 1});
  EXPECT_NEAR(y[0], 1 * std::cos(2.0) - 3 * std::sin(2.0), 1e-6);
  EXPECT_NEAR(y[2], 3 * std::cos(2.0) + 1 * std::sin(2.0), 1e-6);
  EXPECT_NEAR(y[1], 2 * std::cos(0.2) - 4 * std::sin(0.2), 1e-6);
  EXPECT_NEAR(y[3], 4 * std::cos(0.2) + 2 * std::sin(0.2), 1e-6);
  // RoPE is linear, so its gradient is its transpose: <rope(a), b> =
  // <a, rope_inverse(b)> for every a and b.
  RopeSpec f{32, 8, 10000.0, false}, inv = f;
  inv.inverse = true;
  int64_t rows = 5;
  std::vector<float> a = randomVector(rows * 32, 4),
                     b = randomVector(rows * 32, 5);
  std::vector<float> ra(a.size()), ib(b.size());
  std::vector<int32_t> positions = {3, 0, 17, 900, 5};
  ropeReference(f, {a.data(), positions.data(), ra.data(), rows});
  ropeReference(inv, {b.data(), positions.data(), ib.data(), rows});
  double lhs = 0, rhs = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    lhs += double(ra[i]) * b[i];
    rhs += double(a[i]) * ib[i];
  }
  EXPECT_NEAR(lhs, rhs, 1e-4);
  EXPECT_FALSE(validateRope({30, 8, 10000.0, false}).isOk());
  EXPECT_FALSE(validateRope({30, 5, 10000.0, false}).isOk());
}

// The kernel's own exp (vectorised, no libm) at the edges: huge gates on
// both sides, tiny ones, exact zeros and the range where exp(-g) is
// subnormal or overflows.
TEST_F(PointwiseTest, SwiGluAtExtremeGatesMatchesTheReference) {
  const std::vector<float> edges = {
      0.0f,    -0.0f,  1e-30f,  -1e-30f, 1e-7f,   0.5f,   -1.278f, 20.0f,
      -20.0f,  87.0f,  -87.0f,  100.0f,  -100.0f, 700.0f, -700.0f, 709.0f,
      -709.0f, 710.0f, -710.0f, 744.0f,  -744.0f, 746.0f, -746.0f, 3e38f,
      -3e38f,  1.5f,   -2.5f,   33.0f,   -45.0f,  6.0f,   -6.0f,   0.1f};
  for (bool backward : {false, true}) {
    SwiGluSpec s{static_cast<int64_t>(edges.size()), backward};
    std::vector<ColmKernelFn> fns =
        compile({{s.name(), cpu::renderSwiGlu(s)}}, {cpu::swiGluSymbol(s)});
    ASSERT_EQ(fns.size(), 1u);
    std::vector<float> up(edges.size(), 1.25f), dy(edges.size(), -0.75f);
    auto run = [&](bool reference) {
      std::vector<float> o1(edges.size(), 7.0f), o2(edges.size(), 7.0f);
      ColmSwiGluArgs a{edges.data(), up.data(), dy.data(), nullptr,
                       nullptr,      nullptr,   1};
      if (backward) {
        a.dgate = o1.data();
        a.dup = o2.data();
      } else {
        a.y = o1.data();
      }
      if (reference)
        swiGluReference(s, a);
      else
        runOnThreads(fns[0], a, 1);
      if (backward)
        o1.insert(o1.end(), o2.begin(), o2.end());
      return o1;
    };
    std::vector<float> want = run(true), got = run(false);
    for (size_t i = 0; i < want.size(); ++i) {
      if (got[i] == want[i] || (std::isnan(got[i]) && std::isnan(want[i])))
        continue;
      EXPECT_NEAR(got[i], want[i], 2.4e-7 * std::abs(want[i]) + 1e-37)
          << s.name() << " gate " << edges[i % edges.size()];
    }
  }
}

TEST(PointwiseReferenceTest, SwiGluByHandAndItsGradientIsTheFiniteDifference) {
  SwiGluSpec f{3, false}, b{3, true};
  std::vector<float> gate = {0.0f, 1.0f, -2.5f}, up = {2.0f, 3.0f, 0.5f}, y(3);
  swiGluReference(
      f, {gate.data(), up.data(), nullptr, y.data(), nullptr, nullptr, 1});
  EXPECT_FLOAT_EQ(y[0], 0.0f);
  EXPECT_NEAR(y[1], 3.0 / (1.0 + std::exp(-1.0)), 1e-6);
  EXPECT_NEAR(y[2], -1.25 / (1.0 + std::exp(2.5)), 1e-6);
  std::vector<float> dy = {0.7f, -1.3f, 2.0f}, dgate(3), dup(3);
  swiGluReference(b, {gate.data(), up.data(), dy.data(), nullptr, dgate.data(),
                      dup.data(), 1});
  auto loss = [&]() {
    std::vector<float> out(3);
    swiGluReference(
        f, {gate.data(), up.data(), nullptr, out.data(), nullptr, nullptr, 1});
    double l = 0;
    for (int i = 0; i < 3; ++i)
      l += double(dy[i]) * out[i];
    return l;
  };
  const float h = 1e-2f;
  auto fd = [&](float &v) {
    float keep = v;
    v = keep + h;
    double upL = loss();
    v = keep - h;
    double downL = loss();
    v = keep;
    return (upL - downL) / (2.0 * h);
  };
  for (int i = 0; i < 3; ++i) {
    EXPECT_NEAR(dgate[i], fd(gate[i]), 2e-3) << i;
    EXPECT_NEAR(dup[i], fd(up[i]), 2e-3) << i;
  }
}

TEST(PointwiseReferenceTest, SpecsAreValidatedAndNamed) {
  ChainNormSpec s = chainNorm({2, 2, 4}, 48, 1e-5, false);
  EXPECT_EQ(s.groupBounds, (std::vector<int64_t>{0, 12, 24, 48}));
  EXPECT_TRUE(validateChainNorm(s).isOk());
  ChainNormSpec empty = s;
  empty.groupBounds = {0, 12, 12, 48};
  EXPECT_FALSE(validateChainNorm(empty).isOk());
  ChainNormSpec short_ = s;
  short_.groupBounds = {0, 12, 40};
  EXPECT_FALSE(validateChainNorm(short_).isOk());
  ChainNormSpec eps = s;
  eps.eps = 1e-6;
  EXPECT_NE(eps.name(), s.name());
  ChainNormSpec bwd = s;
  bwd.backward = true;
  EXPECT_NE(bwd.name(), s.name());
  EXPECT_NE((RopeSpec{64, 16, 10000.0, false}.name()),
            (RopeSpec{64, 16, 500000.0, false}.name()));
  EXPECT_FALSE(validateSwiGlu({0, false}).isOk());
}
