//===- CudaTestUtil.h - What the CUDA kernel tests share --------*- C++ -*-===//
#ifndef COLM_TEST_COMPILER_CODEGEN_CUDA_CUDATESTUTIL_H
#define COLM_TEST_COMPILER_CODEGEN_CUDA_CUDATESTUTIL_H

#include "compiler/codegen/cuda/Nvrtc.h"

#include <gtest/gtest.h>

#include <string>

namespace colm::test {

/// The emulator's schedules, as $COLM_SIMT_SCHEDULE names them.
inline const char *const kSchedules[] = {"round-robin", "greedy", "reversed"};

/// "" when `source` compiles with NVRTC for sm_80 and for sm_90 into PTX
/// with the extern "C" kernel `entry` (the name the driver looks up) and
/// ptxas spills no register in it; else what failed.
inline std::string nvrtcCheck(const std::string &source,
                              const std::string &entry) {
  auto nvrtc = codegen::cuda::Nvrtc::get();
  if (!nvrtc)
    return nvrtc.status().message();
  for (const char *arch : {"sm_80", "sm_90"}) {
    auto b = (*nvrtc)->compile({"check", source}, arch, false);
    if (!b)
      return std::string(arch) + ": " + b.status().message();
    if (b->ptx.find(".entry " + entry + "(") == std::string::npos)
      return std::string(arch) + ": no .entry " + entry;
    codegen::cuda::PtxasInfo info =
        codegen::cuda::parsePtxasInfo(b->log, entry);
    if (info.registers < 0)
      return std::string(arch) + ": no ptxas report for " + entry;
    if (info.spills())
      return std::string(arch) + ": " + entry + " spills " +
             std::to_string(info.spillStores) + " bytes";
  }
  return "";
}

} // namespace colm::test

/// Skips a test where the CUDA toolkit's NVRTC is missing.
#define COLM_SKIP_WITHOUT_NVRTC()                                              \
  do {                                                                         \
    if (!::colm::codegen::cuda::Nvrtc::get().isOk())                           \
      GTEST_SKIP() << ::colm::codegen::cuda::Nvrtc::get().status().message();  \
  } while (0)

#endif // COLM_TEST_COMPILER_CODEGEN_CUDA_CUDATESTUTIL_H
