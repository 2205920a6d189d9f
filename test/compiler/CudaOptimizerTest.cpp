//===- CudaOptimizerTest.cpp - AdamW with its state on the GPU ------------===//
//
// colm train --backend cuda's optimizer on the fake driver (test/runtime/
// cuda), whose modules are the kernels' emulator builds: a few steps of a
// CoLM and a CoLM-Air model (frozen chain 1, so masked segments) with the
// weights, gradients and moments on the "device", against the same steps
// on the cuda-sim backend with the host optimizer (the same step kernels).
// Without clipping the weights and moments are bit for bit the host's;
// with clipping (whose norm the GPU sums in another order) within 1e-6.
//
//===----------------------------------------------------------------------===//
#include "compiler/CudaOptimizer.h"
#include "compiler/Graph.h"
#include "compiler/Pipeline.h"
#include "compiler/Trainer.h"
#include "runtime/Model.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <optional>

using namespace colm;

namespace {

/// The fake driver and emulator modules for a scope.
struct FakeGpu {
  FakeGpu() {
    setenv("COLM_CUDA_DRIVER", COLM_FAKE_CUDA_DRIVER, 1);
    setenv("COLM_CUDA_SIM_IMAGES", "1", 1);
  }
  ~FakeGpu() {
    unsetenv("COLM_CUDA_DRIVER");
    unsetenv("COLM_CUDA_SIM_IMAGES");
  }
};

ModelConfig config(bool air) {
  ModelConfig c;
  c.chains = air ? std::vector<int64_t>{2, 2} : std::vector<int64_t>{1, 1, 2};
  c.vocabSize = 37;
  c.numHeads = 4;
  c.numKvHeads = air ? 2 : 4;
  c.hiddenSize = 32;
  c.intermediateSize = 48;
  c.numLayers = 1;
  c.kvSharing = air;
  return c;
}

Batch batch(const ModelConfig &c, int64_t step) {
  Batch b;
  for (int r = 0; r < 2; ++r) {
    std::vector<int32_t> in, out;
    for (int t = 0; t < 6; ++t) {
      in.push_back(int32_t((r * 7 + t * 3 + step * 5) % c.vocabSize));
      out.push_back(int32_t((r * 5 + t * 11 + step) % c.vocabSize));
    }
    b.inputs.push_back(in);
    b.targets.push_back(out);
  }
  return b;
}

double maxRelative(const TensorMap &a, const TensorMap &b) {
  double worst = 0;
  for (const auto &[name, t] : a)
    for (size_t i = 0; i < t.data.size(); ++i) {
      double x = t.data[i], y = b.at(name).data[i];
      worst = std::max(worst, std::abs(x - y) / (1e-3 + std::abs(y)));
    }
  return worst;
}

bool sameBits(const TensorMap &a, const TensorMap &b) {
  if (a.size() != b.size())
    return false;
  for (const auto &[name, t] : a) {
    auto it = b.find(name);
    if (it == b.end() || it->second.data.size() != t.data.size() ||
        std::memcmp(t.data.data(), it->second.data.data(), t.data.size() * 4) !=
            0)
      return false;
  }
  return true;
}

/// `sharded`: ZeRO-1 as one rank (the fake NCCL), re-created from the
/// downloaded state after the first step (the moments go to the slice and
/// come back through the gathers).
void trainBothWays(bool air, int freeze, double clip, bool sharded = false) {
  FakeGpu gpu;
  ModelConfig c = config(air);
  Model model = initModel(c, 3);
  mlir::MLIRContext context;
  dsl::loadDialects(context);
  auto host = StepProgram::compile(context, c, "all", unsigned(freeze), true,
                                   Backend::CudaSim);
  auto device = StepProgram::compile(context, c, "all", unsigned(freeze), true,
                                     Backend::Cuda);
  ASSERT_TRUE(host.isOk()) << host.status().message();
  ASSERT_TRUE(device.isOk()) << device.status().message();
  OptimizerConfig oc;
  oc.lr = 3e-2;
  oc.weightDecay = 0.1;
  oc.clipGradNorm = clip;
  TensorMap hostParams = model.params, deviceParams = model.params;
  auto hostOpt = Optimizer::create(oc, c, hostParams, freeze);
  auto deviceOpt = Optimizer::create(oc, c, deviceParams, freeze);
  ASSERT_TRUE(hostOpt.isOk()) << hostOpt.status().message();
  ASSERT_TRUE(deviceOpt.isOk());
  std::optional<CudaOptimizer::Sharding> sharding;
  if (sharded) {
#ifdef COLM_FAKE_NCCL
    setenv("COLM_NCCL", COLM_FAKE_NCCL, 1);
#endif
    sharding = CudaOptimizer::Sharding{
        std::make_shared<dist::SoloCommunicator>(), c, freeze};
  }
  auto onGpu = CudaOptimizer::create(*deviceOpt, deviceParams, 0,
                                     sharding ? &*sharding : nullptr);
  ASSERT_TRUE(onGpu.isOk()) << onGpu.status().message();
  EXPECT_EQ((*onGpu)->exchange() != nullptr, sharded);
  device->keepOnDevice(onGpu->get());
  bool clipped = false;
  for (int64_t step = 1; step <= 3; ++step) {
    Batch b = batch(c, step);
    auto h = host->run(hostParams, b);
    auto d = device->run(deviceParams, b);
    ASSERT_TRUE(h.isOk()) << h.status().message();
    ASSERT_TRUE(d.isOk()) << d.status().message();
    EXPECT_TRUE(d->grads.empty()); // they stay on the GPU
    auto hs = hostOpt->step(hostParams, h->grads, step);
    auto ds = (*onGpu)->step(
        *static_cast<CudaExecutor *>(device->lastExecutor()), step);
    ASSERT_TRUE(hs.isOk()) << hs.status().message();
    ASSERT_TRUE(ds.isOk()) << ds.status().message();
    if (sharded && step == 1) {
      ASSERT_TRUE((*onGpu)->download(deviceParams, *deviceOpt).isOk());
      onGpu = CudaOptimizer::create(*deviceOpt, deviceParams, 0, &*sharding);
      ASSERT_TRUE(onGpu.isOk()) << onGpu.status().message();
      device->keepOnDevice(onGpu->get());
      deviceParams = model.params; // the GPU holds the current weights
    }
    EXPECT_NEAR(ds->gradNorm, hs->gradNorm, 1e-12 * hs->gradNorm);
    EXPECT_EQ(ds->lr, hs->lr);
    EXPECT_EQ(ds->clipped, hs->clipped);
    clipped |= hs->clipped;
    if (clip == 0)
      EXPECT_EQ(d->loss, h->loss) << "step " << step;
    else
      EXPECT_NEAR(d->loss, h->loss, 1e-5 * std::abs(h->loss));
  }
  EXPECT_EQ(clipped, clip > 0);
  // The host copies of the device's state (the GPU held the only current
  // weights until now: deviceParams are still the initial ones).
  EXPECT_TRUE(sameBits(deviceParams, model.params));
  ASSERT_TRUE((*onGpu)->download(deviceParams, *deviceOpt).isOk());
  EXPECT_EQ(deviceOpt->stepCount(), 3);
  if (clip == 0) {
    EXPECT_TRUE(sameBits(deviceParams, hostParams));
    EXPECT_TRUE(sameBits(deviceOpt->stateTensors(), hostOpt->stateTensors()));
  } else {
    EXPECT_LT(maxRelative(deviceParams, hostParams), 1e-6);
    EXPECT_LT(maxRelative(deviceOpt->stateTensors(), hostOpt->stateTensors()),
              1e-5);
  }
  // Frozen entries never moved.
  for (const auto &[name, t] : deviceParams) {
    const std::vector<uint8_t> &mask = deviceOpt->mask(name);
    for (size_t i = 0; i < t.data.size(); ++i)
      if (!mask[i])
        ASSERT_EQ(t.data[i], model.params.at(name).data[i]) << name;
  }
}

} // namespace

TEST(CudaOptimizerTest, CoLMStepsHaveTheHostOptimizersBits) {
  trainBothWays(false, 0, 0.0);
}

TEST(CudaOptimizerTest, CoLMAirWithAFrozenChainHasTheHostOptimizersBits) {
  trainBothWays(true, 1, 0.0);
}

TEST(CudaOptimizerTest, ClippedStepsMatchTheHostWithinRounding) {
  trainBothWays(false, 0, 1e-3);
}

#ifdef COLM_FAKE_NCCL
TEST(CudaOptimizerTest, ShardedAsOneRankHasTheHostOptimizersBits) {
  trainBothWays(true, 1, 0.0, true);
  trainBothWays(false, 0, 0.0, true);
}

TEST(CudaOptimizerTest, ShardedClippedStepsMatchTheHostWithinRounding) {
  trainBothWays(false, 0, 1e-3, true);
}
#endif

TEST(CudaOptimizerTest, ANonFiniteGradientChangesNothing) {
  FakeGpu gpu;
  ModelConfig c = config(false);
  Model model = initModel(c, 3);
  mlir::MLIRContext context;
  dsl::loadDialects(context);
  auto device = StepProgram::compile(context, c, "all", 0, true, Backend::Cuda);
  ASSERT_TRUE(device.isOk()) << device.status().message();
  OptimizerConfig oc;
  auto opt = Optimizer::create(oc, c, model.params, 0);
  ASSERT_TRUE(opt.isOk());
  // An infinite weight makes the loss and gradients non-finite.
  TensorMap params = model.params;
  params.begin()->second.data[0] = INFINITY;
  auto onGpu = CudaOptimizer::create(*opt, params, 0);
  ASSERT_TRUE(onGpu.isOk()) << onGpu.status().message();
  device->keepOnDevice(onGpu->get());
  auto d = device->run(params, batch(c, 1));
  ASSERT_TRUE(d.isOk()) << d.status().message();
  auto s =
      (*onGpu)->step(*static_cast<CudaExecutor *>(device->lastExecutor()), 1);
  ASSERT_FALSE(s.isOk());
  EXPECT_NE(s.status().message().find("gradient norm is"), std::string::npos)
      << s.status().message();
  EXPECT_EQ((*onGpu)->stepCount(), 0);
  TensorMap back = params;
  ASSERT_TRUE((*onGpu)->download(back, *opt).isOk());
  EXPECT_TRUE(sameBits(back, params));
}
