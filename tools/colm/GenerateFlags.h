//===- GenerateFlags.h - flags shared by generate and serve -----*- C++ -*-===//
#ifndef COLM_TOOLS_GENERATEFLAGS_H
#define COLM_TOOLS_GENERATEFLAGS_H

#include "compiler/Speculative.h"
#include "runtime/Config.h"
#include "runtime/Sampling.h"
#include "tools/colm/Args.h"

#include <optional>

namespace colm::cli {

/// "1 token", "5 tokens".
std::string tokens(int64_t n);

/// An error, before any work, when a prompt of `promptTokens` and `maxNew`
/// new tokens cannot fit the context; it names the largest `newFlag` value
/// that fits. `contextGiven`: whether --max-context was given.
Status checkContextFits(int64_t promptTokens, int64_t maxNew,
                        int64_t maxContext, bool contextGiven,
                        int64_t maxPositions, const char *newFlag);

/// --greedy, --temperature, --top-k, --top-p, --repetition-penalty, --seed.
Result<SamplingConfig> samplingFlags(const Args &args);
/// --chains K or --chain-schedule SPEC.
Result<std::vector<std::pair<int64_t, unsigned>>>
chainScheduleFlags(const Args &args, const ModelConfig &config);
/// --prefill-chains 1|all: true for chain-1 prefill.
Result<bool> prefillFlag(const Args &args, const ModelConfig &config);

/// Declares --speculative, --draft-chains, --max-draft, --fixed-draft,
/// --draft-min-prob and --speculative-sampling on `args`.
void addSpeculativeFlags(Args &args);
/// Those flags (nullopt without --speculative, when the others are errors);
/// `chains` is the model whose output counts.
Result<std::optional<SpeculativeOptions>>
speculativeFlags(const Args &args, const ModelConfig &config, unsigned chains);

} // namespace colm::cli

#endif // COLM_TOOLS_GENERATEFLAGS_H
