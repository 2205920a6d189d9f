//===- ChainControllerTest.cpp - Tests for runtime/ChainController.h ------===//

#include "runtime/ChainController.h"

#include <gtest/gtest.h>

#include <random>

using namespace colm;

namespace {

/// A machine whose step takes 1 ms plus 0.2, 0.5, 1.5 ms per row at 1, 2, 3
/// chains plus 0.01 ms per prefill token, with noise.
double stepTime(const std::vector<int64_t> &rows, double prefill,
                std::mt19937 &rng) {
  std::normal_distribution<double> noise(0, 2e-5);
  return 1e-3 + 0.2e-3 * rows[0] + 0.5e-3 * rows[1] + 1.5e-3 * rows[2] +
         1e-5 * prefill + noise(rng);
}

StepTimeModel trained(int steps = 200) {
  StepTimeModel model(3);
  std::mt19937 rng(3);
  std::uniform_int_distribution<int> r(0, 8), p(0, 200);
  for (int i = 0; i < steps; ++i) {
    std::vector<int64_t> rows{r(rng), r(rng), r(rng)};
    double prefill = p(rng);
    model.observe(rows, prefill, stepTime(rows, prefill, rng));
  }
  return model;
}

ChainController::Stream automatic(double target, unsigned min = 1) {
  ChainController::Stream s;
  s.chains = 3;
  s.automatic = true;
  s.minChains = min;
  s.maxChains = 3;
  s.tpotTarget = target;
  return s;
}

} // namespace

TEST(StepTimeModelTest, RecoversTheCostPerRowOfEachChainCount) {
  StepTimeModel model = trained();
  ASSERT_TRUE(model.ready());
  EXPECT_NEAR(model.predict({0, 0, 0}, 0), 1e-3, 5e-5);
  EXPECT_NEAR(model.predict({4, 0, 0}, 0), 1.8e-3, 5e-5);
  EXPECT_NEAR(model.predict({0, 0, 4}, 100), 8e-3, 5e-5);
  EXPECT_FALSE(StepTimeModel(3).ready());
}

// Steps of 1, 3 and 5 ms at 1, 2 and 3 full-chain rows fit -1 ms + 2 ms
// per row: one row at one chain (never measured) would be predicted below
// zero, and a controller would raise chains against any target.
TEST(StepTimeModelTest, NoDecodeStepIsPredictedFasterThanTheFastestSeen) {
  StepTimeModel model(3);
  for (int i = 0; i < 30; ++i)
    for (int64_t r = 1; r <= 3; ++r)
      model.observe({0, 0, r}, 0, (2.0 * double(r) - 1.0) * 1e-3);
  ASSERT_TRUE(model.ready());
  EXPECT_NEAR(model.predict({0, 0, 3}, 0), 5e-3, 1e-5);
  EXPECT_NEAR(model.predict({1, 0, 0}, 0), 1e-3, 1e-9);
  EXPECT_NEAR(model.predict({0, 0, 0}, 50), 0.0, 1e-9);
  ChainController control(3);
  std::vector<ChainController::Stream> one{automatic(1e-5, 2)};
  one[0].chains = 2;
  control.adjust(one, model, 0);
  EXPECT_EQ(one[0].chains, 2u); // 1 ms predicted: far over 0.01 ms
}

// Overload: 8 full-chain streams take 13 ms a step against a 9 ms target
// (aimed at 80% of it).
// The loosest target gives up chains first, nobody goes below its minimum,
// fixed streams never change, and the prediction meets the target.
TEST(ChainControllerTest, LowersTheStreamWithTheMostSlackFirst) {
  StepTimeModel model = trained();
  ChainController control(3);
  std::vector<ChainController::Stream> streams;
  for (int i = 0; i < 4; ++i)
    streams.push_back(automatic(9e-3));
  streams.push_back(automatic(15e-3));   // more slack
  streams.push_back(automatic(9e-3, 3)); // never below 3
  ChainController::Stream fixed;
  fixed.chains = 3;
  streams.push_back(fixed);
  streams.push_back(fixed);
  double before = model.predict({0, 0, 8}, 0);
  EXPECT_GT(before, 9e-3);
  double after = control.adjust(streams, model, 0);
  EXPECT_LE(after, 0.8 * 9e-3);
  EXPECT_GT(after, 5e-3) << "no more chains given up than needed";
  EXPECT_EQ(streams[4].chains, 1u) << "the most slack goes first, to its min";
  EXPECT_EQ(streams[5].chains, 3u);
  EXPECT_EQ(streams[6].chains, 3u);
  EXPECT_EQ(streams[7].chains, 3u);
  for (const auto &s : streams)
    if (s.chains != 3)
      EXPECT_EQ(s.heldUntil, s.index + ChainController::kHold);
  // Held streams do not move back at once, even with room to spare.
  std::vector<ChainController::Stream> light(streams.begin(),
                                             streams.begin() + 2);
  light[0].chains = light[1].chains = 1;
  light[0].heldUntil = light[1].heldUntil = ChainController::kHold;
  control.adjust(light, model, 0);
  EXPECT_EQ(light[0].chains, 1u);
  // Once the hold is over, light load brings the chains back.
  light[0].index = light[1].index = ChainController::kHold;
  control.adjust(light, model, 0);
  EXPECT_EQ(light[0].chains, 3u);
  EXPECT_EQ(light[1].chains, 3u);
}

// A noisy machine: one step in eight takes 1.5x its time. The controller
// aims the prediction at target / 1.5 (the steps' 98th percentile over the
// prediction), so the slow steps meet the target too; a quiet one keeps
// the 80% aim.
TEST(ChainControllerTest, AimsLowerWhenStepsVaryMore) {
  StepTimeModel noisy(3), quiet(3);
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> r(0, 8), p(0, 200);
  for (int i = 0; i < 600; ++i) {
    std::vector<int64_t> rows{r(rng), r(rng), r(rng)};
    double prefill = p(rng), t = stepTime(rows, prefill, rng);
    quiet.observe(rows, prefill, t);
    noisy.observe(rows, prefill, i % 8 == 0 ? 1.5 * t : t);
  }
  EXPECT_NEAR(quiet.ratioQuantile(0.95), 1.0, 0.02);
  EXPECT_GT(noisy.ratioQuantile(0.95), 1.3);
  EXPECT_EQ(StepTimeModel(3).ratioQuantile(0.95), 1.0);
  ChainController control(3);
  std::vector<ChainController::Stream> calm(6, automatic(9e-3)),
      shaky(6, automatic(9e-3));
  double a = control.adjust(calm, quiet, 0);
  double b = control.adjust(shaky, noisy, 0);
  EXPECT_LE(a, 0.8 * 9e-3);
  EXPECT_GT(a, 0.65 * 9e-3);
  EXPECT_LE(b * noisy.ratioQuantile(0.98), 9e-3);
  EXPECT_LT(b, a);
}

TEST(ChainControllerTest, NothingChangesWithoutAModelOrATarget) {
  ChainController control(3);
  std::vector<ChainController::Stream> streams{automatic(1e-6)};
  EXPECT_EQ(control.adjust(streams, StepTimeModel(3), 0), 0);
  EXPECT_EQ(streams[0].chains, 3u);
  streams[0].tpotTarget = 0;
  control.adjust(streams, trained(), 0);
  EXPECT_EQ(streams[0].chains, 3u);
}

// 1000 tokens of prefill at 10 us each beside 2 ms decode steps, 40 ms
// before the TTFT target: b = 1000 * 2 / (40 - 10) ~ 66.7 tokens a step,
// 30 steps of 2.67 ms: 40 ms. Past or impossible targets take everything.
TEST(ChainControllerTest, TtftBudgetMeetsTheTarget) {
  double b = ChainController::ttftBudget(1000, 40e-3, 2e-3, 1e-5);
  EXPECT_NEAR(b, 1000.0 * 2 / 30, 1e-6);
  double steps = 40e-3 / (2e-3 + b * 1e-5);
  EXPECT_NEAR(b * steps, 1000, 1e-6);
  EXPECT_EQ(ChainController::ttftBudget(1000, 5e-3, 2e-3, 1e-5), 1000);
  EXPECT_EQ(ChainController::ttftBudget(1000, -1.0, 2e-3, 1e-5), 1000);
  EXPECT_EQ(ChainController::ttftBudget(0, 1.0, 2e-3, 1e-5), 0);
  EXPECT_LE(ChainController::ttftBudget(10, 100.0, 2e-3, 1e-5), 10);
}
