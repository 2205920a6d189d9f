//===- CublasLtTest.cpp - cuBLASLt, loaded at run time --------------------===//
//
// What can be checked without a GPU: the library loads (where the toolkit
// is installed) with every entry point colm uses, and a timing without a
// driver, or with nonsense sizes, is a clear error rather than a crash.
// The timing itself runs in `colm tune --backend cuda` on a GPU.
//
//===----------------------------------------------------------------------===//
#include "runtime/cuda/CublasLt.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <regex>

using namespace colm;

TEST(CublasLtTest, LoadsWithEveryEntryPoint) {
  auto lt = cuda::CublasLt::get();
  if (!lt.isOk()) {
    EXPECT_NE(lt.status().message().find("libcublasLt.so"), std::string::npos)
        << lt.status().message();
    GTEST_SKIP() << lt.status().message();
  }
  EXPECT_TRUE(std::regex_match((*lt)->version(),
                               std::regex("[0-9]+\\.[0-9]+\\.[0-9]+")))
      << (*lt)->version();
}

TEST(CublasLtTest, WithoutADriverTheTimingIsAClearError) {
  auto lt = cuda::CublasLt::get();
  if (!lt.isOk())
    GTEST_SKIP() << lt.status().message();
  auto bad = (*lt)->timeDenseGemm(0, 0, 64, 64, true);
  ASSERT_FALSE(bad.isOk());
  EXPECT_NE(bad.status().message().find("positive sizes"), std::string::npos)
      << bad.status().message();
  setenv("COLM_CUDA_DRIVER", "/nonexistent/libcuda.so.1", 1);
  auto t = (*lt)->timeDenseGemm(0, 64, 64, 64, true);
  unsetenv("COLM_CUDA_DRIVER");
  ASSERT_FALSE(t.isOk());
  EXPECT_NE(t.status().message().find("NVIDIA driver"), std::string::npos)
      << t.status().message();
}
