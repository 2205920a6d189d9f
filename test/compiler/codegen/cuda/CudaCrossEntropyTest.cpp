//===- CudaCrossEntropyTest.cpp - The CUDA LM head + cross-entropy --------===//
//
// Both phases on the SIMT emulator under every schedule against the
// reference: the loss, the workspace it leaves, dX and dW (frozen columns
// untouched, accumulation), vocabularies and widths past one block of
// threads, a bad target (a NaN loss), and the loss alone; the NVRTC build
// for sm_80 and sm_90.
//
//===----------------------------------------------------------------------===//
#include "compiler/codegen/CrossEntropy.h"
#include "compiler/codegen/cpu/RenderCrossEntropy.h"
#include "compiler/codegen/cuda/RenderCrossEntropy.h"

#include "../KernelTestUtil.h"
#include "CudaTestUtil.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

using namespace colm;
using namespace colm::codegen;

namespace {

class CudaCrossEntropyTest : public colm::test::KernelTest {};

using colm::test::kSchedules;

CrossEntropySpec spec(int64_t vocab, int64_t width, int64_t dwBegin,
                      bool accumulate, bool gradients) {
  CrossEntropySpec s;
  s.vocab = vocab;
  s.width = width;
  s.dwBegin = dwBegin;
  s.accumulate = accumulate;
  s.gradients = gradients;
  return s;
}

std::vector<CrossEntropySpec> specs() {
  return {spec(50, 24, 8, false, true), spec(50, 24, 0, true, true),
          spec(300, 300, 100, false, true), spec(40, 16, 0, false, false)};
}

/// |got - want| within fp32 rounding: each dlogit is off by about 1e-5 of
/// itself (its logit is an fp32 dot product), so a gradient element by about
/// that much of the sum of its terms' magnitudes (`mag`), whatever the
/// cancellation; a wrong term or column is off by far more.
void expectNear(const std::vector<float> &got, const std::vector<float> &want,
                const std::vector<double> &mag, const std::string &what) {
  int bad = 0;
  for (size_t i = 0; i < got.size(); ++i)
    if (!(got[i] == want[i] || std::abs(double(got[i]) - want[i]) <=
                                   2e-5 * mag[i] + 1e-6 * std::abs(want[i])) &&
        bad++ < 3)
      ADD_FAILURE() << what << ": [" << i << "] = " << got[i] << ", reference "
                    << want[i] << ", scale " << mag[i];
}

/// For dX [t, ldx] and dW [V, ldw]: the sums of |dlogit| |w| and |dlogit|
/// |x| over the terms of each element, dlogits in double.
void magnitudes(const CrossEntropySpec &s, const ColmCrossEntropyArgs &a,
                std::vector<double> &dx, std::vector<double> &dw) {
  int64_t T = a.t, V = s.vocab, D = s.width;
  dx.assign(size_t(T * a.ldx), 0.0);
  dw.assign(size_t(V * a.ldw), 0.0);
  std::vector<double> l(static_cast<size_t>(V));
  for (int64_t i = 0; i < T; ++i) {
    double m = -INFINITY, sum = 0;
    for (int64_t v = 0; v < V; ++v) {
      double acc = 0;
      for (int64_t c = 0; c < D; ++c)
        acc += double(a.x[i * a.ldx + c]) * a.w[v * a.ldw + c];
      l[size_t(v)] = acc;
      m = std::max(m, acc);
    }
    for (double x : l)
      sum += std::exp(x - m);
    for (int64_t v = 0; v < V; ++v) {
      double g = std::abs(
          a.scale / double(T) *
          (std::exp(l[size_t(v)] - m) / sum - (v == a.targets[i] ? 1.0 : 0.0)));
      for (int64_t c = 0; c < D; ++c) {
        dx[size_t(i * a.ldx + c)] += g * std::abs(a.w[v * a.ldw + c]);
        dw[size_t(v * a.ldw + c)] += g * std::abs(a.x[i * a.ldx + c]);
      }
    }
  }
}

} // namespace

TEST_F(CudaCrossEntropyTest, BothPhasesOnTheEmulatorMatchTheReference) {
  std::vector<KernelSource> sources;
  std::vector<std::string> symbols;
  for (const CrossEntropySpec &s : specs())
    for (const CrossEntropySpec &p :
         {crossEntropyRows(s), crossEntropyVocab(s)}) {
      sources.push_back({"cuda_" + p.name(), cuda::renderCrossEntropy(
                                                 p, cuda::CudaBuild::HostSim)});
      symbols.push_back(cpu::crossEntropySymbol(p));
    }
  std::vector<ColmKernelFn> fns =
      compile(sources, symbols, cuda::hostSimFlags());
  ASSERT_EQ(fns.size(), sources.size());
  for (const char *schedule : kSchedules) {
    setenv("COLM_SIMT_SCHEDULE", schedule, 1);
    for (int64_t t : {1, 7, 260}) {
      size_t at = 0;
      for (const CrossEntropySpec &s : specs()) {
        int threads = t > 100 ? 2 : 1;
        int64_t ldx = s.width + 3, ldw = s.width + 5;
        std::vector<float> x = colm::test::randomNormal(t * ldx, 1),
                           w = colm::test::randomNormal(s.vocab * ldw, 2),
                           dx = colm::test::randomNormal(t * ldx, 3),
                           dw = colm::test::randomNormal(s.vocab * ldw, 4),
                           wantDx = dx, wantDw = dw;
        for (std::vector<float> *v :
             {&x, &w}) // logits of a trained model's scale
          for (float &e : *v)
            e *= 0.5f;
        std::vector<int32_t> targets;
        for (int64_t i = 0; i < t; ++i)
          targets.push_back(int32_t((i * 13 + 1) % s.vocab));
        std::vector<double> ws(3 * t), wantWs(3 * t);
        double loss = 0, wantLoss = 0;
        ColmCrossEntropyArgs a{x.data(),  w.data(),  targets.data(),
                               dx.data(), dw.data(), ws.data(),
                               &loss,     t,         ldx,
                               ldw,       ldx,       ldw,
                               0.75};
        colm::test::runOnThreads(fns[at], a, threads);
        colm::test::runOnThreads(fns[at + 1], a, threads);
        ColmCrossEntropyArgs r = a;
        r.dx = wantDx.data();
        r.dw = wantDw.data();
        r.workspace = wantWs.data();
        r.loss = &wantLoss;
        ASSERT_TRUE(crossEntropyReference(s, r).isOk());
        std::string what =
            s.name() + ", " + schedule + ", t " + std::to_string(t);
        EXPECT_NEAR(loss, wantLoss, 1e-6 * (1 + std::abs(wantLoss))) << what;
        std::vector<double> magDx, magDw;
        magnitudes(s, a, magDx, magDw);
        if (s.accumulate) // n fp32 additions into the initial value
          for (size_t e = 0; e < magDx.size() || e < magDw.size(); ++e) {
            if (e < magDx.size())
              magDx[e] += std::abs(wantDx[e]) * double(s.vocab + 2) * 3e-3;
            if (e < magDw.size())
              magDw[e] += std::abs(wantDw[e]) * double(t + 2) * 3e-3;
          }
        expectNear(dx, wantDx, magDx, what + ", dx");
        expectNear(dw, wantDw, magDw, what + ", dw");
        // A target outside the vocabulary: a NaN loss, no crash.
        if (t > 5) {
          targets[5] = int32_t(s.vocab);
          colm::test::runOnThreads(fns[at], a, threads);
          colm::test::runOnThreads(fns[at + 1], a, threads);
          EXPECT_TRUE(std::isnan(loss)) << what;
        }
        at += 2;
      }
    }
  }
  unsetenv("COLM_SIMT_SCHEDULE");
}

TEST_F(CudaCrossEntropyTest, NvrtcBuildCompilesForSm80AndSm90) {
  COLM_SKIP_WITHOUT_NVRTC();
  for (const CrossEntropySpec &s : specs())
    for (const CrossEntropySpec &p :
         {crossEntropyRows(s), crossEntropyVocab(s)})
      EXPECT_EQ(colm::test::nvrtcCheck(
                    cuda::renderCrossEntropy(p, cuda::CudaBuild::Nvrtc),
                    cpu::crossEntropySymbol(p) + "_kernel"),
                "")
          << p.name();
}
