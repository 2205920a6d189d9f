//===- GeneratorTest.cpp - cached generation equals recomputation ---------===//
//
// Greedy generation with the KV cache (prefill, decode, chain-1 prefill,
// chain switching up and down) must produce exactly the tokens that the
// chosen sub-model gives when recomputed from scratch at every step.
//
//===----------------------------------------------------------------------===//
#include "compiler/Generator.h"
#include "compiler/BuildColm.h"
#include "compiler/Pipeline.h"
#include "compiler/Speculative.h"
#include "runtime/Random.h"
#include "runtime/Sampling.h"

#include "mlir/IR/MLIRContext.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace colm;

namespace {

struct Case {
  std::vector<int64_t> chains;
  bool kvSharing;
  int64_t kvHeads;
};

std::string describe(const Case &c) {
  std::string s = c.kvSharing ? "Air" : "Colm";
  for (int64_t r : c.chains)
    s += "_" + std::to_string(r);
  return s + "_kv" + std::to_string(c.kvHeads);
}
void PrintTo(const Case &c, std::ostream *os) { *os << describe(c); }

int32_t argmax(const std::vector<float> &v) {
  int32_t best = 0;
  for (size_t i = 1; i < v.size(); ++i)
    if (v[i] > v[best])
      best = static_cast<int32_t>(i);
  return best;
}

class GeneratorTest : public ::testing::TestWithParam<Case> {
protected:
  void SetUp() override {
    const Case &c = GetParam();
    dsl::loadDialects(context);
    int64_t s = 0;
    for (int64_t r : c.chains)
      s += r;
    model.config.chains = c.chains;
    model.config.vocabSize = 29;
    model.config.numHeads = s;
    model.config.numKvHeads = c.kvHeads;
    model.config.hiddenSize = 4 * s;
    model.config.intermediateSize = 6 * s;
    model.config.numLayers = 2;
    model.config.kvSharing = c.kvSharing;
    model.config.maxPositionEmbeddings = 64;
    ASSERT_TRUE(validateConfig(model.config).isOk());
    Model init = initModel(model.config, 5);
    for (auto &[name, t] : init.params)
      for (float &v : t.data)
        v *= 25.0f;
    model.params = init.params;
    auto g = Generator::create(context, model);
    ASSERT_TRUE(g.isOk()) << g.status().message();
    generator = g.take();
  }

  void expectTheReferenceTokens(Backend backend);
  void checkChunkedPrefill(Backend backend);
  void checkPrefillHoldsNarrowerBits(Backend backend);
  void checkDraftWindow(Backend backend);
  void checkSpeculativeCompare(Backend backend,
                               const std::vector<int64_t> &draftLengths);

  /// Greedy tokens with the cache.
  std::vector<int32_t>
  cached(const std::vector<std::pair<int64_t, unsigned>> &s, bool chain1,
         int n) {
    return cached(*generator, s, chain1, n);
  }
  std::vector<int32_t>
  cached(Generator &g, const std::vector<std::pair<int64_t, unsigned>> &s,
         bool chain1, int n, std::vector<std::vector<float>> *all = nullptr) {
    Generator *generator = &g;
    auto seq = generator->newSequence(64);
    EXPECT_TRUE(seq.isOk());
    std::vector<int32_t> out;
    auto logits = generator->prefill(*seq, prompt, chainsAt(s, 0), chain1);
    EXPECT_TRUE(logits.isOk()) << logits.status().message();
    for (int i = 0; i < n && logits.isOk(); ++i) {
      if (all)
        all->push_back(*logits);
      out.push_back(argmax(*logits));
      if (i + 1 < n)
        logits = generator->decode(*seq, out.back(), chainsAt(s, i + 1));
      EXPECT_TRUE(logits.isOk()) << logits.status().message();
    }
    return out;
  }

  /// Greedy tokens recomputed from scratch by each step's sub-model.
  std::vector<int32_t>
  recomputed(const std::vector<std::pair<int64_t, unsigned>> &s, int n) {
    std::vector<int32_t> tokens = prompt, out;
    for (int i = 0; i < n; ++i) {
      auto module = buildSubModel(context, model.config, chainsAt(s, i));
      EXPECT_TRUE(module.isOk());
      auto logits = runForward(**module, tokens, model.params);
      EXPECT_TRUE(logits.isOk());
      int64_t vocab = logits->shape[1];
      std::vector<float> last(logits->data.end() - vocab, logits->data.end());
      out.push_back(argmax(last));
      tokens.push_back(out.back());
    }
    return out;
  }

  mlir::MLIRContext context;
  Model model;
  std::unique_ptr<Generator> generator;
  std::vector<int32_t> prompt{3, 14, 15, 9, 26, 5};
};

TEST_P(GeneratorTest, FixedChainsEqualRecomputation) {
  for (unsigned k = 1; k <= model.config.chains.size(); ++k) {
    std::vector<std::pair<int64_t, unsigned>> s{{0, k}};
    auto want = recomputed(s, 8);
    EXPECT_EQ(cached(s, false, 8), want) << "k=" << k;
    if (model.config.kvSharing)
      EXPECT_EQ(cached(s, true, 8), want) << "k=" << k << ", chain-1 prefill";
  }
}

TEST_P(GeneratorTest, SwitchingUpAndDownEqualsRecomputation) {
  unsigned n = model.config.chains.size();
  for (auto s : std::vector<std::vector<std::pair<int64_t, unsigned>>>{
           {{0, 1}, {3, n}, {6, 1}, {8, n}},
           {{0, n}, {2, 1}, {5, std::min(2u, n)}},
       }) {
    auto want = recomputed(s, 10);
    EXPECT_EQ(cached(s, false, 10), want);
    if (model.config.kvSharing)
      EXPECT_EQ(cached(s, true, 10), want);
  }
}

TEST_P(GeneratorTest, CachedLogitsMatchRecomputedLogits) {
  unsigned n = model.config.chains.size();
  auto seq = generator->newSequence(64);
  ASSERT_TRUE(seq.isOk());
  auto logits = generator->prefill(*seq, prompt, n, model.config.kvSharing);
  ASSERT_TRUE(logits.isOk());
  auto module = buildSubModel(context, model.config, n);
  auto full = runForward(**module, prompt, model.params);
  int64_t vocab = full->shape[1];
  for (int64_t v = 0; v < vocab; ++v)
    EXPECT_EQ((*logits)[v], float(full->data[(prompt.size() - 1) * vocab + v]));
}

// A compiled backend (the step programs lowered to kernels, the cache read
// in place) gives the reference interpreter's logits and so its tokens, for
// fixed chains, switching, and chain-1 prefill.
void GeneratorTest::expectTheReferenceTokens(Backend backend) {
  auto g = Generator::create(context, model, backend);
  ASSERT_TRUE(g.isOk()) << g.status().message();
  unsigned n = model.config.chains.size();
  for (auto s : std::vector<std::vector<std::pair<int64_t, unsigned>>>{
           {{0, n}}, {{0, 1}, {3, n}, {6, 1}}}) {
    for (bool chain1 : {false, true}) {
      if (chain1 && !model.config.kvSharing)
        continue;
      std::vector<std::vector<float>> want, got;
      EXPECT_EQ(cached(**g, s, chain1, 9, &got),
                cached(*generator, s, chain1, 9, &want));
      ASSERT_EQ(got.size(), want.size());
      for (size_t i = 0; i < want.size(); ++i) {
        double diff = 0, scale = 0;
        for (size_t v = 0; v < want[i].size(); ++v) {
          diff = std::max(diff, double(std::abs(got[i][v] - want[i][v])));
          scale = std::max(scale, double(std::abs(want[i][v])));
        }
        EXPECT_LT(diff, 1e-4 * scale) << "step " << i;
      }
    }
  }
}

TEST_P(GeneratorTest, CpuBackendGivesTheReferenceTokens) {
  expectTheReferenceTokens(Backend::Cpu);
}
// The CUDA kernels on the host SIMT emulator: prefill and decode steps.
TEST_P(GeneratorTest, CudaSimBackendGivesTheReferenceTokens) {
  expectTheReferenceTokens(Backend::CudaSim);
}

// A decoding batch (continuous batching in colm serve): sequences of
// different lengths and chain counts decoded together get exactly the
// logits they get alone (every decode-path kernel computes a row the same
// way beside up to 15 others), and the interpreter's within fp32 rounding.
// Chain counts switch between steps, so batches regroup, and a CoLM
// sequence switching up decodes alone.
TEST_P(GeneratorTest, CpuDecodingBatchGivesEachSequenceItsOwnLogits) {
  auto g = Generator::create(context, model, Backend::Cpu);
  ASSERT_TRUE(g.isOk()) << g.status().message();
  Generator &cpu = **g;
  unsigned n = model.config.chains.size();
  const int count = 5, steps = 6;
  std::vector<Sequence> batched, alone, reference;
  std::vector<int32_t> next(count);
  for (int i = 0; i < count; ++i) {
    std::vector<int32_t> p(prompt.begin(), prompt.begin() + 1 + i);
    for (auto *list : {&batched, &alone, &reference}) {
      auto seq = cpu.newSequence(64);
      ASSERT_TRUE(seq.isOk());
      list->push_back(seq.take());
    }
    unsigned k = i % 2 ? 1 : n;
    auto a = cpu.prefill(batched[i], p, k, false);
    ASSERT_TRUE(a.isOk()) << a.status().message();
    ASSERT_TRUE(cpu.prefill(alone[i], p, k, false).isOk());
    ASSERT_TRUE(generator->prefill(reference[i], p, k, false).isOk());
    next[i] = argmax(*a);
  }
  for (int step = 0; step < steps; ++step) {
    std::vector<Sequence *> seqs;
    std::vector<unsigned> chains;
    for (int i = 0; i < count; ++i) {
      seqs.push_back(&batched[i]);
      // Odd sequences at one chain, the others at every chain; sequence 1
      // switches up at step 3.
      bool one = i % 2 == 1 && !(i == 1 && step >= 3);
      chains.push_back(one ? 1 : n);
    }
    auto got = cpu.decodeBatch(seqs, next, chains);
    ASSERT_EQ(got.size(), static_cast<size_t>(count));
    for (int i = 0; i < count; ++i) {
      ASSERT_TRUE(got[i].isOk()) << got[i].status().message();
      auto one = cpu.decode(alone[i], next[i], chains[i]);
      auto want = generator->decode(reference[i], next[i], chains[i]);
      ASSERT_TRUE(one.isOk() && want.isOk());
      double diff = 0, scale = 0, vsAlone = 0;
      for (size_t v = 0; v < want->size(); ++v) {
        diff = std::max(diff, double(std::abs((*got[i])[v] - (*want)[v])));
        vsAlone = std::max(vsAlone, double(std::abs((*got[i])[v] - (*one)[v])));
        scale = std::max(scale, double(std::abs((*want)[v])));
      }
      EXPECT_LT(diff, 1e-4 * scale) << "step " << step << ", sequence " << i;
      EXPECT_EQ(vsAlone, 0.0) << "step " << step << ", sequence " << i;
      EXPECT_EQ(argmax(*got[i]), argmax(*want));
      EXPECT_EQ(batched[i].cache.length(), reference[i].cache.length());
      EXPECT_EQ(batched[i].tokens, reference[i].tokens);
      next[i] = argmax(*want);
    }
  }
  // A bad token fails its own sequence only.
  std::vector<Sequence *> seqs{&batched[0], &batched[2]};
  auto mixed = cpu.decodeBatch(seqs, {-1, next[2]}, {n, n});
  EXPECT_FALSE(mixed[0].isOk());
  EXPECT_TRUE(mixed[1].isOk());
}

// What self-speculative decoding needs (issue 11): appending several tokens
// to a cache in one step (a verification pass) gives every position the
// logits that decoding the tokens one by one gives, bit for bit, and
// truncating a rejected draft leaves the sequence as if it had never been
// appended.
TEST_P(GeneratorTest, CpuExtendingByTokensGivesTheDecodeStepsLogits) {
  auto g = Generator::create(context, model, Backend::Cpu);
  ASSERT_TRUE(g.isOk()) << g.status().message();
  Generator &cpu = **g;
  unsigned n = model.config.chains.size();
  for (int extra : {1, 2, 4}) {
    auto stepwise = cpu.newSequence(64), extended = cpu.newSequence(64);
    ASSERT_TRUE(stepwise.isOk() && extended.isOk());
    std::vector<int32_t> head(prompt.begin(), prompt.begin() + 3);
    ASSERT_TRUE(cpu.prefill(*stepwise, head, n, false).isOk());
    ASSERT_TRUE(cpu.prefill(*extended, head, n, false).isOk());
    std::vector<int32_t> tail;
    for (int i = 0; i < extra; ++i)
      tail.push_back(prompt[(3 + i) % prompt.size()]);
    auto once = cpu.extend(*extended, tail, n);
    ASSERT_TRUE(once.isOk()) << once.status().message();
    ASSERT_EQ(once->size(), tail.size());
    for (int i = 0; i < extra; ++i) {
      auto l = cpu.decode(*stepwise, tail[size_t(i)], n);
      ASSERT_TRUE(l.isOk()) << l.status().message();
      EXPECT_EQ(*l, (*once)[size_t(i)])
          << "position " << i << " of " << extra << " tokens at once";
    }
    // Drop all but the first appended token, then decode what follows.
    cpu.truncate(*extended, 4);
    EXPECT_EQ(extended->cache.length(), 4);
    EXPECT_EQ(extended->tokens.size(), 4u);
    auto fresh = cpu.newSequence(64);
    ASSERT_TRUE(fresh.isOk());
    std::vector<int32_t> four(prompt.begin(), prompt.begin() + 3);
    four.push_back(tail[0]);
    ASSERT_TRUE(cpu.prefill(*fresh, four, n, false).isOk());
    auto a = cpu.decode(*extended, 7, n), b = cpu.decode(*fresh, 7, n);
    ASSERT_TRUE(a.isOk() && b.isOk());
    EXPECT_EQ(*a, *b) << "after truncating " << extra << " tokens";
  }
}

// CoLM-Air self-speculative decoding (compiler/Speculative.h) in compare
// mode emits plain decoding's tokens, greedy or sampled (the draws plain
// sampling makes), for every draft length and draft width, fixed or chosen
// online.
TEST_P(GeneratorTest, CpuSpeculativeCompareIsPlainDecoding) {
  if (!model.config.kvSharing)
    GTEST_SKIP() << "self-speculative decoding needs CoLM-Air";
  checkSpeculativeCompare(Backend::Cpu, {1, 2, 4, 7});
}

// The same on the CUDA kernels (host SIMT emulator): their decode path is
// batch-invariant too.
TEST_P(GeneratorTest, CudaSimSpeculativeCompareIsPlainDecoding) {
  if (!model.config.kvSharing)
    GTEST_SKIP() << "self-speculative decoding needs CoLM-Air";
  checkSpeculativeCompare(Backend::CudaSim, {3});
}

void GeneratorTest::checkSpeculativeCompare(
    Backend backend, const std::vector<int64_t> &draftLengths) {
  auto g = Generator::create(context, model, backend);
  ASSERT_TRUE(g.isOk()) << g.status().message();
  Generator &cpu = **g;
  unsigned n = model.config.chains.size();
  const int64_t count = 14;
  SamplingConfig greedy;
  greedy.greedy = true;
  SamplingConfig sampled;
  sampled.temperature = 0.8;
  sampled.topK = 12;
  sampled.repetitionPenalty = 1.1;
  sampled.seed = 7;
  for (const SamplingConfig &sampling : {greedy, sampled}) {
    auto plainSeq = cpu.newSequence(64);
    ASSERT_TRUE(plainSeq.isOk());
    TokenSampler plainSampler(sampling);
    std::vector<int32_t> history = prompt, plain;
    auto logits = cpu.prefill(*plainSeq, prompt, n, false);
    ASSERT_TRUE(logits.isOk());
    while (int64_t(plain.size()) < count) {
      plain.push_back(
          plainSampler.sample(logits->data(), model.config.vocabSize, history));
      history.push_back(plain.back());
      logits = cpu.decode(*plainSeq, plain.back(), n);
      ASSERT_TRUE(logits.isOk());
    }
    // Both paths run: some drafts are accepted, some corrected.
    int64_t accepted = 0, drafted = 0;
    for (unsigned draftChains = 1; draftChains < n; ++draftChains)
      for (int64_t maxDraft : draftLengths)
        for (bool adaptive : {false, true}) {
          SpeculativeOptions o;
          o.draftChains = draftChains;
          o.chains = n;
          o.maxDraft = maxDraft;
          o.adaptive = adaptive;
          o.minDraftProbability = adaptive ? 0.1 : 0.0;
          auto d = SpeculativeDecoder::create(cpu, model.config, o, sampling);
          ASSERT_TRUE(d.isOk()) << d.status().message();
          auto seq = cpu.newSequence(64);
          ASSERT_TRUE(seq.isOk());
          TokenSampler sampler(sampling);
          std::vector<int32_t> seen = prompt;
          auto first = cpu.prefill(*seq, prompt, n, true);
          ASSERT_TRUE(first.isOk());
          std::vector<int32_t> got{
              sampler.sample(first->data(), model.config.vocabSize, seen)};
          seen.push_back(got.back());
          while (int64_t(got.size()) < count) {
            auto r = d->round(*seq, got.back(), count - int64_t(got.size()),
                              sampler, seen);
            ASSERT_TRUE(r.isOk()) << r.status().message();
            ASSERT_FALSE(r->empty());
            got.insert(got.end(), r->begin(), r->end());
            seen.insert(seen.end(), r->begin(), r->end());
          }
          EXPECT_EQ(got, plain)
              << (sampling.greedy ? "greedy" : "sampled") << ", draft chains "
              << draftChains << ", up to " << maxDraft << " drafts"
              << (adaptive ? ", adaptive" : "");
          EXPECT_EQ(seq->cache.length(), int64_t(prompt.size()) + count - 1);
          EXPECT_GT(d->stats().rounds, 0);
          EXPECT_LE(d->stats().accepted, d->stats().drafted);
          accepted += d->stats().accepted;
          drafted += d->stats().drafted;
        }
    EXPECT_GT(accepted, 0);
    EXPECT_LT(accepted, drafted);
  }
  SpeculativeOptions bad;
  bad.draftChains = n;
  bad.chains = n;
  EXPECT_FALSE(
      SpeculativeDecoder::create(cpu, model.config, bad, greedy).isOk());
  bad.draftChains = 1;
  bad.maxDraft = Generator::kFewRows;
  EXPECT_FALSE(
      SpeculativeDecoder::create(cpu, model.config, bad, greedy).isOk());
}

namespace {

/// Pearson's chi-square of `counts` against `p` (bins expected below 5
/// pooled), and its degrees of freedom.
std::pair<double, int> chiSquare(const std::vector<int64_t> &counts,
                                 const std::vector<double> &p, int64_t n) {
  double stat = 0, pooledExpected = 0, pooledSeen = 0;
  int bins = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    double e = p[i] * double(n);
    if (e < 5) {
      pooledExpected += e;
      pooledSeen += double(counts[i]);
      continue;
    }
    stat += (counts[i] - e) * (counts[i] - e) / e;
    ++bins;
  }
  if (pooledExpected > 0) {
    stat += (pooledSeen - pooledExpected) * (pooledSeen - pooledExpected) /
            std::max(pooledExpected, 1e-9);
    ++bins;
  }
  return {stat, bins - 1};
}

/// The chi-square quantile at 1 - 1e-4 (Wilson-Hilferty), far above what
/// the right distribution reaches, far below what a wrong one does.
double chiSquareLimit(int df) {
  double z = 3.719, k = double(df);
  double c = 1 - 2 / (9 * k) + z * std::sqrt(2 / (9 * k));
  return k * c * c * c;
}

} // namespace

// The rejection rule turns draws from any q into draws from p.
TEST(SpeculativeRejectionTest, RuleGivesTheTargetDistribution) {
  std::vector<double> p{0.05, 0.3, 0.0, 0.25, 0.15, 0.25};
  std::vector<double> q{0.3, 0.1, 0.2, 0.1, 0.3, 0.0};
  Random rng(11);
  const int64_t n = 200000;
  std::vector<int64_t> counts(p.size(), 0);
  int64_t accepted = 0;
  for (int64_t i = 0; i < n; ++i) {
    int32_t d = drawFrom(q, rng.uniform());
    double a = rng.uniform(), r = rng.uniform();
    RejectionOutcome o = rejectionStep(p, q, d, a, r);
    ++counts[size_t(o.token)];
    accepted += o.accepted;
  }
  auto [stat, df] = chiSquare(counts, p, n);
  EXPECT_LT(stat, chiSquareLimit(df)) << "chi-square with " << df << " df";
  EXPECT_EQ(counts[2], 0); // p = 0: never emitted
  // Acceptance is sum min(p, q) = 0.05 + 0.1 + 0 + 0.1 + 0.15 + 0.
  EXPECT_NEAR(double(accepted) / n, 0.4, 0.01);
  // The same rule against the uniform q: the draft's q is not p.
  std::vector<double> wrong(p.size(), 1.0 / 6);
  std::vector<int64_t> direct(p.size(), 0);
  for (int64_t i = 0; i < n; ++i)
    ++direct[size_t(drawFrom(q, rng.uniform()))];
  EXPECT_GT(chiSquare(direct, p, n).first, 10 * chiSquareLimit(df))
      << "the check would catch q's draws passed through";
}

// End to end: the first token a rejection-mode round emits after the same
// history is distributed as the full model's sampling distribution there,
// whatever the draft proposes (a chi-square test over 3000 rounds).
TEST_P(GeneratorTest, CpuSpeculativeRejectionSamplesTheModel) {
  if (!model.config.kvSharing)
    GTEST_SKIP() << "self-speculative decoding needs CoLM-Air";
  auto g = Generator::create(context, model, Backend::Cpu);
  ASSERT_TRUE(g.isOk()) << g.status().message();
  Generator &cpu = **g;
  unsigned n = model.config.chains.size();
  SamplingConfig sampling;
  // The test models' weights are scaled up (peaked logits): a high
  // temperature spreads the target and the draft over many tokens.
  sampling.temperature = 40;
  int32_t next = 4;
  // The model's distribution after prompt, next.
  auto base = cpu.newSequence(64);
  ASSERT_TRUE(base.isOk());
  ASSERT_TRUE(cpu.prefill(*base, prompt, n, true).isOk());
  std::vector<int32_t> history = prompt;
  history.push_back(next);
  auto logits = cpu.decode(*base, next, n);
  ASSERT_TRUE(logits.isOk());
  TokenSampler exact(sampling);
  std::vector<double> p =
      exact.distribution(logits->data(), model.config.vocabSize, history);
  ASSERT_LT(*std::max_element(p.begin(), p.end()), 0.5)
      << "a target spread over several tokens";
  const int64_t samples = 3000;
  std::vector<int64_t> counts(p.size(), 0);
  int64_t drafted = 0, accepted = 0;
  for (int64_t i = 0; i < samples; ++i) {
    SpeculativeOptions o;
    o.draftChains = n - 1; // the widest draft: some drafts accepted
    o.chains = n;
    o.maxDraft = 3;
    o.adaptive = false;
    o.sampling = SpeculativeSampling::Rejection;
    SamplingConfig seeded = sampling;
    seeded.seed = uint64_t(i);
    auto d = SpeculativeDecoder::create(cpu, model.config, o, seeded);
    ASSERT_TRUE(d.isOk());
    auto seq = cpu.newSequence(64);
    ASSERT_TRUE(seq.isOk());
    ASSERT_TRUE(cpu.prefill(*seq, prompt, n, true).isOk());
    TokenSampler sampler(seeded);
    auto r = d->round(*seq, next, 4, sampler, history);
    ASSERT_TRUE(r.isOk()) << r.status().message();
    ++counts[size_t((*r)[0])];
    drafted += d->stats().drafted;
    accepted += d->stats().accepted;
  }
  auto [stat, df] = chiSquare(counts, p, samples);
  EXPECT_LT(stat, chiSquareLimit(df)) << "chi-square with " << df << " df";
  EXPECT_GT(accepted, 0);
  EXPECT_LT(accepted, drafted);
}

TEST_P(GeneratorTest, ClearErrors) {
  auto seq = generator->newSequence(8);
  ASSERT_TRUE(seq.isOk());
  std::vector<int32_t> longPrompt(9, 1);
  auto r = generator->prefill(*seq, longPrompt, 1, false);
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("context holds 8"), std::string::npos)
      << r.status().message();
  EXPECT_FALSE(generator->prefill(*seq, {}, 1, false).isOk());
  auto ok = generator->prefill(*seq, std::vector<int32_t>(8, 2), 1, false);
  ASSERT_TRUE(ok.isOk());
  auto full = generator->decode(*seq, 3, 1);
  ASSERT_FALSE(full.isOk());
  EXPECT_NE(full.status().message().find("the context is full"),
            std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Models, GeneratorTest,
                         ::testing::Values(Case{{2, 2}, true, 2},
                                           Case{{1, 1, 2}, true, 1},
                                           Case{{1, 1, 2}, false, 4},
                                           Case{{2, 2}, false, 2},
                                           Case{{4}, false, 2}),
                         [](const ::testing::TestParamInfo<Case> &info) {
                           return describe(info.param);
                         });

} // namespace

// A prompt cut into chunks by Generator::nextPrefillChunk (chunked
// prefill) leaves the cache and the logits with the bits of the whole
// prompt at once: every kernel computes a row the same way whatever rows
// run beside it (on its side of kFewRows), and the paged attention reads
// chunks of keys at fixed positions.
TEST_P(GeneratorTest, CpuChunkedPrefillHasTheWholePrefillsBits) {
  checkChunkedPrefill(Backend::Cpu);
}

TEST_P(GeneratorTest, CudaSimChunkedPrefillHasTheWholePrefillsBits) {
  checkChunkedPrefill(Backend::CudaSim);
}

void GeneratorTest::checkChunkedPrefill(Backend backend) {
  auto g = Generator::create(context, model, backend);
  ASSERT_TRUE(g.isOk()) << g.status().message();
  Generator &cpu = **g;
  unsigned n = model.config.chains.size();
  std::vector<int32_t> longPrompt;
  for (int i = 0; i < 45; ++i)
    longPrompt.push_back(int32_t((i * 7 + 3) % model.config.vocabSize));
  for (bool chain1 : {false, true}) {
    if (chain1 && !model.config.kvSharing)
      continue;
    auto whole = cpu.newSequence(64);
    ASSERT_TRUE(whole.isOk());
    auto want = cpu.prefill(*whole, longPrompt, n, chain1);
    ASSERT_TRUE(want.isOk()) << want.status().message();
    for (int64_t chunk : {1, 5, 17, 20, 40}) {
      auto parts = cpu.newSequence(64);
      ASSERT_TRUE(parts.isOk());
      Result<std::vector<float>> got = std::vector<float>();
      int64_t total = int64_t(longPrompt.size()), pieces = 0;
      for (int64_t at = 0; at < total; ++pieces) {
        int64_t take =
            Generator::nextPrefillChunk(total - at, chunk, total, chain1);
        ASSERT_GT(take, Generator::kFewRows + (chain1 ? 1 : 0));
        std::vector<int32_t> piece(longPrompt.begin() + at,
                                   longPrompt.begin() + at + take);
        if (at + take < total) {
          ASSERT_TRUE(cpu.prefillPart(*parts, piece, n, chain1).isOk());
        } else {
          got = cpu.prefill(*parts, piece, n, chain1);
          ASSERT_TRUE(got.isOk()) << got.status().message();
        }
        at += take;
      }
      EXPECT_EQ(pieces, 2) << "chunks of " << chunk;
      EXPECT_EQ(*got, *want)
          << "chunks of " << chunk << (chain1 ? ", chain-1 prefill" : "");
      for (int l = 0; l < model.config.numLayers; ++l) {
        int64_t cols = whole->cache.validColumns();
        EXPECT_EQ(*parts->cache.keys(l, cols), *whole->cache.keys(l, cols))
            << "layer " << l << " keys, chunks of " << chunk;
        EXPECT_EQ(*parts->cache.values(l, cols), *whole->cache.values(l, cols))
            << "layer " << l << " values, chunks of " << chunk;
      }
    }
  }
}

// A k-chain prefill holds, in the columns of a narrower sub-model, exactly
// the keys and values that sub-model's own prefill computes (a chain's
// keys depend on chains 1..j only, and every kernel computes a column the
// same way whatever columns run beside it), on the few-rows and the tiled
// GEMM paths: so a cached prefix block serves every chain count up to the
// one that computed it (colm serve's prefix cache).
void GeneratorTest::checkPrefillHoldsNarrowerBits(Backend backend) {
  auto g = Generator::create(context, model, backend);
  ASSERT_TRUE(g.isOk()) << g.status().message();
  Generator &gen = **g;
  unsigned n = model.config.chains.size();
  for (int len : {5, 30}) {
    std::vector<int32_t> prompt;
    for (int i = 0; i < len; ++i)
      prompt.push_back(int32_t((i * 7 + 3) % model.config.vocabSize));
    auto wide = gen.newSequence(64);
    ASSERT_TRUE(wide.isOk());
    ASSERT_TRUE(gen.prefill(*wide, prompt, n, false).isOk());
    for (unsigned k = 1; k < n; ++k) {
      auto narrow = gen.newSequence(64);
      ASSERT_TRUE(narrow.isOk());
      ASSERT_TRUE(gen.prefill(*narrow, prompt, k, false).isOk());
      int64_t cols = narrow->cache.columnsFor(int(k));
      for (int l = 0; l < model.config.numLayers; ++l) {
        EXPECT_EQ(*wide->cache.keys(l, cols), *narrow->cache.keys(l, cols))
            << len << " tokens, " << k << " chains, layer " << l << " keys";
        EXPECT_EQ(*wide->cache.values(l, cols), *narrow->cache.values(l, cols))
            << len << " tokens, " << k << " chains, layer " << l << " values";
      }
    }
  }
}

TEST_P(GeneratorTest, CpuPrefillHoldsTheNarrowerSubModelsBits) {
  checkPrefillHoldsNarrowerBits(Backend::Cpu);
}

TEST_P(GeneratorTest, CudaSimPrefillHoldsTheNarrowerSubModelsBits) {
  checkPrefillHoldsNarrowerBits(Backend::CudaSim);
}

// A decode step with an attention window reads the first block and the
// last positions of the history only: on the compiled kernels it matches
// the interpreter given the same rows; a window that covers the history is
// plain decoding, bit for bit; and a self-speculative draft with a window
// still gives plain decoding's tokens (the verify run decides them).
void GeneratorTest::checkDraftWindow(Backend backend) {
  auto g = Generator::create(context, model, backend);
  ASSERT_TRUE(g.isOk()) << g.status().message();
  Generator &gen = **g;
  unsigned n = model.config.chains.size();
  std::vector<int32_t> longPrompt;
  for (int i = 0; i < 40; ++i)
    longPrompt.push_back(int32_t((i * 5 + 2) % model.config.vocabSize));
  auto step = [&](Generator &with, const AttentionWindow &w, unsigned k) {
    auto seq = with.newSequence(64);
    EXPECT_TRUE(seq.isOk());
    EXPECT_TRUE(with.prefill(*seq, longPrompt, n, false).isOk());
    auto logits = with.decode(*seq, 7, k, nullptr, w);
    EXPECT_TRUE(logits.isOk()) << logits.status().message();
    return logits.isOk() ? *logits : std::vector<float>();
  };
  for (unsigned k = 1; k <= n; ++k) {
    std::vector<float> plain = step(gen, {}, k);
    EXPECT_EQ(step(gen, {16, 1000}, k), plain) << k << " chains";
    // Block 1 (positions 16-31) is left out: past 40 - 8 is in block 2.
    std::vector<float> windowed = step(gen, {16, 8}, k),
                       want = step(*generator, {16, 8}, k);
    ASSERT_EQ(windowed.size(), want.size());
    double diff = 0, scale = 0, moved = 0;
    for (size_t v = 0; v < want.size(); ++v) {
      diff = std::max(diff, double(std::abs(windowed[v] - want[v])));
      moved = std::max(moved, double(std::abs(windowed[v] - plain[v])));
      scale = std::max(scale, double(std::abs(want[v])));
    }
    EXPECT_LT(diff, 1e-4 * scale) << k << " chains";
    EXPECT_GT(moved, 1e-3 * scale)
        << k << " chains: the window changed nothing";
  }
  if (!model.config.kvSharing)
    return;
  SamplingConfig greedy;
  greedy.greedy = true;
  auto plainSeq = gen.newSequence(64);
  ASSERT_TRUE(plainSeq.isOk());
  auto logits = gen.prefill(*plainSeq, longPrompt, n, false);
  ASSERT_TRUE(logits.isOk());
  std::vector<int32_t> plain;
  while (plain.size() < 12) {
    plain.push_back(argmax(*logits));
    logits = gen.decode(*plainSeq, plain.back(), n);
    ASSERT_TRUE(logits.isOk());
  }
  SpeculativeOptions o;
  o.chains = n;
  o.maxDraft = 3;
  o.adaptive = false;
  o.draftWindow = 8;
  auto d = SpeculativeDecoder::create(gen, model.config, o, greedy);
  ASSERT_TRUE(d.isOk()) << d.status().message();
  auto seq = gen.newSequence(64);
  ASSERT_TRUE(seq.isOk());
  auto first = gen.prefill(*seq, longPrompt, n, true);
  ASSERT_TRUE(first.isOk());
  TokenSampler sampler(greedy);
  std::vector<int32_t> seen = longPrompt, got{argmax(*first)};
  seen.push_back(got.back());
  while (got.size() < plain.size()) {
    auto r = d->round(*seq, got.back(), int64_t(plain.size() - got.size()),
                      sampler, seen);
    ASSERT_TRUE(r.isOk()) << r.status().message();
    got.insert(got.end(), r->begin(), r->end());
    seen.insert(seen.end(), r->begin(), r->end());
  }
  EXPECT_EQ(got, plain);
  EXPECT_GT(d->stats().drafted, 0);
}

TEST_P(GeneratorTest, CpuDraftWindowReadsTheFirstAndLastBlocks) {
  checkDraftWindow(Backend::Cpu);
}

TEST_P(GeneratorTest, CudaSimDraftWindowReadsTheFirstAndLastBlocks) {
  checkDraftWindow(Backend::CudaSim);
}
