//===- DataParallelTest.cpp - Tests for runtime/dist/DataParallel.h -------===//
//
// Ranks are threads (ThreadCommunicator). With 2 ranks of equal rows each
// rank's gradient is weighted by 1/2, so the reduced gradient is the global
// one exactly and the sharded update must give the host optimizer's bits.
//
//===----------------------------------------------------------------------===//
#include "runtime/dist/DataParallel.h"

#include "../TestUtil.h"
#include "ThreadCommunicator.h"
#include "runtime/Model.h"

#include <cmath>

using namespace colm;
using namespace colm::dist;
using colm::test::smallConfig;
using colm::test::ThreadCommunicator;
using colm::test::ThreadGroup;

namespace {

TensorMap randomGrads(const TensorMap &params, uint64_t seed) {
  TensorMap g;
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (const auto &[name, t] : params) {
    Tensor v(t.shape);
    for (float &f : v.data) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      f = float(int64_t(x % 2001) - 1000) * 1e-4f;
    }
    g.emplace(name, std::move(v));
  }
  return g;
}

OptimizerConfig config(OptimizerConfig::Kind kind, double clip = 0) {
  OptimizerConfig c;
  c.kind = kind;
  c.lr = kind == OptimizerConfig::Sgd ? 0.1 : 1e-2;
  c.weightDecay = 0.1;
  c.clipGradNorm = clip;
  c.schedule = OptimizerConfig::Cosine;
  c.warmup = 1;
  c.totalSteps = 5;
  return c;
}

struct Case {
  OptimizerConfig::Kind kind;
  int frozen;
  bool air;
};

/// `steps` steps on `ranks` thread ranks (each with the global gradients
/// of the step and an equal share of rows) from `start`; every rank's
/// weights, rank 0's optimizer state.
struct RunResult {
  std::vector<TensorMap> weights;
  TensorMap state;
  std::vector<int64_t> floatsSent;
};

RunResult runRanks(const ModelConfig &mc, const OptimizerConfig &oc, int frozen,
                   const TensorMap &start, const TensorMap *state,
                   int64_t firstStep, int64_t steps, int ranks,
                   const std::vector<std::string> &order = {},
                   int64_t bucketBytes = 1 << 12) {
  ThreadGroup group(ranks);
  RunResult out;
  out.weights.resize(size_t(ranks));
  out.floatsSent.resize(size_t(ranks));
  group.run([&](int r) {
    auto comm = std::make_shared<ThreadCommunicator>(group, r);
    TensorMap w = start;
    DataParallelOptions options;
    options.bucketBytes = bucketBytes;
    auto dp = DataParallel::create(comm, oc, mc, frozen, w, order, options);
    ASSERT_OK(dp.status());
    if (state)
      ASSERT_OK((*dp)->loadState(*state));
    for (int64_t s = firstStep; s < firstStep + steps; ++s) {
      (*dp)->beginStep(s, 2, 2 * ranks);
      TensorMap g = randomGrads(w, uint64_t(s));
      double loss = 1.5;
      std::map<unsigned, double> ce{{1, 2.0}};
      auto stats = (*dp)->finishStep(w, g, loss, ce);
      ASSERT_OK(stats);
      EXPECT_DOUBLE_EQ(loss, 1.5);
    }
    auto st = (*dp)->stateTensors();
    ASSERT_OK(st);
    if (r == 0)
      out.state = st.take();
    else
      EXPECT_TRUE(st->empty());
    out.weights[size_t(r)] = std::move(w);
    out.floatsSent[size_t(r)] = comm->floatsSent;
  });
  return out;
}

/// The host optimizer from `start` for the same steps.
std::pair<TensorMap, TensorMap> runHost(const ModelConfig &mc,
                                        const OptimizerConfig &oc, int frozen,
                                        const TensorMap &start, int64_t steps) {
  TensorMap w = start;
  Optimizer opt(oc, mc, w, frozen);
  for (int64_t s = 1; s <= steps; ++s) {
    auto stats = opt.step(w, randomGrads(w, uint64_t(s)), s);
    EXPECT_OK(stats);
  }
  return {w, opt.stateTensors()};
}

bool sameBits(const TensorMap &a, const TensorMap &b) {
  if (a.size() != b.size())
    return false;
  for (const auto &[name, t] : a) {
    auto it = b.find(name);
    if (it == b.end() || it->second.data.size() != t.data.size() ||
        std::memcmp(it->second.data.data(), t.data.data(),
                    t.data.size() * sizeof(float)) != 0)
      return false;
  }
  return true;
}

double worst(const TensorMap &a, const TensorMap &b) {
  double w = 0;
  for (const auto &[name, t] : a)
    for (size_t i = 0; i < t.data.size(); ++i)
      w = std::max(w, double(std::abs(t.data[i] - b.at(name).data[i])));
  return w;
}

class DataParallelStep : public ::testing::TestWithParam<Case> {};

TEST_P(DataParallelStep, TwoRanksGiveTheHostOptimizersBits) {
  Case c = GetParam();
  ModelConfig mc = c.air ? smallConfig({2, 2}, 2, true) : smallConfig();
  TensorMap start = initModel(mc, 5).params;
  OptimizerConfig oc = config(c.kind);
  auto [hostW, hostState] = runHost(mc, oc, c.frozen, start, 3);
  for (int ranks : {1, 2}) {
    RunResult r = runRanks(mc, oc, c.frozen, start, nullptr, 1, 3, ranks);
    for (int k = 0; k < ranks; ++k)
      EXPECT_TRUE(sameBits(r.weights[size_t(k)], hostW))
          << ranks << " ranks, rank " << k << ": "
          << worst(r.weights[k], hostW);
    EXPECT_TRUE(sameBits(r.state, hostState)) << ranks << " ranks";
  }
}

INSTANTIATE_TEST_SUITE_P(
    Optimizers, DataParallelStep,
    ::testing::Values(Case{OptimizerConfig::AdamW, 0, false},
                      Case{OptimizerConfig::AdamW, 1, true},
                      Case{OptimizerConfig::Sgd, 2, false},
                      Case{OptimizerConfig::Sgd, 0, true}));

TEST(DataParallel, ThreeRanksAndClippingWithinRounding) {
  ModelConfig mc = smallConfig();
  TensorMap start = initModel(mc, 5).params;
  OptimizerConfig oc = config(OptimizerConfig::Sgd, /*clip=*/0.05);
  auto [hostW, hostState] = runHost(mc, oc, 1, start, 3);
  RunResult r = runRanks(mc, oc, 1, start, nullptr, 1, 3, 3);
  for (const TensorMap &w : r.weights)
    EXPECT_LT(worst(w, hostW), 1e-6);
}

TEST(DataParallel, FrozenChainsAndZeroBlocksAreNeverSent) {
  for (int frozen : {0, 2}) {
    ModelConfig mc = smallConfig();
    TensorMap start = initModel(mc, 5).params;
    int64_t trainable = 0;
    for (const ParamSpec &spec : modelParams(mc))
      for (uint8_t m : trainableMask(mc, spec, frozen))
        trainable += m;
    RunResult r = runRanks(mc, config(OptimizerConfig::AdamW), frozen, start,
                           nullptr, 1, 2, 2);
    // Each step sends every trainable entry once (split between the ranks'
    // slices), nothing else.
    EXPECT_EQ(r.floatsSent[0], 2 * trainable) << frozen << " frozen";
    EXPECT_EQ(r.floatsSent[1], 2 * trainable) << frozen << " frozen";
  }
}

TEST(DataParallel, ResumesOnAnotherNumberOfRanks) {
  ModelConfig mc = smallConfig({2, 2}, 2, true);
  TensorMap start = initModel(mc, 5).params;
  OptimizerConfig oc = config(OptimizerConfig::AdamW);
  auto [hostW, hostState] = runHost(mc, oc, 1, start, 4);
  // 2 ranks for 2 steps, then 1 rank and 2 ranks (state from the
  // checkpoint format) for 2 more: the host's bits.
  RunResult first = runRanks(mc, oc, 1, start, nullptr, 1, 2, 2);
  for (int ranks : {1, 2}) {
    RunResult rest =
        runRanks(mc, oc, 1, first.weights[0], &first.state, 3, 2, ranks);
    EXPECT_TRUE(sameBits(rest.weights[0], hostW)) << ranks;
    EXPECT_TRUE(sameBits(rest.state, hostState)) << ranks;
  }
}

TEST(DataParallel, BucketOrderAndSizeDoNotChangeTheResult) {
  ModelConfig mc = smallConfig();
  TensorMap start = initModel(mc, 5).params;
  OptimizerConfig oc = config(OptimizerConfig::AdamW);
  auto [hostW, hostState] = runHost(mc, oc, 0, start, 2);
  std::vector<std::string> reversed;
  for (const ParamSpec &spec : modelParams(mc))
    reversed.insert(reversed.begin(), spec.name);
  for (int64_t bytes : {int64_t(4), int64_t(1) << 30}) {
    RunResult r = runRanks(mc, oc, 0, start, nullptr, 1, 2, 2, reversed, bytes);
    EXPECT_TRUE(sameBits(r.weights[1], hostW)) << bytes;
    EXPECT_TRUE(sameBits(r.state, hostState)) << bytes;
  }
}

TEST(DataParallel, ARankWithOtherWeightsIsNamed) {
  ModelConfig mc = smallConfig();
  TensorMap start = initModel(mc, 5).params;
  ThreadGroup group(3);
  group.run([&](int r) {
    auto comm = std::make_shared<ThreadCommunicator>(group, r);
    TensorMap w = start;
    if (r == 2)
      w.at("model.norm.weight").data[0] += 1;
    auto dp = DataParallel::create(comm, config(OptimizerConfig::AdamW), mc, 0,
                                   w, {});
    EXPECT_ERROR(dp.status(), "rank 2 started from other weights");
  });
}

TEST(DataParallel, ANonFiniteLossOnOneRankStopsEveryRank) {
  ModelConfig mc = smallConfig();
  TensorMap start = initModel(mc, 5).params;
  ThreadGroup group(2);
  group.run([&](int r) {
    auto comm = std::make_shared<ThreadCommunicator>(group, r);
    TensorMap w = start;
    auto dp = DataParallel::create(comm, config(OptimizerConfig::AdamW), mc, 0,
                                   w, {});
    ASSERT_OK(dp.status());
    (*dp)->beginStep(1, 1, 2);
    double loss = r == 1 ? std::nan("") : 1.0;
    std::map<unsigned, double> ce;
    auto stats = (*dp)->finishStep(w, randomGrads(w, 1), loss, ce);
    EXPECT_ERROR(stats, "the batch of rank 1 gave a non-finite loss");
    EXPECT_FALSE((*dp)->broken());
    EXPECT_TRUE(sameBits(w, start)) << "rank " << r;
  });
}

TEST(DataParallel, RowsAreSplitContiguouslyWithTheRemainderFirst) {
  using Rows = std::pair<int64_t, int64_t>;
  EXPECT_EQ(rowsOf(8, 0, 2), Rows(0, 4));
  EXPECT_EQ(rowsOf(8, 1, 2), Rows(4, 8));
  EXPECT_EQ(rowsOf(5, 0, 3), Rows(0, 2));
  EXPECT_EQ(rowsOf(5, 1, 3), Rows(2, 4));
  EXPECT_EQ(rowsOf(5, 2, 3), Rows(4, 5));
  EXPECT_EQ(rowsOf(2, 2, 3), Rows(2, 2));
}

TEST(GradientReadiness, TheLastLaunchTouchingAGradientOrItsViews) {
  Program p;
  auto buffer = [&](std::string name, BufferRole role, int viewOf = -1) {
    ProgramBuffer b;
    b.name = std::move(name);
    b.role = role;
    b.shape = {SizeExpr(4)};
    b.viewOf = viewOf;
    p.buffers.push_back(b);
    return int(p.buffers.size()) - 1;
  };
  int a = buffer("grad.a", BufferRole::Output);
  int b = buffer("grad.b", BufferRole::Output);
  int packed = buffer("packed", BufferRole::Temporary);
  int c = buffer("grad.c", BufferRole::Output, packed);
  int t = buffer("t", BufferRole::Temporary);
  auto launch = [&](std::vector<int> buffers, std::vector<int> zero = {}) {
    ProgramLaunch l;
    for (int x : buffers) {
      ProgramArg arg;
      arg.kind = ProgramArg::Kind::Pointer;
      arg.buffer = x;
      l.args.push_back(arg);
    }
    l.zero = std::move(zero);
    p.launches.push_back(l);
  };
  launch({t}, {b}); // 0: zero-fills b
  launch({a, t});   // 1
  launch({packed}); // 2: writes c's memory
  launch({t});      // 3
  launch({a});      // 4
  std::map<std::string, int64_t> ready = gradientReadiness(p);
  EXPECT_EQ(ready.at("a"), 4);
  EXPECT_EQ(ready.at("b"), 0);
  EXPECT_EQ(ready.at("c"), 2);
  EXPECT_EQ(ready.size(), 3u);
  (void)c;
}

} // namespace
