//===- GemmTunerTest.cpp - Measuring chain GEMM knobs ---------------------===//
//
// The candidate space fits the registers and validates; tuning a tiny spec
// (few candidates, small sizes, short samples) returns one of the candidates
// and round-trips through the tuning cache; chooseKnobs falls back to the
// defaults. Each test has its own COLM_CACHE_DIR.
//
//===----------------------------------------------------------------------===//

#include "compiler/codegen/cpu/GemmTuner.h"

#include "test/runtime/TestUtil.h"

#include <algorithm>

using namespace colm;
using namespace colm::codegen;
using namespace colm::codegen::cpu;
using colm::test::TempDir;
using ::testing::HasSubstr;

namespace {

class GemmTunerTest : public ::testing::Test {
protected:
  void SetUp() override {
    ::setenv("COLM_CACHE_DIR", root().c_str(), 1);
    ::unsetenv("COLM_DUMP_KERNELS");
    ::unsetenv("COLM_KERNEL_OVERRIDE_DIR");
  }
  void TearDown() override { ::unsetenv("COLM_CACHE_DIR"); }
  std::string root() const { return tmp.str() + "/cache"; }

  /// Short samples and few candidates: the test checks the mechanics, not
  /// the speed.
  static TuneOptions quick(size_t candidates) {
    TuneOptions o;
    o.repeats = 2;
    o.minSampleSeconds = 0.001;
    o.warmupSeconds = 0.0;
    o.maxCandidates = candidates;
    return o;
  }

  TempDir tmp;
};

} // namespace

TEST_F(GemmTunerTest, CandidatesFitTheRegistersAndValidate) {
  const VectorIsa isas[] = {{16, 32}, {8, 16}, {4, 16}};
  for (const VectorIsa &isa : isas) {
    std::vector<GemmKnobs> c = gemmCandidates(isa);
    SCOPED_TRACE("lanes " + std::to_string(isa.lanes));
    EXPECT_GE(c.size(), isa.lanes == 16 ? 8u : 4u);
    EXPECT_LE(c.size(), 16u);
    ASSERT_FALSE(c.empty());
    EXPECT_EQ(c.front(), defaultKnobs(isa));
    for (size_t i = 0; i < c.size(); ++i) {
      EXPECT_OK(checkKnobsFit(c[i], isa));
      for (ChainGemmSpec s : {chainLinearForward({2, 2, 4}, 512, 1408),
                              chainLinearWeightGrad({2, 2, 4}, 1408, 512)}) {
        s.knobs = c[i];
        EXPECT_OK(validateChainGemm(s));
      }
      EXPECT_EQ(std::count(c.begin(), c.end(), c[i]), 1) << describeKnobs(c[i]);
      EXPECT_GE(c[i].kc, 128);
      EXPECT_LE(c[i].kc, 384);
    }
  }
}

TEST_F(GemmTunerTest, TuningATinySpecPicksACandidateAndIsStored) {
  Result<CpuJit> jit = CpuJit::create();
  ASSERT_OK(jit);
  ThreadPool pool(2);
  VectorIsa isa = hostVectorIsa();
  std::vector<GemmKnobs> all = gemmCandidates(isa);
  TuningCache cache = TuningCache::forHost();
  cache.load();
  // A ragged forward (dynamic rows) and a weight grad (dynamic reduction).
  for (const ChainGemmSpec &spec : {chainLinearForward({1, 1}, 40, 72),
                                    chainLinearWeightGrad({1, 2}, 48, 36)}) {
    SCOPED_TRACE(spec.name());
    Result<TuneResult> r = tuneChainGemm(spec, 37, *jit, pool, quick(3));
    ASSERT_OK(r);
    ASSERT_EQ(r->timings.size(), 3u);
    EXPECT_EQ(r->timings[0].knobs, defaultKnobs(isa));
    EXPECT_EQ(r->defaults, defaultKnobs(isa));
    bool found = false;
    for (const CandidateTiming &t : r->timings) {
      EXPECT_EQ(t.samples.size(), 2u);
      EXPECT_GT(t.ms, 0.0);
      EXPECT_NE(std::find(all.begin(), all.end(), t.knobs), all.end());
      EXPECT_LE(r->bestMs, t.ms);
      found = found || (t.knobs == r->best && t.ms == r->bestMs);
    }
    EXPECT_TRUE(found);
    EXPECT_EQ(r->defaultMs, r->timings[0].ms);
    cache.store(r->record(spec, "tiny", 37));
    ASSERT_OK(cache.save());

    TuningCache again = TuningCache::forHost();
    again.load();
    std::optional<GemmKnobs> k = again.lookup(spec.shapeKey());
    ASSERT_TRUE(k.has_value());
    EXPECT_EQ(*k, r->best);
    bool tuned = false;
    EXPECT_EQ(chooseKnobs(spec, isa, &again, &tuned), r->best);
    EXPECT_TRUE(tuned);
  }
}

TEST_F(GemmTunerTest, ExplicitCandidatesMustFit) {
  Result<CpuJit> jit = CpuJit::create();
  ASSERT_OK(jit);
  ThreadPool pool(1);
  TuneOptions o = quick(0);
  o.candidates = {{16, 64, 256, 96}}; // far more accumulators than registers
  EXPECT_ERROR(
      tuneChainGemm(chainLinearForward({1, 1}, 32, 32), 8, *jit, pool, o),
      "vector registers");
  EXPECT_ERROR(tuneChainGemm(chainLinearForward({1, 1}, 32, 32), 0, *jit, pool,
                             quick(2)),
               "dynamic size must be positive");
}

TEST_F(GemmTunerTest, ChooseKnobsFallsBackToTheDefaults) {
  VectorIsa isa{16, 32};
  ChainGemmSpec spec = chainLinearForward({2, 2, 4}, 512, 512);
  bool tuned = true;
  EXPECT_EQ(chooseKnobs(spec, isa, nullptr, &tuned), defaultKnobs(isa));
  EXPECT_FALSE(tuned);

  TuningCache cache(root(), "cpu", {"device-x", "cpu", "avx512f", 2});
  cache.load();
  tuned = true;
  EXPECT_EQ(chooseKnobs(spec, isa, &cache, &tuned), defaultKnobs(isa));
  EXPECT_FALSE(tuned);

  TunedKernel k;
  k.shapeKey = spec.shapeKey();
  k.knobs = {8, 32, 384, 48};
  cache.store(k);
  EXPECT_EQ(chooseKnobs(spec, isa, &cache, &tuned), k.knobs);
  EXPECT_TRUE(tuned);
  // Another spec is not affected.
  EXPECT_EQ(chooseKnobs(chainLinearInputGrad({2, 2, 4}, 512, 512), isa, &cache,
                        &tuned),
            defaultKnobs(isa));
  EXPECT_FALSE(tuned);

  // Knobs that do not fit this ISA (a file from an edit by hand): defaults,
  // with a warning.
  k.knobs = {14, 64, 256, 98};
  cache.store(k);
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(chooseKnobs(spec, isa, &cache, &tuned), defaultKnobs(isa));
  EXPECT_THAT(::testing::internal::GetCapturedStderr(),
              HasSubstr("using the defaults"));
  EXPECT_FALSE(tuned);
  k.knobs = {8, 32, 256, 20}; // mc not a multiple of mr
  cache.store(k);
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(chooseKnobs(spec, isa, &cache, &tuned), defaultKnobs(isa));
  EXPECT_THAT(::testing::internal::GetCapturedStderr(),
              HasSubstr("unsupported knobs"));
}
