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
#include "Nvrtc.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <random>

using namespace colm;
using namespace colm::codegen;

namespace {

class CudaMovementTest : public colm::test::KernelTest {};

std::vector<float> randomVector(size_t n, unsigned seed) {
  return colm::test::randomNormal(n, seed);
}

const char *const kSchedules[] = {"round-robin", "greedy", "reversed"};

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

TEST_F(CudaMovementTest, NvrtcBuildCompilesForSm80AndSm90) {
  colm::test::Nvrtc nvrtc;
  if (!nvrtc.load())
    GTEST_SKIP() << "NVRTC not found under " << colm::test::cudaHome();
  std::vector<std::pair<std::string, std::string>> kernels = {
      {cpu::elementwiseSymbol({ElementwiseSpec::Op::Add, 64}),
       cuda::renderElementwise({ElementwiseSpec::Op::Add, 64},
                               cuda::CudaBuild::Nvrtc)},
      {cpu::copySymbol({24, 24, 80, 16, true}),
       cuda::renderCopy({24, 24, 80, 16, true}, cuda::CudaBuild::Nvrtc)}};
  for (const auto &[symbol, source] : kernels)
    EXPECT_EQ(nvrtc.checkEntry(source, symbol + "_kernel"), "") << symbol;
}
