//===- CudaMovementTest.cpp - CUDA element-wise and copy kernels ----------===//
//
// The CUDA renderer's first kernels, both builds of one kernel text: the
// host build runs on the SIMT emulator (JIT-compiled like the CPU
// backend's kernels, with its ABI) under every schedule and 1..3 host
// threads, exactly against the references of compiler/codegen/Movement.h;
// the NVRTC build compiles for sm_80 and sm_90 (skipped without the
// toolkit).
//
//===----------------------------------------------------------------------===//
#include "compiler/codegen/Movement.h"
#include "compiler/codegen/cpu/RenderMovement.h"
#include "compiler/codegen/cuda/RenderMovement.h"

#include "../KernelTestUtil.h"
#include "CudaTestUtil.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <random>

using namespace colm;
using namespace colm::codegen;

namespace {

class CudaMovementTest : public colm::test::KernelTest {};

std::vector<float> randomVector(size_t n, unsigned seed) {
  return colm::test::randomNormal(n, seed);
}

using colm::test::kSchedules;

} // namespace

TEST_F(CudaMovementTest, HostBuildOnTheEmulatorMatchesTheReference) {
  std::vector<ElementwiseSpec> ews = {{ElementwiseSpec::Op::Add, 64},
                                      {ElementwiseSpec::Op::Mul, 7}};
  std::vector<CopySpec> copies = {
      {32, 128, 64, 0, false}, {24, 24, 80, 16, true}, {5, 9, 13, 3, false}};
  std::vector<KernelSource> sources;
  std::vector<std::string> symbols;
  for (const ElementwiseSpec &s : ews) {
    sources.push_back({"cuda_" + s.name(),
                       cuda::renderElementwise(s, cuda::CudaBuild::HostSim)});
    symbols.push_back(cpu::elementwiseSymbol(s));
  }
  for (const CopySpec &s : copies) {
    sources.push_back(
        {"cuda_" + s.name(), cuda::renderCopy(s, cuda::CudaBuild::HostSim)});
    symbols.push_back(cpu::copySymbol(s));
  }
  std::vector<ColmKernelFn> fns =
      compile(sources, symbols, cuda::hostSimFlags());
  ASSERT_EQ(fns.size(), sources.size());
  for (const char *schedule : kSchedules) {
    setenv("COLM_SIMT_SCHEDULE", schedule, 1);
    for (int64_t rows : {1, 3, 300})
      for (int threads : {1, 2, 3}) {
        std::string what = std::string(schedule) + ", " + std::to_string(rows) +
                           " rows on " + std::to_string(threads) +
                           " host threads";
        for (size_t i = 0; i < ews.size(); ++i) {
          const ElementwiseSpec &s = ews[i];
          size_t n = size_t(rows * s.width);
          std::vector<float> a = randomVector(n, 1), b = randomVector(n, 2),
                             got(n, 7.0f), want(n, 7.0f);
          ColmElementwiseArgs args{a.data(), b.data(), got.data(), rows};
          colm::test::runOnThreads(fns[i], args, threads);
          args.y = want.data();
          elementwiseReference(s, args);
          EXPECT_EQ(got, want) << s.name() << ", " << what;
        }
        for (size_t i = 0; i < copies.size(); ++i) {
          const CopySpec &s = copies[i];
          std::vector<float> x = randomVector(size_t(rows * s.srcStride), 3);
          std::vector<float> got(size_t(rows * s.dstStride), 7.0f), want = got;
          ColmCopyArgs args{x.data(), got.data(), rows};
          colm::test::runOnThreads(fns[ews.size() + i], args, threads);
          args.y = want.data();
          copyReference(s, args);
          EXPECT_EQ(got, want) << s.name() << ", " << what;
        }
      }
  }
  unsetenv("COLM_SIMT_SCHEDULE");
}

TEST_F(CudaMovementTest, EmbedAndWeightedSumOnTheEmulatorMatchTheReference) {
  std::vector<EmbedSpec> embeds = {
      {50, 24, false, 0}, {50, 24, true, 0}, embedGrad(40, 32, {1, 1, 2}, 2)};
  WeightedSumSpec wsum{{0.5, 0.25, 1.0 / 3.0}};
  std::vector<KernelSource> sources;
  std::vector<std::string> symbols;
  for (const EmbedSpec &s : embeds) {
    sources.push_back(
        {"cuda_" + s.name(), cuda::renderEmbed(s, cuda::CudaBuild::HostSim)});
    symbols.push_back(cpu::embedSymbol(s));
  }
  sources.push_back({"cuda_" + wsum.name(),
                     cuda::renderWeightedSum(wsum, cuda::CudaBuild::HostSim)});
  symbols.push_back(cpu::weightedSumSymbol(wsum));
  std::vector<ColmKernelFn> fns =
      compile(sources, symbols, cuda::hostSimFlags());
  ASSERT_EQ(fns.size(), sources.size());
  for (const char *schedule : kSchedules) {
    setenv("COLM_SIMT_SCHEDULE", schedule, 1);
    for (int64_t rows : {1, 7, 300})
      for (int threads : {1, 3}) {
        std::string what = std::string(schedule) + ", " + std::to_string(rows) +
                           " rows on " + std::to_string(threads) +
                           " host threads";
        for (size_t i = 0; i < embeds.size(); ++i) {
          const EmbedSpec &s = embeds[i];
          std::vector<float> table = randomVector(size_t(s.vocab * s.width), 1),
                             dy = randomVector(size_t(rows * s.width), 2);
          std::vector<int32_t> tokens;
          for (int64_t r = 0; r < rows; ++r) // repeats, and one bad id
            tokens.push_back(r == 3 ? -1 : int32_t((r * 7) % s.vocab));
          size_t out = size_t(s.backward ? s.vocab * s.width : rows * s.width);
          std::vector<float> got(out, 7.0f), want(out, 7.0f);
          ColmEmbedArgs args{table.data(),
                             tokens.data(),
                             dy.data(),
                             s.backward ? nullptr : got.data(),
                             s.backward ? got.data() : nullptr,
                             rows};
          colm::test::runOnThreads(fns[i], args, threads);
          (s.backward ? args.dtable : args.y) = want.data();
          embedReference(s, args);
          for (size_t e = 0; e < out; ++e)
            ASSERT_TRUE(got[e] == want[e] ||
                        (std::isnan(got[e]) && std::isnan(want[e])))
                << s.name() << "[" << e << "] = " << got[e] << ", reference "
                << want[e] << ", " << what;
        }
        double inputs[] = {1.5, -2.0, 7.25};
        float got = 0, want = 1;
        double gotD = 0, wantD = 1;
        ColmWeightedSumArgs args{inputs, &got, &gotD};
        colm::test::runOnThreads(fns.back(), args, threads);
        ColmWeightedSumArgs ref{inputs, &want, &wantD};
        weightedSumReference(wsum, ref);
        EXPECT_EQ(got, want) << what;
        EXPECT_EQ(gotD, wantD) << what;
      }
  }
  unsetenv("COLM_SIMT_SCHEDULE");
}

TEST_F(CudaMovementTest, NvrtcBuildCompilesForSm80AndSm90) {
  COLM_SKIP_WITHOUT_NVRTC();
  std::vector<std::pair<std::string, std::string>> kernels = {
      {cpu::elementwiseSymbol({ElementwiseSpec::Op::Add, 64}),
       cuda::renderElementwise({ElementwiseSpec::Op::Add, 64},
                               cuda::CudaBuild::Nvrtc)},
      {cpu::copySymbol({24, 24, 80, 16, true}),
       cuda::renderCopy({24, 24, 80, 16, true}, cuda::CudaBuild::Nvrtc)},
      {cpu::embedSymbol({50, 24, false, 0}),
       cuda::renderEmbed({50, 24, false, 0}, cuda::CudaBuild::Nvrtc)},
      {cpu::embedSymbol({50, 24, true, 8}),
       cuda::renderEmbed({50, 24, true, 8}, cuda::CudaBuild::Nvrtc)},
      {cpu::weightedSumSymbol({{0.5, 0.5}}),
       cuda::renderWeightedSum({{0.5, 0.5}}, cuda::CudaBuild::Nvrtc)}};
  for (const auto &[symbol, source] : kernels)
    EXPECT_EQ(colm::test::nvrtcCheck(source, symbol + "_kernel"), "") << symbol;
}
