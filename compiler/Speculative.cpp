//===- Speculative.cpp - CoLM-Air self-speculative decoding ---------------===//
#include "compiler/Speculative.h"

#include <algorithm>
#include <chrono>

namespace colm {

namespace {

int32_t argmax(const std::vector<float> &logits) {
  // The lowest id on ties, as greedy sampling (runtime/Sampling.h).
  return int32_t(std::max_element(logits.begin(), logits.end()) -
                 logits.begin());
}

double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
      .count();
}

} // namespace

Result<SpeculativeDecoder>
SpeculativeDecoder::create(const Generator &generator,
                           const ModelConfig &config,
                           SpeculativeOptions options) {
  unsigned n = unsigned(config.numChains());
  if (!config.kvSharing)
    return Status::error("self-speculative decoding needs a CoLM-Air model "
                         "(kv_sharing): there the draft sub-model writes the "
                         "full model's keys and values");
  if (options.chains == 0)
    options.chains = n;
  if (options.chains > n || options.draftChains < 1 ||
      options.draftChains >= options.chains)
    return Status::error("the draft sub-model needs fewer chains than the "
                         "model it drafts for: --draft-chains " +
                         std::to_string(options.draftChains) + ", chains " +
                         std::to_string(options.chains) + " of " +
                         std::to_string(n));
  if (options.maxDraft < 1 || options.maxDraft > 64)
    return Status::error("--max-draft " + std::to_string(options.maxDraft) +
                         " is outside 1..64");
  return SpeculativeDecoder(generator, options);
}

Result<std::vector<int32_t>>
SpeculativeDecoder::round(Sequence &seq, int32_t next, int64_t budget) {
  const Generator &g = *generator;
  int64_t start = seq.cache.length();
  // Draft no more than the budget and the context allow (the verify run
  // appends next and every draft).
  int64_t draft =
      std::min({options.maxDraft, budget - 1, seq.cache.remaining() - 1});
  if (draft <= 0) {
    COLM_ASSIGN_OR_RETURN(auto logits, g.decode(seq, next, options.chains));
    ++counts.rounds;
    return std::vector<int32_t>{argmax(logits)};
  }
  auto t0 = std::chrono::steady_clock::now();
  std::vector<int32_t> tokens{next};
  for (int64_t j = 0; j < draft; ++j) {
    COLM_ASSIGN_OR_RETURN(auto logits,
                          g.decode(seq, tokens.back(), options.draftChains));
    tokens.push_back(argmax(logits));
  }
  g.truncate(seq, start);
  counts.draftSeconds += since(t0);

  auto t1 = std::chrono::steady_clock::now();
  COLM_ASSIGN_OR_RETURN(auto rows, g.extend(seq, tokens, options.chains));
  std::vector<int32_t> out;
  int64_t accepted = 0;
  for (; accepted < draft; ++accepted) {
    int32_t full = argmax(rows[size_t(accepted)]);
    if (full != tokens[size_t(accepted + 1)])
      break;
    out.push_back(full);
  }
  out.push_back(argmax(rows[size_t(accepted)]));
  g.truncate(seq, start + 1 + accepted);
  counts.verifySeconds += since(t1);
  ++counts.rounds;
  counts.drafted += draft;
  counts.accepted += accepted;
  return out;
}

} // namespace colm
