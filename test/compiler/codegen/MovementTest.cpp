//===- MovementTest.cpp - The data-movement kernels against references ----===//
//
// Embed forward and backward (repeated and out-of-range tokens, frozen
// columns, vocabularies larger than one accumulator block), add and mul (in
// place too), strided copies (prefix, extend, concat parts) and the weighted
// sum, rendered, compiled with the host compiler and run on 1..3 threads
// against the plain-loop references. Every kernel does the reference's very
// floating-point operations, so the comparison is bit for bit (NaN rows
// included); and the references themselves against hand-computed values.
//
//===----------------------------------------------------------------------===//

#include "compiler/codegen/Movement.h"
#include "compiler/codegen/cpu/CpuJit.h"
#include "compiler/codegen/cpu/RenderMovement.h"
#include "runtime/KernelAbi.h"

#include "KernelTestUtil.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <random>
#include <thread>

using namespace colm;
using namespace colm::codegen;

namespace {

using colm::test::runOnThreads;

std::vector<float> randomVector(size_t n, unsigned seed) {
  return colm::test::randomNormal(n, seed);
}

/// Bit for bit (so NaN == NaN), naming the first few differences.
void expectSameBits(const std::vector<float> &got,
                    const std::vector<float> &want, const std::string &what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int bad = 0;
  for (size_t i = 0; i < got.size(); ++i)
    if (std::memcmp(&got[i], &want[i], sizeof(float)) != 0 && bad++ < 5)
      ADD_FAILURE() << what << ": [" << i << "] = " << got[i] << ", reference "
                    << want[i];
}

/// Runs `run(threads) -> outputs` on 1..3 threads, each the same bits as
/// `want`.
void checkThreads(const std::string &what,
                  const std::function<std::vector<float>(int)> &run,
                  const std::vector<float> &want) {
  for (int threads : {1, 2, 3})
    expectSameBits(run(threads), want,
                   what + " on " + std::to_string(threads) + " threads");
}

const std::vector<int64_t> kRows = {0, 1, 2, 37};

class MovementTest : public colm::test::KernelTest {};

} // namespace

TEST_F(MovementTest, EmbedMatchesTheReference) {
  std::vector<EmbedSpec> specs = {
      {50, 24, false, 0}, {7, 33, false, 0},
      {50, 24, true, 0},  {50, 24, true, 8}, // frozen columns
      {7, 33, true, 11},  // few tokens: many repeats; ragged column blocks
      {7, 5, true, 5},    // every column frozen
      {1500, 20, true, 3} // two vocabulary blocks of the accumulator
  };
  std::vector<KernelSource> sources;
  std::vector<std::string> symbols;
  for (const EmbedSpec &s : specs) {
    ASSERT_TRUE(validateEmbed(s).isOk()) << validateEmbed(s).message();
    sources.push_back({s.name(), cpu::renderEmbed(s)});
    symbols.push_back(cpu::embedSymbol(s));
  }
  std::vector<ColmKernelFn> fns = compile(sources, symbols);
  ASSERT_EQ(fns.size(), specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    const EmbedSpec &s = specs[i];
    int64_t v = s.vocab, w = s.width;
    for (int64_t rows : kRows)
      for (bool badTokens : {false, true}) {
        unsigned seed = unsigned(i * 100 + rows);
        std::mt19937 rng(seed);
        std::vector<int32_t> tokens(rows);
        for (int32_t &t : tokens)
          t = int32_t(rng() % v);
        if (badTokens)
          for (int64_t r = 0; r < rows; r += 3)
            tokens[r] = r % 2 ? int32_t(v) : -1 - int32_t(r);
        std::vector<float> table = randomVector(v * w, seed + 1),
                           dy = randomVector(rows * w, seed + 2);
        auto args = [&](std::vector<float> &out) {
          out.assign(s.backward ? v * w : rows * w, 7.0f);
          ColmEmbedArgs a{table.data(), tokens.data(), dy.data(),
                          nullptr,      nullptr,       rows};
          (s.backward ? a.dtable : a.y) = out.data();
          return a;
        };
        std::vector<float> want;
        embedReference(s, args(want));
        checkThreads(
            s.name() + " rows " + std::to_string(rows) +
                (badTokens ? " bad tokens" : ""),
            [&](int threads) {
              std::vector<float> got;
              runOnThreads(fns[i], args(got), threads);
              return got;
            },
            want);
      }
  }
}

TEST_F(MovementTest, AddAndMulMatchTheReference) {
  std::vector<ElementwiseSpec> specs;
  for (auto op : {ElementwiseSpec::Op::Add, ElementwiseSpec::Op::Mul})
    for (int64_t w : {1, 7, 40})
      specs.push_back({op, w});
  std::vector<KernelSource> sources;
  std::vector<std::string> symbols;
  for (const ElementwiseSpec &s : specs) {
    ASSERT_TRUE(validateElementwise(s).isOk());
    sources.push_back({s.name(), cpu::renderElementwise(s)});
    symbols.push_back(cpu::elementwiseSymbol(s));
  }
  std::vector<ColmKernelFn> fns = compile(sources, symbols);
  ASSERT_EQ(fns.size(), specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    const ElementwiseSpec &s = specs[i];
    for (int64_t rows : kRows) {
      unsigned seed = unsigned(i * 100 + rows);
      std::vector<float> a = randomVector(rows * s.width, seed),
                         b = randomVector(rows * s.width, seed + 1);
      std::vector<float> want(rows * s.width);
      elementwiseReference(s, {a.data(), b.data(), want.data(), rows});
      // 0: a fresh y; 1: y is a; 2: y is b.
      for (int alias : {0, 1, 2})
        checkThreads(
            s.name() + " rows " + std::to_string(rows) + " alias " +
                std::to_string(alias),
            [&](int threads) {
              std::vector<float> x = a, y = b, got(rows * s.width, 7.0f);
              float *out = alias == 1   ? x.data()
                           : alias == 2 ? y.data()
                                        : got.data();
              runOnThreads(fns[i],
                           ColmElementwiseArgs{x.data(), y.data(), out, rows},
                           threads);
              return alias == 1 ? x : alias == 2 ? y : got;
            },
            want);
    }
  }
}

TEST_F(MovementTest, CopyMatchesTheReference) {
  std::vector<CopySpec> specs = {
      {12, 40, 12},          // chain.prefix
      {12, 12, 40, 0, true}, // chain.extend
      {12, 12, 40, 0},       // chain.concat, first part
      {28, 28, 40, 12},      // chain.concat, second part
      {17, 17, 17},          // dense
      {5, 9, 20, 7, true},   // zeros on both sides
  };
  std::vector<KernelSource> sources;
  std::vector<std::string> symbols;
  for (const CopySpec &s : specs) {
    ASSERT_TRUE(validateCopy(s).isOk()) << validateCopy(s).message();
    sources.push_back({s.name(), cpu::renderCopy(s)});
    symbols.push_back(cpu::copySymbol(s));
  }
  std::vector<ColmKernelFn> fns = compile(sources, symbols);
  ASSERT_EQ(fns.size(), specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    const CopySpec &s = specs[i];
    for (int64_t rows : kRows) {
      std::vector<float> x = randomVector(rows * s.srcStride, unsigned(rows));
      // 7s the kernel must overwrite (zeroRest) or leave alone (otherwise).
      std::vector<float> want(rows * s.dstStride, 7.0f);
      copyReference(s, {x.data(), want.data(), rows});
      checkThreads(
          s.name() + " rows " + std::to_string(rows),
          [&](int threads) {
            std::vector<float> got(rows * s.dstStride, 7.0f);
            runOnThreads(fns[i], ColmCopyArgs{x.data(), got.data(), rows},
                         threads);
            return got;
          },
          want);
    }
  }
}

TEST_F(MovementTest, WeightedSumMatchesTheReference) {
  std::vector<WeightedSumSpec> specs = {
      {{1.0}}, {{0.5, 0.25, 0.125}}, {{1.0 / 3, -2.7, 1e-3, 4.0, 0.1}}};
  std::vector<KernelSource> sources;
  std::vector<std::string> symbols;
  for (const WeightedSumSpec &s : specs) {
    ASSERT_TRUE(validateWeightedSum(s).isOk());
    sources.push_back({s.name(), cpu::renderWeightedSum(s)});
    symbols.push_back(cpu::weightedSumSymbol(s));
  }
  std::vector<ColmKernelFn> fns = compile(sources, symbols);
  ASSERT_EQ(fns.size(), specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    const WeightedSumSpec &s = specs[i];
    std::mt19937 rng{unsigned(i)};
    std::normal_distribution<double> normal;
    std::vector<double> inputs(s.weights.size());
    for (double &x : inputs)
      x = 3.0 * normal(rng);
    float want = 7.0f;
    double wantDouble = 7.0;
    weightedSumReference(s, {inputs.data(), &want, &wantDouble});
    for (int threads : {1, 2, 3}) {
      float got = 7.0f;
      double gotDouble = 7.0;
      runOnThreads(fns[i], ColmWeightedSumArgs{inputs.data(), &got, &gotDouble},
                   threads);
      EXPECT_EQ(std::memcmp(&got, &want, sizeof got), 0)
          << s.name() << " on " << threads << " threads: " << got << " vs "
          << want;
      EXPECT_EQ(std::memcmp(&gotDouble, &wantDouble, sizeof gotDouble), 0)
          << s.name() << " on " << threads << " threads: " << gotDouble
          << " vs " << wantDouble;
      // Null outputs are skipped.
      float only = 7.0f;
      runOnThreads(fns[i], ColmWeightedSumArgs{inputs.data(), &only, nullptr},
                   threads);
      EXPECT_EQ(std::memcmp(&only, &want, sizeof only), 0) << s.name();
      double onlyDouble = 7.0;
      runOnThreads(fns[i],
                   ColmWeightedSumArgs{inputs.data(), nullptr, &onlyDouble},
                   threads);
      EXPECT_EQ(onlyDouble, wantDouble) << s.name();
    }
  }
}

//===----------------------------------------------------------------------===//
// The references themselves
//===----------------------------------------------------------------------===//

TEST(MovementReferenceTest, EmbedByHand) {
  // vocab 3, width 2; tokens 2, 0, 2, 5 (out of range).
  std::vector<float> table = {1, 2, 3, 4, 5, 6}, y(8);
  std::vector<int32_t> tokens = {2, 0, 2, 5};
  embedReference({3, 2, false, 0},
                 {table.data(), tokens.data(), nullptr, y.data(), nullptr, 4});
  EXPECT_EQ(std::vector<float>(y.begin(), y.begin() + 6),
            (std::vector<float>{5, 6, 1, 2, 5, 6}));
  EXPECT_TRUE(std::isnan(y[6]) && std::isnan(y[7]));
  std::vector<float> dy = {1, 10, 2, 20, 3, 30, 4, 40}, dtable(6, 7.0f);
  embedReference({3, 2, true, 1}, {nullptr, tokens.data(), dy.data(), nullptr,
                                   dtable.data(), 4});
  EXPECT_EQ(dtable, (std::vector<float>{0, 20, 0, 0, 0, 40}));
}

TEST(MovementReferenceTest, CopyAndArithmeticByHand) {
  std::vector<float> x = {1, 2, 3, 4, 5, 6}, y(8, 7.0f);
  copyReference({2, 3, 4, 1, true}, {x.data(), y.data(), 2});
  EXPECT_EQ(y, (std::vector<float>{0, 1, 2, 0, 0, 4, 5, 0}));
  std::vector<float> p(8, 7.0f);
  copyReference({2, 3, 4, 2}, {x.data(), p.data(), 2});
  EXPECT_EQ(p, (std::vector<float>{7, 7, 1, 2, 7, 7, 4, 5}));
  std::vector<float> a = {1.5f, -2}, b = {2, 0.25f}, s(2), m(2);
  elementwiseReference({ElementwiseSpec::Op::Add, 2},
                       {a.data(), b.data(), s.data(), 1});
  elementwiseReference({ElementwiseSpec::Op::Mul, 1},
                       {a.data(), b.data(), m.data(), 2});
  EXPECT_EQ(s, (std::vector<float>{3.5f, -1.75f}));
  EXPECT_EQ(m, (std::vector<float>{3, -0.5f}));
  std::vector<double> in = {2.0, 8.0};
  float out = 0;
  double outDouble = 0;
  weightedSumReference({{0.5, 0.25}}, {in.data(), &out, &outDouble});
  EXPECT_EQ(out, 3.0f);
  EXPECT_EQ(outDouble, 3.0);
}

TEST(MovementReferenceTest, SpecsAreValidatedAndNamed) {
  EXPECT_EQ((EmbedSpec{256, 128, false, 0}.name()), "embed_fwd_v256_w128");
  EXPECT_EQ((EmbedSpec{256, 128, true, 32}.name()), "embed_bwd_v256_w128_d32");
  EXPECT_EQ(embedGrad(256, 128, {2, 2, 4}, 2).dBegin, 32);
  EXPECT_EQ(embedGrad(256, 128, {2, 2, 4}, 3).dBegin, 64);
  EXPECT_EQ(embedGrad(256, 128, {}, 2).dBegin, 128);
  EXPECT_EQ(embedGrad(256, 128, {2, 2, 4}, 0).dBegin, 0);
  EXPECT_FALSE(validateEmbed({0, 8, false, 0}).isOk());
  EXPECT_FALSE(validateEmbed({8, 8, false, 2}).isOk());
  EXPECT_FALSE(validateEmbed({8, 8, true, 9}).isOk());
  EXPECT_EQ((ElementwiseSpec{ElementwiseSpec::Op::Mul, 7}.name()), "mul_w7");
  EXPECT_FALSE(validateElementwise({ElementwiseSpec::Op::Add, 0}).isOk());
  EXPECT_EQ((CopySpec{32, 32, 128, 0, true}.name()), "copy_w32_s32_d128_o0_z");
  EXPECT_FALSE(validateCopy({32, 16, 32}).isOk());
  EXPECT_FALSE(validateCopy({32, 32, 40, 10}).isOk());
  EXPECT_FALSE(validateCopy({32, 32, 32, -1}).isOk());
  EXPECT_NE((WeightedSumSpec{{1.0, 0.5}}.name()),
            (WeightedSumSpec{{1.0, 0.25}}.name()));
  EXPECT_FALSE(validateWeightedSum({{}}).isOk());
  EXPECT_FALSE(validateWeightedSum({{1.0, NAN}}).isOk());
}
