//===- GpuExchangeTest.cpp - Tests for runtime/dist/GpuExchange.h ---------===//
//
// On the test suite's fake driver (device memory is host memory) and fake
// NCCL, one rank: the exchange packs exactly the trainable blocks (strided
// copies), reduce-scatters them with the rank's weight into its slice, and
// all-gathers the slice back into place; every other entry keeps its bits.
//
//===----------------------------------------------------------------------===//
#include "runtime/dist/GpuExchange.h"

#include "../TestUtil.h"
#include "ThreadCommunicator.h"
#include "runtime/DynamicLibrary.h"
#include "runtime/Model.h"
#include "runtime/Optimizer.h"

#include <cstdlib>

using namespace colm;
using namespace colm::dist;
using colm::test::smallConfig;

namespace {

TEST(GpuExchange, MovesTheTrainableBlocksOnly) {
  setenv("COLM_CUDA_DRIVER", COLM_FAKE_CUDA_DRIVER, 1);
  setenv("COLM_NCCL", COLM_FAKE_NCCL, 1);
  auto driver = cuda::Driver::get();
  ASSERT_OK(driver.status());
  const cuda::DriverApi &f = (*driver)->api();
  cuda::CUcontext context = nullptr;
  ASSERT_EQ(f.cuDevicePrimaryCtxRetain(&context, 0), 0);
  ASSERT_EQ(f.cuCtxSetCurrent(context), 0);
  auto fake = DynamicLibrary::open(COLM_FAKE_NCCL);
  ASSERT_OK(fake.status());
  auto floatsReduced = fake->function<int64_t()>("fakeNcclFloatsReduced");
  ASSERT_OK(floatsReduced.status());

  for (int frozen : {0, 1}) {
    ModelConfig mc = smallConfig({1, 1, 2}, 4, true);
    std::vector<FlatParam> layout;
    std::vector<float> host;
    int64_t trainable = 0;
    for (const ParamSpec &spec : modelParams(mc)) {
      layout.push_back({spec.name, spec.shape, int64_t(host.size())});
      for (uint8_t m : trainableMask(mc, spec, frozen))
        trainable += m;
      int64_t n = 1;
      for (int64_t d : spec.shape)
        n *= d;
      for (int64_t i = 0; i < n; ++i)
        host.push_back(float(host.size() % 97) - 48.0f);
    }
    cuda::CUdeviceptr grads = 0;
    ASSERT_EQ(f.cuMemAlloc(&grads, host.size() * 4), 0);
    ASSERT_EQ(f.cuMemcpyHtoD(grads, host.data(), host.size() * 4), 0);

    test::ThreadGroup group(1);
    auto comm = std::make_shared<test::ThreadCommunicator>(group, 0);
    auto x = GpuExchange::create(comm, context, mc, frozen, layout);
    ASSERT_OK(x.status());
    EXPECT_EQ((*x)->trainableEntries(), trainable);
    EXPECT_EQ((*x)->sliceEntries(), trainable);
    cuda::CUdeviceptr slice = 0;
    ASSERT_EQ(f.cuMemAlloc(&slice, size_t(trainable) * 4), 0);
    int64_t before = (*floatsReduced)();
    ASSERT_OK((*x)->reduceScatter(grads, 0.5, slice, "step 1"));
    EXPECT_EQ((*floatsReduced)() - before, trainable) << frozen << " frozen";
    ASSERT_OK((*x)->allGather(slice, grads, "step 1"));
    f.cuMemFree(slice);

    std::vector<float> back(host.size());
    ASSERT_EQ(f.cuMemcpyDtoH(back.data(), grads, back.size() * 4), 0);
    int64_t halved = 0, kept = 0, wrong = 0;
    for (size_t p = 0; p < layout.size(); ++p) {
      ParamSpec spec = modelParams(mc)[p];
      std::vector<uint8_t> mask = trainableMask(mc, spec, frozen);
      for (size_t i = 0; i < mask.size(); ++i) {
        size_t at = size_t(layout[p].offset) + i;
        float want = mask[i] ? host[at] * 0.5f : host[at];
        (mask[i] ? halved : kept) += 1;
        wrong += back[at] != want;
      }
    }
    EXPECT_EQ(wrong, 0) << frozen << " frozen";
    EXPECT_EQ(halved, trainable);
    EXPECT_GT(kept, 0);
    f.cuMemFree(grads);
  }
  f.cuDevicePrimaryCtxRelease(0);
  unsetenv("COLM_CUDA_DRIVER");
}

} // namespace
