//===- AdamWTest.cpp - The AdamW kernel against runtime/Optimizer ---------===//
//
// A small CoLM-Air's parameters laid out as segments of flat memory (with
// gaps that must stay untouched), frozen chains and zero blocks as masks,
// weight decay on matrices only, clipping that scales the gradients: three
// steps of the generated kernel on 1..3 threads give exactly the bits of
// runtime/Optimizer's AdamW (parameters and both moments), and the
// sum-of-squares mode gives the Optimizer's gradient norm within double
// rounding and the same bits on every thread count.
//
//===----------------------------------------------------------------------===//

#include "compiler/codegen/AdamW.h"
#include "compiler/codegen/cpu/CpuJit.h"
#include "compiler/codegen/cpu/RenderAdamW.h"
#include "runtime/KernelAbi.h"
#include "runtime/Model.h"
#include "runtime/Optimizer.h"

#include "KernelTestUtil.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>
#include <thread>
#include <unistd.h>

using namespace colm;
using namespace colm::codegen;

namespace {

using colm::test::runOnThreads;

ModelConfig smallAir() {
  ModelConfig c;
  c.vocabSize = 24;
  c.hiddenSize = 16;
  c.intermediateSize = 32;
  c.numLayers = 1;
  c.numHeads = 4;
  c.numKvHeads = 1;
  c.chains = {1, 1, 2};
  c.kvSharing = true;
  c.modelType = "colm_air";
  return c;
}

/// The model's parameters in flat memory: modelParams order, kGap floats
/// between consecutive parameters.
constexpr int64_t kGap = 3;
constexpr float kSentinel = 12345.0f;

struct Layout {
  std::vector<ParamSpec> params;
  std::vector<std::vector<uint8_t>> masks;
  AdamWSpec update, sumsq;
  int64_t total = 0;
};

Layout layoutFor(const ModelConfig &cfg, int frozen) {
  Layout l;
  l.params = modelParams(cfg);
  int64_t off = kGap;
  for (const ParamSpec &p : l.params) {
    int64_t n = 1;
    for (int64_t d : p.shape)
      n *= d;
    std::vector<uint8_t> mask = trainableMask(cfg, p, frozen);
    bool all = true;
    for (uint8_t m : mask)
      all &= m != 0;
    l.update.segments.push_back({off, n, p.shape.size() == 2, !all});
    l.masks.push_back(std::move(mask));
    off += n + kGap;
  }
  l.total = off;
  l.sumsq = l.update;
  l.sumsq.mode = AdamWMode::SumSquares;
  l.sumsq.blockSize = 40; // many blocks, ragged ends
  return l;
}

class AdamWTest : public colm::test::KernelTest {
protected:
  std::vector<ColmKernelFn> compile(const std::vector<AdamWSpec> &specs) {
    std::vector<KernelSource> sources;
    for (const AdamWSpec &s : specs) {
      EXPECT_TRUE(validateAdamW(s).isOk()) << validateAdamW(s).message();
      sources.push_back({s.name(), cpu::renderAdamW(s)});
    }
    std::vector<std::string> symbols;
    for (const auto &s : specs)
      symbols.push_back(cpu::adamWSymbol(s));
    return KernelTest::compile(sources, symbols);
  }
};

bool sameBits(const float *a, const float *b, size_t n) {
  return std::memcmp(a, b, n * sizeof(float)) == 0;
}

} // namespace

TEST_F(AdamWTest, BitIdenticalToTheOptimizerOnEveryThreadCount) {
  ModelConfig cfg = smallAir();
  ASSERT_TRUE(validateConfig(cfg).isOk()) << validateConfig(cfg).message();
  OptimizerConfig oc;
  oc.kind = OptimizerConfig::AdamW;
  oc.lr = 3e-2;
  oc.weightDecay = 0.1;
  oc.clipGradNorm = 2.0; // below the norm of these gradients: it clips
  oc.schedule = OptimizerConfig::Cosine;
  oc.warmup = 1;
  oc.totalSteps = 4;
  constexpr int kSteps = 3;

  std::vector<Layout> layouts;
  std::vector<AdamWSpec> specs;
  for (int frozen : {0, 1}) {
    layouts.push_back(layoutFor(cfg, frozen));
    specs.push_back(layouts.back().update);
    specs.push_back(layouts.back().sumsq);
  }
  std::vector<ColmKernelFn> fns = compile(specs);
  ASSERT_EQ(fns.size(), specs.size());

  for (int frozen : {0, 1}) {
    const Layout &l = layouts[frozen];
    ColmKernelFn update = fns[2 * frozen], sumsq = fns[2 * frozen + 1];
    std::vector<const uint8_t *> maskPtrs;
    for (const auto &m : l.masks)
      maskPtrs.push_back(m.data());
    std::vector<double> firstPartials;
    std::vector<float> firstParams;
    for (int threads : {1, 2, 3}) {
      SCOPED_TRACE("frozen " + std::to_string(frozen) + ", " +
                   std::to_string(threads) + " threads");
      Model model = initModel(cfg, 7);
      TensorMap initial = model.params;
      auto created = Optimizer::create(oc, cfg, model.params, frozen);
      ASSERT_TRUE(created.isOk()) << created.status().message();
      Optimizer opt = created.take();

      std::vector<float> param(l.total, kSentinel), grad(l.total, kSentinel),
          m(l.total, kSentinel), v(l.total, kSentinel);
      for (size_t i = 0; i < l.params.size(); ++i) {
        const AdamWSegment &s = l.update.segments[i];
        const Tensor &t = model.params.at(l.params[i].name);
        std::copy(t.data.begin(), t.data.end(), param.begin() + s.offset);
        std::fill(m.begin() + s.offset, m.begin() + s.offset + s.size, 0.0f);
        std::fill(v.begin() + s.offset, v.begin() + s.offset + s.size, 0.0f);
      }
      std::vector<double> partials(l.sumsq.numBlocks(), -1.0);
      ColmAdamWArgs args{};
      args.param = param.data();
      args.grad = grad.data();
      args.exp_avg = m.data();
      args.exp_avg_sq = v.data();
      args.masks = maskPtrs.data();
      args.partials = partials.data();
      args.beta1 = oc.beta1;
      args.beta2 = oc.beta2;
      args.eps = oc.eps;
      args.weight_decay = oc.weightDecay;

      std::mt19937 rng(99);
      std::normal_distribution<float> normal(0.0f, 0.3f);
      bool clipped = false;
      for (int step = 1; step <= kSteps; ++step) {
        // Gradients everywhere, the entries that do not train included:
        // the masks must keep those from moving.
        TensorMap grads;
        for (size_t i = 0; i < l.params.size(); ++i) {
          Tensor g(l.params[i].shape);
          for (float &x : g.data)
            x = normal(rng);
          std::copy(g.data.begin(), g.data.end(),
                    grad.begin() + l.update.segments[i].offset);
          grads.emplace(l.params[i].name, std::move(g));
        }
        runOnThreads(sumsq, args, threads);
        for (double p : partials)
          ASSERT_GE(p, 0.0) << "a partial was not written";
        double sum = colmAdamWSumPartials(partials.data(), partials.size());
        double refSum = adamWSumSquaresReference(l.sumsq, args);
        EXPECT_NEAR(sum, refSum, 1e-12 * refSum);
        std::vector<double> refPartials(partials.size());
        ColmAdamWArgs refArgs = args;
        refArgs.partials = refPartials.data();
        adamWReference(l.sumsq, refArgs);
        for (size_t b = 0; b < partials.size(); ++b)
          EXPECT_NEAR(partials[b], refPartials[b],
                      1e-13 * refPartials[b] + 1e-300);
        if (step == 1) {
          if (threads == 1)
            firstPartials = partials;
          else
            EXPECT_EQ(std::memcmp(firstPartials.data(), partials.data(),
                                  partials.size() * sizeof(double)),
                      0)
                << "the partial sums depend on the thread count";
        }

        auto stats = opt.step(model.params, grads, step);
        ASSERT_TRUE(stats.isOk()) << stats.status().message();
        EXPECT_NEAR(std::sqrt(sum), stats->gradNorm, 1e-12 * stats->gradNorm);
        clipped |= stats->clipped;
        // The clipping factor exactly as Optimizer::step derives it from
        // its norm (the kernel takes it as an input).
        double scale = 1.0;
        double coef = oc.clipGradNorm / (stats->gradNorm + 1e-6);
        if (coef < 1.0)
          scale = coef;
        double t = static_cast<double>(step);
        args.lr = stats->lr;
        args.grad_scale = scale;
        args.bias_correction1 = 1.0 - std::pow(oc.beta1, t);
        args.bias_correction2 = 1.0 - std::pow(oc.beta2, t);

        // The reference on copies: the same bits too.
        std::vector<float> rp = param, rm = m, rv = v;
        ColmAdamWArgs ra = args;
        ra.param = rp.data();
        ra.exp_avg = rm.data();
        ra.exp_avg_sq = rv.data();
        adamWReference(l.update, ra);

        runOnThreads(update, args, threads);
        EXPECT_TRUE(sameBits(param.data(), rp.data(), param.size()));
        EXPECT_TRUE(sameBits(m.data(), rm.data(), m.size()));
        EXPECT_TRUE(sameBits(v.data(), rv.data(), v.size()));

        TensorMap state = opt.stateTensors();
        for (size_t i = 0; i < l.params.size(); ++i) {
          const std::string &name = l.params[i].name;
          const AdamWSegment &s = l.update.segments[i];
          EXPECT_TRUE(sameBits(param.data() + s.offset,
                               model.params.at(name).data.data(), s.size))
              << name << " after step " << step;
          EXPECT_TRUE(sameBits(m.data() + s.offset,
                               state.at("exp_avg." + name).data.data(), s.size))
              << "exp_avg." << name << " after step " << step;
          EXPECT_TRUE(sameBits(v.data() + s.offset,
                               state.at("exp_avg_sq." + name).data.data(),
                               s.size))
              << "exp_avg_sq." << name << " after step " << step;
        }
      }
      EXPECT_TRUE(clipped) << "the test should exercise clipping";
      // Frozen and zero-block entries never moved; the gaps are untouched.
      int64_t kept = 0;
      for (size_t i = 0; i < l.params.size(); ++i) {
        const AdamWSegment &s = l.update.segments[i];
        const Tensor &t0 = initial.at(l.params[i].name);
        for (int64_t j = 0; j < s.size; ++j)
          if (!l.masks[i][j]) {
            ++kept;
            ASSERT_EQ(std::memcmp(&param[s.offset + j], &t0.data[j], 4), 0)
                << l.params[i].name << "[" << j << "] does not train";
            ASSERT_EQ(m[s.offset + j], 0.0f);
          }
        ASSERT_EQ(param[s.offset + s.size], kSentinel) << "gap written";
        ASSERT_EQ(m[s.offset + s.size], kSentinel) << "gap written";
      }
      ASSERT_EQ(param[0], kSentinel);
      EXPECT_GT(kept, 0);
      if (threads == 1)
        firstParams = param;
      else
        EXPECT_TRUE(sameBits(firstParams.data(), param.data(), param.size()));
    }
  }
}

TEST_F(AdamWTest, ValidationRejectsBadLayouts) {
  AdamWSpec s;
  EXPECT_FALSE(validateAdamW(s).isOk());
  s.segments = {{0, 10, true, false}, {5, 10, false, false}};
  EXPECT_FALSE(validateAdamW(s).isOk()) << "overlap";
  s.segments = {{10, 4, true, false}, {0, 4, false, false}};
  EXPECT_FALSE(validateAdamW(s).isOk()) << "out of order";
  s.segments = {{0, 0, true, false}};
  EXPECT_FALSE(validateAdamW(s).isOk()) << "empty";
  s.segments = {{0, 4, true, false}, {4, 4, false, true}};
  EXPECT_TRUE(validateAdamW(s).isOk());
  s.blockSize = 0;
  EXPECT_FALSE(validateAdamW(s).isOk());
  AdamWSpec a = s, b = s;
  a.blockSize = b.blockSize = 64;
  b.segments[1].decay = true;
  EXPECT_NE(a.name(), b.name());
}
