//===- OptimizerTest.cpp - Tests for runtime/Optimizer.h ------------------===//
//
// Expected values were computed by hand from the PyTorch definitions
// (torch.optim.SGD without momentum, torch.optim.AdamW) in double precision
// with the moments rounded to float32 (python3, struct 'f').
//
//===----------------------------------------------------------------------===//

#include "runtime/Optimizer.h"

#include "TestUtil.h"

#include <cmath>
#include <cstring>

using namespace colm;
using colm::test::smallConfig;

namespace {

const char *kQ = "model.layers.0.self_attn.q_proj.weight";
const char *kNorm = "model.norm.weight";
const char *kUp = "model.layers.1.mlp.up_proj.weight";

TensorMap zeroGrads(const TensorMap &params) {
  TensorMap g;
  for (const auto &[name, t] : params)
    g.emplace(name, Tensor(t.shape));
  return g;
}

/// Gradients that are non-zero on every entry (including above the chain
/// diagonal, which the optimizer must ignore).
TensorMap denseGrads(const TensorMap &params, float base) {
  TensorMap g;
  for (const auto &[name, t] : params) {
    Tensor x(t.shape);
    for (size_t i = 0; i < x.data.size(); ++i)
      x.data[i] =
          base * static_cast<float>((i % 7) + 1) * ((i % 2) ? 1.0f : -1.0f);
    g.emplace(name, std::move(x));
  }
  return g;
}

OptimizerConfig sgd(double lr, double wd) {
  OptimizerConfig c;
  c.kind = OptimizerConfig::Sgd;
  c.lr = lr;
  c.weightDecay = wd;
  return c;
}

OptimizerConfig adamw(double lr, double wd) {
  OptimizerConfig c;
  c.kind = OptimizerConfig::AdamW;
  c.lr = lr;
  c.weightDecay = wd;
  return c;
}

} // namespace

TEST(OptimizerTest, SgdTwoStepsMatchTorchFormula) {
  ModelConfig mc = smallConfig();
  Model m = initModel(mc, 7);
  Result<Optimizer> opt = Optimizer::create(sgd(0.1, 0.01), mc, m.params, 0);
  ASSERT_OK(opt);
  m.params.at(kQ).data[0] = 0.5f;
  float up0 = m.params.at(kUp).data[0];
  TensorMap g = zeroGrads(m.params);
  g.at(kQ).data[0] = 0.1f;
  g.at(kNorm).data[1] = 0.3f;
  Result<StepStats> s = opt->step(m.params, g, 1);
  ASSERT_OK(s);
  EXPECT_EQ(s->lr, 0.1);
  EXPECT_FALSE(s->clipped);
  EXPECT_FLOAT_EQ(m.params.at(kQ).data[0], 0.4894999861717224f);
  EXPECT_FLOAT_EQ(m.params.at(kNorm).data[1], 0.9700000286102295f);
  g.at(kQ).data[0] = -0.2f;
  ASSERT_OK(opt->step(m.params, g, 2));
  EXPECT_FLOAT_EQ(m.params.at(kQ).data[0], 0.5090104937553406f);
  EXPECT_FLOAT_EQ(m.params.at(kNorm).data[1], 0.940000057220459f);
  // Zero gradient: matrices still decay (coupled decay), gains do not.
  EXPECT_EQ(m.params.at(kUp).data[0],
            static_cast<float>(static_cast<double>(
                                   static_cast<float>(up0 - 0.1 * 0.01 * up0)) *
                               (1 - 0.1 * 0.01)));
  EXPECT_EQ(m.params.at(kNorm).data[0], 1.0f);
  EXPECT_EQ(opt->stepCount(), 2);
}

TEST(OptimizerTest, AdamWTwoStepsMatchTorchFormula) {
  ModelConfig mc = smallConfig();
  Model m = initModel(mc, 7);
  Result<Optimizer> opt = Optimizer::create(adamw(0.1, 0.1), mc, m.params, 0);
  ASSERT_OK(opt);
  m.params.at(kQ).data[0] = 0.5f;
  m.params.at(kQ).data[1] = 0.5f; // zero gradient: decay only
  TensorMap g = zeroGrads(m.params);
  g.at(kQ).data[0] = 0.1f;
  g.at(kNorm).data[1] = 0.3f;
  ASSERT_OK(opt->step(m.params, g, 1));
  EXPECT_FLOAT_EQ(m.params.at(kQ).data[0], 0.39500001072883606f);
  EXPECT_FLOAT_EQ(m.params.at(kQ).data[1], 0.4950000047683716f);
  EXPECT_FLOAT_EQ(m.params.at(kNorm).data[1], 0.9000000357627869f);
  g.at(kQ).data[0] = -0.2f;
  ASSERT_OK(opt->step(m.params, g, 2));
  EXPECT_FLOAT_EQ(m.params.at(kQ).data[0], 0.42766037583351135f);
  EXPECT_FLOAT_EQ(m.params.at(kQ).data[1], 0.4900500178337097f);
  // Gains are never decayed.
  EXPECT_FLOAT_EQ(m.params.at(kNorm).data[1], 0.800000011920929f);
  EXPECT_EQ(m.params.at(kNorm).data[0], 1.0f);
  TensorMap st = opt->stateTensors();
  EXPECT_FLOAT_EQ(st.at(std::string("exp_avg.") + kQ).data[0],
                  static_cast<float>(0.9 * 0.01f + 0.1 * -0.2));
}

TEST(OptimizerTest, UpperBlocksStayExactlyZero) {
  ModelConfig mc = smallConfig({1, 1, 2});
  Model m = initModel(mc, 3);
  for (OptimizerConfig oc : {sgd(0.1, 0.5), adamw(0.1, 0.5)}) {
    Model w = m;
    Result<Optimizer> opt = Optimizer::create(oc, mc, w.params, 0);
    ASSERT_OK(opt);
    TensorMap g = denseGrads(w.params, 0.01f); // non-zero above the diagonal
    for (int s = 1; s <= 2; ++s)
      ASSERT_OK(opt->step(w.params, g, s));
    EXPECT_OK(checkParams(mc, w.params, "after step"));
    EXPECT_NE(w.params.at(kUp).data, m.params.at(kUp).data);
  }
}

TEST(OptimizerTest, TrainableMaskFollowsChains) {
  ModelConfig mc = smallConfig({1, 1, 2}); // D=16: chains 4,4,8
  std::vector<ParamSpec> specs = modelParams(mc);
  const ParamSpec &embed = specs[0];
  std::vector<uint8_t> e = trainableMask(mc, embed, 1);
  EXPECT_EQ(e[0], 0);
  EXPECT_EQ(e[3], 0);
  EXPECT_EQ(e[4], 1);
  EXPECT_EQ(e[16 + 3], 0);
  ParamSpec up{kUp, {32, 16}, ParamKind::ChainLinear};
  std::vector<uint8_t> u = trainableMask(mc, up, 0);
  EXPECT_EQ(u[0 * 16 + 3], 1);   // chain 1 row, chain 1 col
  EXPECT_EQ(u[0 * 16 + 4], 0);   // above the diagonal
  EXPECT_EQ(u[8 * 16 + 7], 1);   // chain 2 row, chain 2 col
  EXPECT_EQ(u[8 * 16 + 8], 0);   // chain 2 row, chain 3 col
  EXPECT_EQ(u[31 * 16 + 15], 1); // chain 3 reads everything
  std::vector<uint8_t> u2 = trainableMask(mc, up, 2);
  EXPECT_EQ(u2[8 * 16 + 0], 0);
  EXPECT_EQ(u2[16 * 16 + 0], 1);
  ParamSpec gain{kNorm, {16}, ParamKind::Gain};
  std::vector<uint8_t> gm = trainableMask(mc, gain, 2);
  EXPECT_EQ(gm[7], 0);
  EXPECT_EQ(gm[8], 1);
  ParamSpec dense{"k", {8, 8}, ParamKind::Dense};
  EXPECT_EQ(trainableMask(mc, dense, 0), std::vector<uint8_t>(64, 1));
  EXPECT_EQ(trainableMask(mc, dense, 1), std::vector<uint8_t>(64, 0));
}

TEST(OptimizerTest, FrozenEntriesUnchangedBitForBit) {
  for (bool air : {false, true}) {
    ModelConfig mc =
        air ? smallConfig({2, 2}, 2, true) : smallConfig({1, 1, 2});
    ASSERT_OK(validateConfig(mc));
    Model m = initModel(mc, 11);
    for (OptimizerConfig oc : {sgd(0.05, 0.1), adamw(0.05, 0.1)}) {
      oc.clipGradNorm = 0.5;
      Model w = m;
      Result<Optimizer> opt = Optimizer::create(oc, mc, w.params, 1);
      ASSERT_OK(opt);
      TensorMap g = denseGrads(w.params, 0.03f);
      if (air) // frozen dense k/v may come without a gradient at all
        g.erase("model.layers.0.self_attn.k_proj.weight");
      for (int s = 1; s <= 2; ++s)
        ASSERT_OK(opt->step(w.params, g, s));
      int changed = 0, frozen = 0;
      for (const ParamSpec &spec : modelParams(mc)) {
        std::vector<uint8_t> mask = trainableMask(mc, spec, 1);
        const Tensor &before = m.params.at(spec.name);
        const Tensor &after = w.params.at(spec.name);
        for (size_t i = 0; i < mask.size(); ++i) {
          if (mask[i]) {
            changed += before.data[i] != after.data[i];
            continue;
          }
          ++frozen;
          ASSERT_EQ(std::memcmp(&before.data[i], &after.data[i], 4), 0)
              << spec.name << "[" << i << "]";
        }
      }
      EXPECT_GT(changed, 100);
      EXPECT_GT(frozen, 100);
    }
  }
}

TEST(OptimizerTest, GlobalNormClipping) {
  ModelConfig mc = smallConfig();
  Model m = initModel(mc, 5);
  OptimizerConfig oc = sgd(1.0, 0.0);
  oc.clipGradNorm = 1.0;
  Result<Optimizer> opt = Optimizer::create(oc, mc, m.params, 0);
  ASSERT_OK(opt);
  TensorMap g = zeroGrads(m.params);
  g.at(kQ).data[0] = 3.0f;
  g.at(kNorm).data[0] = 4.0f;
  g.at(kUp).data[4] = 100.0f; // above the diagonal: not counted, not applied
  float q0 = m.params.at(kQ).data[0];
  Result<StepStats> s = opt->step(m.params, g, 1);
  ASSERT_OK(s);
  EXPECT_DOUBLE_EQ(s->gradNorm, 5.0);
  EXPECT_TRUE(s->clipped);
  double scale = 1.0 / (5.0 + 1e-6);
  EXPECT_EQ(m.params.at(kQ).data[0], static_cast<float>(q0 - 3.0 * scale));
  EXPECT_EQ(m.params.at(kNorm).data[0], static_cast<float>(1.0 - 4.0 * scale));
  EXPECT_EQ(m.params.at(kUp).data[4], 0.0f);

  oc.clipGradNorm = 10.0;
  Model w = initModel(mc, 5);
  Result<Optimizer> loose = Optimizer::create(oc, mc, w.params, 0);
  ASSERT_OK(loose);
  s = loose->step(w.params, g, 1);
  ASSERT_OK(s);
  EXPECT_FALSE(s->clipped);
  EXPECT_EQ(w.params.at(kQ).data[0], static_cast<float>(q0 - 3.0));
}

TEST(OptimizerTest, Schedules) {
  OptimizerConfig c;
  c.lr = 1.0;
  EXPECT_EQ(learningRate(c, 1), 1.0);
  EXPECT_EQ(learningRate(c, 1000), 1.0);
  c.warmup = 10;
  EXPECT_DOUBLE_EQ(learningRate(c, 1), 0.1);
  EXPECT_DOUBLE_EQ(learningRate(c, 5), 0.5);
  EXPECT_DOUBLE_EQ(learningRate(c, 10), 1.0);
  EXPECT_DOUBLE_EQ(learningRate(c, 11), 1.0);
  c.schedule = OptimizerConfig::Cosine;
  c.totalSteps = 110;
  c.minLrRatio = 0.1;
  EXPECT_DOUBLE_EQ(learningRate(c, 10), 1.0);
  EXPECT_DOUBLE_EQ(learningRate(c, 60), 0.55);
  EXPECT_DOUBLE_EQ(learningRate(c, 35),
                   0.1 + 0.9 * (1 + std::cos(M_PI * 0.25)) / 2);
  EXPECT_DOUBLE_EQ(learningRate(c, 110), 0.1);
  EXPECT_DOUBLE_EQ(learningRate(c, 500), 0.1);
  c.warmup = 0;
  c.minLrRatio = 0;
  c.totalSteps = 4;
  EXPECT_DOUBLE_EQ(learningRate(c, 2), 0.5);
  EXPECT_NEAR(learningRate(c, 4), 0.0, 1e-15);
}

TEST(OptimizerTest, ConfigValidation) {
  OptimizerConfig c;
  EXPECT_OK(validateOptimizerConfig(c));
  c.lr = -1;
  EXPECT_ERROR(validateOptimizerConfig(c), "--lr");
  c = OptimizerConfig();
  c.beta2 = 1.0;
  EXPECT_ERROR(validateOptimizerConfig(c), "--beta2", "[0, 1)");
  c = OptimizerConfig();
  c.schedule = OptimizerConfig::Cosine;
  EXPECT_ERROR(validateOptimizerConfig(c), "cosine", "--steps");
  // eps 0 is an AdamW problem, named as such (not a learning-rate one).
  c = OptimizerConfig();
  c.eps = 0;
  EXPECT_ERROR(validateOptimizerConfig(c), "--eps must be positive for AdamW",
               "got 0");
  c.kind = OptimizerConfig::Sgd;
  EXPECT_OK(validateOptimizerConfig(c));
  EXPECT_ERROR(parseOptimizerKind("adam"), "unknown optimizer 'adam'");
  EXPECT_EQ(*parseSchedule("cosine"), OptimizerConfig::Cosine);
  ModelConfig mc = smallConfig({1, 1, 2});
  Model m = initModel(mc, 1);
  EXPECT_ERROR(Optimizer::create(OptimizerConfig(), mc, m.params, 3),
               "--freeze-chains 3", "at most 2");
}

TEST(OptimizerTest, StepErrorsLeaveParamsUnchanged) {
  ModelConfig mc = smallConfig();
  Model m = initModel(mc, 5);
  Result<Optimizer> opt = Optimizer::create(adamw(0.1, 0.1), mc, m.params, 0);
  ASSERT_OK(opt);
  TensorMap g = zeroGrads(m.params);
  g.erase(kQ);
  EXPECT_ERROR(opt->step(m.params, g, 1), "no gradient", kQ);
  g = zeroGrads(m.params);
  g.at(kNorm).data[2] = NAN;
  Model before = m;
  EXPECT_ERROR(opt->step(m.params, g, 1), "gradient norm is nan",
               "not updated");
  for (const auto &[name, t] : m.params)
    EXPECT_EQ(t.data, before.params.at(name).data);
  EXPECT_EQ(opt->stepCount(), 0);
  g = zeroGrads(m.params);
  g.at(kQ) = Tensor({2, 2});
  EXPECT_ERROR(opt->step(m.params, g, 1), "gradient of", "[2, 2]");
}

TEST(OptimizerTest, StateRoundTripResumesExactly) {
  ModelConfig mc = smallConfig();
  Model m = initModel(mc, 9);
  OptimizerConfig oc = adamw(0.01, 0.1);
  TensorMap g1 = denseGrads(m.params, 0.02f), g2 = denseGrads(m.params, -0.05f);
  Model a = m;
  Optimizer full(oc, mc, a.params, 0);
  ASSERT_OK(full.step(a.params, g1, 1));
  TensorMap state = full.stateTensors();
  Model b = a;
  ASSERT_OK(full.step(a.params, g2, 2));

  Optimizer resumed(oc, mc, b.params, 0);
  ASSERT_OK(resumed.loadState(state));
  EXPECT_EQ(resumed.stepCount(), 1);
  ASSERT_OK(resumed.step(b.params, g2, 2));
  for (const auto &[name, t] : a.params)
    EXPECT_EQ(t.data, b.params.at(name).data) << name;

  TensorMap bad = state;
  bad.erase(std::string("exp_avg_sq.") + kNorm);
  EXPECT_ERROR(resumed.loadState(bad), "missing tensor", "exp_avg_sq.", kNorm);
  bad = state;
  bad.at(std::string("exp_avg.") + kQ) = Tensor({3});
  EXPECT_ERROR(resumed.loadState(bad), "has shape [3]", "expected [16, 16]");
  bad = state;
  bad.erase("step");
  EXPECT_ERROR(resumed.loadState(bad), "missing tensor 'step'");
  Optimizer plain(sgd(0.1, 0), mc, b.params, 0);
  EXPECT_ERROR(plain.loadState(state), "unexpected tensor", "sgd");
  EXPECT_OK(plain.loadState(plain.stateTensors()));
  Optimizer adam(oc, mc, b.params, 0);
  EXPECT_ERROR(adam.loadState(plain.stateTensors()), "missing tensor",
               "exp_avg.");
}

TEST(OptimizerTest, LargeStepCountRoundTrips) {
  ModelConfig mc = smallConfig();
  Model m = initModel(mc, 9);
  Optimizer a(sgd(0.1, 0), mc, m.params, 0);
  TensorMap st = a.stateTensors();
  st.at("step").data = {3.0f, 5.0f};
  ASSERT_OK(a.loadState(st));
  EXPECT_EQ(a.stepCount(), 3 * 16777216 + 5);
  EXPECT_EQ(a.stateTensors().at("step").data, st.at("step").data);
}

TEST(OptimizerTest, NonFiniteStateIsRefusedOnLoad) {
  ModelConfig mc = smallConfig();
  Model m = initModel(mc, 9);
  Optimizer opt(adamw(0.01, 0.1), mc, m.params, 0);
  TensorMap state = opt.stateTensors();
  state.at(std::string("exp_avg_sq.") + kQ).data[5] = NAN;
  Optimizer other(adamw(0.01, 0.1), mc, m.params, 0);
  EXPECT_ERROR(other.loadState(state), "optimizer state", "exp_avg_sq.", kQ,
               "NaN");
}
