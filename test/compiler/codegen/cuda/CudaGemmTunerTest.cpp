//===- CudaGemmTunerTest.cpp - Tuning the CUDA chain GEMM's tile ----------===//
//
// The tuner's whole path on the fake driver (test/runtime/cuda), whose
// modules are the kernels' emulator builds and whose events read the host's
// clock: candidates built, loaded, checked bit for bit on the "device",
// timed; the winner stored in a GPU's tuning cache and read back by
// chooseTile, which refuses a stored tile the spec cannot take. The
// timings themselves mean nothing here (the GPU check measures them).
//
//===----------------------------------------------------------------------===//
#include "compiler/codegen/cuda/GemmTuner.h"
#include "compiler/codegen/cuda/RenderChainGemm.h"

#include "../KernelTestUtil.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

using namespace colm;
using namespace colm::codegen;

namespace {

class CudaGemmTunerTest : public colm::test::KernelTest {
protected:
  static void SetUpTestSuite() {
    // Before the process's first Driver::get() and CublasLt::get().
    setenv("COLM_CUDA_DRIVER", COLM_FAKE_CUDA_DRIVER, 1);
    setenv("COLM_CUBLASLT", COLM_FAKE_CUBLASLT, 1);
    // Candidates as emulator builds, which the fake driver runs.
    setenv("COLM_CUDA_SIM_IMAGES", "1", 1);
    KernelTest::SetUpTestSuite();
  }
};

ChainGemmSpec qkv() {
  ChainGemmSpec s = groupGemms({chainLinearForward({1, 1, 2}, 64, 64),
                                chainLinearForward({1, 1, 2}, 64, 32),
                                chainLinearForward({1, 1, 2}, 64, 32)});
  s.bf16 = true;
  return s;
}

} // namespace

TEST_F(CudaGemmTunerTest, MeasuresCandidatesOnTheDeviceAndStoresTheWinner) {
  ChainGemmSpec spec = qkv();
  cpu::TuneOptions options;
  options.repeats = 2;
  options.warmupSeconds = 0;
  options.minSampleSeconds = 0;
  options.maxCandidates = 3;
  auto r = codegen::cuda::tuneChainGemm(spec, 96, 0, *jit, options);
  ASSERT_TRUE(r.isOk()) << r.status().message();
  ASSERT_EQ(r->timings.size(), 3u);
  EXPECT_EQ(r->timings[0].knobs.cuda, CudaGemmTile{});
  EXPECT_EQ(r->defaults.cuda, CudaGemmTile{});
  std::vector<CudaGemmTile> tried;
  for (const cpu::CandidateTiming &t : r->timings) {
    EXPECT_EQ(t.samples.size(), 2u);
    EXPECT_GT(t.ms, 0);
    // The CPU part of the knobs is left as the spec had it.
    EXPECT_EQ(t.knobs.mr, spec.knobs.mr);
    tried.push_back(t.knobs.cuda);
  }
  EXPECT_NE(std::find(tried.begin(), tried.end(), r->best.cuda), tried.end());
  for (const cpu::CandidateTiming &t : r->timings)
    EXPECT_LE(r->bestMs, t.ms);

  // Stored for this GPU, read back at compile time.
  std::string root = (std::filesystem::temp_directory_path() /
                      ("colm-cuda-tuning-" + std::to_string(::getpid())))
                         .string();
  TuningDevice gpu = TuningDevice::fromGpu("colm fake GPU", "sm_90", 13000);
  {
    TuningCache cache(root, "cuda", gpu);
    cpu::TuneResult chosen = *r;
    chosen.best.cuda = {128, 32, 64}; // whatever won, a tile to look for
    TunedKernel k = chosen.record(spec, "q+k+v", 96);
    k.shapeKey = codegen::cuda::tileKey(spec);
    cache.store(k);
    ASSERT_TRUE(cache.save().isOk());
  }
  TuningCache cache(root, "cuda", gpu);
  cache.load();
  ASSERT_TRUE(cache.loaded());
  bool tuned = false;
  EXPECT_EQ(codegen::cuda::chooseTile(spec, &cache, &tuned),
            (CudaGemmTile{128, 32, 64}));
  EXPECT_TRUE(tuned);
  // Another GPU, architecture or driver has its own file.
  EXPECT_NE(TuningCache::pathFor(root, "cuda", gpu.key),
            TuningCache::pathFor(
                root, "cuda",
                TuningDevice::fromGpu("colm fake GPU", "sm_90", 13010).key));
  // A spec it was not tuned for: the default, silently.
  EXPECT_EQ(codegen::cuda::chooseTile(chainLinearForward({1, 1}, 64, 64),
                                      &cache, &tuned),
            CudaGemmTile{});
  EXPECT_FALSE(tuned);
  // The fp32 path of the same shape is another kernel, tuned on its own.
  ChainGemmSpec fp32Qkv = spec;
  fp32Qkv.bf16 = false;
  EXPECT_EQ(codegen::cuda::chooseTile(fp32Qkv, &cache, &tuned), CudaGemmTile{});

  // A stored tile the kernel cannot take (shared memory): the default.
  ChainGemmSpec fp32 = chainLinearWeightGrad({1, 1}, 64, 128);
  {
    TunedKernel k;
    k.shapeKey = codegen::cuda::tileKey(fp32);
    k.knobs.cuda = {128, 128, 64};
    cache.store(k);
  }
  testing::internal::CaptureStderr();
  EXPECT_EQ(codegen::cuda::chooseTile(fp32, &cache, &tuned), CudaGemmTile{});
  std::string warning = testing::internal::GetCapturedStderr();
  EXPECT_FALSE(tuned);
  EXPECT_NE(warning.find("shared memory"), std::string::npos) << warning;
  // A tile no kernel takes (a hand-edited file): the default, said.
  {
    TunedKernel k;
    k.shapeKey = codegen::cuda::tileKey(spec);
    k.knobs.cuda = {96, 64, 32};
    cache.store(k);
  }
  testing::internal::CaptureStderr();
  EXPECT_EQ(codegen::cuda::chooseTile(spec, &cache, &tuned), CudaGemmTile{});
  warning = testing::internal::GetCapturedStderr();
  EXPECT_NE(warning.find("unsupported CUDA tile 96x64x32"), std::string::npos)
      << warning;
  std::error_code ec;
  std::filesystem::remove_all(root, ec);
}

TEST_F(CudaGemmTunerTest, CandidatesFitAndStartWithTheDefault) {
  for (ChainGemmSpec s : {qkv(), chainLinearWeightGrad({1, 1}, 64, 128)}) {
    for (bool bf16 : {false, true}) {
      s.bf16 = bf16;
      std::vector<CudaGemmTile> tiles = codegen::cuda::tileCandidates(s);
      ASSERT_FALSE(tiles.empty());
      EXPECT_EQ(tiles[0], CudaGemmTile{});
      EXPECT_GE(tiles.size(), 8u);
      for (const CudaGemmTile &t : tiles) {
        ChainGemmSpec c = s;
        c.knobs.cuda = t;
        EXPECT_TRUE(codegen::cuda::checkTile(c).isOk())
            << codegen::cuda::describeTile(t);
        EXPECT_LE(codegen::cuda::tileGeometry(c).smemBytes,
                  codegen::cuda::kMaxStaticShared);
      }
    }
  }
}

TEST_F(CudaGemmTunerTest, CublasLtIsACandidateForDenseProducts) {
  // The fake cuBLASLt computes in column-major terms with plain loops: the
  // tuner's check (within rounding of the kernel's result) fails if colm's
  // row-major mapping of any transposition is wrong.
  std::vector<ChainGemmSpec> dense = {chainLinearForward({1}, 48, 40),
                                      chainLinearInputGrad({1}, 48, 40),
                                      chainLinearWeightGrad({1}, 48, 40)};
  ChainGemmSpec acc = chainLinearWeightGrad({1}, 48, 40);
  acc.accumulate = true;
  dense.push_back(acc);
  cpu::TuneOptions options;
  options.repeats = 1;
  options.warmupSeconds = 0;
  options.minSampleSeconds = 0;
  options.maxCandidates = 1;
  for (ChainGemmSpec s : dense)
    for (bool bf16 : {false, true}) {
      s.bf16 = bf16;
      ASSERT_TRUE(libraryEligible(s)) << s.name();
      auto r = codegen::cuda::tuneChainGemm(s, 70, 0, *jit, options);
      ASSERT_TRUE(r.isOk()) << s.name() << ": " << r.status().message();
      ASSERT_EQ(r->timings.size(), 2u) << s.name();
      EXPECT_TRUE(r->timings[1].knobs.cuda.cublas);
      EXPECT_EQ(codegen::cuda::describeTile(r->timings[1].knobs.cuda),
                "cuBLASLt");
    }
  // Chained products, groups and epilogues are not the library's.
  ChainGemmSpec chained = chainLinearForward({1, 1}, 48, 40);
  EXPECT_FALSE(libraryEligible(chained));
  auto r = codegen::cuda::tuneChainGemm(chained, 70, 0, *jit, options);
  ASSERT_TRUE(r.isOk()) << r.status().message();
  EXPECT_EQ(r->timings.size(), 1u);
  EXPECT_FALSE(libraryEligible(qkv()));
  ChainGemmSpec added = chainLinearForward({1}, 48, 40);
  added.addend = true;
  EXPECT_FALSE(libraryEligible(added));
  // A stored cuBLASLt verdict for a spec it cannot run: the default.
  added.knobs.cuda.cublas = true;
  EXPECT_FALSE(validateChainGemm(added).isOk());
}
