//===- SimtEmulatorTest.cpp - CUDA kernels on the host SIMT emulator ------===//
//
// The kernels of SimtKernels.cuh, compiled as host C++ against colm_cuda.h,
// run under every schedule on one and two host threads: correct kernels
// give exact results (against plain loops in the same order), the racy one
// is exposed by some schedule, and divergent barriers and shuffle deadlocks
// are reported with the kernel's line.
//
//===----------------------------------------------------------------------===//
#include "runtime/cuda/colm_cuda.h"

#include "SimtKernels.cuh"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <random>
#include <thread>

using colm::simt::Dim3;
using colm::simt::Schedule;

namespace {

const Schedule kSchedules[] = {Schedule::RoundRobin, Schedule::Greedy,
                               Schedule::Reversed};

/// Runs the grid on `hostThreads` host threads; the first error, or "".
template <class F>
std::string run(Dim3 grid, Dim3 block, Schedule s, F kernel,
                int hostThreads = 1) {
  std::vector<std::string> errors(static_cast<size_t>(hostThreads));
  std::vector<std::thread> pool;
  for (int t = 0; t < hostThreads; ++t)
    pool.emplace_back([&, t] {
      F k = kernel;
      errors[size_t(t)] = colm::simt::launch(grid, block, s, k, t, hostThreads);
    });
  for (std::thread &t : pool)
    t.join();
  for (const std::string &e : errors)
    if (!e.empty())
      return e;
  return "";
}

} // namespace

TEST(SimtEmulatorTest, WarpAndBlockReductionsAreExact) {
  const long long n = 10007;
  std::vector<long long> x(n);
  std::mt19937_64 rng(1);
  for (long long &v : x)
    v = static_cast<long long>(rng() % 2000001) - 1000000;
  for (Schedule s : kSchedules)
    for (unsigned threads : {32u, 96u, 256u}) {
      Dim3 grid{7};
      std::vector<long long> out(grid.x, 0);
      std::string err = run(
          grid, Dim3{threads}, s, [&] { blockSum(x.data(), n, out.data()); },
          2);
      ASSERT_EQ(err, "") << scheduleName(s);
      // Each block's share, summed on the host.
      for (unsigned b = 0; b < grid.x; ++b) {
        long long want = 0;
        for (long long i = b * threads; i < n; i += grid.x * threads)
          for (long long j = i; j < i + threads && j < n; ++j)
            want += x[j];
        EXPECT_EQ(out[b], want) << "block " << b << ", " << threads
                                << " threads, " << scheduleName(s);
      }
    }
}

TEST(SimtEmulatorTest, WarpCollectivesFollowCudaSemantics) {
  const unsigned threads = 64;
  std::vector<int> in(threads), out(8 * threads, 0);
  for (unsigned t = 0; t < threads; ++t)
    in[t] = int((t * 7 + 3) % 23);
  for (Schedule s : kSchedules) {
    ASSERT_EQ(run(Dim3{1}, Dim3{threads}, s,
                  [&] { collectives(in.data(), out.data()); }),
              "");
    for (unsigned t = 0; t < threads; ++t) {
      unsigned w = t / 32 * 32, l = t % 32, seg = l / 16 * 16;
      auto lane = [&](unsigned x) { return in[w + x]; };
      uint32_t votes = 0;
      bool any7 = false, allPos = true;
      for (unsigned x = 0; x < 32; ++x) {
        votes |= uint32_t(lane(x) % 3 == 0) << x;
        any7 = any7 || lane(x) == 7;
        allPos = allPos && lane(x) >= 0;
      }
      const int *o = &out[8 * t];
      EXPECT_EQ(o[0], lane(seg + 3)) << "idx, thread " << t;
      EXPECT_EQ(o[1], l - seg >= 2 ? lane(l - 2) : in[t]) << "up, " << t;
      EXPECT_EQ(o[2], l + 5 < 32 ? lane(l + 5) : in[t]) << "down, " << t;
      EXPECT_EQ(o[3], lane(l ^ 9)) << "xor, thread " << t;
      EXPECT_EQ(uint32_t(o[4]), votes) << "ballot, thread " << t;
      EXPECT_EQ(o[5], int(any7)) << "any, thread " << t;
      EXPECT_EQ(o[6], int(allPos)) << "all, thread " << t;
      EXPECT_EQ(o[7], l < 16 ? lane(l ^ 1) : -1) << "masked, " << t;
    }
  }
}

TEST(SimtEmulatorTest, TiledMatmulIsExactUnderEverySchedule) {
  const int n = 64;
  std::vector<float> a(n * n), b(n * n), want(n * n, 0.0f);
  std::mt19937 rng(2);
  std::normal_distribution<float> normal;
  for (float &v : a)
    v = normal(rng);
  for (float &v : b)
    v = normal(rng);
  // The kernel's order: per element, k ascending, one float accumulator.
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) {
      float acc = 0.0f;
      for (int k = 0; k < n; ++k)
        acc += a[i * n + k] * b[k * n + j];
      want[i * n + j] = acc;
    }
  bool exposed = false;
  for (Schedule s : kSchedules)
    for (int hostThreads : {1, 2}) {
      std::vector<float> c(n * n, 0.0f);
      ASSERT_EQ(run(
                    Dim3{n / 16, n / 16}, Dim3{16, 16}, s,
                    [&] { matmul(a.data(), b.data(), c.data(), n); },
                    hostThreads),
                "");
      EXPECT_EQ(c, want) << scheduleName(s) << " on " << hostThreads
                         << " host threads";
#ifdef COLM_SIMT_TSAN
      // A ThreadSanitizer build reports the race itself (see
      // TsanReportsTheMissingBarrier); here it would fail the run.
      continue;
#endif
      std::fill(c.begin(), c.end(), 0.0f);
      ASSERT_EQ(run(
                    Dim3{n / 16, n / 16}, Dim3{16, 16}, s,
                    [&] { matmulRacy(a.data(), b.data(), c.data(), n); },
                    hostThreads),
                "");
      exposed = exposed || c != want;
    }
#ifndef COLM_SIMT_TSAN
  EXPECT_TRUE(exposed) << "no schedule exposed the missing barrier";
#else
  (void)exposed;
#endif
}

// In the ThreadSanitizer build (colm-cuda-sim-tsan-tests), with
// $COLM_TSAN_EXPECT_RACE set: the matmul without its barrier must be
// reported as a race between two threads of a block, on the schedule that
// gives the right result (round robin), where only TSan can see it (ctest
// runs this expecting TSan's failure exit).
TEST(SimtEmulatorTest, TsanReportsTheMissingBarrier) {
#ifndef COLM_SIMT_TSAN
  GTEST_SKIP() << "not a ThreadSanitizer build";
#else
  if (!std::getenv("COLM_TSAN_EXPECT_RACE"))
    GTEST_SKIP() << "run by ctest with COLM_TSAN_EXPECT_RACE=1";
  // Blocks of 64 threads: TSan's vector clocks have 256 slots, and
  // larger blocks get lossy (the limit of this check).
  const int n = 16;
  std::vector<float> a(n * n, 1.0f), b(n * n, 1.0f), c(n * n, 0.0f);
  run(Dim3{n / 8, n / 8}, Dim3{8, 8}, Schedule::RoundRobin,
      [&] { matmulRacy8(a.data(), b.data(), c.data(), n); });
#endif
}

TEST(SimtEmulatorTest, BarrierSomeThreadsNeverReachIsReported) {
  std::vector<int> out(64);
  for (Schedule s : kSchedules) {
    std::string err =
        run(Dim3{2}, Dim3{64}, s, [&] { divergentBarrier(out.data()); });
    EXPECT_NE(err.find("line " + std::to_string(DIVERGENT_BARRIER_LINE) +
                       ": __syncthreads() reached by threads 0-15 only; "
                       "threads 16-63 exited"),
              std::string::npos)
        << err;
    EXPECT_NE(err.find("block (0, 0, 0)"), std::string::npos) << err;
  }
  std::string err = run(Dim3{1}, Dim3{64}, Schedule::Greedy,
                        [&] { splitBarrier(out.data()); });
  EXPECT_NE(err.find("line " + std::to_string(SPLIT_BARRIER_LINE) +
                     ": __syncthreads() reached by threads 0-31 only; "
                     "threads 32-63 wait at the barrier of line " +
                     std::to_string(SPLIT_BARRIER_LINE + 2)),
            std::string::npos)
      << err;
}

TEST(SimtEmulatorTest, FiberStackOverflowIsReported) {
#ifdef COLM_SIMT_TSAN
  GTEST_SKIP() << "writes another thread's stack: a race for TSan";
#endif
  std::vector<int> out(1);
  std::string err = run(Dim3{1}, Dim3{2}, Schedule::RoundRobin,
                        [&] { stackOverflow(out.data()); });
  EXPECT_NE(err.find("thread 1 overflowed its 64 KiB fiber stack"),
            std::string::npos)
      << err;
}

TEST(SimtEmulatorTest, ShuffleAfterLanesExitedIsADeadlock) {
  std::vector<int> out(32);
  for (Schedule s : kSchedules) {
    std::string err =
        run(Dim3{1}, Dim3{32}, s, [&] { shuffleDeadlock(out.data()); });
    EXPECT_NE(err.find("deadlock: line " +
                       std::to_string(SHUFFLE_DEADLOCK_LINE) +
                       ": lanes 0-15 of warp 0 wait in a warp collective for "
                       "lanes 16-31"),
              std::string::npos)
        << err;
  }
}

TEST(SimtEmulatorTest, BlocksOfMoreThan1024ThreadsAreRefused) {
  auto nothing = [] {};
  std::string err =
      colm::simt::launch(Dim3{1}, Dim3{33, 32}, Schedule::Greedy, nothing);
  EXPECT_NE(err.find("a block of 1056 threads (1 to 1024)"), std::string::npos)
      << err;
}

namespace {

uint16_t bf16Bits(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  return uint16_t((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
float bf16Value(uint16_t h) {
  uint32_t u = uint32_t(h) << 16;
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}

/// The line of the kernel file that contains `text` (1-based), or 0.
int kernelLine(const std::string &text) {
  std::ifstream in(COLM_SIMT_KERNELS);
  std::string line;
  for (int n = 1; std::getline(in, line); ++n)
    if (line.find(text) != std::string::npos)
      return n;
  return 0;
}

} // namespace

// mma.sync and ldmatrix twins: a tensor-core GEMM over the PTX ISA's
// fragment layouts matches plain loops (within f32 rounding of the tile
// sums), under every schedule; a misaligned ldmatrix row is reported.
TEST(SimtEmulatorTest, MmaAndLdmatrixFollowThePtxFragmentLayouts) {
  const int m = 32, n = 24, k = 48;
  std::vector<uint16_t> a(m * k), b(k * n);
  std::mt19937 rng(3);
  std::normal_distribution<float> normal;
  for (uint16_t &v : a)
    v = bf16Bits(normal(rng));
  for (uint16_t &v : b)
    v = bf16Bits(normal(rng));
  for (Schedule s : kSchedules) {
    std::vector<float> c(m * n, -1.0f);
    ASSERT_EQ(run(
                  Dim3{n / 8, m / 16}, Dim3{32}, s,
                  [&] { mmaGemm(a.data(), b.data(), c.data(), n, k); }, 2),
              "");
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < n; ++j) {
        double want = 0, scale = 0;
        for (int p = 0; p < k; ++p) {
          double x = double(bf16Value(a[i * k + p])) * bf16Value(b[p * n + j]);
          want += x;
          scale += std::abs(x);
        }
        EXPECT_NEAR(c[i * n + j], want, 1e-6 * scale + 1e-30)
            << "C[" << i << ", " << j << "], " << scheduleName(s);
      }
  }
  // B stored [n, k] through ldmatrix.x2 (the chain GEMM's way).
  std::vector<uint16_t> bt(n * k);
  for (int p = 0; p < k; ++p)
    for (int j = 0; j < n; ++j)
      bt[j * k + p] = b[p * n + j];
  for (Schedule s : kSchedules) {
    std::vector<float> c(m * n, -1.0f), ct(m * n, -2.0f);
    ASSERT_EQ(run(
                  Dim3{n / 8, m / 16}, Dim3{32}, s,
                  [&] { mmaGemm(a.data(), b.data(), c.data(), n, k); }, 2),
              "");
    ASSERT_EQ(run(
                  Dim3{n / 8, m / 16}, Dim3{32}, s,
                  [&] { mmaGemmBt(a.data(), bt.data(), ct.data(), n, k); }, 2),
              "");
    EXPECT_EQ(c, ct) << scheduleName(s);
  }
  std::vector<float> c(m * n);
  std::string err = run(Dim3{n / 8, m / 16}, Dim3{32}, Schedule::Greedy, [&] {
    mmaGemmMisaligned(a.data(), b.data(), c.data(), n, k);
  });
  int line = kernelLine("colm_ldmatrix_x4(af");
  ASSERT_GT(line, 0);
  EXPECT_NE(err.find("line " + std::to_string(line) +
                     ": lane 1's ldmatrix row address is not 16-byte "
                     "aligned"),
            std::string::npos)
      << err;
}
