//===- AttentionTest.cpp - Fused attention against its reference ----------===//
//
// The forward (online softmax over key tiles, out and log-sum-exp) and the
// backward (dQ, dK, dV recomputed from the log-sum-exp), for grouped and
// tiled key/value mappings, h_kv < h and h_kv = h, Tq = Tk and Tq < Tk (a
// cache, and decode with Tq = 1), lengths that are not multiples of the
// tiles, rendered, compiled with the host compiler and run on 1..4 threads
// against the plain-loop reference in double; bit for bit the same on every
// thread count. The reference itself is checked against a naive
// softmax(QK^T)V.
//
//===----------------------------------------------------------------------===//

#include "compiler/codegen/Attention.h"
#include "compiler/codegen/cpu/CpuJit.h"
#include "compiler/codegen/cpu/RenderAttention.h"
#include "runtime/KernelAbi.h"

#include "KernelTestUtil.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>
#include <thread>

using namespace colm;
using namespace colm::codegen;

namespace {

using colm::test::runOnThreads;

struct Case {
  int64_t h, hkv, hd;
  KvMap map;
  int64_t tq, tk;
  AttentionKnobs knobs;
  bool causal = true;
  int64_t pad = 0; // extra columns in every row: leading dimensions count
};

AttentionSpec specFor(const Case &c, AttentionPass pass) {
  AttentionSpec s;
  s.pass = pass;
  s.numHeads = c.h;
  s.numKvHeads = c.hkv;
  s.headDim = c.hd;
  s.mapping = c.map;
  s.causal = c.causal;
  s.knobs = c.knobs;
  return s;
}

/// Random q, k, v, dout; out, lse, dq, dk, dv filled with a sentinel (the
/// padding columns must keep it).
struct Tensors {
  int64_t ldq, ldk;
  std::vector<float> q, k, v, dout, out, lse, dq, dk, dv;
};

constexpr float kSentinel = 12345.0f;

Tensors tensors(const Case &c, unsigned seed) {
  Tensors t;
  t.ldq = c.h * c.hd + c.pad;
  t.ldk = c.hkv * c.hd + c.pad;
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  auto fill = [&](std::vector<float> &x, size_t n) {
    x.resize(n);
    for (float &e : x)
      e = normal(rng);
  };
  fill(t.q, c.tq * t.ldq);
  fill(t.k, c.tk * t.ldk);
  fill(t.v, c.tk * t.ldk);
  fill(t.dout, c.tq * t.ldq);
  t.out.assign(c.tq * t.ldq, kSentinel);
  t.dq.assign(c.tq * t.ldq, kSentinel);
  t.dk.assign(c.tk * t.ldk, kSentinel);
  t.dv.assign(c.tk * t.ldk, kSentinel);
  t.lse.assign(c.h * c.tq, kSentinel);
  return t;
}

ColmAttentionArgs fwdArgs(const Case &c, Tensors &t) {
  return {t.q.data(), t.k.data(), t.v.data(), t.out.data(), t.lse.data(),
          c.tq,       c.tk,       t.ldq,      t.ldk};
}

ColmAttentionGradArgs bwdArgs(const Case &c, Tensors &t) {
  return {t.q.data(),   t.k.data(),  t.v.data(),  t.out.data(), t.dout.data(),
          t.lse.data(), t.dq.data(), t.dk.data(), t.dv.data(),  c.tq,
          c.tk,         t.ldq,       t.ldk};
}

/// Elements of `got` against `want` within `tol(i)`; columns past `width`
/// in each row of `ld` must still hold the sentinel.
template <class Tol>
void expectClose(const std::vector<float> &got, const std::vector<float> &want,
                 int64_t ld, int64_t width, Tol tol, const std::string &what) {
  int bad = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    bool inside = int64_t(i % ld) < width;
    bool ok = inside ? std::abs(double(got[i]) - want[i]) <= tol(i)
                     : got[i] == kSentinel;
    if (!ok && bad++ < 5)
      ADD_FAILURE() << what << "[" << i / ld << ", " << i % ld
                    << "] = " << got[i] << ", reference " << want[i];
  }
  EXPECT_EQ(bad, 0) << what;
}

double maxAbs(const std::vector<float> &x) {
  double m = 0;
  for (float e : x)
    if (e != kSentinel)
      m = std::max(m, double(std::abs(e)));
  return m;
}

class AttentionTest : public colm::test::KernelTest {
protected:
  /// Compiles all specs at once (in parallel); their entry points, in order.
  std::vector<ColmKernelFn> compile(const std::vector<AttentionSpec> &specs) {
    std::vector<KernelSource> sources;
    for (const AttentionSpec &s : specs) {
      EXPECT_TRUE(validateAttention(s).isOk())
          << validateAttention(s).message();
      sources.push_back(
          {s.name(), cpu::renderAttention(s, cpu::hostVectorIsa())});
    }
    std::vector<std::string> symbols;
    for (const auto &s : specs)
      symbols.push_back(cpu::attentionSymbol(s));
    return KernelTest::compile(sources, symbols);
  }
  /// Every case on each thread count against the reference, and the same
  /// bits as on the first count.
  void checkForward(const std::vector<Case> &cases,
                    const std::vector<int> &threadCounts);
  void checkBackward(const std::vector<Case> &cases,
                     const std::vector<int> &threadCounts);
};

std::vector<Case> forwardCases() {
  return {
      // Tq = Tk, ragged against both tiles, h_kv < h, both mappings.
      {4, 2, 16, KvMap::Grouped, 37, 37, {8, 16}},
      {4, 2, 16, KvMap::Tiled, 37, 37, {8, 16}, true, 3},
      // h_kv = h.
      {3, 3, 8, KvMap::Grouped, 20, 20, {4, 8}},
      // A cache: fewer queries than keys; decode with one query.
      {4, 1, 16, KvMap::Tiled, 5, 29, {4, 8}, true, 1},
      {4, 2, 16, KvMap::Grouped, 1, 33, {32, 16}},
      {6, 2, 8, KvMap::Tiled, 1, 7, {1, 1}},
      // Lengths that are multiples of the tiles, default knobs.
      {2, 1, 32, KvMap::Grouped, 64, 64, {}},
      // Without the causal mask.
      {2, 2, 8, KvMap::Grouped, 7, 19, {4, 8}, false},
  };
}

/// The edges of the kernels' register blocks (6 rows by 4 vectors of 16
/// floats, head rows in chunks of 4 vectors), for both passes. With h_kv = 1
/// on 2..4 threads and h_kv = 2 on 4 the backward splits key ranges and
/// query blocks instead of key/value heads, for the same bits.
std::vector<Case> edgeCases() {
  return {
      // The benchmark's heads, default tiles, lengths ragged against all.
      {8, 2, 64, KvMap::Tiled, 100, 100, {}},
      // A head row of one vector and 4 lanes; tiles that are not multiples
      // of the register blocks.
      {2, 1, 20, KvMap::Grouped, 45, 45, {13, 40}, true, 2},
      // Head rows of 5 vectors (two chunks, the last ragged); key tiles of
      // 8 vectors; a cache.
      {2, 2, 72, KvMap::Tiled, 30, 70, {7, 128}},
      // Heads narrower than a vector.
      {4, 2, 3, KvMap::Grouped, 19, 19, {5, 3}},
      // The widest key tile, unmasked, fewer queries than keys.
      {2, 1, 16, KvMap::Tiled, 33, 50, {64, 256}, false},
      // Decode on the benchmark's heads.
      {8, 2, 64, KvMap::Tiled, 1, 77, {}},
  };
}

} // namespace

TEST(AttentionSpecTest, ReferenceIsSoftmaxOfQKTimesV) {
  // The naive form: the whole masked score matrix, its row softmax, times V.
  Case c{4, 2, 8, KvMap::Tiled, 5, 9, {}};
  for (KvMap map : {KvMap::Grouped, KvMap::Tiled}) {
    c.map = map;
    AttentionSpec s = specFor(c, AttentionPass::Forward);
    Tensors t = tensors(c, 3);
    attentionReference(s, fwdArgs(c, t));
    int64_t off = c.tk - c.tq;
    for (int64_t h = 0; h < c.h; ++h) {
      int64_t g = map == KvMap::Tiled ? h % c.hkv : h / (c.h / c.hkv);
      std::vector<double> S(c.tq * c.tk);
      for (int64_t i = 0; i < c.tq; ++i)
        for (int64_t j = 0; j < c.tk; ++j) {
          double dot = 0;
          for (int64_t d = 0; d < c.hd; ++d)
            dot += double(t.q[i * t.ldq + h * c.hd + d]) *
                   t.k[j * t.ldk + g * c.hd + d];
          S[i * c.tk + j] =
              j <= i + off ? dot / std::sqrt(double(c.hd)) : -INFINITY;
        }
      for (int64_t i = 0; i < c.tq; ++i) {
        double *row = &S[i * c.tk];
        double mx = *std::max_element(row, row + c.tk), sum = 0;
        for (int64_t j = 0; j < c.tk; ++j)
          sum += std::exp(row[j] - mx);
        EXPECT_NEAR(t.lse[h * c.tq + i], mx + std::log(sum),
                    1e-6 * (1 + std::abs(mx + std::log(sum))));
        for (int64_t d = 0; d < c.hd; ++d) {
          double o = 0;
          for (int64_t j = 0; j < c.tk; ++j)
            o += std::exp(row[j] - mx) / sum * t.v[j * t.ldk + g * c.hd + d];
          // Both in double, rounded to float once.
          EXPECT_NEAR(t.out[i * t.ldq + h * c.hd + d], o,
                      1e-6 * (1 + std::abs(o)));
        }
      }
    }
  }
}

TEST(AttentionSpecTest, GradReferenceIsTheForwardsDerivative) {
  // Central differences of L = sum(dout * out) through the forward
  // reference. Its outputs are rounded to float, so with a step of 1e-2 the
  // quotient is good to about 1e-4 (rounding 3e-7 / 2e-2, and the O(step^2)
  // truncation); a wrong term in a gradient is off by O(1).
  for (KvMap map : {KvMap::Grouped, KvMap::Tiled}) {
    Case c{4, 2, 4, map, 4, 6, {}};
    AttentionSpec fwd = specFor(c, AttentionPass::Forward),
                  bwd = specFor(c, AttentionPass::Backward);
    Tensors t = tensors(c, 11);
    attentionGradReference(bwd, bwdArgs(c, t));
    auto loss = [&] {
      Tensors u = t;
      attentionReference(fwd, fwdArgs(c, u));
      double l = 0;
      for (size_t i = 0; i < u.out.size(); ++i)
        l += double(u.dout[i]) * u.out[i];
      return l;
    };
    auto check = [&](std::vector<float> &x, const std::vector<float> &grad,
                     const char *name) {
      for (size_t i = 0; i < x.size(); ++i) {
        float saved = x[i];
        x[i] = saved + 1e-2f;
        float up = x[i];
        double lUp = loss();
        x[i] = saved - 1e-2f;
        float down = x[i];
        double lDown = loss();
        x[i] = saved;
        double fd = (lUp - lDown) / (double(up) - double(down));
        EXPECT_NEAR(grad[i], fd, 1e-3 * (1 + std::abs(fd)))
            << name << "[" << i << "]";
      }
    };
    check(t.q, t.dq, "dq");
    check(t.k, t.dk, "dk");
    check(t.v, t.dv, "dv");
  }
}

TEST(AttentionSpecTest, ValidatesHeadsAndTiles) {
  AttentionSpec s;
  s.numHeads = 8;
  s.numKvHeads = 2;
  s.headDim = 16;
  EXPECT_TRUE(validateAttention(s).isOk());
  EXPECT_EQ(s.kvHeadOf(6), 1); // floor(6 * 2 / 8)
  AttentionSpec tiled = s;
  tiled.mapping = KvMap::Tiled;
  EXPECT_EQ(tiled.kvHeadOf(6), 0); // 6 mod 2
  EXPECT_NE(tiled.name(), s.name());
  AttentionSpec bad = s;
  bad.numKvHeads = 3;
  EXPECT_FALSE(validateAttention(bad).isOk());
  bad = s;
  bad.headDim = 0;
  EXPECT_FALSE(validateAttention(bad).isOk());
  bad = s;
  bad.knobs.blockK = 0;
  EXPECT_FALSE(validateAttention(bad).isOk());
}

TEST_F(AttentionTest, ForwardMatchesTheReference) {
  checkForward(forwardCases(), {1, 2, 3});
}

TEST_F(AttentionTest, ForwardRegisterBlockEdges) {
  checkForward(edgeCases(), {1, 2, 3, 4});
}

TEST_F(AttentionTest, BackwardMatchesTheReference) {
  std::vector<Case> cases = {
      {4, 2, 16, KvMap::Grouped, 37, 37, {8, 16}},
      {4, 2, 16, KvMap::Tiled, 37, 37, {8, 16}, true, 3},
      {3, 3, 8, KvMap::Grouped, 20, 20, {4, 8}},
      {4, 1, 16, KvMap::Tiled, 29, 29, {4, 64}, true, 1},
      {2, 1, 32, KvMap::Grouped, 64, 64, {}},
      // Beyond what chain.attention_grad needs: a cache, and no mask.
      {4, 2, 8, KvMap::Grouped, 5, 21, {4, 8}},
      {2, 2, 8, KvMap::Tiled, 7, 19, {4, 8}, false},
  };
  checkBackward(cases, {1, 2, 3});
}

TEST_F(AttentionTest, BackwardRegisterBlockEdges) {
  checkBackward(edgeCases(), {1, 2, 3, 4});
}

void AttentionTest::checkForward(const std::vector<Case> &cases,
                                 const std::vector<int> &threadCounts) {
  std::vector<AttentionSpec> specs;
  for (const Case &c : cases)
    specs.push_back(specFor(c, AttentionPass::Forward));
  std::vector<ColmKernelFn> fns = compile(specs);
  ASSERT_EQ(fns.size(), specs.size());
  for (size_t n = 0; n < cases.size(); ++n) {
    const Case &c = cases[n];
    Tensors want = tensors(c, unsigned(n));
    attentionReference(specs[n], fwdArgs(c, want));
    // out is a convex combination of V: fp32 scores are off by about
    // eps*sqrt(hd) (1e-6 here), which moves it by that times |v|. 1e-5 *
    // max|v| leaves a 10x margin and still catches one key too many or too
    // few (a shift of p_j |v_j| >= 1e-2 at these lengths).
    double vmax = maxAbs(want.v);
    std::vector<float> firstOut, firstLse;
    for (int threads : threadCounts) {
      Tensors t = tensors(c, unsigned(n));
      runOnThreads(fns[n], fwdArgs(c, t), threads);
      std::string what = specs[n].name() + " tq=" + std::to_string(c.tq) +
                         " tk=" + std::to_string(c.tk) + " on " +
                         std::to_string(threads) + " threads: ";
      expectClose(
          t.out, want.out, t.ldq, c.h * c.hd,
          [&](size_t) { return 1e-5 * vmax; }, what + "out");
      expectClose(
          t.lse, want.lse, c.tq, c.tq,
          [&](size_t i) { return 1e-5 * (1 + std::abs(want.lse[i])); },
          what + "lse");
      if (threads == threadCounts.front()) {
        firstOut = t.out;
        firstLse = t.lse;
      } else {
        EXPECT_EQ(t.out, firstOut) << what << "differs from one thread";
        EXPECT_EQ(t.lse, firstLse) << what << "differs from one thread";
      }
    }
  }
}

void AttentionTest::checkBackward(const std::vector<Case> &cases,
                                  const std::vector<int> &threadCounts) {
  std::vector<AttentionSpec> specs;
  for (const Case &c : cases)
    specs.push_back(specFor(c, AttentionPass::Backward));
  std::vector<ColmKernelFn> fns = compile(specs);
  ASSERT_EQ(fns.size(), specs.size());
  for (size_t n = 0; n < cases.size(); ++n) {
    const Case &c = cases[n];
    AttentionSpec fwd = specFor(c, AttentionPass::Forward);
    Tensors want = tensors(c, unsigned(100 + n));
    attentionReference(fwd, fwdArgs(c, want));
    attentionGradReference(specs[n], bwdArgs(c, want));
    std::vector<float> first[3];
    for (int threads : threadCounts) {
      Tensors t = tensors(c, unsigned(100 + n));
      t.out = want.out; // the forward's results, as training saves them
      t.lse = want.lse;
      runOnThreads(fns[n], bwdArgs(c, t), threads);
      std::string what = specs[n].name() + " tq=" + std::to_string(c.tq) +
                         " tk=" + std::to_string(c.tk) + " on " +
                         std::to_string(threads) + " threads: ";
      auto check = [&](const std::vector<float> &got,
                       const std::vector<float> &ref, int64_t ld, int64_t width,
                       const char *name) {
        double rms = 0;
        int64_t count = 0;
        for (size_t i = 0; i < ref.size(); ++i)
          if (int64_t(i % ld) < width) {
            rms += double(ref[i]) * ref[i];
            ++count;
          }
        rms = std::sqrt(rms / std::max<int64_t>(count, 1));
        // Each gradient is an fp32 sum over up to T terms of products
        // of O(hd) fp32 dots, some of which cancel (ds sums to zero over a
        // row), hence the tensor's rms as the floor. Measured worst at
        // T = 64: 3.5e-6; 2e-5 leaves a margin and catches any wrong term.
        expectClose(
            got, ref, ld, width,
            [&](size_t i) { return 2e-5 * (std::abs(ref[i]) + rms); },
            what + name);
      };
      check(t.dq, want.dq, t.ldq, c.h * c.hd, "dq");
      check(t.dk, want.dk, t.ldk, c.hkv * c.hd, "dk");
      check(t.dv, want.dv, t.ldk, c.hkv * c.hd, "dv");
      if (threads == threadCounts.front()) {
        first[0] = t.dq;
        first[1] = t.dk;
        first[2] = t.dv;
      } else {
        EXPECT_EQ(t.dq, first[0]) << what << "dq differs from one thread";
        EXPECT_EQ(t.dk, first[1]) << what << "dk differs from one thread";
        EXPECT_EQ(t.dv, first[2]) << what << "dv differs from one thread";
      }
    }
  }
}

namespace {

/// A paged cache holding the first `past` of a case's key/value rows: the
/// pool's rows are `ldCache` wide (the sequence may read a prefix of them),
/// its blocks handed out in a scrambled order with unused blocks between.
struct PagedCache {
  int64_t blockSize, ldCache;
  std::vector<float> k, v;
  std::vector<int32_t> blocks;
};

PagedCache pageRows(const Tensors &t, int64_t past, int64_t blockSize,
                    int64_t extraColumns, unsigned seed) {
  PagedCache c{blockSize, t.ldk + extraColumns, {}, {}, {}};
  int64_t used = (past + blockSize - 1) / blockSize, pool = 2 * used + 1;
  std::vector<int32_t> order(static_cast<size_t>(pool));
  for (int64_t b = 0; b < pool; ++b)
    order[b] = int32_t(b);
  std::shuffle(order.begin(), order.end(), std::mt19937(seed));
  c.blocks.assign(order.begin(), order.begin() + used);
  c.k.assign(pool * blockSize * c.ldCache, -7.0f);
  c.v.assign(pool * blockSize * c.ldCache, -7.0f);
  for (int64_t p = 0; p < past; ++p) {
    int64_t row = c.blocks[p / blockSize] * blockSize + p % blockSize;
    std::copy_n(t.k.begin() + p * t.ldk, t.ldk, c.k.begin() + row * c.ldCache);
    std::copy_n(t.v.begin() + p * t.ldk, t.ldk, c.v.begin() + row * c.ldCache);
  }
  return c;
}

/// The case's last tq rows are new; the rest come from the cache.
ColmPagedAttentionArgs pagedArgs(const Case &c, Tensors &t,
                                 const PagedCache &cache) {
  int64_t past = c.tk - c.tq;
  return {t.q.data(),
          t.k.data() + past * t.ldk,
          t.v.data() + past * t.ldk,
          cache.k.data(),
          cache.v.data(),
          cache.blocks.data(),
          t.out.data(),
          t.lse.data(),
          c.tq,
          past,
          t.ldq,
          t.ldk,
          cache.ldCache,
          cache.blockSize};
}

struct PagedCase {
  Case c;
  int64_t blockSize, extraColumns;
};

std::vector<PagedCase> pagedCases() {
  return {
      // Decode: one query, caches shorter and longer than a block.
      {{4, 2, 16, KvMap::Grouped, 1, 1, {8, 16}}, 4, 0},
      {{4, 2, 16, KvMap::Tiled, 1, 30, {8, 16}}, 4, 5},
      {{8, 2, 64, KvMap::Tiled, 1, 77, {}}, 16, 0},
      // A speculative verify: several new rows over a ragged cache.
      {{8, 2, 64, KvMap::Tiled, 5, 70, {}}, 16, 128},
      {{3, 3, 8, KvMap::Grouped, 7, 19, {4, 8}, true, 2}, 3, 0},
      // A prefill chunk after cached blocks, past a key tile.
      {{2, 1, 32, KvMap::Grouped, 40, 170, {16, 32}}, 16, 0},
  };
}

} // namespace

// The paged forward reads the cache through its block table: within the
// forward's tolerance of the reference (and of the contiguous kernel on
// the same keys) on every thread count, with the same bits on each.
TEST_F(AttentionTest, PagedMatchesTheReference) {
  std::vector<PagedCase> cases = pagedCases();
  std::vector<AttentionSpec> specs;
  for (const PagedCase &p : cases) {
    specs.push_back(specFor(p.c, AttentionPass::Paged));
    specs.push_back(specFor(p.c, AttentionPass::Forward));
  }
  std::vector<ColmKernelFn> fns = compile(specs);
  ASSERT_EQ(fns.size(), specs.size());
  for (size_t n = 0; n < cases.size(); ++n) {
    const Case &c = cases[n].c;
    Tensors base = tensors(c, unsigned(100 + n));
    PagedCache cache = pageRows(base, c.tk - c.tq, cases[n].blockSize,
                                cases[n].extraColumns, unsigned(n));
    std::string what = specs[2 * n].name() + " tq=" + std::to_string(c.tq) +
                       " past=" + std::to_string(c.tk - c.tq) + ": ";
    Tensors want = base, ref = base;
    attentionReference(specs[2 * n + 1], fwdArgs(c, want));
    pagedAttentionReference(specs[2 * n], pagedArgs(c, ref, cache));
    EXPECT_EQ(ref.out, want.out) << what << "reference";
    EXPECT_EQ(ref.lse, want.lse) << what << "reference";
    Tensors contiguous = base;
    runOnThreads(fns[2 * n + 1], fwdArgs(c, contiguous), 1);
    double vmax = maxAbs(want.v);
    Tensors first;
    for (int threads : {1, 2, 3}) {
      Tensors t = base;
      runOnThreads(fns[2 * n], pagedArgs(c, t, cache), threads);
      std::string on = what + std::to_string(threads) + " threads: ";
      expectClose(
          t.out, want.out, t.ldq, c.h * c.hd,
          [&](size_t) { return 1e-5 * vmax; }, on + "out");
      expectClose(
          t.lse, want.lse, c.tq, c.tq,
          [&](size_t i) { return 1e-5 * (1 + std::abs(want.lse[i])); },
          on + "lse");
      expectClose(
          t.out, contiguous.out, t.ldq, c.h * c.hd,
          [&](size_t) { return 1e-5 * vmax; }, on + "out (contiguous)");
      if (threads == 1) {
        first = t;
      } else {
        EXPECT_EQ(t.out, first.out) << on << "differs from one thread";
        EXPECT_EQ(t.lse, first.lse) << on << "differs from one thread";
      }
    }
  }
}

// A row's result does not depend on the rows computed beside it: row i of
// a run with tq new rows has the bits of a run with row i alone after a
// cache that holds the rows before it (speculative verification against
// plain decoding, a prompt cut into chunks against the whole).
TEST_F(AttentionTest, PagedRowsAreBatchInvariant) {
  std::vector<PagedCase> cases = pagedCases();
  std::vector<AttentionSpec> specs;
  for (const PagedCase &p : cases)
    specs.push_back(specFor(p.c, AttentionPass::Paged));
  std::vector<ColmKernelFn> fns = compile(specs);
  ASSERT_EQ(fns.size(), specs.size());
  for (size_t n = 0; n < cases.size(); ++n) {
    const Case &c = cases[n].c;
    Tensors base = tensors(c, unsigned(200 + n));
    PagedCache cache = pageRows(base, c.tk - c.tq, cases[n].blockSize,
                                cases[n].extraColumns, unsigned(n));
    Tensors all = base;
    runOnThreads(fns[n], pagedArgs(c, all, cache), 2);
    for (int64_t i = 0; i < c.tq; ++i) {
      Case one = c;
      one.tq = 1;
      one.tk = c.tk - c.tq + i + 1;
      Tensors t = base;
      std::copy_n(base.q.begin() + i * t.ldq, t.ldq, t.q.begin());
      PagedCache longer = pageRows(base, one.tk - 1, cases[n].blockSize,
                                   cases[n].extraColumns, unsigned(7 * n + i));
      runOnThreads(fns[n], pagedArgs(one, t, longer), 1);
      for (int64_t d = 0; d < c.h * c.hd; ++d)
        ASSERT_EQ(t.out[d], all.out[i * t.ldq + d])
            << specs[n].name() << " row " << i << " of " << c.tq << " column "
            << d;
    }
  }
}
