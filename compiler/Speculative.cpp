//===- Speculative.cpp - CoLM-Air self-speculative decoding ---------------===//
#include "compiler/Speculative.h"

#include <algorithm>
#include <chrono>
#include <cmath>

namespace colm {

namespace {

double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
      .count();
}

/// The largest probability of softmax(logits) (temperature 1): how sure
/// the draft is.
double topProbability(const std::vector<float> &logits) {
  float top = *std::max_element(logits.begin(), logits.end());
  double total = 0;
  for (float l : logits)
    total += std::exp(double(l) - double(top));
  return total > 0 ? 1.0 / total : 0.0;
}

/// An exponential moving average, started by its first sample.
void average(double &mean, double sample) {
  mean = mean == 0 ? sample : 0.8 * mean + 0.2 * sample;
}

} // namespace

int32_t drawFrom(const std::vector<double> &p, double u) {
  double total = 0;
  for (double x : p)
    total += x;
  double target = u * total, acc = 0;
  int32_t last = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] <= 0)
      continue;
    acc += p[i];
    last = int32_t(i);
    if (target < acc)
      return int32_t(i);
  }
  return last;
}

RejectionOutcome rejectionStep(const std::vector<double> &p,
                               const std::vector<double> &q, int32_t token,
                               double accept, double resample) {
  double pt = p[size_t(token)], qt = q[size_t(token)];
  if (qt > 0 && accept * qt < pt)
    return {true, token};
  std::vector<double> rest(p.size());
  double mass = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    rest[i] = std::max(0.0, p[i] - q[i]);
    mass += rest[i];
  }
  // p = q: every proposal is accepted above; guard rounding anyway.
  return {false, drawFrom(mass > 0 ? rest : p, resample)};
}

Result<SpeculativeDecoder> SpeculativeDecoder::create(
    const Generator &generator, const ModelConfig &config,
    SpeculativeOptions options, const SamplingConfig &sampling) {
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
  if (options.maxDraft < 1 || options.maxDraft > Generator::kFewRows - 1)
    return Status::error("--max-draft " + std::to_string(options.maxDraft) +
                         " is outside 1.." +
                         std::to_string(Generator::kFewRows - 1) +
                         " (a verify run of more rows would not have "
                         "decoding's bits)");
  if (!(options.minDraftProbability >= 0 && options.minDraftProbability < 1))
    return Status::error("the draft's minimum probability must be in [0, 1)");
  COLM_TRY(validateSamplingConfig(sampling));
  return SpeculativeDecoder(generator, options, sampling);
}

int64_t SpeculativeDecoder::draftLength() const {
  if (!options.adaptive || counts.drafted < 8 || verifyRun <= 0)
    return options.maxDraft;
  // E[tokens per round] = (1 - a^(g+1)) / (1 - a) for acceptance a, over a
  // round's cost g * draft step + verify run (memory-bound: about one
  // step whatever g).
  double a = std::min(counts.acceptanceRate(), 0.999);
  // Not drafting (a plain step) is a candidate too; every 8th round still
  // drafts one token, so a changing acceptance is noticed.
  int64_t best = counts.rounds % 8 == 0 ? 1 : 0;
  double bestRate =
      best == 0 ? 1.0 / (plainStep > 0 ? plainStep : verifyRun) : 0.0;
  for (int64_t g = 1; g <= options.maxDraft; ++g) {
    double tokens = (1 - std::pow(a, double(g + 1))) / (1 - a);
    double rate = tokens / (double(g) * draftStep + verifyRun);
    if (rate > bestRate) {
      bestRate = rate;
      best = g;
    }
  }
  return best;
}

Result<std::vector<int32_t>>
SpeculativeDecoder::round(Sequence &seq, int32_t next, int64_t budget,
                          TokenSampler &sampler,
                          const std::vector<int32_t> &history) {
  const Generator &g = *generator;
  int64_t vocab = g.config().vocabSize;
  int64_t start = seq.cache.length();
  bool compare = options.sampling == SpeculativeSampling::Compare;
  bool draws = !sampler.config().greedy;
  // Draft no more than the budget and the context allow (the verify run
  // appends next and every draft).
  int64_t want =
      std::min({draftLength(), budget - 1, seq.cache.remaining() - 1});
  // Compare mode: position i of the round gets the uniform plain sampling
  // would draw for it.
  std::vector<double> u =
      compare && draws ? sampler.peekUniforms(want + 1) : std::vector<double>();
  auto uniform = [&](int64_t i) {
    return draws && compare ? u[size_t(i)] : 0.0;
  };

  auto t0 = std::chrono::steady_clock::now();
  std::vector<int32_t> tokens{next}, context = history;
  std::vector<std::vector<double>> q; // the draft's distributions (rejection)
  for (int64_t j = 0; j < want; ++j) {
    COLM_ASSIGN_OR_RETURN(auto logits,
                          g.decode(seq, tokens.back(), options.draftChains,
                                   nullptr, draftWindow()));
    if (options.minDraftProbability > 0 &&
        topProbability(logits) < options.minDraftProbability)
      break;
    int32_t d;
    if (compare) {
      d = draftSampler.sampleWith(logits.data(), vocab, context, uniform(j));
    } else {
      q.push_back(draftSampler.distribution(logits.data(), vocab, context));
      d = drawFrom(q.back(), rejection.uniform());
    }
    tokens.push_back(d);
    context.push_back(d);
  }
  int64_t draft = int64_t(tokens.size()) - 1;
  g.truncate(seq, start);
  double drafting = since(t0);
  counts.draftSeconds += drafting;

  auto t1 = std::chrono::steady_clock::now();
  std::vector<int32_t> out;
  int64_t accepted = 0;
  if (draft == 0) {
    COLM_ASSIGN_OR_RETURN(auto logits, g.decode(seq, next, options.chains));
    out.push_back(
        compare ? sampler.sampleWith(logits.data(), vocab, history, uniform(0))
                : drawFrom(sampler.distribution(logits.data(), vocab, history),
                           rejection.uniform()));
  } else {
    COLM_ASSIGN_OR_RETURN(auto rows, g.extend(seq, tokens, options.chains));
    context = history;
    for (;; ++accepted) {
      const std::vector<float> &row = rows[size_t(accepted)];
      if (compare) {
        int32_t full =
            sampler.sampleWith(row.data(), vocab, context, uniform(accepted));
        out.push_back(full);
        if (accepted == draft || full != tokens[size_t(accepted + 1)])
          break;
      } else {
        std::vector<double> p =
            sampler.distribution(row.data(), vocab, context);
        if (accepted == draft) {
          out.push_back(drawFrom(p, rejection.uniform()));
          break;
        }
        double a = rejection.uniform(), r = rejection.uniform();
        RejectionOutcome o = rejectionStep(p, q[size_t(accepted)],
                                           tokens[size_t(accepted + 1)], a, r);
        out.push_back(o.token);
        if (!o.accepted)
          break;
      }
      context.push_back(out.back());
    }
    g.truncate(seq, start + 1 + accepted);
  }
  if (compare && draws)
    sampler.advance(int64_t(out.size()));
  double verifying = since(t1);
  counts.verifySeconds += verifying;
  ++counts.rounds;
  counts.drafted += draft;
  counts.accepted += accepted;
  if (draft > 0) {
    average(draftStep, drafting / double(draft));
    average(verifyRun, verifying);
  } else {
    average(plainStep, verifying);
  }
  return out;
}

} // namespace colm
