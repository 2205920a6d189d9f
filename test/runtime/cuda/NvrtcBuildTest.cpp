//===- NvrtcBuildTest.cpp - the emulator's kernels are valid CUDA too -----===//
//
// One source, two builds: SimtKernels.cuh with colm_cuda.h, which the
// emulator's tests run as host C++, compiles with NVRTC for sm_80 and sm_90
// and its PTX assembles with ptxas, without spills. Needs the CUDA toolkit
// (NVRTC is loaded at run time, as the CUDA backend will load it), not a
// GPU; skips where the toolkit is missing.
//
//===----------------------------------------------------------------------===//
#include "Nvrtc.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>

namespace {

using colm::test::cudaHome;
using colm::test::Nvrtc;

std::string readFile(const std::string &path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

} // namespace

TEST(NvrtcBuildTest, EmulatorKernelsCompileAndAssembleForSm80AndSm90) {
  Nvrtc nvrtc;
  if (!nvrtc.load())
    GTEST_SKIP() << "NVRTC not found under " << cudaHome();
  std::string source =
      readFile(COLM_CUDA_HEADER) + "\n" + readFile(COLM_SIMT_KERNELS);
  ASSERT_GT(source.size(), 1000u);
  std::string ptxas = cudaHome() + "/bin/ptxas";
  for (const char *arch : {"sm_80", "sm_90"}) {
    std::string error;
    std::string ptx = nvrtc.compilePtx(source, arch, error);
    ASSERT_FALSE(ptx.empty()) << arch << ": " << error;
    for (const char *kernel :
         {"blockSum", "collectives", "matmul", "shuffleDeadlock", "mmaGemm",
          "mmaGemmBt"})
      EXPECT_NE(ptx.find(kernel), std::string::npos) << arch << " " << kernel;
    if (access(ptxas.c_str(), X_OK) != 0)
      continue;
    char path[] = "/tmp/colm-simt-XXXXXX";
    int fd = mkstemp(path);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(write(fd, ptx.data(), ptx.size() - 1),
              ssize_t(ptx.size() - 1)); // without the terminating NUL
    close(fd);
    std::string cmd =
        ptxas + " -arch=" + arch + " -v -o /dev/null " + path + " 2>&1";
    FILE *pipe = popen(cmd.c_str(), "r");
    ASSERT_NE(pipe, nullptr);
    std::string out;
    char buf[512];
    while (fgets(buf, sizeof buf, pipe))
      out += buf;
    int status = pclose(pipe);
    unlink(path);
    EXPECT_EQ(status, 0) << arch << ": " << out;
    EXPECT_NE(out.find("Used"), std::string::npos) << out;
    // No register spills: every "N bytes spill stores" is 0.
    for (size_t at = out.find("bytes spill stores"); at != std::string::npos;
         at = out.find("bytes spill stores", at + 1)) {
      size_t start = out.rfind(',', at);
      EXPECT_EQ(std::atoi(out.c_str() + start + 1), 0) << arch << ": " << out;
    }
  }
}
