//===- ServeRequestFuzz.cpp - libFuzzer target for colm serve's requests --===//
//
// Every input is parsed as a /v1/completions and as a /v1/chat/completions
// body, against two models (a CoLM-Air with vocabulary 64 and three chains,
// a one-chain CoLM with vocabulary 300 and a short context). A parse that
// succeeds must give requests the scheduler can run: prompts inside the
// vocabulary and the context, a valid chain schedule and sampling config.
// The per-token helpers then run on logits made from the input.
//
//===----------------------------------------------------------------------===//

// The parser lives with the server (tools/colm) but needs only the runtime:
// compiled here, with the sanitizers, like the runtime sources.
#include "tools/colm/ServeRequest.cpp"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace {

void require(bool ok) {
  if (!ok)
    __builtin_trap();
}

void checkRequest(const colm::serve::ServeRequest &r,
                  const colm::serve::ServeLimits &lim) {
  const colm::ModelConfig &config = *lim.config;
  unsigned chains = static_cast<unsigned>(config.numChains());
  require(!r.choices.empty());
  require(r.n >= 1 && r.numPrompts >= 1);
  require(r.choices.size() == r.numPrompts * static_cast<size_t>(r.n));
  require(static_cast<int64_t>(r.choices.size()) <= lim.maxChoices);
  require(r.chains >= 1 && r.chains <= chains);
  for (const colm::serve::GenerationParams &g : r.choices) {
    require(!g.prompt.empty());
    for (int32_t t : g.prompt)
      require(t >= 0 && t < config.vocabSize);
    require(g.maxTokens >= 0);
    require(static_cast<int64_t>(g.prompt.size()) + g.maxTokens - 1 <=
            lim.maxContext);
    require(!g.schedule.empty() && g.schedule.front().first == 0);
    require(g.schedule.front().second == r.chains);
    for (size_t i = 0; i < g.schedule.size(); ++i) {
      require(g.schedule[i].second >= 1 && g.schedule[i].second <= chains);
      if (i > 0)
        require(g.schedule[i].first > g.schedule[i - 1].first);
    }
    require(colm::validateSamplingConfig(g.sampling).isOk());
    require(g.logprobs >= -1 && g.logprobs <= 20);
    require(std::fabs(g.frequencyPenalty) <= 2 &&
            std::fabs(g.presencePenalty) <= 2);
    for (auto [id, bias] : g.logitBias)
      require(id >= 0 && id < config.vocabSize && std::fabs(bias) <= 100);
    require(!g.chain1Prefill || config.kvSharing);
    require(g.stops.size() <= 5);
  }
}

/// Runs what the scheduler runs per token on logits made from the input.
void exerciseHelpers(const colm::serve::GenerationParams &g, int64_t vocab,
                     const uint8_t *data, size_t size) {
  std::vector<float> logits(static_cast<size_t>(vocab));
  for (int64_t i = 0; i < vocab; ++i) {
    uint8_t b = size ? data[static_cast<size_t>(i) % size] : 0;
    logits[i] = b == 0xFF ? NAN : b == 0xFE ? INFINITY : (b - 128) / 16.0f;
  }
  std::vector<int32_t> generated(g.prompt.begin(), g.prompt.end());
  colm::serve::applyOpenAiPenalties(logits.data(), vocab, generated, g);
  colm::TokenSampler sampler(g.sampling);
  int32_t token = sampler.sample(logits.data(), vocab, g.prompt);
  require(token >= 0 && token < vocab);
  colm::serve::TokenLogprob lp =
      colm::serve::tokenLogprob(logits.data(), vocab, token, g.logprobs);
  require(!(lp.logprob > 0));
  require(lp.top.size() <= static_cast<size_t>(std::max(g.logprobs, 0)));
  for (size_t i = 1; i < lp.top.size(); ++i)
    require(!(lp.top[i].second > lp.top[i - 1].second));
  colm::StopChecker stop(g.stops);
  stop.feed(std::string(reinterpret_cast<const char *>(data),
                        std::min<size_t>(size, 64)));
  (void)stop.takeReady(true);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string_view body(reinterpret_cast<const char *>(data), size);
  static colm::Tokenizer tokenizer;
  static colm::ModelConfig air, dense;
  static bool init = [] {
    air.vocabSize = 64;
    air.chains = {1, 1, 2};
    air.kvSharing = true;
    dense.vocabSize = 300;
    dense.chains = {1};
    return true;
  }();
  (void)init;
  struct Setup {
    const colm::ModelConfig *config;
    int64_t maxContext;
  } setups[] = {{&air, 96}, {&dense, 8}};
  for (const Setup &s : setups) {
    colm::serve::ServeLimits lim;
    lim.config = s.config;
    lim.tokenizer = &tokenizer;
    lim.maxContext = s.maxContext;
    lim.maxChoices = 8;
    lim.defaultSeed = 1;
    for (bool chat : {false, true}) {
      colm::serve::RequestError error;
      auto r = chat ? colm::serve::parseChatRequest(body, lim, &error)
                    : colm::serve::parseCompletionRequest(body, lim, &error);
      if (!r) {
        require(!r.status().message().empty());
        require(error.message == r.status().message());
        continue;
      }
      checkRequest(*r, lim);
      exerciseHelpers(r->choices.front(), s.config->vocabSize, data, size);
    }
  }
  // The schedule grammar on its own.
  if (size < 64) {
    auto schedule = colm::parseChainSchedule(body, 3, "chain_schedule");
    if (schedule) {
      require(!schedule->empty() && schedule->front().first == 0);
      for (size_t i = 1; i < schedule->size(); ++i)
        require((*schedule)[i].first > (*schedule)[i - 1].first);
    }
  }
  (void)colm::serve::tokenDisplay(tokenizer, size ? data[0] : 0);
  return 0;
}
