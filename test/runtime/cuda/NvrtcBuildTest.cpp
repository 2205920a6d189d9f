//===- NvrtcBuildTest.cpp - the emulator's kernels are valid CUDA too -----===//
//
// One source, two builds: SimtKernels.cuh with colm_cuda.h, which the
// emulator's tests run as host C++, compiles with NVRTC for sm_80 and sm_90
// and its PTX assembles with ptxas, without spills. Needs the CUDA toolkit
// (NVRTC through the compiler's loader, compiler/codegen/cuda/Nvrtc), not a
// GPU; skips where the toolkit is missing.
//
//===----------------------------------------------------------------------===//
#include "compiler/codegen/cuda/Nvrtc.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>

namespace {

std::string readFile(const std::string &path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

} // namespace

TEST(NvrtcBuildTest, EmulatorKernelsCompileAndAssembleForSm80AndSm90) {
  auto nvrtc = colm::codegen::cuda::Nvrtc::get();
  if (!nvrtc.isOk())
    GTEST_SKIP() << nvrtc.status().message();
  std::string source =
      readFile(COLM_CUDA_HEADER) + "\n" + readFile(COLM_SIMT_KERNELS);
  ASSERT_GT(source.size(), 1000u);
  for (const char *arch : {"sm_80", "sm_90"}) {
    // NVRTC runs ptxas with -v: its report is in the log.
    auto b = (*nvrtc)->compile({"simt_kernels", source}, arch, true);
    ASSERT_TRUE(b.isOk()) << arch << ": " << b.status().message();
    for (const char *kernel : {"blockSum", "collectives", "matmul",
                               "shuffleDeadlock", "mmaGemm", "mmaGemmBt"})
      EXPECT_NE(b->ptx.find(kernel), std::string::npos)
          << arch << " " << kernel;
    EXPECT_FALSE(b->cubin.empty()) << arch;
    const std::string &log = b->log;
    EXPECT_NE(log.find("Used"), std::string::npos) << log;
    // No register spills: every "N bytes spill stores" is 0.
    for (size_t at = log.find("bytes spill stores"); at != std::string::npos;
         at = log.find("bytes spill stores", at + 1)) {
      size_t start = log.rfind(',', at);
      EXPECT_EQ(std::atoi(log.c_str() + start + 1), 0) << arch << ": " << log;
    }
  }
}
