//===- CrossEntropyTest.cpp - LM head + cross-entropy vs the reference ----===//
//
// Both phases rendered, compiled and run on 1..3 threads against the
// double reference (the interpreter's lm_head, cross_entropy and their
// gradients): the mean loss, dX and dW within error bounds derived from
// fp32 rounding, bit-identical for every thread count and chunk size
// (chunks that do not divide T, chunks larger than T), columns outside the
// prefix or the trained dW columns untouched; and the reference's gradients
// against central finite differences of its loss on a tiny case.
//
//===----------------------------------------------------------------------===//

#include "compiler/codegen/CrossEntropy.h"
#include "compiler/codegen/cpu/CpuJit.h"
#include "compiler/codegen/cpu/RenderCrossEntropy.h"
#include "runtime/KernelAbi.h"

#include "KernelTestUtil.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>
#include <thread>
#include <unistd.h>

using namespace colm;
using namespace colm::codegen;

namespace {

using colm::test::runOnThreads;

constexpr float kSentinel = -777.0f;
constexpr double kEps = 1.0 / 16777216.0; // 2^-24, fp32 rounding

/// One problem: X [t, ldx] and W [V, ldw] wider than the prefix, dX and dW
/// with extra columns that must stay as they were.
struct Problem {
  CrossEntropySpec spec;
  int64_t t = 0;
  double scale = 1.0;
  int64_t ldx = 0, ldw = 0;
  std::vector<float> x, w, dx, dw;
  std::vector<int32_t> targets;
  std::vector<double> workspace;
  double loss = -1;

  ColmCrossEntropyArgs args() {
    ColmCrossEntropyArgs a{};
    a.x = x.data();
    a.w = w.data();
    a.targets = targets.data();
    a.dx = dx.data();
    a.dw = dw.data();
    a.workspace = workspace.data();
    a.loss = &loss;
    a.t = t;
    a.ldx = ldx;
    a.ldw = ldw;
    a.lddx = ldx;
    a.lddw = ldw;
    a.scale = scale;
    return a;
  }
};

Problem problem(const CrossEntropySpec &spec, int64_t t, double scale,
                unsigned seed) {
  Problem p;
  p.spec = spec;
  p.t = t;
  p.scale = scale;
  p.ldx = spec.width + 3;
  p.ldw = spec.width + 5;
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.5f);
  p.x.resize(t * p.ldx);
  p.w.resize(spec.vocab * p.ldw);
  for (float &v : p.x)
    v = normal(rng);
  for (float &v : p.w)
    v = normal(rng);
  // Accumulating kernels add to these; the others overwrite the used part.
  p.dx.resize(t * p.ldx);
  p.dw.resize(spec.vocab * p.ldw);
  for (float &v : p.dx)
    v = spec.accumulate ? normal(rng) : kSentinel;
  for (float &v : p.dw)
    v = spec.accumulate ? normal(rng) : kSentinel;
  std::uniform_int_distribution<int32_t> pick(0, int32_t(spec.vocab - 1));
  p.targets.resize(t);
  for (int32_t &v : p.targets)
    v = pick(rng);
  p.workspace.assign(3 * t, 0.0);
  return p;
}

class CrossEntropyTest : public colm::test::KernelTest {
protected:
  /// Both phases of every spec, compiled at once: {rows, vocab} per spec.
  std::vector<std::pair<ColmKernelFn, ColmKernelFn>>
  compile(const std::vector<CrossEntropySpec> &specs) {
    std::vector<CrossEntropySpec> phases;
    std::vector<KernelSource> sources;
    for (const CrossEntropySpec &s : specs)
      for (CrossEntropySpec p : {crossEntropyRows(s), crossEntropyVocab(s)}) {
        EXPECT_TRUE(validateCrossEntropy(p).isOk())
            << validateCrossEntropy(p).message();
        phases.push_back(p);
        sources.push_back(
            {p.name(), cpu::renderCrossEntropy(p, cpu::hostVectorIsa())});
      }
    auto libs = jit->compile(sources);
    EXPECT_TRUE(libs.isOk()) << libs.status().message();
    std::vector<std::pair<ColmKernelFn, ColmKernelFn>> fns;
    if (!libs.isOk())
      return fns;
    std::vector<ColmKernelFn> flat;
    for (size_t i = 0; i < phases.size(); ++i) {
      libraries.push_back((*libs)[i]);
      auto sym = (*libs)[i]->symbol(cpu::crossEntropySymbol(phases[i]));
      EXPECT_TRUE(sym.isOk()) << sym.status().message();
      flat.push_back(sym.isOk() ? reinterpret_cast<ColmKernelFn>(*sym)
                                : nullptr);
    }
    for (size_t i = 0; i < specs.size(); ++i)
      fns.push_back({flat[2 * i], flat[2 * i + 1]});
    return fns;
  }
};

/// Error bounds of the kernel's fp32 arithmetic against the exact values:
/// logits are dot products of width terms; a logit error e moves the
/// loss by at most 2e and each dlogit by coef * p * 2e; dX and dW are sums
/// of V and t such products, plus the final roundings.
struct Bounds {
  double loss = 0;
  std::vector<double> dx, dw;
};

Bounds bounds(const Problem &p, const std::vector<float> &dx0,
              const std::vector<float> &dw0) {
  const CrossEntropySpec &s = p.spec;
  int64_t T = p.t, V = s.vocab, D = s.width;
  std::vector<double> g(T * V), gErr(T * V);
  double coef = p.scale / double(T);
  for (int64_t i = 0; i < T; ++i) {
    std::vector<double> l(V);
    double worst = 0, m = -INFINITY, sum = 0;
    for (int64_t v = 0; v < V; ++v) {
      double acc = 0, mag = 0;
      for (int64_t c = 0; c < D; ++c) {
        acc += double(p.x[i * p.ldx + c]) * p.w[v * p.ldw + c];
        mag += std::abs(double(p.x[i * p.ldx + c]) * p.w[v * p.ldw + c]);
      }
      l[v] = acc;
      worst = std::max(worst, mag);
      m = std::max(m, acc);
    }
    double logitErr = double(D + 4) * kEps * worst + 1e-30;
    for (int64_t v = 0; v < V; ++v)
      sum += std::exp(l[v] - m);
    for (int64_t v = 0; v < V; ++v) {
      double pr = std::exp(l[v] - m) / sum;
      g[i * V + v] = coef * (pr - (v == p.targets[i] ? 1.0 : 0.0));
      gErr[i * V + v] = std::abs(coef) * pr * 3 * logitErr +
                        2 * kEps * std::abs(g[i * V + v]);
    }
  }
  Bounds b;
  for (int64_t i = 0; i < T; ++i) {
    double worst = 0;
    for (int64_t v = 0; v < V; ++v) {
      double mag = 0;
      for (int64_t c = 0; c < D; ++c)
        mag += std::abs(double(p.x[i * p.ldx + c]) * p.w[v * p.ldw + c]);
      worst = std::max(worst, mag);
    }
    b.loss = std::max(b.loss, 3 * double(D + 4) * kEps * worst);
  }
  b.loss += 1e-6 * kEps;
  b.dx.assign(T * D, 0);
  for (int64_t i = 0; i < T; ++i)
    for (int64_t c = 0; c < D; ++c) {
      double e = s.accumulate
                     ? double(V + 2) * kEps * std::abs(dx0[i * p.ldx + c])
                     : 0.0;
      for (int64_t v = 0; v < V; ++v)
        e += (std::abs(g[i * V + v]) * double(V + 2) * kEps + gErr[i * V + v]) *
             std::abs(p.w[v * p.ldw + c]);
      b.dx[i * D + c] = 2 * e + 1e-30;
    }
  b.dw.assign(V * D, 0);
  for (int64_t v = 0; v < V; ++v)
    for (int64_t c = 0; c < D; ++c) {
      double e = s.accumulate
                     ? double(T + 2) * kEps * std::abs(dw0[v * p.ldw + c])
                     : 0.0;
      for (int64_t i = 0; i < T; ++i)
        e += (std::abs(g[i * V + v]) * double(T + 2) * kEps + gErr[i * V + v]) *
             std::abs(p.x[i * p.ldx + c]);
      b.dw[v * D + c] = 2 * e + 1e-30;
    }
  return b;
}

struct Case {
  CrossEntropySpec spec;
  int64_t t;
  double scale;
};

CrossEntropySpec spec(int64_t vocab, int64_t width, int64_t dwBegin,
                      int64_t chunk, bool accumulate) {
  CrossEntropySpec s;
  s.vocab = vocab;
  s.width = width;
  s.dwBegin = dwBegin;
  s.chunkRows = chunk;
  s.accumulate = accumulate;
  return s;
}

} // namespace

TEST_F(CrossEntropyTest, MatchesTheReferenceOnEveryThreadCount) {
  std::vector<Case> cases = {
      {spec(50, 24, 0, 8, false), 37, 1.0},   // chunk 8 does not divide 37
      {spec(64, 32, 16, 64, false), 20, 1.0}, // chunk > T; frozen columns
      {spec(33, 16, 4, 4, true), 11, 0.5},    // dX +=, dW +=, a loss weight
      {spec(7, 5, 0, 2, false), 3, 1.0},      // only the dot's tail
      {spec(40, 48, 8, 3, false), 7, 2.0},
  };
  std::vector<CrossEntropySpec> specs;
  for (const Case &c : cases)
    specs.push_back(c.spec);
  // The first case again with another chunk: the same bits.
  CrossEntropySpec other = cases[0].spec;
  other.chunkRows = 5;
  specs.push_back(other);
  auto fns = compile(specs);
  ASSERT_EQ(fns.size(), specs.size());

  std::vector<float> case0dx, case0dw;
  for (size_t ci = 0; ci < specs.size(); ++ci) {
    const Case &c = cases[ci < cases.size() ? ci : 0];
    SCOPED_TRACE(specs[ci].name());
    Problem base =
        problem(specs[ci], c.t, c.scale, unsigned(ci < cases.size() ? ci : 0));
    Problem ref = base;
    ColmCrossEntropyArgs ra = ref.args();
    ASSERT_TRUE(crossEntropyReference(ref.spec, ra).isOk());
    Bounds b = bounds(base, base.dx, base.dw);
    const CrossEntropySpec &s = specs[ci];
    std::vector<float> firstDx, firstDw;
    double firstLoss = 0;
    for (int threads : {1, 2, 3}) {
      SCOPED_TRACE(std::to_string(threads) + " threads");
      Problem p = base;
      ColmCrossEntropyArgs a = p.args();
      runOnThreads(fns[ci].first, a, threads);
      runOnThreads(fns[ci].second, a, threads);
      EXPECT_NEAR(p.loss, ref.loss, b.loss);
      EXPECT_GT(p.loss, 0.5 * std::log(double(s.vocab)));
      int bad = 0;
      for (int64_t i = 0; i < p.t; ++i)
        for (int64_t col = 0; col < p.ldx; ++col) {
          float got = p.dx[i * p.ldx + col];
          if (col >= s.width) {
            if (std::memcmp(&got, &base.dx[i * p.ldx + col], 4) && bad++ < 5)
              ADD_FAILURE() << "dX[" << i << ", " << col << "] was written";
            continue;
          }
          double want = ref.dx[i * p.ldx + col];
          double tol = b.dx[i * s.width + col] + 2 * kEps * std::abs(want);
          if (std::abs(got - want) > tol && bad++ < 5)
            ADD_FAILURE() << "dX[" << i << ", " << col << "] = " << got
                          << ", reference " << want << ", tolerance " << tol;
        }
      for (int64_t v = 0; v < s.vocab; ++v)
        for (int64_t col = 0; col < p.ldw; ++col) {
          float got = p.dw[v * p.ldw + col];
          if (col < s.dwBegin || col >= s.width) {
            if (std::memcmp(&got, &base.dw[v * p.ldw + col], 4) && bad++ < 5)
              ADD_FAILURE() << "dW[" << v << ", " << col << "] was written";
            continue;
          }
          double want = ref.dw[v * p.ldw + col];
          double tol = b.dw[v * s.width + col] + 2 * kEps * std::abs(want);
          if (std::abs(got - want) > tol && bad++ < 5)
            ADD_FAILURE() << "dW[" << v << ", " << col << "] = " << got
                          << ", reference " << want << ", tolerance " << tol;
        }
      EXPECT_EQ(bad, 0);
      if (threads == 1) {
        firstDx = p.dx;
        firstDw = p.dw;
        firstLoss = p.loss;
      } else {
        EXPECT_EQ(std::memcmp(firstDx.data(), p.dx.data(), p.dx.size() * 4), 0)
            << "dX depends on the thread count";
        EXPECT_EQ(std::memcmp(firstDw.data(), p.dw.data(), p.dw.size() * 4), 0)
            << "dW depends on the thread count";
        EXPECT_EQ(firstLoss, p.loss);
      }
    }
    if (ci == 0) {
      case0dx = firstDx;
      case0dw = firstDw;
    }
    if (ci == cases.size()) {
      EXPECT_EQ(std::memcmp(case0dx.data(), firstDx.data(), firstDx.size() * 4),
                0)
          << "dX depends on the chunk size";
      EXPECT_EQ(std::memcmp(case0dw.data(), firstDw.data(), firstDw.size() * 4),
                0)
          << "dW depends on the chunk size";
    }
  }
}

TEST_F(CrossEntropyTest, ReferenceGradientsMatchFiniteDifferences) {
  // dW of the whole prefix; X and W one column wider than the prefix.
  Problem p = problem(spec(5, 3, 0, 2, false), 4, 1.0, 11);
  ColmCrossEntropyArgs a = p.args();
  ASSERT_TRUE(crossEntropyReference(p.spec, a).isOk());
  auto lossAt = [&](std::vector<float> &buf, size_t idx, float value) {
    float saved = buf[idx];
    buf[idx] = value;
    Problem q = p;
    ColmCrossEntropyArgs qa = q.args();
    EXPECT_TRUE(crossEntropyReference(q.spec, qa).isOk());
    buf[idx] = saved;
    return q.loss;
  };
  auto check = [&](std::vector<float> &buf, size_t idx, double analytic,
                   const std::string &what) {
    float h = 1e-2f;
    float up = buf[idx] + h, down = buf[idx] - h;
    double fd = (lossAt(buf, idx, up) - lossAt(buf, idx, down)) /
                (double(up) - double(down));
    EXPECT_NEAR(analytic, fd, 1e-4 + 1e-3 * std::abs(fd)) << what;
  };
  for (int64_t i = 0; i < p.t; ++i)
    for (int64_t c = 0; c < p.spec.width; ++c)
      check(p.x, i * p.ldx + c, p.dx[i * p.ldx + c],
            "dX[" + std::to_string(i) + ", " + std::to_string(c) + "]");
  for (int64_t v = 0; v < p.spec.vocab; ++v)
    for (int64_t c = 0; c < p.spec.width; ++c)
      check(p.w, v * p.ldw + c, p.dw[v * p.ldw + c],
            "dW[" + std::to_string(v) + ", " + std::to_string(c) + "]");
  // Columns past the prefix do not change the loss.
  EXPECT_EQ(lossAt(p.x, p.spec.width, 5.0f), p.loss);
}

// Evaluation: the loss alone, with no dX or dW to write.
TEST_F(CrossEntropyTest, LossOnlyMatchesTheReferenceWithoutGradients) {
  CrossEntropySpec s = spec(50, 24, 0, 8, false);
  s.gradients = false;
  EXPECT_NE(s.name(), spec(50, 24, 0, 8, false).name());
  auto fns = compile({s});
  ASSERT_EQ(fns.size(), 1u);
  Problem ref = problem(s, 37, 1.0, 3);
  ColmCrossEntropyArgs ra = ref.args();
  ra.dx = nullptr;
  ra.dw = nullptr;
  ASSERT_TRUE(crossEntropyReference(ref.spec, ra).isOk());
  Bounds b = bounds(ref, ref.dx, ref.dw);
  for (int threads : {1, 2, 3}) {
    Problem p = problem(s, 37, 1.0, 3);
    ColmCrossEntropyArgs a = p.args();
    a.dx = nullptr;
    a.dw = nullptr;
    runOnThreads(fns[0].first, a, threads);
    runOnThreads(fns[0].second, a, threads);
    EXPECT_NEAR(p.loss, ref.loss, b.loss) << threads << " threads";
    EXPECT_GT(p.loss, 0.5 * std::log(double(s.vocab)));
  }
}

TEST_F(CrossEntropyTest, ValidationAndBadTargets) {
  EXPECT_FALSE(validateCrossEntropy(spec(0, 4, 0, 4, false)).isOk());
  EXPECT_FALSE(validateCrossEntropy(spec(4, 0, 0, 4, false)).isOk());
  EXPECT_FALSE(validateCrossEntropy(spec(4, 4, 5, 4, false)).isOk());
  // A head whose chains are all frozen: no dW column trains.
  EXPECT_TRUE(validateCrossEntropy(spec(4, 4, 4, 4, false)).isOk());
  EXPECT_FALSE(validateCrossEntropy(spec(4, 4, 0, 0, false)).isOk());
  EXPECT_TRUE(validateCrossEntropy(spec(4, 4, 3, 1, true)).isOk());
  EXPECT_NE(crossEntropyRows(spec(4, 4, 0, 1, false)).name(),
            crossEntropyVocab(spec(4, 4, 0, 1, false)).name());
  Problem p = problem(spec(6, 4, 0, 2, false), 3, 1.0, 5);
  p.targets[1] = 6;
  ColmCrossEntropyArgs a = p.args();
  Status st = crossEntropyReference(p.spec, a);
  ASSERT_FALSE(st.isOk());
  EXPECT_NE(st.message().find("outside the vocabulary"), std::string::npos)
      << st.message();
}
