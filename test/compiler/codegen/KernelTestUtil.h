//===- KernelTestUtil.h - The JIT of the kernel tests -----------*- C++ -*-===//
#ifndef COLM_TEST_COMPILER_CODEGEN_KERNELTESTUTIL_H
#define COLM_TEST_COMPILER_CODEGEN_KERNELTESTUTIL_H

#include "compiler/codegen/cpu/CpuJit.h"
#include "runtime/KernelAbi.h"

#include <gtest/gtest.h>

#include <random>

#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

namespace colm::test {

/// fn(&args, t, threads) for every t at once, each on a thread of its own.
template <class Args>
void runOnThreads(ColmKernelFn fn, const Args &args, int threads) {
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] { fn(&args, t, threads); });
  for (std::thread &t : pool)
    t.join();
}

/// n floats from a standard normal distribution, reproducibly.
inline std::vector<float> randomNormal(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  std::vector<float> v(n);
  for (float &x : v)
    x = normal(rng);
  return v;
}

/// A test suite with one CpuJit over a private, temporary kernel cache
/// (never ~/.cache), removed when the suite ends.
class KernelTest : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    cacheDir = (std::filesystem::temp_directory_path() /
                ("colm-kernel-test-" + std::to_string(::getpid())))
                   .string();
    CpuJitOptions options = CpuJitOptions::fromEnvironment();
    options.cacheRoot = cacheDir;
    auto created = CpuJit::create(options);
    ASSERT_TRUE(created.isOk()) << created.status().message();
    jit = new CpuJit(created.take());
  }
  static void TearDownTestSuite() {
    delete jit;
    jit = nullptr;
    std::error_code ec;
    std::filesystem::remove_all(cacheDir, ec);
  }

  /// Compiles every source in one call (in parallel) and returns the entry
  /// point `symbols[i]` of source i (null, with a failure, when missing).
  std::vector<ColmKernelFn>
  compile(const std::vector<KernelSource> &sources,
          const std::vector<std::string> &symbols,
          const std::vector<std::string> &extraFlags = {}) {
    std::vector<ColmKernelFn> fns;
    auto libs = jit->compile(sources, extraFlags);
    EXPECT_TRUE(libs.isOk()) << libs.status().message();
    if (!libs.isOk())
      return fns;
    for (size_t i = 0; i < sources.size(); ++i) {
      libraries.push_back((*libs)[i]);
      auto sym = (*libs)[i]->symbol(symbols[i]);
      EXPECT_TRUE(sym.isOk()) << sym.status().message();
      fns.push_back(sym.isOk() ? reinterpret_cast<ColmKernelFn>(*sym)
                               : nullptr);
    }
    return fns;
  }

  static inline std::string cacheDir;
  static inline CpuJit *jit = nullptr;
  std::vector<std::shared_ptr<DynamicLibrary>> libraries;
};

} // namespace colm::test

#endif // COLM_TEST_COMPILER_CODEGEN_KERNELTESTUTIL_H
