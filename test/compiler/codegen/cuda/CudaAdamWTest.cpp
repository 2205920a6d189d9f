//===- CudaAdamWTest.cpp - The CUDA AdamW ---------------------------------===//
//
// Both modes on the SIMT emulator under every schedule: the update bit for
// bit the reference's (runtime/Optimizer's expressions), masked (frozen
// chains) and unmasked segments, with and without decay, gaps between
// segments untouched; the partial sums of squares within rounding (a block
// reduction's order). The NVRTC build for sm_80 and sm_90.
//
//===----------------------------------------------------------------------===//
#include "compiler/codegen/AdamW.h"
#include "compiler/codegen/cpu/RenderAdamW.h"
#include "compiler/codegen/cuda/RenderAdamW.h"

#include "../KernelTestUtil.h"
#include "CudaTestUtil.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>

using namespace colm;
using namespace colm::codegen;

namespace {

class CudaAdamWTest : public colm::test::KernelTest {};

using colm::test::kSchedules;

AdamWSpec layout(AdamWMode mode) {
  AdamWSpec s;
  s.mode = mode;
  // A matrix, a gap, a masked matrix over several partial blocks, a gain.
  s.segments = {{0, 3000, true, false},
                {3100, 9000, true, true},
                {12100, 77, false, false}};
  s.blockSize = 4096;
  return s;
}

} // namespace

TEST_F(CudaAdamWTest, UpdateHasTheReferenceBitsAndPartialsItsSums) {
  AdamWSpec update = layout(AdamWMode::Update),
            sumsq = layout(AdamWMode::SumSquares);
  std::vector<KernelSource> sources = {
      {"cuda_" + update.name(),
       cuda::renderAdamW(update, cuda::CudaBuild::HostSim)},
      {"cuda_" + sumsq.name(),
       cuda::renderAdamW(sumsq, cuda::CudaBuild::HostSim)}};
  std::vector<ColmKernelFn> fns =
      compile(sources, {cpu::adamWSymbol(update), cpu::adamWSymbol(sumsq)},
              cuda::hostSimFlags());
  ASSERT_EQ(fns.size(), 2u);
  size_t n = 12177;
  std::vector<uint8_t> mask(9000);
  for (size_t j = 0; j < mask.size(); ++j)
    mask[j] = j % 7 != 0 && j < 8000; // frozen rows and scattered entries
  const uint8_t *masks[] = {nullptr, mask.data(), nullptr};
  for (const char *schedule : kSchedules) {
    setenv("COLM_SIMT_SCHEDULE", schedule, 1);
    for (int threads : {1, 3}) {
      std::string what =
          std::string(schedule) + " on " + std::to_string(threads) + " threads";
      std::vector<float> p = colm::test::randomNormal(n, 1),
                         g = colm::test::randomNormal(n, 2),
                         m = colm::test::randomNormal(n, 3),
                         v = colm::test::randomNormal(n, 4);
      for (float &x : v)
        x = std::abs(x);
      std::vector<float> wp = p, wm = m, wv = v;
      ColmAdamWArgs a{p.data(), g.data(), m.data(), v.data(), masks,
                      nullptr,  3e-2,     0.9,      0.999,    1e-8,
                      0.1,      0.7,      0.19,     0.0029};
      colm::test::runOnThreads(fns[0], a, threads);
      ColmAdamWArgs r = a;
      r.param = wp.data();
      r.exp_avg = wm.data();
      r.exp_avg_sq = wv.data();
      adamWReference(update, r);
      EXPECT_EQ(std::memcmp(p.data(), wp.data(), n * 4), 0) << what;
      EXPECT_EQ(std::memcmp(m.data(), wm.data(), n * 4), 0) << what;
      EXPECT_EQ(std::memcmp(v.data(), wv.data(), n * 4), 0) << what;
      std::vector<double> partials(size_t(sumsq.numBlocks()), -1.0),
          want(partials.size(), -2.0);
      a.partials = partials.data();
      colm::test::runOnThreads(fns[1], a, threads);
      r.partials = want.data();
      adamWReference(sumsq, r);
      for (size_t b = 0; b < partials.size(); ++b)
        EXPECT_NEAR(partials[b], want[b], 1e-12 * want[b]) << b << ", " << what;
    }
  }
  unsetenv("COLM_SIMT_SCHEDULE");
}

TEST_F(CudaAdamWTest, NvrtcBuildCompilesForSm80AndSm90) {
  COLM_SKIP_WITHOUT_NVRTC();
  for (AdamWMode mode : {AdamWMode::Update, AdamWMode::SumSquares}) {
    AdamWSpec s = layout(mode);
    EXPECT_EQ(
        colm::test::nvrtcCheck(cuda::renderAdamW(s, cuda::CudaBuild::Nvrtc),
                               cpu::adamWSymbol(s) + "_kernel"),
        "")
        << s.name();
  }
}
