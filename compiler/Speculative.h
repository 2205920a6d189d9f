//===- Speculative.h - CoLM-Air self-speculative decoding -------*- C++ -*-===//
//
// In CoLM-Air every key and value comes from chain 1, and chain 1 inside
// the full model is exactly the chain-1 sub-model, so a narrow sub-model
// can draft tokens with the full model's cache. A round of greedy
// self-speculative decoding:
//
//   1. the draft sub-model (draftChains) decodes up to maxDraft tokens
//      d1..dG greedily after `next` (the token the full model chose last);
//   2. the draft's positions are truncated and the full model appends
//      next, d1..dG in one run (Generator::extend), which gives the logits
//      after each of them;
//   3. the drafts are accepted while each equals the full model's argmax
//      at the position before it; the full model's argmax after the last
//      accepted one is the round's final token (a correction, or a bonus
//      token when every draft was accepted); the rejected positions are
//      truncated.
//
// Greedy output equals plain greedy decoding of the full model token for
// token: row i of the verify run has decode()'s bits for the same history
// (GeneratorTest), so every accepted draft is the token plain decoding
// would have chosen there, and the final token is the one it chooses next;
// by induction over the tokens emitted, the two streams agree.
//
// This first version verifies with the whole full model (chain 1 is
// computed again for the drafted positions); a verify pass that reuses the
// draft's chain-1 work and writes no keys or values, sampling, and an
// online choice of the draft length are open (issue 11).
//
//===----------------------------------------------------------------------===//
#ifndef COLM_COMPILER_SPECULATIVE_H
#define COLM_COMPILER_SPECULATIVE_H

#include "compiler/Generator.h"

namespace colm {

struct SpeculativeOptions {
  /// Chains of the drafting sub-model and of the model whose output counts.
  unsigned draftChains = 1, chains = 0;
  /// Tokens drafted per round.
  int64_t maxDraft = 4;
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

class SpeculativeDecoder {
public:
  /// Checks that the model is CoLM-Air and the chain counts are in range
  /// (draftChains < chains).
  static Result<SpeculativeDecoder> create(const Generator &generator,
                                           const ModelConfig &config,
                                           SpeculativeOptions options);

  /// One round after `next` (emitted, not yet in `seq`): appends it and
  /// returns the tokens the full model emits after it, at most `budget`
  /// (>= 1); the last one returned is not yet in `seq` (the next round's
  /// `next`).
  Result<std::vector<int32_t>> round(Sequence &seq, int32_t next,
                                     int64_t budget);

  const SpeculativeStats &stats() const { return counts; }

private:
  SpeculativeDecoder(const Generator &g, SpeculativeOptions o)
      : generator(&g), options(o) {}
  const Generator *generator;
  SpeculativeOptions options;
  SpeculativeStats counts;
};

} // namespace colm

#endif // COLM_COMPILER_SPECULATIVE_H
