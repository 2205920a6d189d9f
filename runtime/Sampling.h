//===- Sampling.h - Next-token sampling and stop strings --------*- C++ -*-===//
//
// TokenSampler turns one position's logits into a token id: repetition
// penalty, then greedy argmax or temperature / top-k / top-p sampling drawn
// from colm::Random, so a seed gives the same tokens on every platform (up to
// libm's exp, which the probabilities go through). StopChecker watches the
// generated text for stop strings and says which part may be streamed.
//
//===----------------------------------------------------------------------===//

#ifndef COLM_RUNTIME_SAMPLING_H
#define COLM_RUNTIME_SAMPLING_H

#include "runtime/Random.h"
#include "runtime/Status.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace colm {

struct SamplingConfig {
  /// Argmax after the repetition penalty; temperature, top-k and top-p are
  /// then ignored and no random numbers are drawn.
  bool greedy = false;
  double temperature = 1.0;
  /// Keep the k highest logits; 0 = off.
  int64_t topK = 0;
  /// Keep the smallest set of most likely tokens whose probability sum is >=
  /// topP; 1 = off.
  double topP = 1.0;
  /// Hugging Face / CTRL repetition penalty; 1 = off.
  double repetitionPenalty = 1.0;
  uint64_t seed = 0;
};

/// Errors name the command-line flag: --temperature must be > 0 (unless
/// greedy), --top-k >= 0, --top-p in (0, 1], --repetition-penalty > 0; all
/// finite.
Status validateSamplingConfig(const SamplingConfig &config);

/// Applies the repetition penalty in place: for every distinct id of
/// `history` in [0, vocab), logit > 0 ? logit / penalty : logit * penalty.
/// Ids outside [0, vocab) are ignored.
void applyRepetitionPenalty(double *logits, int64_t vocab,
                            const std::vector<int32_t> &history,
                            double penalty);

class TokenSampler {
public:
  /// `config` must pass validateSamplingConfig().
  explicit TokenSampler(SamplingConfig config);

  /// The next token for `logits[0..vocab)` (vocab >= 1), given the tokens so
  /// far (prompt and generated) for the repetition penalty. NaN logits count
  /// as -infinity; if no token has a finite logit the lowest id is returned.
  /// Greedy returns the argmax, the lowest id on ties. Otherwise: divide by
  /// the temperature, keep the top-k (ties to the lower id), softmax in
  /// double, keep the top-p nucleus (at least one token), renormalise, and
  /// draw with one Random::uniform().
  int32_t sample(const float *logits, int64_t vocab,
                 const std::vector<int32_t> &history);

  /// sample() with the uniform `u` in [0, 1) instead of the next draw of
  /// the stream (greedy ignores it).
  int32_t sampleWith(const float *logits, int64_t vocab,
                     const std::vector<int32_t> &history, double u);
  /// The next `n` uniforms of the stream, which sample() would draw, without
  /// drawing them; advance() draws them. Self-speculative decoding's
  /// "sample and compare" gives draft and verify positions the draws that
  /// plain sampling gives them.
  std::vector<double> peekUniforms(int64_t n) const;
  void advance(int64_t n);
  /// The probabilities sample() draws from (after the penalty, temperature,
  /// top-k and top-p; zero outside what they keep), in token order; greedy:
  /// all mass on the argmax.
  std::vector<double> distribution(const float *logits, int64_t vocab,
                                   const std::vector<int32_t> &history);

  const SamplingConfig &config() const { return cfg; }

private:
  /// The penalty, temperature, top-k and top-p into work/order: a token
  /// when the choice needs no draw (greedy, no finite logit), else -1 with
  /// order[0..kept) the candidates, work their weights summing to mass.
  int32_t prepare(const float *logits, int64_t vocab,
                  const std::vector<int32_t> &history, size_t *kept,
                  double *mass);
  /// The candidate where u * mass falls.
  int32_t draw(size_t kept, double mass, double u) const;

  SamplingConfig cfg;
  Random rng;
  std::vector<double> work;
  std::vector<int32_t> order;
};

/// Watches generated text for stop strings.
class StopChecker {
public:
  /// Empty stop strings are ignored.
  explicit StopChecker(std::vector<std::string> stops);

  /// Adds newly generated text; returns true once the text contains any stop
  /// string (and from then on, ignoring further text).
  bool feed(const std::string &newText);
  bool stopped() const { return hit; }

  /// The text so far, cut before the first stop string once one occurred.
  std::string text() const;

  /// For streaming: the part of text() not returned before that can no
  /// longer turn out to be the start of a stop string. With `final` (the
  /// generation ended), everything not returned before.
  std::string takeReady(bool final = false);

private:
  std::vector<std::string> stops;
  size_t maxStop = 0;
  std::string buffer;
  /// Length of text() once a stop string was found.
  size_t cut = 0;
  bool hit = false;
  size_t taken = 0;
};

/// When each chain count starts: {generated-token index, chains}, sorted,
/// the first at index 0.
using ChainSchedule = std::vector<std::pair<int64_t, unsigned>>;

/// "0:1,8:3,16:2": from generated token 0 use 1 chain, from 8 use 3, from 16
/// use 2. `what` names the flag or field in errors ("--chain-schedule").
Result<ChainSchedule> parseChainSchedule(std::string_view spec,
                                         unsigned numChains,
                                         const std::string &what);
/// The chain count for generated token `index` under `schedule`.
unsigned chainsAt(const ChainSchedule &schedule, int64_t index);

} // namespace colm

#endif // COLM_RUNTIME_SAMPLING_H
