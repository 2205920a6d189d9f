//===- CudaAttentionTest.cpp - The CUDA fused attention -------------------===//
//
// Forward and backward on the SIMT emulator under every schedule against
// the double-precision references: grouped and tiled KV heads, causal and
// not, head sizes that fill a lane's slice partly (96), query lengths of
// one row (decode over a cache), partial and several tiles, and a query
// block after a prefix (Tq < Tk); the NVRTC build for sm_80 and sm_90.
//
//===----------------------------------------------------------------------===//
#include "compiler/codegen/Attention.h"
#include "compiler/codegen/cpu/RenderAttention.h"
#include "compiler/codegen/cuda/RenderAttention.h"

#include "../KernelTestUtil.h"
#include "CudaTestUtil.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>

using namespace colm;
using namespace colm::codegen;

namespace {

class CudaAttentionTest : public colm::test::KernelTest {};

using colm::test::kSchedules;

AttentionSpec spec(int64_t h, int64_t kv, int64_t hd, KvMap map, bool causal,
                   AttentionPass pass) {
  AttentionSpec s;
  s.pass = pass;
  s.numHeads = h;
  s.numKvHeads = kv;
  s.headDim = hd;
  s.mapping = map;
  s.causal = causal;
  return s;
}

std::vector<AttentionSpec> forwardSpecs() {
  auto F = AttentionPass::Forward;
  return {spec(4, 2, 16, KvMap::Grouped, true, F),
          spec(4, 2, 16, KvMap::Tiled, true, F),
          spec(2, 2, 64, KvMap::Grouped, false, F),
          spec(2, 1, 96, KvMap::Grouped, true, F),
          spec(2, 2, 128, KvMap::Tiled, true, F)};
}

void expectNear(const std::vector<float> &got, const std::vector<float> &want,
                const std::string &what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int bad = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    bool same = got[i] == want[i] || std::abs(double(got[i]) - want[i]) <=
                                         2e-5 * (1 + std::abs(double(want[i])));
    if (!same && bad++ < 3)
      ADD_FAILURE() << what << ": [" << i << "] = " << got[i] << ", reference "
                    << want[i];
  }
}

struct Shape {
  int64_t tq, tk;
};
const Shape kShapes[] = {{1, 1}, {5, 5}, {37, 37}, {1, 40}, {20, 50}};

} // namespace

TEST_F(CudaAttentionTest, ForwardAndBackwardOnTheEmulatorMatchTheReference) {
  std::vector<AttentionSpec> specs;
  for (AttentionSpec s : forwardSpecs()) {
    specs.push_back(s);
    s.pass = AttentionPass::Backward;
    specs.push_back(s);
  }
  std::vector<KernelSource> sources;
  std::vector<std::string> symbols;
  for (const AttentionSpec &s : specs) {
    ASSERT_TRUE(validateAttention(s).isOk()) << s.name();
    sources.push_back({"cuda_" + s.name(),
                       cuda::renderAttention(s, cuda::CudaBuild::HostSim)});
    symbols.push_back(cpu::attentionSymbol(s));
  }
  std::vector<ColmKernelFn> fns =
      compile(sources, symbols, cuda::hostSimFlags());
  ASSERT_EQ(fns.size(), specs.size());
  for (const char *schedule : kSchedules) {
    setenv("COLM_SIMT_SCHEDULE", schedule, 1);
    for (const Shape &sh : kShapes)
      for (size_t i = 0; i < specs.size(); i += 2) {
        const AttentionSpec &fwd = specs[i], &bwd = specs[i + 1];
        int threads = sh.tq > 30 ? 2 : 1;
        int64_t qw = fwd.numHeads * fwd.headDim,
                kw = fwd.numKvHeads * fwd.headDim;
        // Padded rows (ld > width), as the KV cache and fused q/k/v have.
        int64_t ldq = qw + 8, ldk = kw + 16;
        unsigned seed = unsigned(i * 10 + sh.tq);
        std::vector<float> q = colm::test::randomNormal(sh.tq * ldq, seed),
                           k = colm::test::randomNormal(sh.tk * ldk, seed + 1),
                           v = colm::test::randomNormal(sh.tk * ldk, seed + 2),
                           dout =
                               colm::test::randomNormal(sh.tq * ldq, seed + 3);
        std::vector<float> out(sh.tq * ldq, 7.0f), lse(fwd.numHeads * sh.tq),
            wantOut = out, wantLse = lse;
        std::string what = fwd.name() + ", " + schedule + ", tq " +
                           std::to_string(sh.tq) + " tk " +
                           std::to_string(sh.tk);
        ColmAttentionArgs a{q.data(),   k.data(),   v.data(),
                            out.data(), lse.data(), sh.tq,
                            sh.tk,      ldq,        ldk};
        colm::test::runOnThreads(fns[i], a, threads);
        ColmAttentionArgs r = a;
        r.out = wantOut.data();
        r.lse = wantLse.data();
        attentionReference(fwd, r);
        expectNear(out, wantOut, what + ", out");
        expectNear(lse, wantLse, what + ", lse");

        std::vector<float> dq(sh.tq * ldq, 7.0f), dk(sh.tk * ldk, 7.0f),
            dv(sh.tk * ldk, 7.0f), wantDq = dq, wantDk = dk, wantDv = dk;
        ColmAttentionGradArgs g{
            q.data(),       k.data(),  v.data(),  wantOut.data(), dout.data(),
            wantLse.data(), dq.data(), dk.data(), dv.data(),      sh.tq,
            sh.tk,          ldq,       ldk};
        colm::test::runOnThreads(fns[i + 1], g, threads);
        ColmAttentionGradArgs rg = g;
        rg.dq = wantDq.data();
        rg.dk = wantDk.data();
        rg.dv = wantDv.data();
        attentionGradReference(bwd, rg);
        expectNear(dq, wantDq, what + ", dq");
        expectNear(dk, wantDk, what + ", dk");
        expectNear(dv, wantDv, what + ", dv");
      }
  }
  unsetenv("COLM_SIMT_SCHEDULE");
}

// The paged forward reads the cached positions through a block table (a
// pool with its blocks scrambled and rows wider than the keys), then the
// new rows: the paged reference's result under every schedule.
TEST_F(CudaAttentionTest, PagedOnTheEmulatorMatchesTheReference) {
  std::vector<AttentionSpec> specs;
  for (AttentionSpec s : forwardSpecs())
    if (s.causal) {
      s.pass = AttentionPass::Paged;
      specs.push_back(s);
    }
  std::vector<KernelSource> sources;
  std::vector<std::string> symbols;
  for (const AttentionSpec &s : specs) {
    ASSERT_TRUE(validateAttention(s).isOk()) << s.name();
    sources.push_back({"cuda_" + s.name(),
                       cuda::renderAttention(s, cuda::CudaBuild::HostSim)});
    symbols.push_back(cpu::attentionSymbol(s));
  }
  std::vector<ColmKernelFn> fns =
      compile(sources, symbols, cuda::hostSimFlags());
  ASSERT_EQ(fns.size(), specs.size());
  const int64_t blockSize = 8;
  const Shape shapes[] = {{1, 1}, {1, 38}, {5, 45}, {20, 50}};
  for (const char *schedule : kSchedules) {
    setenv("COLM_SIMT_SCHEDULE", schedule, 1);
    for (const Shape &sh : shapes)
      for (size_t i = 0; i < specs.size(); ++i) {
        const AttentionSpec &s = specs[i];
        int64_t qw = s.numHeads * s.headDim, kw = s.numKvHeads * s.headDim;
        int64_t ldq = qw + 8, ldk = kw, ldCache = kw + 16;
        int64_t past = sh.tk - sh.tq, used = (past + blockSize - 1) / blockSize;
        unsigned seed = unsigned(i * 10 + sh.tq);
        std::vector<float> q = colm::test::randomNormal(sh.tq * ldq, seed),
                           k = colm::test::randomNormal(sh.tq * ldk, seed + 1),
                           v = colm::test::randomNormal(sh.tq * ldk, seed + 2),
                           kc = colm::test::randomNormal(
                               (2 * used + 1) * blockSize * ldCache, seed + 3),
                           vc = colm::test::randomNormal(
                               (2 * used + 1) * blockSize * ldCache, seed + 4);
        std::vector<int32_t> blocks;
        for (int64_t b = 0; b < used; ++b)
          blocks.push_back(int32_t((5 * b + 3) % (2 * used + 1)));
        std::vector<float> out(sh.tq * ldq, 7.0f), lse(s.numHeads * sh.tq),
            wantOut = out, wantLse = lse;
        ColmPagedAttentionArgs a{
            q.data(),      k.data(),   v.data(),   kc.data(), vc.data(),
            blocks.data(), out.data(), lse.data(), sh.tq,     past,
            ldq,           ldk,        ldCache,    blockSize};
        colm::test::runOnThreads(fns[i], a, 1);
        ColmPagedAttentionArgs r = a;
        r.out = wantOut.data();
        r.lse = wantLse.data();
        pagedAttentionReference(s, r);
        std::string what = s.name() + ", " + schedule + ", tq " +
                           std::to_string(sh.tq) + " past " +
                           std::to_string(past);
        expectNear(out, wantOut, what + ", out");
        expectNear(lse, wantLse, what + ", lse");
      }
  }
  unsetenv("COLM_SIMT_SCHEDULE");
}

TEST_F(CudaAttentionTest, NvrtcBuildCompilesForSm80AndSm90) {
  COLM_SKIP_WITHOUT_NVRTC();
  for (AttentionSpec s : forwardSpecs())
    for (AttentionPass pass : {AttentionPass::Forward, AttentionPass::Backward,
                               AttentionPass::Paged}) {
      if (pass == AttentionPass::Paged && !s.causal)
        continue;
      s.pass = pass;
      EXPECT_EQ(colm::test::nvrtcCheck(
                    cuda::renderAttention(s, cuda::CudaBuild::Nvrtc),
                    cpu::attentionSymbol(s) + "_kernel"),
                "")
          << s.name();
    }
}
