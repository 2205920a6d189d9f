//===- CudaPointwiseTest.cpp - CUDA norm, RoPE and SwiGLU kernels ---------===//
//
// The host build of each kernel on the SIMT emulator, under every schedule
// on one and three host threads, against the references of
// compiler/codegen/Pointwise.h (within rounding: the block reductions sum
// in another order than the CPU kernels); the NVRTC build for sm_80 and
// sm_90.
//
//===----------------------------------------------------------------------===//
#include "compiler/codegen/Pointwise.h"
#include "compiler/codegen/cpu/RenderPointwise.h"
#include "compiler/codegen/cuda/RenderPointwise.h"

#include "../KernelTestUtil.h"
#include "CudaTestUtil.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>

using namespace colm;
using namespace colm::codegen;

namespace {

class CudaPointwiseTest : public colm::test::KernelTest {};

using colm::test::kSchedules;

void expectNear(const std::vector<float> &got, const std::vector<float> &want,
                const std::string &what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int bad = 0;
  for (size_t i = 0; i < got.size(); ++i)
    if (!(std::abs(got[i] - want[i]) <= 4e-7f * std::abs(want[i]) + 1e-30f) &&
        bad++ < 3)
      ADD_FAILURE() << what << ": [" << i << "] = " << got[i] << ", reference "
                    << want[i];
}

ChainNormSpec norm(int64_t width, std::vector<int64_t> bounds) {
  ChainNormSpec s;
  s.width = width;
  s.groupBounds = std::move(bounds);
  s.eps = 1e-5;
  return s;
}

} // namespace

TEST_F(CudaPointwiseTest, HostBuildOnTheEmulatorMatchesTheReferences) {
  std::vector<ChainNormSpec> norms = {
      norm(64, {0, 64}), norm(48, {0, 12, 24, 48}), norm(300, {0, 100, 300})};
  std::vector<RopeSpec> ropes = {{64, 16, 10000.0, false},
                                 {48, 8, 500000.0, true}};
  std::vector<SwiGluSpec> swiglus = {{40, false}, {40, true}};
  std::vector<KernelSource> sources;
  std::vector<std::string> symbols;
  auto sim = cuda::CudaBuild::HostSim;
  for (const ChainNormSpec &s : norms) {
    sources.push_back({"cuda_" + s.name(), cuda::renderChainNorm(s, sim)});
    symbols.push_back(cpu::chainNormSymbol(s));
  }
  for (const RopeSpec &s : ropes) {
    sources.push_back({"cuda_" + s.name(), cuda::renderRope(s, sim)});
    symbols.push_back(cpu::ropeSymbol(s));
  }
  for (const SwiGluSpec &s : swiglus) {
    sources.push_back({"cuda_" + s.name(), cuda::renderSwiGlu(s, sim)});
    symbols.push_back(cpu::swiGluSymbol(s));
  }
  std::vector<ColmKernelFn> fns =
      compile(sources, symbols, cuda::hostSimFlags());
  ASSERT_EQ(fns.size(), sources.size());
  size_t at = 0;
  for (const char *schedule : kSchedules) {
    setenv("COLM_SIMT_SCHEDULE", schedule, 1);
    for (int64_t rows : {1, 5, 130})
      for (int threads : {1, 3}) {
        std::string what = std::string(schedule) + ", " + std::to_string(rows) +
                           " rows on " + std::to_string(threads) +
                           " host threads";
        at = 0;
        for (const ChainNormSpec &s : norms) {
          size_t n = size_t(rows * s.width);
          std::vector<float> x = colm::test::randomNormal(n, 1),
                             gain = colm::test::randomNormal(s.width, 2),
                             got(n, 7.0f), want(n, 7.0f);
          for (size_t i = 0; i < n; i += 5)
            x[i] *= 30.0f;
          ColmNormArgs a{x.data(), gain.data(), nullptr, got.data(),
                         nullptr,  nullptr,     rows};
          colm::test::runOnThreads(fns[at++], a, threads);
          a.y = want.data();
          chainNormReference(s, a);
          expectNear(got, want, s.name() + ", " + what);
        }
        for (const RopeSpec &s : ropes) {
          size_t n = size_t(rows * s.width);
          std::vector<float> x = colm::test::randomNormal(n, 3), got = x,
                             want = x;
          std::vector<int32_t> pos(static_cast<size_t>(rows));
          for (int64_t r = 0; r < rows; ++r)
            pos[size_t(r)] = int32_t((r * 97 + 5) % 20000);
          for (const int32_t *p :
               {(const int32_t *)pos.data(), (const int32_t *)nullptr}) {
            got = x; // in place: y is x
            ColmRopeArgs a{got.data(), p, got.data(), rows};
            colm::test::runOnThreads(fns[at], a, threads);
            ColmRopeArgs r{x.data(), p, want.data(), rows};
            ropeReference(s, r);
            expectNear(got, want, s.name() + ", " + what);
          }
          ++at;
        }
        for (const SwiGluSpec &s : swiglus) {
          size_t n = size_t(rows * s.width);
          std::vector<float> g = colm::test::randomNormal(n, 4),
                             u = colm::test::randomNormal(n, 5),
                             dy = colm::test::randomNormal(n, 6), got(n),
                             got2(n), want(n), want2(n);
          for (float &v : g)
            v *= 4.0f;
          ColmSwiGluArgs a{g.data(),
                           u.data(),
                           dy.data(),
                           s.backward ? nullptr : got.data(),
                           s.backward ? got.data() : nullptr,
                           s.backward ? got2.data() : nullptr,
                           rows};
          colm::test::runOnThreads(fns[at++], a, threads);
          ColmSwiGluArgs r = a;
          r.y = s.backward ? nullptr : want.data();
          r.dgate = s.backward ? want.data() : nullptr;
          r.dup = s.backward ? want2.data() : nullptr;
          swiGluReference(s, r);
          expectNear(got, want, s.name() + ", " + what);
          if (s.backward)
            expectNear(got2, want2, s.name() + " dup, " + what);
        }
      }
  }
  unsetenv("COLM_SIMT_SCHEDULE");
}

TEST_F(CudaPointwiseTest, NormBackwardOnTheEmulatorMatchesTheReference) {
  std::vector<ChainNormSpec> specs = {
      norm(48, {0, 12, 24, 48}), norm(64, {0, 64}), norm(300, {0, 100, 300})};
  // Frozen gain columns: the first chain's, none, all of them.
  int64_t frozen[] = {12, 0, 300};
  std::vector<KernelSource> sources;
  std::vector<std::string> symbols;
  for (size_t i = 0; i < specs.size(); ++i) {
    specs[i].backward = true;
    specs[i].dgainBegin = frozen[i];
    sources.push_back(
        {"cuda_" + specs[i].name(),
         cuda::renderChainNorm(specs[i], cuda::CudaBuild::HostSim)});
    symbols.push_back(cpu::chainNormSymbol(specs[i]));
  }
  std::vector<ColmKernelFn> fns =
      compile(sources, symbols, cuda::hostSimFlags());
  ASSERT_EQ(fns.size(), specs.size());
  for (const char *schedule : kSchedules) {
    setenv("COLM_SIMT_SCHEDULE", schedule, 1);
    for (int64_t rows : {1, 7, 140})
      for (int threads : {1, 3})
        for (size_t i = 0; i < specs.size(); ++i) {
          const ChainNormSpec &s = specs[i];
          size_t n = size_t(rows * s.width);
          std::vector<float> x = colm::test::randomNormal(n, 1),
                             dy = colm::test::randomNormal(n, 2),
                             gain = colm::test::randomNormal(s.width, 3),
                             dx(n, 7.0f), dgain(s.width, 7.0f), wantDx(n),
                             wantDgain(s.width);
          ColmNormArgs a{x.data(),  gain.data(),  dy.data(), nullptr,
                         dx.data(), dgain.data(), rows};
          colm::test::runOnThreads(fns[i], a, threads);
          ColmNormArgs r = a;
          r.dx = wantDx.data();
          r.dgain = wantDgain.data();
          chainNormReference(s, r);
          std::string what = s.name() + ", " + schedule + ", " +
                             std::to_string(rows) + " rows on " +
                             std::to_string(threads) + " host threads";
          for (size_t e = 0; e < n; ++e)
            ASSERT_NEAR(dx[e], wantDx[e], 1e-5 * (1 + std::abs(wantDx[e])))
                << "dx[" << e << "], " << what;
          for (int64_t j = 0; j < s.width; ++j)
            ASSERT_NEAR(dgain[j], wantDgain[j],
                        1e-5 * (1 + std::abs(wantDgain[j])))
                << "dgain[" << j << "], " << what;
        }
  }
  unsetenv("COLM_SIMT_SCHEDULE");
}

TEST_F(CudaPointwiseTest, NvrtcBuildCompilesForSm80AndSm90) {
  COLM_SKIP_WITHOUT_NVRTC();
  auto nv = cuda::CudaBuild::Nvrtc;
  ChainNormSpec n = norm(48, {0, 12, 24, 48}), nb = n;
  nb.backward = true;
  nb.dgainBegin = 12;
  RopeSpec r{64, 16, 10000.0, true};
  SwiGluSpec s{40, true};
  std::vector<std::pair<std::string, std::string>> kernels = {
      {cpu::chainNormSymbol(n), cuda::renderChainNorm(n, nv)},
      {cpu::chainNormSymbol(nb), cuda::renderChainNorm(nb, nv)},
      {cpu::ropeSymbol(r), cuda::renderRope(r, nv)},
      {cpu::swiGluSymbol(s), cuda::renderSwiGlu(s, nv)}};
  for (const auto &[symbol, source] : kernels)
    EXPECT_EQ(colm::test::nvrtcCheck(source, symbol + "_kernel"), "") << symbol;
}
