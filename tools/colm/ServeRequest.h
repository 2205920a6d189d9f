//===- ServeRequest.h - colm serve's request bodies -------------*- C++ -*-===//
//
// Parsing and validation of the JSON bodies of POST /v1/completions and POST
// /v1/chat/completions (OpenAI's shapes, plus colm's extensions), the plain
// chat template, and the pure per-token helpers the scheduler uses (OpenAI's
// penalties, log-probabilities). Only runtime/ headers: the fuzzer
// (test/fuzz/ServeRequestFuzz.cpp) compiles this file without MLIR.
//
//===----------------------------------------------------------------------===//
#ifndef COLM_TOOLS_SERVEREQUEST_H
#define COLM_TOOLS_SERVEREQUEST_H

#include "runtime/Config.h"
#include "runtime/Sampling.h"
#include "runtime/Status.h"
#include "runtime/Tokenizer.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace colm::serve {

/// From generated token `first` on, use `chains` chains.
using colm::ChainSchedule;

/// Everything the scheduler needs to generate one choice.
struct GenerationParams {
  std::vector<int32_t> prompt;
  int64_t maxTokens = 16;
  SamplingConfig sampling;
  /// OpenAI's penalties over the generated tokens: logit[j] -= count[j] *
  /// frequencyPenalty + (count[j] > 0) * presencePenalty.
  double frequencyPenalty = 0, presencePenalty = 0;
  /// Added to the logits of these token ids before sampling.
  std::vector<std::pair<int32_t, double>> logitBias;
  ChainSchedule schedule;
  /// "chains": "auto": the scheduler chooses the chain count at every
  /// step within [minChains, maxChains] to meet the latency targets
  /// (runtime/ChainController.h); the schedule then holds maxChains.
  bool autoChains = false;
  unsigned minChains = 1, maxChains = 0;
  /// "latency_target": seconds to the first token and per output token
  /// (0: none).
  double ttftTarget = 0, tpotTarget = 0;
  bool chain1Prefill = false;
  /// "speculative": CoLM-Air self-speculative decoding (compare mode: the
  /// same tokens) with a draft of `draftChains` chains, up to `maxDraft`
  /// tokens a round.
  bool speculative = false;
  unsigned draftChains = 1;
  int64_t maxDraft = 4;
  /// The draft attends to the first block and this many last positions
  /// (0: all; SpeculativeOptions::draftWindow).
  int64_t draftWindow = 0;
  std::vector<std::string> stops;
  /// -1: no log-probabilities; otherwise the alternatives per token (0..20).
  int logprobs = -1;
  /// Completions with "echo": the prompt comes back first (with its
  /// log-probabilities when logprobs >= 0).
  bool echo = false;
};

enum class Api { Completions, Chat };

struct ServeRequest {
  Api api = Api::Completions;
  /// One entry per choice: prompt p's choice i is entry p * n + i.
  std::vector<GenerationParams> choices;
  int64_t n = 1;
  size_t numPrompts = 1;
  bool stream = false;
  /// stream_options.include_usage: a last chunk with the usage.
  bool includeUsage = false;
  /// The requested model, empty when absent (or null).
  std::string model;
  std::string user;
  /// Chains at generated token 0 (the "chains" extension field of answers).
  unsigned chains = 0;
  /// OpenAI fields this server does not implement, ignored (for the log).
  std::vector<std::string> ignored;
};

struct ServeLimits {
  const ModelConfig *config = nullptr;
  const Tokenizer *tokenizer = nullptr;
  int64_t maxContext = 0;
  /// Choices per request (prompts x n) at most.
  int64_t maxChoices = 64;
  /// The seed of a request that gives none (choice i gets seed + i).
  uint64_t defaultSeed = 0;
};

/// A request that cannot be served: the message, and the field it is about
/// (OpenAI's "param"; empty when it concerns the whole body).
struct RequestError {
  std::string message;
  std::string param;
};

/// Parse and validate a body. On failure returns an error and fills `error`
/// (when given) with the message and the field. `null` for any optional
/// field means its default.
Result<ServeRequest> parseCompletionRequest(std::string_view body,
                                            const ServeLimits &limits,
                                            RequestError *error = nullptr);
Result<ServeRequest> parseChatRequest(std::string_view body,
                                      const ServeLimits &limits,
                                      RequestError *error = nullptr);

/// The plain chat template, for models without one of their own (every colm
/// model directory today): each message as "ROLE: CONTENT\n" ("developer"
/// becomes "system"), then "assistant:". Generation also stops at
/// kChatTurnStop, where the model starts writing the user's next turn.
struct ChatMessage {
  std::string role, content;
};
std::string plainChatPrompt(const std::vector<ChatMessage> &messages);
inline constexpr const char *kChatTurnStop = "\nuser:";

/// A token's log-probability under log-softmax(logits), and the `top` most
/// likely tokens (ties to the lower id) with theirs. NaN logits count as
/// -infinity.
struct TokenLogprob {
  int32_t token = 0;
  double logprob = 0;
  std::vector<std::pair<int32_t, double>> top;
};
TokenLogprob tokenLogprob(const float *logits, int64_t vocab, int32_t token,
                          int top);

/// OpenAI's frequency and presence penalties over `generated` and the logit
/// bias, in place.
void applyOpenAiPenalties(float *logits, int64_t vocab,
                          const std::vector<int32_t> &generated,
                          const GenerationParams &params);

/// A token as text for log-probability tables: its bytes when they are
/// UTF-8 on their own, "bytes:\xNN" for a lone byte that is not.
std::string tokenDisplay(const Tokenizer &tokenizer, int32_t token);

} // namespace colm::serve

#endif // COLM_TOOLS_SERVEREQUEST_H
