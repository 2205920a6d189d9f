//===- CrossBackendTest.cpp - every CPU kernel against the interpreter ----===//
//
// Issue 8, op by op: a tiny chain-dialect function per op (parsed from MLIR
// text) is run by the reference interpreter (fp32 mode) and the generated
// CPU kernel for it runs on the same inputs; the two must agree. The
// kernels' own tests check them against plain-loop references written from
// reading the interpreter; this checks that reading.
//
// Tolerance: the interpreter computes each op in double and rounds once to
// float; the kernels accumulate in fp32 (GEMM, attention, logits) or double
// (norm, RoPE, SwiGLU). So an element may differ by
//   rtol * (|want| + rms(want))
// with rtol = 2.4e-7 (2 ulps) for the double kernels and 1e-5 for fp32 sums
// over at most 64 terms (fp32 FMA chains err by ~sqrt(K) * 6e-8 of the
// terms' magnitude, whose proxy is the rms of the output: results that
// cancel to near zero are not held to their own tiny size). A real bug (a
// wrong block, group, head, position, sign, scale) is off by O(rms).
//
//===----------------------------------------------------------------------===//

#include "compiler/Graph.h"
#include "compiler/Interpreter.h"
#include "compiler/codegen/Attention.h"
#include "compiler/codegen/ChainGemm.h"
#include "compiler/codegen/CrossEntropy.h"
#include "compiler/codegen/Pointwise.h"
#include "compiler/codegen/cpu/CpuJit.h"
#include "compiler/codegen/cpu/RenderAttention.h"
#include "compiler/codegen/cpu/RenderChainGemm.h"
#include "compiler/codegen/cpu/RenderCrossEntropy.h"
#include "compiler/codegen/cpu/RenderPointwise.h"
#include "runtime/KernelAbi.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include "KernelTestUtil.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <thread>
#include <unistd.h>

using namespace colm;
using namespace colm::codegen;

namespace {

constexpr double kDoubleRtol = 2.4e-7; // kernels in double, rounded once
constexpr double kFloatRtol = 1e-5;    // fp32 sums of <= 64 terms

std::vector<float> randomVector(size_t n, unsigned seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  std::vector<float> v(n);
  for (float &x : v)
    x = scale * normal(rng);
  return v;
}

HostTensor hostFloats(std::vector<int64_t> shape, const std::vector<float> &v) {
  HostTensor t;
  t.shape = std::move(shape);
  t.data.assign(v.begin(), v.end());
  return t;
}

/// Runs the kernel on two threads (the kernels' own tests check that the
/// thread count never changes a bit).
template <class Args> void launch(ColmKernelFn fn, const Args &args) {
  std::vector<std::thread> pool;
  for (int t = 0; t < 2; ++t)
    pool.emplace_back([&, t] { fn(&args, t, 2); });
  for (std::thread &t : pool)
    t.join();
}

/// The largest error in units of the tolerance (> 1 fails), with the first
/// offending entries reported.
double compare(const std::vector<float> &got, const HostTensor &want,
               double rtol, const std::string &what, bool quiet = false) {
  EXPECT_EQ(got.size(), want.data.size()) << what;
  double sq = 0;
  for (double w : want.data)
    sq += w * w;
  double rms = want.data.empty() ? 0 : std::sqrt(sq / want.data.size());
  double worst = 0;
  int bad = 0;
  for (size_t i = 0; i < got.size() && i < want.data.size(); ++i) {
    double tol = rtol * (std::abs(want.data[i]) + rms) + 1e-30;
    double err = std::abs(double(got[i]) - want.data[i]) / tol;
    if (!(err <= 1.0) && !quiet && bad++ < 5)
      ADD_FAILURE() << what << ": [" << i << "] = " << got[i]
                    << ", interpreter " << want.data[i] << " (rms " << rms
                    << ")";
    if (!(err <= worst))
      worst = std::isnan(err) ? INFINITY : std::max(worst, err);
  }
  if (std::getenv("COLM_CROSSBACKEND_VERBOSE") && !quiet)
    std::printf("%s: worst error %.3g of the tolerance\n", what.c_str(), worst);
  return worst;
}

class CrossBackendTest : public colm::test::KernelTest {
protected:
  CrossBackendTest() { dsl::loadDialects(context); }

  /// Runs `@f` of `body` in the interpreter (fp32); fails the test on error.
  std::vector<HostTensor> interpretText(const std::string &body,
                                        const std::vector<HostTensor> &args) {
    module = mlir::parseSourceString<mlir::ModuleOp>(body, &context);
    EXPECT_TRUE(module) << "does not parse:\n" << body;
    if (!module)
      return {};
    auto func = module->lookupSymbol<mlir::func::FuncOp>("f");
    EXPECT_TRUE(func);
    if (!func)
      return {};
    TensorMap params;
    auto result = interpret(func, args, params);
    EXPECT_TRUE(mlir::succeeded(result)) << body;
    return mlir::succeeded(result) ? *result : std::vector<HostTensor>{};
  }

  mlir::MLIRContext context;
  mlir::OwningOpRef<mlir::ModuleOp> module;
};

std::string ratios(const std::vector<int64_t> &chains) {
  std::string s = "[";
  for (size_t i = 0; i < chains.size(); ++i)
    s += (i ? ", " : "") + std::to_string(chains[i]);
  return s + "]";
}

std::string layout(const std::vector<int64_t> &chains) {
  return "#chain.layout<" + ratios(chains) + ">";
}
std::string blocksOf(const std::vector<int64_t> &chains) {
  return "#chain.blocks<" + ratios(chains) + ">";
}
std::string act(int64_t width, const std::string &enc = "") {
  return "tensor<?x" + std::to_string(width) + "xf32" +
         (enc.empty() ? "" : ", " + enc) + ">";
}
std::string mat(int64_t rows, int64_t cols, const std::string &enc = "") {
  return "tensor<" + std::to_string(rows) + "x" + std::to_string(cols) +
         "xf32" + (enc.empty() ? "" : ", " + enc) + ">";
}
std::string vec(int64_t n, const std::string &enc = "") {
  return "tensor<" + std::to_string(n) + "xf32" +
         (enc.empty() ? "" : ", " + enc) + ">";
}

//===----------------------------------------------------------------------===//
// Forward
//===----------------------------------------------------------------------===//

TEST_F(CrossBackendTest, ChainLinearAndDenseForward) {
  struct Case {
    std::vector<int64_t> chains; // empty: chain.dense (a CoLM-Air k/v)
    int64_t in, out, rows;
  };
  std::vector<Case> cases = {{{1, 1}, 32, 48, 7},
                             {{2, 2, 4}, 48, 64, 5},
                             {{1, 1, 2}, 32, 16, 9},
                             {{}, 24, 40, 6}};
  cpu::VectorIsa isa = cpu::hostVectorIsa();
  std::vector<ChainGemmSpec> specs;
  std::vector<KernelSource> sources;
  std::vector<std::string> symbols;
  for (const Case &c : cases) {
    ChainGemmSpec s = c.chains.empty()
                          ? denseGemm(c.out, c.in, true)
                          : chainLinearForward(c.chains, c.in, c.out);
    s.knobs = cpu::defaultKnobs(isa);
    ASSERT_TRUE(validateChainGemm(s).isOk()) << validateChainGemm(s).message();
    specs.push_back(s);
    sources.push_back({s.name(), cpu::renderChainGemm(s, isa)});
    symbols.push_back(cpu::chainGemmSymbol(s));
  }
  std::vector<ColmKernelFn> fns = compile(sources, symbols);
  ASSERT_EQ(fns.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case &c = cases[i];
    std::string text;
    if (c.chains.empty()) {
      // CoLM-Air keys/values: a dense projection of a one-chain prefix.
      std::string l = layout({1});
      text = "func.func @f(%x: " + act(c.in, l) + ", %w: " + mat(c.out, c.in) +
             ") -> " + act(c.out) +
             " {\n  %y = chain.dense %x, %w : " + act(c.in, l) + ", " +
             mat(c.out, c.in) + " -> " + act(c.out) +
             "\n  return %y : " + act(c.out) + "\n}";
    } else {
      std::string l = layout(c.chains), b = blocksOf(c.chains);
      text = "func.func @f(%x: " + act(c.in, l) +
             ", %w: " + mat(c.out, c.in, b) + ") -> " + act(c.out, l) +
             " {\n  %y = chain.linear %x, %w : " + act(c.in, l) + ", " +
             mat(c.out, c.in, b) + " -> " + act(c.out, l) +
             "\n  return %y : " + act(c.out, l) + "\n}";
    }
    std::vector<float> x = randomVector(c.rows * c.in, unsigned(i)),
                       w = randomVector(c.out * c.in, unsigned(i) + 100);
    auto want = interpretText(
        text, {hostFloats({c.rows, c.in}, x), hostFloats({c.out, c.in}, w)});
    ASSERT_EQ(want.size(), 1u);
    std::vector<float> y(c.rows * c.out, 7.0f);
    ColmGemmArgs a{x.data(), w.data(), y.data(), c.rows, c.out,
                   c.in,     c.in,     c.in,     c.out};
    launch(fns[i], a);
    EXPECT_LE(compare(y, want[0], kFloatRtol, specs[i].name()), 1.0);
  }
}

TEST_F(CrossBackendTest, NormRopeSwiGluForward) {
  // Norms: x's layout groups; an explicit `stats` (one group; two chains).
  struct NormCase {
    std::vector<int64_t> chains, stats; // stats empty: x's layout
    int64_t width;
  };
  std::vector<NormCase> norms = {
      {{2, 2, 4}, {}, 32}, {{1, 1}, {1}, 24}, {{1, 1, 2}, {1, 1}, 32}};
  struct RopeCase {
    int64_t width, headDim;
    double theta;
    bool positions, inverse;
  };
  std::vector<RopeCase> ropes = {{32, 8, 10000.0, false, false},
                                 {16, 4, 500000.0, true, false},
                                 {24, 8, 10000.0, true, true}};
  const int64_t swigluWidth = 40;
  const double eps = 1e-5;
  std::vector<KernelSource> sources;
  std::vector<std::string> symbols;
  std::vector<ChainNormSpec> normSpecs;
  for (const NormCase &c : norms) {
    ChainNormSpec s =
        chainNorm(c.stats.empty() ? c.chains : c.stats, c.width, eps, false);
    ASSERT_TRUE(validateChainNorm(s).isOk());
    normSpecs.push_back(s);
    sources.push_back({s.name(), cpu::renderChainNorm(s)});
    symbols.push_back(cpu::chainNormSymbol(s));
  }
  std::vector<RopeSpec> ropeSpecs;
  for (const RopeCase &c : ropes) {
    RopeSpec s{c.width, c.headDim, c.theta, c.inverse};
    ASSERT_TRUE(validateRope(s).isOk());
    ropeSpecs.push_back(s);
    sources.push_back({s.name(), cpu::renderRope(s)});
    symbols.push_back(cpu::ropeSymbol(s));
  }
  SwiGluSpec sw{swigluWidth, false};
  sources.push_back({sw.name(), cpu::renderSwiGlu(sw)});
  symbols.push_back(cpu::swiGluSymbol(sw));
  std::vector<ColmKernelFn> fns = compile(sources, symbols);
  ASSERT_EQ(fns.size(), sources.size());
  size_t next = 0;
  const int64_t rows = 6;
  for (size_t i = 0; i < norms.size(); ++i) {
    const NormCase &c = norms[i];
    std::string l = layout(c.chains), xt = act(c.width, l),
                gt = vec(c.width, l);
    std::string stats =
        c.stats.empty() ? "" : " stats(" + layout(c.stats) + ")";
    std::string text = "func.func @f(%x: " + xt + ", %g: " + gt + ") -> " + xt +
                       " {\n  %y = chain.norm %x, %g" + stats +
                       " {eps = 1.0e-05 : f64} : " + xt + ", " + gt +
                       "\n  return %y : " + xt + "\n}";
    std::vector<float> x = randomVector(rows * c.width, unsigned(i), 2.0f),
                       g = randomVector(c.width, unsigned(i) + 50);
    auto want = interpretText(
        text, {hostFloats({rows, c.width}, x), hostFloats({c.width}, g)});
    ASSERT_EQ(want.size(), 1u);
    std::vector<float> y(rows * c.width, 7.0f);
    ColmNormArgs a{x.data(), g.data(), nullptr, y.data(),
                   nullptr,  nullptr,  rows};
    launch(fns[next++], a);
    EXPECT_LE(compare(y, want[0], kDoubleRtol, normSpecs[i].name()), 1.0);
  }
  for (size_t i = 0; i < ropes.size(); ++i) {
    const RopeCase &c = ropes[i];
    std::string xt = act(c.width);
    char attrs[128];
    snprintf(attrs, sizeof attrs, "{head_dim = %lld, theta = %.17e : f64%s}",
             (long long)c.headDim, c.theta, c.inverse ? ", inverse" : "");
    std::string text = "func.func @f(%x: " + xt + ", %p: tensor<?xi32>) -> " +
                       xt + " {\n  %y = chain.rope %x" +
                       (c.positions ? " at %p " : " ") + attrs + " : " + xt +
                       (c.positions ? ", tensor<?xi32>" : "") +
                       "\n  return %y : " + xt + "\n}";
    std::vector<float> x = randomVector(rows * c.width, unsigned(i) + 7);
    // Decoding positions: out of order and past the row count.
    // 9000: past the positions whose angles a thread keeps.
    std::vector<int32_t> pos = {17, 3, 250, 0, 9000, 1000};
    auto want = interpretText(
        text, {hostFloats({rows, c.width}, x), HostTensor::tokens(pos)});
    ASSERT_EQ(want.size(), 1u);
    std::vector<float> y(rows * c.width, 7.0f);
    ColmRopeArgs a{x.data(), c.positions ? pos.data() : nullptr, y.data(),
                   rows};
    launch(fns[next++], a);
    EXPECT_LE(compare(y, want[0], kDoubleRtol, ropeSpecs[i].name()), 1.0);
  }
  {
    std::string xt = act(swigluWidth, layout({1, 1}));
    std::string text = "func.func @f(%g: " + xt + ", %u: " + xt + ") -> " + xt +
                       " {\n  %y = chain.swiglu %g, %u : " + xt +
                       "\n  return %y : " + xt + "\n}";
    std::vector<float> g = randomVector(rows * swigluWidth, 31, 3.0f),
                       u = randomVector(rows * swigluWidth, 32);
    auto want = interpretText(text, {hostFloats({rows, swigluWidth}, g),
                                     hostFloats({rows, swigluWidth}, u)});
    ASSERT_EQ(want.size(), 1u);
    std::vector<float> y(rows * swigluWidth, 7.0f);
    ColmSwiGluArgs a{g.data(), u.data(), nullptr, y.data(),
                     nullptr,  nullptr,  rows};
    launch(fns[next++], a);
    EXPECT_LE(compare(y, want[0], kDoubleRtol, sw.name()), 1.0);
  }
}

struct AttnCase {
  int64_t h, hkv, hd;
  KvMap mapping;
  int64_t tq, tk;
  bool append; // keys as chain.append of past and new rows (tk - tq past)
};

std::vector<AttnCase> attentionCases() {
  return {{4, 2, 8, KvMap::Grouped, 9, 9, false},
          {4, 2, 8, KvMap::Tiled, 9, 9, false},
          {4, 4, 4, KvMap::Grouped, 3, 11, false},
          {6, 2, 8, KvMap::Tiled, 2, 7, true},
          {2, 1, 16, KvMap::Grouped, 5, 13, true}};
}

AttentionSpec attentionSpec(const AttnCase &c, AttentionPass pass) {
  AttentionSpec s;
  s.pass = pass;
  s.numHeads = c.h;
  s.numKvHeads = c.hkv;
  s.headDim = c.hd;
  s.mapping = c.mapping;
  s.causal = true;
  s.knobs.blockQ = 4; // several tiles even at these sizes
  s.knobs.blockK = 4;
  return s;
}

TEST_F(CrossBackendTest, AttentionForward) {
  std::vector<AttnCase> cases = attentionCases();
  std::vector<KernelSource> sources;
  std::vector<std::string> symbols;
  for (const AttnCase &c : cases) {
    AttentionSpec s = attentionSpec(c, AttentionPass::Forward);
    ASSERT_TRUE(validateAttention(s).isOk());
    sources.push_back(
        {s.name(), cpu::renderAttention(s, cpu::hostVectorIsa())});
    symbols.push_back(cpu::attentionSymbol(s));
  }
  std::vector<ColmKernelFn> fns = compile(sources, symbols);
  ASSERT_EQ(fns.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    const AttnCase &c = cases[i];
    int64_t qw = c.h * c.hd, kw = c.hkv * c.hd;
    std::string map = c.mapping == KvMap::Tiled ? "tiled" : "grouped";
    std::string qt = act(qw, layout({1, 1})), kt = act(kw);
    std::string body;
    std::vector<float> q = randomVector(c.tq * qw, unsigned(i) + 1),
                       k = randomVector(c.tk * kw, unsigned(i) + 2),
                       v = randomVector(c.tk * kw, unsigned(i) + 3);
    std::vector<HostTensor> args = {hostFloats({c.tq, qw}, q)};
    if (c.append) {
      int64_t past = c.tk - c.tq;
      body = "func.func @f(%q: " + qt + ", %pk: " + kt + ", %nk: " + kt +
             ", %pv: " + kt + ", %nv: " + kt + ") -> " + qt +
             " {\n  %k = chain.append %pk, %nk : " + kt +
             "\n  %v = chain.append %pv, %nv : " + kt + "\n";
      auto rowsOf = [&](const std::vector<float> &t, int64_t b, int64_t e) {
        return hostFloats({e - b}, std::vector<float>(t.begin() + b * kw,
                                                      t.begin() + e * kw));
      };
      for (auto *t : {&k, &v}) {
        HostTensor p = rowsOf(*t, 0, past), n = rowsOf(*t, past, c.tk);
        p.shape = {past, kw};
        n.shape = {c.tq, kw};
        args.push_back(p);
        args.push_back(n);
      }
    } else {
      body = "func.func @f(%q: " + qt + ", %k: " + kt + ", %v: " + kt +
             ") -> " + qt + " {\n";
      args.push_back(hostFloats({c.tk, kw}, k));
      args.push_back(hostFloats({c.tk, kw}, v));
    }
    body += "  %o = chain.attention %q, %k, %v kv_mapping " + map +
            " {head_dim = " + std::to_string(c.hd) + "} : " + qt + ", " + kt +
            ", " + kt + "\n  return %o : " + qt + "\n}";
    auto want = interpretText(body, args);
    ASSERT_EQ(want.size(), 1u);
    std::vector<float> out(c.tq * qw, 7.0f), lse(c.h * c.tq, 7.0f);
    ColmAttentionArgs a{q.data(), k.data(), v.data(), out.data(), lse.data(),
                        c.tq,     c.tk,     qw,       kw};
    launch(fns[i], a);
    EXPECT_LE(compare(out, want[0], kFloatRtol, sources[i].name), 1.0);
  }
}

TEST_F(CrossBackendTest, LmHeadCrossEntropyLoss) {
  struct Case {
    std::vector<int64_t> chains;
    unsigned k; // the sub-model's chains
    int64_t width, vocab, rows;
  };
  std::vector<Case> cases = {{{1, 1}, 1, 16, 40, 7},
                             {{1, 1, 2}, 2, 32, 24, 5},
                             {{2, 2, 4}, 3, 32, 56, 9}};
  std::vector<KernelSource> sources;
  std::vector<std::string> symbols;
  std::vector<CrossEntropySpec> specs;
  for (const Case &c : cases) {
    int64_t total = 0, kept = 0;
    for (size_t j = 0; j < c.chains.size(); ++j)
      total += c.chains[j], kept += j < c.k ? c.chains[j] : 0;
    CrossEntropySpec s;
    s.vocab = c.vocab;
    s.width = c.width * kept / total;
    s.dwBegin = 0;
    s.chunkRows = 4;
    ASSERT_TRUE(validateCrossEntropy(s).isOk());
    specs.push_back(s);
    for (CrossEntropySpec p : {crossEntropyRows(s), crossEntropyVocab(s)}) {
      sources.push_back(
          {p.name(), cpu::renderCrossEntropy(p, cpu::hostVectorIsa())});
      symbols.push_back(cpu::crossEntropySymbol(p));
    }
  }
  std::vector<ColmKernelFn> fns = compile(sources, symbols);
  ASSERT_EQ(fns.size(), sources.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case &c = cases[i];
    std::string l = layout(c.chains), xt = act(c.width, l),
                wt = mat(c.vocab, c.width, l),
                lt = "tensor<?x" + std::to_string(c.vocab) + "xf32>";
    std::string text =
        "func.func @f(%x: " + xt + ", %w: " + wt +
        ", %t: tensor<?xi32>) -> tensor<f32> {\n  %l = chain.lm_head %x, %w "
        "chains " +
        std::to_string(c.k) + " : " + xt + ", " + wt + " -> " + lt +
        "\n  %loss = chain.cross_entropy %l, %t : " + lt +
        ", tensor<?xi32> -> tensor<f32>\n  return %loss : tensor<f32>\n}";
    std::vector<float> x = randomVector(c.rows * c.width, unsigned(i) + 5),
                       w = randomVector(c.vocab * c.width, unsigned(i) + 6,
                                        0.5f);
    std::vector<int32_t> targets(c.rows);
    for (int64_t r = 0; r < c.rows; ++r)
      targets[r] = int32_t((r * 7 + i) % c.vocab);
    auto want = interpretText(text, {hostFloats({c.rows, c.width}, x),
                                     hostFloats({c.vocab, c.width}, w),
                                     HostTensor::tokens(targets)});
    ASSERT_EQ(want.size(), 1u);
    std::vector<float> dx(c.rows * c.width, 0.0f), dw(c.vocab * c.width, 0.0f);
    std::vector<double> workspace(3 * c.rows, 0.0);
    double loss = NAN;
    ColmCrossEntropyArgs a{x.data(),  w.data(),  targets.data(),
                           dx.data(), dw.data(), workspace.data(),
                           &loss,     c.rows,    c.width,
                           c.width,   c.width,   c.width,
                           1.0};
    launch(fns[2 * i], a);
    launch(fns[2 * i + 1], a);
    EXPECT_LE(compare({float(loss)}, want[0], kFloatRtol, specs[i].name()),
              1.0);
  }
}

//===----------------------------------------------------------------------===//
// Backward: the grad ops as chain-autodiff emits them, one at a time
//===----------------------------------------------------------------------===//

TEST_F(CrossBackendTest, LinearAndDenseGradients) {
  // chain.linear_grad_x / _w (and dense_grad_x / _w: one chain).
  struct Case {
    std::vector<int64_t> chains; // {1} with dense: chain.dense_grad_*
    bool dense;
    int64_t in, out, rows;
    unsigned fromChain = 0; // linear_grad_w's frozen chains 1..fromChain-1
  };
  std::vector<Case> cases = {
      {{1, 1}, false, 32, 48, 13},       {{2, 2, 4}, false, 48, 64, 11},
      {{1, 1, 2}, false, 32, 16, 17},    {{1}, true, 24, 40, 9},
      {{1, 1, 2}, false, 32, 16, 17, 2}, {{2, 2, 4}, false, 48, 64, 11, 3}};
  cpu::VectorIsa isa = cpu::hostVectorIsa();
  std::vector<KernelSource> sources;
  std::vector<std::string> symbols;
  for (const Case &c : cases)
    for (ChainGemmSpec s :
         {chainLinearInputGrad(c.chains, c.in, c.out),
          chainLinearWeightGrad(c.chains, c.in, c.out,
                                c.fromChain ? c.fromChain : 1)}) {
      s.knobs = cpu::defaultKnobs(isa);
      ASSERT_TRUE(validateChainGemm(s).isOk())
          << validateChainGemm(s).message();
      sources.push_back({s.name(), cpu::renderChainGemm(s, isa)});
      symbols.push_back(cpu::chainGemmSymbol(s));
    }
  std::vector<ColmKernelFn> fns = compile(sources, symbols);
  ASSERT_EQ(fns.size(), sources.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case &c = cases[i];
    std::string l = c.dense ? layout({1}) : layout(c.chains);
    std::string wt = mat(c.out, c.in, c.dense ? "" : blocksOf(c.chains));
    std::string xt = act(c.in, l), yt = act(c.out, c.dense ? "" : l);
    std::string op = c.dense ? "chain.dense" : "chain.linear";
    std::string from =
        c.fromChain ? " from_chain " + std::to_string(c.fromChain) : "";
    std::string text =
        "func.func @f(%x: " + xt + ", %w: " + wt + ", %dy: " + yt + ") -> (" +
        xt + ", " + wt + ") {\n  %dx = " + op + "_grad_x %dy, %w : " + yt +
        ", " + wt + " -> " + xt + "\n  %dw = " + op + "_grad_w %dy, %x" + from +
        " : " + yt + ", " + xt + " -> " + wt + "\n  return %dx, %dw : " + xt +
        ", " + wt + "\n}";
    std::vector<float> x = randomVector(c.rows * c.in, unsigned(i) + 10),
                       w = randomVector(c.out * c.in, unsigned(i) + 20),
                       dy = randomVector(c.rows * c.out, unsigned(i) + 30);
    auto want = interpretText(text, {hostFloats({c.rows, c.in}, x),
                                     hostFloats({c.out, c.in}, w),
                                     hostFloats({c.rows, c.out}, dy)});
    ASSERT_EQ(want.size(), 2u);
    std::vector<float> dx(c.rows * c.in, 7.0f);
    // Blocks above the diagonal are never written: the interpreter's zeros.
    std::vector<float> dw(c.out * c.in, 0.0f);
    ColmGemmArgs ax{dy.data(), w.data(), dx.data(), c.rows, c.in,
                    c.out,     c.out,    c.in,      c.in};
    ColmGemmArgs aw{dy.data(), x.data(), dw.data(), c.out, c.in,
                    c.rows,    c.out,    c.in,      c.in};
    launch(fns[2 * i], ax);
    launch(fns[2 * i + 1], aw);
    EXPECT_LE(compare(dx, want[0], kFloatRtol, sources[2 * i].name), 1.0);
    EXPECT_LE(compare(dw, want[1], kFloatRtol, sources[2 * i + 1].name), 1.0);
  }
}

TEST_F(CrossBackendTest, NormAndSwiGluGradients) {
  struct Case {
    std::vector<int64_t> chains, stats; // stats empty: x's layout
    unsigned fromChain;                 // 0: none
    int64_t width;
  };
  std::vector<Case> cases = {{{2, 2, 4}, {}, 0, 32},
                             {{1, 1}, {1}, 0, 24},
                             {{1, 1, 2}, {1}, 2, 32},
                             {{2, 2, 4}, {}, 3, 32}};
  const int64_t rows = 7, swigluWidth = 40;
  std::vector<KernelSource> sources;
  std::vector<std::string> symbols;
  for (const Case &c : cases) {
    ChainNormSpec s = chainNorm(c.stats.empty() ? c.chains : c.stats, c.width,
                                1e-5, true, c.chains, c.fromChain);
    ASSERT_TRUE(validateChainNorm(s).isOk());
    sources.push_back({s.name(), cpu::renderChainNorm(s)});
    symbols.push_back(cpu::chainNormSymbol(s));
  }
  SwiGluSpec sw{swigluWidth, true};
  sources.push_back({sw.name(), cpu::renderSwiGlu(sw)});
  symbols.push_back(cpu::swiGluSymbol(sw));
  std::vector<ColmKernelFn> fns = compile(sources, symbols);
  ASSERT_EQ(fns.size(), sources.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case &c = cases[i];
    std::string l = layout(c.chains), xt = act(c.width, l),
                gt = vec(c.width, l);
    std::string stats =
        c.stats.empty() ? "" : " stats(" + layout(c.stats) + ")";
    std::string from =
        c.fromChain ? " from_chain " + std::to_string(c.fromChain) : "";
    std::string text = "func.func @f(%x: " + xt + ", %g: " + gt +
                       ", %dy: " + xt + ") -> (" + xt + ", " + gt +
                       ") {\n  %dx, %dg = chain.norm_grad %x, %g, %dy" + stats +
                       from + " {eps = 1.0e-05 : f64} : " + xt + ", " + gt +
                       "\n  return %dx, %dg : " + xt + ", " + gt + "\n}";
    std::vector<float> x = randomVector(rows * c.width, unsigned(i), 2.0f),
                       g = randomVector(c.width, unsigned(i) + 50),
                       dy = randomVector(rows * c.width, unsigned(i) + 60);
    auto want = interpretText(text, {hostFloats({rows, c.width}, x),
                                     hostFloats({c.width}, g),
                                     hostFloats({rows, c.width}, dy)});
    ASSERT_EQ(want.size(), 2u);
    std::vector<float> dx(rows * c.width, 7.0f), dg(c.width, 7.0f);
    ColmNormArgs a{x.data(),  g.data(),  dy.data(), nullptr,
                   dx.data(), dg.data(), rows};
    launch(fns[i], a);
    EXPECT_LE(compare(dx, want[0], kDoubleRtol, sources[i].name + " dx"), 1.0);
    EXPECT_LE(compare(dg, want[1], kDoubleRtol, sources[i].name + " dgain"),
              1.0);
  }
  {
    std::string xt = act(swigluWidth, layout({1, 1}));
    std::string text =
        "func.func @f(%g: " + xt + ", %u: " + xt + ", %dy: " + xt + ") -> (" +
        xt + ", " + xt +
        ") {\n  %dg, %du = chain.swiglu_grad %g, %u, %dy : " + xt +
        "\n  return %dg, %du : " + xt + ", " + xt + "\n}";
    std::vector<float> g = randomVector(rows * swigluWidth, 41, 3.0f),
                       u = randomVector(rows * swigluWidth, 42),
                       dy = randomVector(rows * swigluWidth, 43);
    auto want = interpretText(text, {hostFloats({rows, swigluWidth}, g),
                                     hostFloats({rows, swigluWidth}, u),
                                     hostFloats({rows, swigluWidth}, dy)});
    ASSERT_EQ(want.size(), 2u);
    std::vector<float> dg(rows * swigluWidth, 7.0f),
        du(rows * swigluWidth, 7.0f);
    ColmSwiGluArgs a{g.data(),  u.data(),  dy.data(), nullptr,
                     dg.data(), du.data(), rows};
    launch(fns.back(), a);
    EXPECT_LE(compare(dg, want[0], kDoubleRtol, sw.name() + " dgate"), 1.0);
    EXPECT_LE(compare(du, want[1], kDoubleRtol, sw.name() + " dup"), 1.0);
  }
}

TEST_F(CrossBackendTest, AttentionGradient) {
  // The interpreter's attention_grad is the training form, Tq == Tk (it
  // indexes keys by query row), so only that is compared here.
  std::vector<AttnCase> cases = {{4, 2, 8, KvMap::Grouped, 9, 9, false},
                                 {4, 2, 8, KvMap::Tiled, 9, 9, false},
                                 {6, 3, 4, KvMap::Tiled, 11, 11, false},
                                 {2, 1, 16, KvMap::Grouped, 6, 6, false}};
  std::vector<KernelSource> sources;
  std::vector<std::string> symbols;
  for (const AttnCase &c : cases)
    for (AttentionPass pass :
         {AttentionPass::Forward, AttentionPass::Backward}) {
      AttentionSpec s = attentionSpec(c, pass);
      ASSERT_TRUE(validateAttention(s).isOk());
      sources.push_back(
          {s.name(), cpu::renderAttention(s, cpu::hostVectorIsa())});
      symbols.push_back(cpu::attentionSymbol(s));
    }
  std::vector<ColmKernelFn> fns = compile(sources, symbols);
  ASSERT_EQ(fns.size(), sources.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    const AttnCase &c = cases[i];
    int64_t qw = c.h * c.hd, kw = c.hkv * c.hd, t = c.tq;
    std::string map = c.mapping == KvMap::Tiled ? "tiled" : "grouped";
    std::string qt = act(qw, layout({1, 1})), kt = act(kw);
    std::string text =
        "func.func @f(%q: " + qt + ", %k: " + kt + ", %v: " + kt +
        ", %do: " + qt + ") -> (" + qt + ", " + kt + ", " + kt +
        ") {\n  %dq, %dk, %dv = chain.attention_grad %q, %k, "
        "%v, %do kv_mapping " +
        map + " {head_dim = " + std::to_string(c.hd) + "} : " + qt + ", " + kt +
        "\n  return %dq, %dk, %dv : " + qt + ", " + kt + ", " + kt + "\n}";
    std::vector<float> q = randomVector(t * qw, unsigned(i) + 1),
                       k = randomVector(t * kw, unsigned(i) + 2),
                       v = randomVector(t * kw, unsigned(i) + 3),
                       dout = randomVector(t * qw, unsigned(i) + 4);
    auto want = interpretText(
        text, {hostFloats({t, qw}, q), hostFloats({t, kw}, k),
               hostFloats({t, kw}, v), hostFloats({t, qw}, dout)});
    ASSERT_EQ(want.size(), 3u);
    std::vector<float> out(t * qw, 7.0f), lse(c.h * t, 7.0f), dq(t * qw, 7.0f),
        dk(t * kw, 7.0f), dv(t * kw, 7.0f);
    ColmAttentionArgs fa{q.data(), k.data(), v.data(), out.data(), lse.data(),
                         t,        t,        qw,       kw};
    launch(fns[2 * i], fa);
    ColmAttentionGradArgs ba{q.data(),    k.data(),   v.data(),  out.data(),
                             dout.data(), lse.data(), dq.data(), dk.data(),
                             dv.data(),   t,          t,         qw,
                             kw};
    launch(fns[2 * i + 1], ba);
    std::string name = sources[2 * i + 1].name;
    EXPECT_LE(compare(dq, want[0], kFloatRtol, name + " dq"), 1.0);
    EXPECT_LE(compare(dk, want[1], kFloatRtol, name + " dk"), 1.0);
    EXPECT_LE(compare(dv, want[2], kFloatRtol, name + " dv"), 1.0);
  }
}

TEST_F(CrossBackendTest, LmHeadCrossEntropyGradients) {
  // cross_entropy_grad, then lm_head_grad_x and lm_head_grad_w (frozen
  // chains below from_chain) against the fused kernel's dX and dW.
  struct Case {
    std::vector<int64_t> chains;
    unsigned k, fromChain; // fromChain 0: every chain trains
    int64_t width, vocab, rows;
    double scale;
  };
  std::vector<Case> cases = {{{1, 1}, 2, 0, 16, 40, 7, 1.0},
                             {{1, 1, 2}, 2, 2, 32, 24, 5, 0.5},
                             {{2, 2, 4}, 3, 2, 32, 56, 9, 2.0}};
  std::vector<KernelSource> sources;
  std::vector<std::string> symbols;
  std::vector<CrossEntropySpec> specs;
  auto prefix = [](const std::vector<int64_t> &chains, int64_t width,
                   unsigned k) {
    int64_t total = 0, kept = 0;
    for (size_t j = 0; j < chains.size(); ++j)
      total += chains[j], kept += j < k ? chains[j] : 0;
    return width * kept / total;
  };
  for (const Case &c : cases) {
    CrossEntropySpec s;
    s.vocab = c.vocab;
    s.width = prefix(c.chains, c.width, c.k);
    s.dwBegin = c.fromChain ? prefix(c.chains, c.width, c.fromChain - 1) : 0;
    s.chunkRows = 4;
    ASSERT_TRUE(validateCrossEntropy(s).isOk());
    specs.push_back(s);
    for (CrossEntropySpec p : {crossEntropyRows(s), crossEntropyVocab(s)}) {
      sources.push_back(
          {p.name(), cpu::renderCrossEntropy(p, cpu::hostVectorIsa())});
      symbols.push_back(cpu::crossEntropySymbol(p));
    }
  }
  std::vector<ColmKernelFn> fns = compile(sources, symbols);
  ASSERT_EQ(fns.size(), sources.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case &c = cases[i];
    std::string l = layout(c.chains), xt = act(c.width, l),
                wt = mat(c.vocab, c.width, l),
                lt = "tensor<?x" + std::to_string(c.vocab) + "xf32>";
    std::string k = " chains " + std::to_string(c.k);
    std::string from =
        c.fromChain ? " from_chain " + std::to_string(c.fromChain) : "";
    char scale[64];
    snprintf(scale, sizeof scale, "{scale = %.17e : f64}", c.scale);
    std::string text =
        "func.func @f(%x: " + xt + ", %w: " + wt + ", %t: tensor<?xi32>) -> (" +
        xt + ", " + wt + ") {\n  %l = chain.lm_head %x, %w" + k + " : " + xt +
        ", " + wt + " -> " + lt + "\n  %dl = chain.cross_entropy_grad %l, %t " +
        scale + " : " + lt + ", tensor<?xi32> -> " + lt +
        "\n  %dx = chain.lm_head_grad_x %dl, %w" + k + " : " + lt + ", " + wt +
        " -> " + xt + "\n  %dw = chain.lm_head_grad_w %dl, %x" + k + from +
        " : " + lt + ", " + xt + " -> " + wt + "\n  return %dx, %dw : " + xt +
        ", " + wt + "\n}";
    std::vector<float> x = randomVector(c.rows * c.width, unsigned(i) + 5),
                       w = randomVector(c.vocab * c.width, unsigned(i) + 6,
                                        0.5f);
    std::vector<int32_t> targets(c.rows);
    for (int64_t r = 0; r < c.rows; ++r)
      targets[r] = int32_t((r * 7 + i) % c.vocab);
    auto want = interpretText(text, {hostFloats({c.rows, c.width}, x),
                                     hostFloats({c.vocab, c.width}, w),
                                     HostTensor::tokens(targets)});
    ASSERT_EQ(want.size(), 2u);
    // Columns the kernel never touches are the interpreter's zeros.
    std::vector<float> dx(c.rows * c.width, 0.0f), dw(c.vocab * c.width, 0.0f);
    std::vector<double> workspace(3 * c.rows, 0.0);
    double loss = NAN;
    ColmCrossEntropyArgs a{
        x.data(),         w.data(), targets.data(), dx.data(), dw.data(),
        workspace.data(), &loss,    c.rows,         c.width,   c.width,
        c.width,          c.width,  c.scale};
    launch(fns[2 * i], a);
    launch(fns[2 * i + 1], a);
    EXPECT_LE(compare(dx, want[0], kFloatRtol, specs[i].name() + " dx"), 1.0);
    EXPECT_LE(compare(dw, want[1], kFloatRtol, specs[i].name() + " dw"), 1.0);
  }
}

// The comparison is not vacuous: plausible wrong kernels (a dense product
// that reads the blocks above the chain diagonal; one norm group instead of
// the chains') are off by far more than the tolerance.
TEST_F(CrossBackendTest, TheToleranceCatchesPlausibleBugs) {
  cpu::VectorIsa isa = cpu::hostVectorIsa();
  const int64_t in = 32, out = 32, rows = 5, width = 32;
  ChainGemmSpec dense = denseGemm(out, in, true);
  dense.knobs = cpu::defaultKnobs(isa);
  ChainNormSpec oneGroup = chainNorm({1}, width, 1e-5, false);
  std::vector<ColmKernelFn> fns =
      compile({{dense.name(), cpu::renderChainGemm(dense, isa)},
               {oneGroup.name(), cpu::renderChainNorm(oneGroup)}},
              {cpu::chainGemmSymbol(dense), cpu::chainNormSymbol(oneGroup)});
  ASSERT_EQ(fns.size(), 2u);
  std::string l = layout({1, 1}), b = blocksOf({1, 1});
  std::vector<float> x = randomVector(rows * in, 1),
                     w = randomVector(out * in, 2), g = randomVector(width, 3);
  auto linear = interpretText(
      "func.func @f(%x: " + act(in, l) + ", %w: " + mat(out, in, b) + ") -> " +
          act(out, l) + " {\n  %y = chain.linear %x, %w : " + act(in, l) +
          ", " + mat(out, in, b) + " -> " + act(out, l) +
          "\n  return %y : " + act(out, l) + "\n}",
      {hostFloats({rows, in}, x), hostFloats({out, in}, w)});
  ASSERT_EQ(linear.size(), 1u);
  std::vector<float> y(rows * out, 0.0f);
  ColmGemmArgs a{x.data(), w.data(), y.data(), rows, out, in, in, in, out};
  launch(fns[0], a);
  EXPECT_GT(compare(y, linear[0], kFloatRtol, "dense as linear", true), 100.0);
  auto norm = interpretText(
      "func.func @f(%x: " + act(width, l) + ", %g: " + vec(width, l) + ") -> " +
          act(width, l) + " {\n  %y = chain.norm %x, %g : " + act(width, l) +
          ", " + vec(width, l) + "\n  return %y : " + act(width, l) + "\n}",
      {hostFloats({rows, width}, x), hostFloats({width}, g)});
  ASSERT_EQ(norm.size(), 1u);
  std::vector<float> n(rows * width, 0.0f);
  ColmNormArgs na{x.data(), g.data(), nullptr, n.data(),
                  nullptr,  nullptr,  rows};
  launch(fns[1], na);
  EXPECT_GT(compare(n, norm[0], kDoubleRtol, "one norm group", true), 100.0);
}

} // namespace
