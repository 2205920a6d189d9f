//===- SamplingTest.cpp - Tests for runtime/Sampling.h --------------------===//

#include "runtime/Sampling.h"

#include "TestUtil.h"

#include <cmath>
#include <limits>

using namespace colm;

namespace {

SamplingConfig sampling(double temperature, int64_t topK = 0, double topP = 1,
                        uint64_t seed = 7) {
  SamplingConfig c;
  c.temperature = temperature;
  c.topK = topK;
  c.topP = topP;
  c.seed = seed;
  return c;
}

SamplingConfig greedyConfig(double penalty = 1.0) {
  SamplingConfig c;
  c.greedy = true;
  c.repetitionPenalty = penalty;
  return c;
}

std::vector<double> softmax(const std::vector<float> &logits, double t) {
  std::vector<double> p;
  double m = -1e300, sum = 0;
  for (float x : logits)
    m = std::max(m, x / t);
  for (float x : logits) {
    p.push_back(std::exp(x / t - m));
    sum += p.back();
  }
  for (double &x : p)
    x /= sum;
  return p;
}

std::vector<double> frequencies(TokenSampler &sampler,
                                const std::vector<float> &logits, int draws) {
  std::vector<double> f(logits.size(), 0);
  for (int i = 0; i < draws; ++i)
    f[sampler.sample(logits.data(), logits.size(), {})] += 1.0 / draws;
  return f;
}

const std::vector<float> kLogits = {1.0f, 2.0f, 0.5f, -1.0f, 1.5f};

} // namespace

TEST(SamplingTest, ValidateNamesTheFlag) {
  EXPECT_OK(validateSamplingConfig(SamplingConfig()));
  EXPECT_OK(validateSamplingConfig(greedyConfig()));
  SamplingConfig c;
  c.temperature = 0;
  EXPECT_ERROR(validateSamplingConfig(c), "--temperature must be > 0");
  c.greedy = true; // greedy ignores the temperature
  EXPECT_OK(validateSamplingConfig(c));
  c = SamplingConfig();
  c.temperature = std::numeric_limits<double>::quiet_NaN();
  EXPECT_ERROR(validateSamplingConfig(c), "--temperature");
  c = SamplingConfig();
  c.topK = -1;
  EXPECT_ERROR(validateSamplingConfig(c), "--top-k must be >= 0", "-1");
  c = SamplingConfig();
  c.topP = 0;
  EXPECT_ERROR(validateSamplingConfig(c), "--top-p must be in (0, 1]");
  c.topP = 1.5;
  EXPECT_ERROR(validateSamplingConfig(c), "--top-p");
  c.topP = std::numeric_limits<double>::quiet_NaN();
  EXPECT_ERROR(validateSamplingConfig(c), "--top-p");
  c = SamplingConfig();
  c.repetitionPenalty = 0;
  EXPECT_ERROR(validateSamplingConfig(c), "--repetition-penalty must be > 0");
  c.repetitionPenalty = std::numeric_limits<double>::infinity();
  EXPECT_ERROR(validateSamplingConfig(c), "--repetition-penalty");
}

TEST(SamplingTest, GreedyIsArgmaxWithLowestIdOnTies) {
  TokenSampler s(greedyConfig());
  EXPECT_EQ(s.sample(kLogits.data(), 5, {}), 1);
  std::vector<float> ties = {0.0f, 3.0f, -2.0f, 3.0f, 3.0f};
  EXPECT_EQ(s.sample(ties.data(), 5, {}), 1);
  std::vector<float> one = {-4.0f};
  EXPECT_EQ(s.sample(one.data(), 1, {}), 0);
  float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> withNan = {nan, -1.0f, nan, -0.5f};
  EXPECT_EQ(s.sample(withNan.data(), 4, {}), 3);
  std::vector<float> allNan = {nan, nan};
  EXPECT_EQ(s.sample(allNan.data(), 2, {}), 0);
}

TEST(SamplingTest, RepetitionPenaltyMath) {
  std::vector<double> x = {2.0, -2.0, 3.0, 0.0, 4.0};
  // 0 twice (applied once), 1, 3, ids outside the vocabulary ignored.
  applyRepetitionPenalty(x.data(), 5, {0, 1, 0, 3, -1, 5, 99}, 2.0);
  EXPECT_EQ(x, (std::vector<double>{1.0, -4.0, 3.0, 0.0, 4.0}));
  std::vector<double> y = {2.0, -2.0};
  applyRepetitionPenalty(y.data(), 2, {0, 1}, 0.5); // < 1 rewards repeats
  EXPECT_EQ(y, (std::vector<double>{4.0, -1.0}));
  std::vector<double> z = {2.0, -2.0};
  applyRepetitionPenalty(z.data(), 2, {0, 1}, 1.0);
  EXPECT_EQ(z, (std::vector<double>{2.0, -2.0}));
}

TEST(SamplingTest, GreedyAppliesThePenaltyFirst) {
  std::vector<float> logits = {3.0f, 2.0f, -1.0f};
  EXPECT_EQ(TokenSampler(greedyConfig()).sample(logits.data(), 3, {0}), 0);
  // 3 / 2 = 1.5 < 2.
  EXPECT_EQ(TokenSampler(greedyConfig(2.0)).sample(logits.data(), 3, {0}), 1);
  // 3 / 1.4 = 2.14 > 2 / 1.4; a token not in history is unaffected.
  EXPECT_EQ(TokenSampler(greedyConfig(1.4)).sample(logits.data(), 3, {0, 1}),
            0);
  // Negative logits are multiplied: -1 * 0.1 = -0.1 wins over -0.5.
  std::vector<float> neg = {-0.5f, -1.0f};
  EXPECT_EQ(TokenSampler(greedyConfig(0.1)).sample(neg.data(), 2, {1}), 1);
}

TEST(SamplingTest, TopKOneAndTinyTopPAreGreedy) {
  std::vector<float> logits = {0.3f, 1.2f, 1.2f, -0.7f, 0.9f, 1.1f};
  std::vector<int32_t> history = {1, 4};
  SamplingConfig g = greedyConfig(1.3);
  int32_t want = TokenSampler(g).sample(logits.data(), 6, history);
  EXPECT_EQ(want, 2); // 1 was penalised
  SamplingConfig k1 = sampling(1.7, 1);
  k1.repetitionPenalty = 1.3;
  SamplingConfig p0 = sampling(0.8, 0, 1e-9);
  p0.repetitionPenalty = 1.3;
  TokenSampler sk(k1), sp(p0);
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(sk.sample(logits.data(), 6, history), want);
    EXPECT_EQ(sp.sample(logits.data(), 6, history), want);
  }
  // Without the penalty, top-k 1 breaks the tie 1 vs 2 to the lower id.
  TokenSampler tie(sampling(1.0, 1));
  EXPECT_EQ(tie.sample(logits.data(), 6, {}), 1);
}

TEST(SamplingTest, FrequenciesFollowTheSoftmax) {
  for (double t : {1.0, 0.5, 2.0}) {
    TokenSampler s(sampling(t, 0, 1.0, 12345));
    std::vector<double> p = softmax(kLogits, t);
    std::vector<double> f = frequencies(s, kLogits, 4000);
    for (size_t i = 0; i < p.size(); ++i) {
      // 4 standard deviations of a binomial frequency, at least 0.01.
      double tol = std::max(0.01, 4 * std::sqrt(p[i] * (1 - p[i]) / 4000));
      EXPECT_NEAR(f[i], p[i], tol) << "temperature " << t << " token " << i;
    }
  }
}

TEST(SamplingTest, TemperatureSharpensAndFlattens) {
  TokenSampler cold(sampling(0.25, 0, 1.0, 3));
  TokenSampler warm(sampling(1.0, 0, 1.0, 3));
  TokenSampler hot(sampling(8.0, 0, 1.0, 3));
  double coldTop = frequencies(cold, kLogits, 2000)[1];
  double warmTop = frequencies(warm, kLogits, 2000)[1];
  std::vector<double> hotF = frequencies(hot, kLogits, 2000);
  EXPECT_GT(coldTop, 0.8);
  EXPECT_GT(coldTop, warmTop + 0.2);
  EXPECT_GT(warmTop, hotF[1] + 0.1);
  for (double f : hotF) // nearly uniform
    EXPECT_NEAR(f, 0.2, 0.06);
}

TEST(SamplingTest, TopKKeepsOnlyTheKBest) {
  TokenSampler s(sampling(1.0, 2, 1.0, 5));
  std::vector<double> f = frequencies(s, kLogits, 3000);
  // Tokens 1 (2.0) and 4 (1.5) only, renormalised.
  double p1 = 1 / (1 + std::exp(-0.5));
  EXPECT_NEAR(f[1], p1, 0.03);
  EXPECT_NEAR(f[4], 1 - p1, 0.03);
  EXPECT_EQ(f[0] + f[2] + f[3], 0);
}

TEST(SamplingTest, TopPKeepsTheSmallestNucleus) {
  std::vector<float> logits = {std::log(0.1f), std::log(0.5f), std::log(0.3f),
                               std::log(0.1f)};
  // 0.5 < 0.7 <= 0.5 + 0.3: tokens 1 and 2.
  TokenSampler s(sampling(1.0, 0, 0.7, 9));
  std::vector<double> f = frequencies(s, logits, 3000);
  EXPECT_NEAR(f[1], 0.625, 0.03);
  EXPECT_NEAR(f[2], 0.375, 0.03);
  EXPECT_EQ(f[0] + f[3], 0);
  // Exactly reaching top-p stops there: 0.5 >= 0.5.
  TokenSampler half(sampling(1.0, 0, 0.5, 9));
  for (int i = 0; i < 100; ++i)
    EXPECT_EQ(half.sample(logits.data(), 4, {}), 1);
  // Top-k and top-p together: top-k 3 keeps {1, 2, 0} (0 before 3 on the tie),
  // mass 0.9; top-p 0.9 of that needs all three.
  TokenSampler both(sampling(1.0, 3, 0.9, 9));
  std::vector<double> g = frequencies(both, logits, 3000);
  EXPECT_GT(g[0], 0.05);
  EXPECT_EQ(g[3], 0);
}

TEST(SamplingTest, NonFiniteLogitsAreHandled) {
  float inf = std::numeric_limits<float>::infinity();
  float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> logits = {-inf, nan, 0.0f, -inf};
  TokenSampler s(sampling(1.0));
  for (int i = 0; i < 20; ++i)
    EXPECT_EQ(s.sample(logits.data(), 4, {}), 2);
  std::vector<float> plusInf = {0.0f, inf, 5.0f, inf};
  std::vector<double> f = frequencies(s, plusInf, 1000);
  EXPECT_EQ(f[0] + f[2], 0);
  EXPECT_NEAR(f[1], 0.5, 0.08);
  std::vector<float> none = {-inf, nan};
  EXPECT_EQ(s.sample(none.data(), 2, {}), 0);
}

TEST(SamplingTest, DeterministicPerSeed) {
  std::vector<float> logits(50);
  for (int i = 0; i < 50; ++i)
    logits[i] = std::sin(i * 1.7f) * 2;
  auto run = [&](uint64_t seed) {
    SamplingConfig c = sampling(0.9, 20, 0.95, seed);
    c.repetitionPenalty = 1.2;
    TokenSampler s(c);
    std::vector<int32_t> tokens;
    for (int i = 0; i < 64; ++i)
      tokens.push_back(s.sample(logits.data(), 50, tokens));
    return tokens;
  };
  EXPECT_EQ(run(1), run(1));
  EXPECT_EQ(run(2), run(2));
  EXPECT_NE(run(1), run(2));
  // Pinned to the generator: without top-k/top-p the draw is one uniform()
  // walked over the probabilities in id order.
  TokenSampler a(sampling(1.0, 0, 1.0, 42)), b(sampling(1.0, 0, 1.0, 42));
  Random r(42);
  std::vector<double> p = softmax(kLogits, 1.0);
  for (int i = 0; i < 32; ++i) {
    double u = r.uniform(), acc = 0;
    int32_t want = 4;
    for (int j = 0; j < 5; ++j) {
      acc += p[j];
      if (u < acc) {
        want = j;
        break;
      }
    }
    EXPECT_EQ(a.sample(kLogits.data(), 5, {}), want) << "draw " << i;
    EXPECT_EQ(b.sample(kLogits.data(), 5, {}), want);
  }
}

TEST(StopCheckerTest, StopsAcrossChunks) {
  StopChecker s({"\n\n", "END"});
  EXPECT_FALSE(s.feed("Hello E"));
  EXPECT_FALSE(s.feed("N"));
  EXPECT_EQ(s.text(), "Hello EN");
  EXPECT_TRUE(s.feed("D of text"));
  EXPECT_TRUE(s.stopped());
  EXPECT_EQ(s.text(), "Hello ");
  EXPECT_TRUE(s.feed("more")); // ignored once stopped
  EXPECT_EQ(s.text(), "Hello ");

  StopChecker t({"\n\n", "END"});
  EXPECT_FALSE(t.feed("a\n"));
  EXPECT_TRUE(t.feed("\nb"));
  EXPECT_EQ(t.text(), "a");
}

TEST(StopCheckerTest, EarliestStopWinsAndEmptyStopsAreIgnored) {
  StopChecker s({"", "cd", "bcde"});
  EXPECT_FALSE(s.feed("ab"));
  EXPECT_TRUE(s.feed("cdef"));
  EXPECT_EQ(s.text(), "a"); // "bcde" starts before "cd"
  StopChecker none({""});
  EXPECT_FALSE(none.feed("anything"));
  EXPECT_EQ(none.text(), "anything");
  StopChecker whole({"x"});
  EXPECT_TRUE(whole.feed("x"));
  EXPECT_EQ(whole.text(), "");
}

TEST(StopCheckerTest, OneByteAtATime) {
  std::string text = "the quick <|end|> brown fox";
  StopChecker s({"<|end|>"});
  std::string streamed;
  size_t fed = 0;
  for (char c : text) {
    ++fed;
    bool stop = s.feed(std::string(1, c));
    streamed += s.takeReady();
    if (stop)
      break;
  }
  EXPECT_EQ(fed, text.find("<|end|>") + 7);
  EXPECT_EQ(s.text(), "the quick ");
  EXPECT_EQ(streamed, "the quick ");
}

TEST(StopCheckerTest, TakeReadyHoldsBackPossibleStopStarts) {
  StopChecker s({"STOP"});
  s.feed("abc ST");
  EXPECT_EQ(s.takeReady(), "abc "); // "ST" may start "STOP"
  s.feed("O");
  EXPECT_EQ(s.takeReady(), "");
  s.feed("x");
  EXPECT_EQ(s.takeReady(), "STOx");
  s.feed("yS");
  EXPECT_EQ(s.takeReady(), "y");
  EXPECT_EQ(s.takeReady(true), "S"); // generation ended: flush
  EXPECT_EQ(s.takeReady(true), "");
  EXPECT_EQ(s.text(), "abc STOxyS");
  StopChecker n({});
  n.feed("all of it");
  EXPECT_EQ(n.takeReady(), "all of it");
}
