//===- Speculative.h - CoLM-Air self-speculative decoding -------*- C++ -*-===//
//
// In CoLM-Air every key and value comes from chain 1, and chain 1 inside
// the full model is exactly the chain-1 sub-model, so a narrow sub-model
// can draft tokens with the full model's cache. A round after `next` (the
// token emitted last, not yet in the cache):
//
//   1. the draft sub-model (draftChains) decodes up to G tokens d1..dG
//      after `next`, stopping early when its top probability falls below
//      minDraftProbability (G is chosen each round from measured costs);
//   2. the draft's positions are truncated and the full model appends
//      next, d1..dG in one run (Generator::extend), which gives the logits
//      after each of them;
//   3. drafts are accepted in order while the sampling mode accepts them;
//      the round ends with one token of the full model's (a correction, or
//      a bonus token after G accepted drafts); rejected positions are
//      truncated.
//
// Sampling modes, with p and q the full model's and the draft's
// distributions after all logit processing (TokenSampler::distribution):
//
//  - Compare (greedy decoding is its special case): position t's token is
//    TokenSampler::sampleWith(p_t, u_t), with u_t the uniform plain
//    sampling would draw for it (peekUniforms); the draft proposes with q
//    and the same u_t, and a draft is accepted when it equals the full
//    model's token. Row t of the verify run has decode()'s bits
//    (batch-invariant kernels), so the output is plain sampling's, bit for
//    bit (docs/speculative.md has the proof).
//  - Rejection: the draft samples d ~ q; d is accepted with probability
//    min(1, p(d)/q(d)), else the round ends with a token drawn from
//    max(0, p - q) normalised; after G accepted drafts a bonus from p. Each
//    emitted token is distributed as p exactly (Leviathan et al. 2023),
//    from a random stream of its own.
//
// The verify run is the whole full model: it computes chain 1 again for the
// drafted positions. A verify pass that reuses the draft's chain-1 work is
// open (issue 11).
//
//===----------------------------------------------------------------------===//
#ifndef COLM_COMPILER_SPECULATIVE_H
#define COLM_COMPILER_SPECULATIVE_H

#include "compiler/Generator.h"
#include "runtime/Random.h"
#include "runtime/Sampling.h"

namespace colm {

enum class SpeculativeSampling { Compare, Rejection };

struct SpeculativeOptions {
  /// Chains of the drafting sub-model and of the model whose output counts.
  unsigned draftChains = 1, chains = 0;
  /// Most tokens drafted per round.
  int64_t maxDraft = 4;
  /// Choose each round's draft length (0..maxDraft: 0 decodes plainly)
  /// from the measured draft, verify and plain step times and the
  /// acceptance rate; else always maxDraft.
  bool adaptive = true;
  /// Stop drafting when the draft's top probability (softmax of its
  /// logits) is below this; 0 never stops early.
  double minDraftProbability = 0.0;
  /// The draft attends to the first block and the last `draftWindow`
  /// positions of the history only (Generator's AttentionWindow; 0: all of
  /// it): cheaper drafts over long contexts, the same output.
  int64_t draftWindow = 0;
  SpeculativeSampling sampling = SpeculativeSampling::Compare;
};

struct SpeculativeStats {
  int64_t rounds = 0, drafted = 0, accepted = 0;
  double draftSeconds = 0, verifySeconds = 0;
  /// Accepted drafts over drafted ones.
  double acceptanceRate() const {
    return drafted ? double(accepted) / double(drafted) : 0.0;
  }
  /// Tokens emitted per round (accepted drafts plus the final token).
  double meanAcceptedLength() const {
    return rounds ? double(accepted + rounds) / double(rounds) : 0.0;
  }
};

/// One position of speculative sampling: the draft proposed `token`, drawn
/// from q; it is accepted with probability min(1, p/q) (`accept` uniform
/// in [0, 1)), else replaced by a draw from max(0, p - q) normalised
/// (`resample`). The token returned is distributed as p.
struct RejectionOutcome {
  bool accepted;
  int32_t token;
};
RejectionOutcome rejectionStep(const std::vector<double> &p,
                               const std::vector<double> &q, int32_t token,
                               double accept, double resample);
/// The token where u (in [0, 1)) falls in p's cumulative sum.
int32_t drawFrom(const std::vector<double> &p, double u);

class SpeculativeDecoder {
public:
  /// Checks that the model is CoLM-Air and the chain counts are in range
  /// (draftChains < chains). `sampling` is the generation's (the draft
  /// processes its logits alike).
  static Result<SpeculativeDecoder> create(const Generator &generator,
                                           const ModelConfig &config,
                                           SpeculativeOptions options,
                                           const SamplingConfig &sampling);

  /// One round after `next` (emitted and last in `history`, not yet in
  /// `seq`): appends it and returns the tokens the full model emits after
  /// it, at most `budget` (>= 1); the last one returned is not yet in
  /// `seq` (the next round's `next`). `sampler` is plain sampling's: in
  /// Compare mode its stream advances by the tokens emitted.
  Result<std::vector<int32_t>> round(Sequence &seq, int32_t next,
                                     int64_t budget, TokenSampler &sampler,
                                     const std::vector<int32_t> &history);

  const SpeculativeStats &stats() const { return counts; }
  /// The draft length the next round uses.
  int64_t draftLength() const;
  /// The draft's attention window (options.draftWindow after one sink
  /// block).
  AttentionWindow draftWindow() const {
    return {options.draftWindow > 0 ? KvPool::kBlockSize : 0,
            options.draftWindow};
  }

private:
  SpeculativeDecoder(const Generator &g, SpeculativeOptions o,
                     const SamplingConfig &s)
      : generator(&g), options(o), draftSampler(s),
        rejection(s.seed ^ 0x5350454355ull) {}
  const Generator *generator;
  SpeculativeOptions options;
  SpeculativeStats counts;
  /// Processes the draft's logits as the generation's sampler does.
  TokenSampler draftSampler;
  /// The rejection mode's draws.
  Random rejection;
  /// Times measured so far: a draft step, a verify run, a plain step (a
  /// round that drafts nothing).
  double draftStep = 0, verifyRun = 0, plainStep = 0;
};

} // namespace colm

#endif // COLM_COMPILER_SPECULATIVE_H
