//===- ServeRequest.cpp - colm serve's request bodies -----------*- C++ -*-===//
#include "tools/colm/ServeRequest.h"

#include "runtime/Json.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <unordered_map>

namespace colm::serve {
namespace {

std::string quoted(std::string_view key) {
  return "\"" + std::string(key) + "\"";
}

std::string numberText(double x) {
  std::string s = std::to_string(x);
  // 2.000000 -> 2, 0.500000 -> 0.5
  if (s.find('.') != std::string::npos) {
    while (!s.empty() && s.back() == '0')
      s.pop_back();
    if (!s.empty() && s.back() == '.')
      s.pop_back();
  }
  return s;
}

/// OpenAI fields this server accepts but does not implement: ignored, with
/// a line in the log. `benign` values change nothing and are not reported.
bool ignoredField(Api api, const std::string &key, const JsonValue &v,
                  bool &benign) {
  benign = false;
  static const char *const both[] = {"service_tier", "store", "metadata",
                                     "prompt_cache_key", "safety_identifier"};
  static const char *const completions[] = {"suffix"};
  static const char *const chat[] = {"tools",
                                     "tool_choice",
                                     "functions",
                                     "function_call",
                                     "parallel_tool_calls",
                                     "response_format",
                                     "modalities",
                                     "audio",
                                     "prediction",
                                     "reasoning_effort",
                                     "web_search_options",
                                     "verbosity"};
  bool known =
      std::find(std::begin(both), std::end(both), key) != std::end(both);
  if (api == Api::Completions)
    known = known || std::find(std::begin(completions), std::end(completions),
                               key) != std::end(completions);
  else
    known = known ||
            std::find(std::begin(chat), std::end(chat), key) != std::end(chat);
  if (!known)
    return false;
  if (key == "store")
    benign = v.isBool() && !v.asBool();
  else if (key == "suffix")
    benign = v.isString() && v.asString().empty();
  else if (key == "tools" || key == "functions")
    benign = v.isArray() && v.size() == 0;
  else if (key == "tool_choice" || key == "function_call")
    benign = v.isString() && v.asString() == "none";
  else if (key == "parallel_tool_calls")
    benign = v.isBool();
  else if (key == "response_format")
    benign = v.isObject() && v.find("type") && v.find("type")->isString() &&
             v.find("type")->asString() == "text";
  else if (key == "modalities")
    benign = v.isArray() && v.size() == 1 && v[0].isString() &&
             v[0].asString() == "text";
  else if (key == "metadata" || key == "prompt_cache_key" ||
           key == "safety_identifier" || key == "service_tier")
    benign = true; // bookkeeping only
  return true;
}

class Parser {
public:
  Parser(Api api, const ServeLimits &limits, RequestError *error)
      : api(api), lim(limits), err(error) {}

  Result<ServeRequest> parse(std::string_view body);

private:
  Status fail(const std::string &param, const std::string &message) {
    if (err) {
      err->message = message;
      err->param = param;
    }
    return Status::error(message);
  }
  Result<double> number(const JsonValue &v, const std::string &key, double lo,
                        double hi) {
    if (!v.isNumber() || !std::isfinite(v.asDouble()) || v.asDouble() < lo ||
        v.asDouble() > hi)
      return fail(key, quoted(key) + " must be a number in [" + numberText(lo) +
                           ", " + numberText(hi) + "]");
    return v.asDouble();
  }
  Result<int64_t> integer(const JsonValue &v, const std::string &key,
                          int64_t lo, int64_t hi) {
    if (!v.isInteger() || v.asInt() < lo || v.asInt() > hi)
      return fail(key, quoted(key) + " must be an integer in [" +
                           std::to_string(lo) + ", " + std::to_string(hi) +
                           "]");
    return v.asInt();
  }
  Result<bool> boolean(const JsonValue &v, const std::string &key) {
    if (!v.isBool())
      return fail(key, quoted(key) + " must be true or false");
    return v.asBool();
  }
  Status tokenIds(const JsonValue &v, const std::string &key,
                  std::vector<int32_t> &out);
  Status prompt(const JsonValue &v);
  Status messages(const JsonValue &v);
  Status field(const std::string &key, const JsonValue &v);

  Api api;
  const ServeLimits &lim;
  RequestError *err;
  ServeRequest req;
  GenerationParams base;
  std::vector<std::vector<int32_t>> prompts;
  bool hasPrompt = false, hasChains = false, hasSchedule = false;
  unsigned minChains = 0, maxChains = 0;
  bool hasMaxTokens = false, seeded = false, chatLogprobs = false;
  int64_t topLogprobs = -1, bestOf = 0, maxCompletionTokens = -1;
  double temperature = 1.0;
  uint64_t seed = 0;
};

Status Parser::tokenIds(const JsonValue &v, const std::string &key,
                        std::vector<int32_t> &out) {
  int64_t vocab = lim.config->vocabSize;
  for (const JsonValue &id : v.elements()) {
    if (!id.isInteger() || id.asInt() < 0 || id.asInt() >= vocab)
      return fail(key, quoted(key) + " token ids must be integers in [0, " +
                           std::to_string(vocab) + ")");
    out.push_back(static_cast<int32_t>(id.asInt()));
  }
  return Status::ok();
}

Status Parser::prompt(const JsonValue &v) {
  hasPrompt = true;
  const char *shape = "\"prompt\" must be a string, an array of token ids, "
                      "or an array of strings or of token id arrays";
  if (v.isString()) {
    prompts.push_back(lim.tokenizer->encode(v.asString()));
    return Status::ok();
  }
  if (!v.isArray())
    return fail("prompt", shape);
  if (v.size() == 0)
    return fail("prompt", "\"prompt\" is empty");
  if (v[0].isNumber()) { // one prompt of token ids
    prompts.emplace_back();
    return tokenIds(v, "prompt", prompts.back());
  }
  // A batch: every element a string or an array of token ids.
  for (const JsonValue &p : v.elements()) {
    if (p.isString()) {
      prompts.push_back(lim.tokenizer->encode(p.asString()));
    } else if (p.isArray()) {
      prompts.emplace_back();
      COLM_TRY(tokenIds(p, "prompt", prompts.back()));
    } else {
      return fail("prompt", shape);
    }
    if (static_cast<int64_t>(prompts.size()) > lim.maxChoices)
      return fail("prompt", "at most " + std::to_string(lim.maxChoices) +
                                " prompts per request");
  }
  return Status::ok();
}

Status Parser::messages(const JsonValue &v) {
  hasPrompt = true;
  if (!v.isArray())
    return fail("messages", "\"messages\" must be an array of messages");
  if (v.size() == 0)
    return fail("messages", "\"messages\" is empty");
  static const char *const roles[] = {"system",    "developer", "user",
                                      "assistant", "tool",      "function"};
  std::vector<ChatMessage> chat;
  for (size_t i = 0; i < v.size(); ++i) {
    std::string where = "messages[" + std::to_string(i) + "]";
    const JsonValue &m = v[i];
    if (!m.isObject())
      return fail(where, where + " must be an object with \"role\" and "
                                 "\"content\"");
    ChatMessage msg;
    bool hasRole = false;
    for (size_t k = 0; k < m.keys().size(); ++k) {
      const std::string &key = m.keys()[k];
      const JsonValue &x = m.elements()[k];
      if (x.isNull())
        continue;
      if (key == "role") {
        if (!x.isString() || std::find(std::begin(roles), std::end(roles),
                                       x.asString()) == std::end(roles))
          return fail(where + ".role",
                      where + ".role must be one of system, developer, "
                              "user, assistant, tool, function");
        msg.role = x.asString();
        hasRole = true;
      } else if (key == "content") {
        if (x.isString()) {
          msg.content = x.asString();
        } else if (x.isArray()) {
          for (size_t j = 0; j < x.size(); ++j) {
            std::string part = where + ".content[" + std::to_string(j) + "]";
            const JsonValue &p = x[j];
            const JsonValue *type = p.isObject() ? p.find("type") : nullptr;
            if (!type || !type->isString())
              return fail(part, part + " must be an object with a \"type\"");
            const JsonValue *text = p.find(type->asString());
            if (type->asString() != "text" && type->asString() != "refusal")
              return fail(part, part +
                                    ": only text content is supported, "
                                    "not \"" +
                                    type->asString() + "\"");
            if (!text || !text->isString())
              return fail(part,
                          part + "." + type->asString() + " must be a string");
            msg.content += text->asString();
          }
        } else {
          return fail(where + ".content",
                      where + ".content must be a string or an array of "
                              "text parts");
        }
      } else if (key == "name" || key == "tool_call_id" || key == "refusal") {
        // Metadata the plain template has no place for.
      } else {
        req.ignored.push_back(where + "." + key);
      }
    }
    if (!hasRole)
      return fail(where + ".role", where + " has no \"role\"");
    chat.push_back(std::move(msg));
  }
  prompts.push_back(lim.tokenizer->encode(plainChatPrompt(chat)));
  return Status::ok();
}

Status Parser::field(const std::string &key, const JsonValue &v) {
  const ModelConfig &config = *lim.config;
  unsigned n = static_cast<unsigned>(config.numChains());
  bool chat = api == Api::Chat;
  bool benign = false;
  if (!chat && key == "prompt")
    return prompt(v);
  if (chat && key == "messages")
    return messages(v);
  if (key == "model") {
    if (!v.isString())
      return fail(key, "\"model\" must be a string");
    req.model = v.asString();
  } else if (key == "max_tokens" || (chat && key == "max_completion_tokens")) {
    COLM_ASSIGN_OR_RETURN(int64_t m, integer(v, key, 0, lim.maxContext));
    if (key == "max_tokens")
      base.maxTokens = m;
    else
      maxCompletionTokens = m;
    hasMaxTokens = true;
  } else if (key == "temperature") {
    COLM_ASSIGN_OR_RETURN(temperature, number(v, key, 0, 100));
  } else if (key == "top_p") {
    COLM_ASSIGN_OR_RETURN(double p, number(v, key, 0, 1));
    // 0 keeps only the most likely token, as the smallest nucleus does.
    base.sampling.topP = std::max(p, 1e-9);
  } else if (key == "top_k") {
    COLM_ASSIGN_OR_RETURN(base.sampling.topK,
                          integer(v, key, 0, config.vocabSize));
  } else if (key == "repetition_penalty") {
    COLM_ASSIGN_OR_RETURN(base.sampling.repetitionPenalty,
                          number(v, key, 1e-6, 1e6));
  } else if (key == "frequency_penalty") {
    COLM_ASSIGN_OR_RETURN(base.frequencyPenalty, number(v, key, -2, 2));
  } else if (key == "presence_penalty") {
    COLM_ASSIGN_OR_RETURN(base.presencePenalty, number(v, key, -2, 2));
  } else if (key == "logit_bias") {
    if (!v.isObject())
      return fail(key, "\"logit_bias\" must be an object of token ids to "
                       "numbers in [-100, 100]");
    for (size_t i = 0; i < v.keys().size(); ++i) {
      const std::string &id = v.keys()[i];
      char *end = nullptr;
      long long t = id.empty() ? -1 : std::strtoll(id.c_str(), &end, 10);
      if (id.empty() || *end != '\0' || t < 0 || t >= config.vocabSize ||
          !std::isdigit(static_cast<unsigned char>(id[0])))
        return fail(key, "\"logit_bias\" keys must be token ids in [0, " +
                             std::to_string(config.vocabSize) + "), got \"" +
                             id + "\"");
      COLM_ASSIGN_OR_RETURN(double bias,
                            number(v.elements()[i], key, -100, 100));
      base.logitBias.push_back({static_cast<int32_t>(t), bias});
    }
  } else if (key == "seed") {
    if (!v.isInteger())
      return fail(key, "\"seed\" must be an integer");
    seed = static_cast<uint64_t>(v.asInt());
    seeded = true;
  } else if (key == "stop") {
    if (v.isString()) {
      base.stops.push_back(v.asString());
    } else if (v.isArray() && v.size() <= 4) {
      for (const JsonValue &s : v.elements()) {
        if (!s.isString())
          return fail(key, "\"stop\" must hold strings");
        base.stops.push_back(s.asString());
      }
    } else {
      return fail(key, "\"stop\" must be a string or up to 4 strings");
    }
  } else if (key == "stream") {
    COLM_ASSIGN_OR_RETURN(req.stream, boolean(v, key));
  } else if (key == "stream_options") {
    if (!v.isObject())
      return fail(key, "\"stream_options\" must be an object");
    for (size_t i = 0; i < v.keys().size(); ++i) {
      const JsonValue &x = v.elements()[i];
      if (x.isNull())
        continue;
      if (v.keys()[i] == "include_usage") {
        COLM_ASSIGN_OR_RETURN(req.includeUsage,
                              boolean(x, "stream_options.include_usage"));
      } else {
        req.ignored.push_back("stream_options." + v.keys()[i]);
      }
    }
  } else if (key == "n") {
    COLM_ASSIGN_OR_RETURN(req.n, integer(v, key, 1, lim.maxChoices));
  } else if (key == "user") {
    if (!v.isString())
      return fail(key, "\"user\" must be a string");
    req.user = v.asString();
  } else if (!chat && key == "logprobs") {
    if (v.isBool()) { // leniency: false = none, true = the chosen tokens only
      base.logprobs = v.asBool() ? 0 : -1;
    } else {
      COLM_ASSIGN_OR_RETURN(int64_t k, integer(v, key, 0, 20));
      base.logprobs = static_cast<int>(k);
    }
  } else if (chat && key == "logprobs") {
    COLM_ASSIGN_OR_RETURN(chatLogprobs, boolean(v, key));
  } else if (chat && key == "top_logprobs") {
    COLM_ASSIGN_OR_RETURN(topLogprobs, integer(v, key, 0, 20));
  } else if (!chat && key == "echo") {
    COLM_ASSIGN_OR_RETURN(base.echo, boolean(v, key));
  } else if (!chat && key == "best_of") {
    // Not implemented: harmless when it equals n, ignored otherwise.
    bestOf = v.isInteger() ? v.asInt() : -1;
  } else if (key == "chains") {
    if (v.isString() && v.asString() == "auto") {
      base.autoChains = true;
    } else {
      if (v.isString())
        return fail(key, "\"chains\" must be an integer in [1, " +
                             std::to_string(n) + "] or \"auto\"");
      COLM_ASSIGN_OR_RETURN(int64_t k, integer(v, key, 1, n));
      base.schedule = {{0, static_cast<unsigned>(k)}};
    }
    hasChains = true;
  } else if (key == "speculative") {
    // true, or {"draft_chains": K, "max_draft": G}.
    if (v.isBool()) {
      base.speculative = v.asBool();
    } else if (v.isObject()) {
      base.speculative = true;
      for (size_t i = 0; i < v.keys().size(); ++i) {
        const std::string &k = v.keys()[i];
        if (k == "draft_chains") {
          COLM_ASSIGN_OR_RETURN(int64_t d,
                                integer(v.elements()[i], key + "." + k, 1, n));
          base.draftChains = unsigned(d);
        } else if (k == "max_draft") {
          COLM_ASSIGN_OR_RETURN(base.maxDraft,
                                integer(v.elements()[i], key + "." + k, 1, 15));
        } else if (k == "draft_window") {
          COLM_ASSIGN_OR_RETURN(
              base.draftWindow,
              integer(v.elements()[i], key + "." + k, 0, int64_t(1) << 30));
        } else {
          return fail(key + "." + k, "unknown field \"" + k +
                                         "\" in \"speculative\" "
                                         "(draft_chains, max_draft, "
                                         "draft_window)");
        }
      }
    } else {
      return fail(key, "\"speculative\" must be true, false or an object "
                       "like {\"draft_chains\": 1, \"max_draft\": 4}");
    }
  } else if (key == "min_chains" || key == "max_chains") {
    COLM_ASSIGN_OR_RETURN(int64_t k, integer(v, key, 1, n));
    (key == "min_chains" ? minChains : maxChains) = unsigned(k);
  } else if (key == "latency_target") {
    if (!v.isObject())
      return fail(key, "\"latency_target\" must be an object like "
                       "{\"tpot_ms\": 50, \"ttft_ms\": 500}");
    for (size_t i = 0; i < v.keys().size(); ++i) {
      const std::string &k = v.keys()[i];
      if (k != "ttft_ms" && k != "tpot_ms")
        return fail(key + "." + k, "unknown field \"" + k +
                                       "\" in \"latency_target\" (ttft_ms, "
                                       "tpot_ms)");
      COLM_ASSIGN_OR_RETURN(double ms,
                            number(v.elements()[i], key + "." + k, 1e-3, 1e7));
      (k == "ttft_ms" ? base.ttftTarget : base.tpotTarget) = ms / 1000;
    }
  } else if (key == "chain_schedule") {
    if (!v.isString())
      return fail(key, "\"chain_schedule\" must be a string like \"0:1,8:3\"");
    auto schedule = parseChainSchedule(v.asString(), n, "\"chain_schedule\"");
    if (!schedule)
      return fail(key, schedule.status().message());
    base.schedule = schedule.take();
    hasSchedule = true;
  } else if (key == "prefill_chains") {
    if (!v.isString() || (v.asString() != "1" && v.asString() != "all"))
      return fail(key, "\"prefill_chains\" must be \"1\" or \"all\"");
    if (v.asString() == "1" && !config.kvSharing)
      return fail(key, "\"prefill_chains\": \"1\" needs a CoLM-Air model");
    base.chain1Prefill = v.asString() == "1";
  } else if (ignoredField(api, key, v, benign)) {
    if (!benign)
      req.ignored.push_back(key);
  } else {
    return fail(key, "unknown field " + quoted(key));
  }
  return Status::ok();
}

Result<ServeRequest> Parser::parse(std::string_view body) {
  auto parsed = parseJson(body, "request body");
  if (!parsed)
    return fail("", parsed.status().message());
  const JsonValue &o = *parsed;
  if (!o.isObject())
    return fail("", "the request body must be a JSON object");
  const ModelConfig &config = *lim.config;
  unsigned numChains = static_cast<unsigned>(config.numChains());
  req.api = api;
  base.schedule = {{0, numChains}};
  base.chain1Prefill = config.kvSharing;
  for (size_t i = 0; i < o.keys().size(); ++i) {
    const JsonValue &v = o.elements()[i];
    if (v.isNull())
      continue; // null means the default
    COLM_TRY(field(o.keys()[i], v));
  }
  bool chat = api == Api::Chat;
  if (!hasPrompt)
    return fail(chat ? "messages" : "prompt",
                chat ? "missing \"messages\"" : "missing \"prompt\"");
  if (hasChains && hasSchedule)
    return fail("chains", "give \"chains\" or \"chain_schedule\", not both");
  if (base.speculative) {
    const char *why =
        !config.kvSharing ? "needs a CoLM-Air model (kv_sharing)"
        : base.autoChains || hasSchedule
            ? "takes a fixed \"chains\" (not \"auto\" or a schedule)"
        : base.frequencyPenalty != 0 || base.presencePenalty != 0 ||
                !base.logitBias.empty()
            ? "does not take frequency or presence penalties or a logit bias"
        : (chat ? chatLogprobs : base.logprobs >= 0)
            ? "does not return log-probabilities"
            : nullptr;
    if (why)
      return fail("speculative", std::string("\"speculative\" ") + why);
    if (base.draftChains >= base.schedule.front().second)
      return fail("speculative",
                  "the draft needs fewer chains than the model it drafts "
                  "for: draft_chains " +
                      std::to_string(base.draftChains) + ", chains " +
                      std::to_string(base.schedule.front().second));
  }
  if ((minChains || maxChains) && !base.autoChains)
    return fail(minChains ? "min_chains" : "max_chains",
                "\"min_chains\" and \"max_chains\" need \"chains\": "
                "\"auto\"");
  if (base.autoChains) {
    base.minChains = minChains ? minChains : 1;
    base.maxChains = maxChains ? maxChains : numChains;
    if (base.minChains > base.maxChains)
      return fail("min_chains", "\"min_chains\" " +
                                    std::to_string(base.minChains) +
                                    " exceeds \"max_chains\" " +
                                    std::to_string(base.maxChains));
    base.schedule = {{0, base.maxChains}};
  }
  if (chat) {
    if (topLogprobs >= 0 && !chatLogprobs)
      return fail("top_logprobs", "\"top_logprobs\" needs \"logprobs\": true");
    base.logprobs =
        chatLogprobs ? static_cast<int>(std::max<int64_t>(topLogprobs, 0)) : -1;
    if (maxCompletionTokens >= 0)
      base.maxTokens = maxCompletionTokens;
    base.stops.push_back(kChatTurnStop);
  }
  if (bestOf != 0 && bestOf != req.n)
    req.ignored.push_back("best_of");
  for (size_t p = 0; p < prompts.size(); ++p) {
    const std::vector<int32_t> &tokens = prompts[p];
    if (tokens.empty())
      return fail(chat ? "messages" : "prompt",
                  chat ? "the chat prompt is empty" : "\"prompt\" is empty");
    for (size_t i = 0; i < tokens.size(); ++i)
      if (tokens[i] >= config.vocabSize)
        return fail(chat ? "messages" : "prompt",
                    std::string(chat ? "the chat prompt's" : "\"prompt\"") +
                        " token " + std::to_string(tokens[i]) +
                        " at position " + std::to_string(i) +
                        " is outside the model's vocabulary of " +
                        std::to_string(config.vocabSize));
  }
  size_t longest = 0;
  for (const auto &tokens : prompts)
    longest = std::max(longest, tokens.size());
  // The last generated token needs no cache position.
  int64_t room = lim.maxContext + 1 - static_cast<int64_t>(longest);
  if (chat && !hasMaxTokens) // OpenAI's chat default: up to the context
    base.maxTokens = std::max<int64_t>(room, 0);
  if (base.maxTokens > room || room < 1)
    return fail(chat ? "max_tokens" : "prompt",
                "the prompt (" + std::to_string(longest) +
                    " tokens) plus max_tokens (" +
                    std::to_string(base.maxTokens) +
                    ") exceed the context of " +
                    std::to_string(lim.maxContext) + " tokens");
  if (static_cast<int64_t>(prompts.size()) * req.n > lim.maxChoices)
    return fail("n", "prompts x n must be at most " +
                         std::to_string(lim.maxChoices) + ", got " +
                         std::to_string(prompts.size()) + " x " +
                         std::to_string(req.n));
  base.sampling.greedy = temperature == 0.0;
  base.sampling.temperature = temperature == 0.0 ? 1.0 : temperature;
  Status valid = validateSamplingConfig(base.sampling);
  if (!valid)
    return fail("", valid.message());
  req.chains = base.schedule.front().second;
  req.numPrompts = prompts.size();
  uint64_t first = seeded ? seed : lim.defaultSeed;
  for (size_t p = 0; p < prompts.size(); ++p)
    for (int64_t i = 0; i < req.n; ++i) {
      GenerationParams g = base;
      g.prompt = prompts[p];
      g.sampling.seed = first + req.choices.size();
      req.choices.push_back(std::move(g));
    }
  return std::move(req);
}

} // namespace

Result<ServeRequest> parseCompletionRequest(std::string_view body,
                                            const ServeLimits &limits,
                                            RequestError *error) {
  return Parser(Api::Completions, limits, error).parse(body);
}

Result<ServeRequest> parseChatRequest(std::string_view body,
                                      const ServeLimits &limits,
                                      RequestError *error) {
  return Parser(Api::Chat, limits, error).parse(body);
}

std::string plainChatPrompt(const std::vector<ChatMessage> &messages) {
  std::string text;
  for (const ChatMessage &m : messages)
    text += (m.role == "developer" ? std::string("system") : m.role) + ": " +
            m.content + "\n";
  return text + "assistant:";
}

TokenLogprob tokenLogprob(const float *logits, int64_t vocab, int32_t token,
                          int top) {
  constexpr double kNegInf = -std::numeric_limits<double>::infinity();
  auto value = [&](int64_t i) {
    return std::isnan(logits[i]) ? kNegInf : static_cast<double>(logits[i]);
  };
  double max = kNegInf;
  for (int64_t i = 0; i < vocab; ++i)
    max = std::max(max, value(i));
  double sum = 0;
  if (std::isfinite(max))
    for (int64_t i = 0; i < vocab; ++i)
      sum += std::exp(value(i) - max);
  double logZ = std::isfinite(max) ? max + std::log(sum) : max;
  auto logprob = [&](int64_t i) {
    double x = value(i);
    if (!std::isfinite(logZ))
      return x == logZ ? 0.0 : kNegInf;
    return x - logZ;
  };
  TokenLogprob t;
  t.token = token;
  t.logprob = token >= 0 && token < vocab ? logprob(token) : kNegInf;
  int64_t k = std::min<int64_t>(std::max(top, 0), vocab);
  if (k > 0) {
    std::vector<int32_t> ids(static_cast<size_t>(vocab));
    for (int64_t i = 0; i < vocab; ++i)
      ids[i] = static_cast<int32_t>(i);
    std::partial_sort(ids.begin(), ids.begin() + k, ids.end(),
                      [&](int32_t a, int32_t b) {
                        double x = value(a), y = value(b);
                        return x > y || (x == y && a < b);
                      });
    for (int64_t i = 0; i < k; ++i)
      t.top.push_back({ids[i], logprob(ids[i])});
  }
  return t;
}

void applyOpenAiPenalties(float *logits, int64_t vocab,
                          const std::vector<int32_t> &generated,
                          const GenerationParams &params) {
  if (params.frequencyPenalty != 0 || params.presencePenalty != 0) {
    std::unordered_map<int32_t, int64_t> counts;
    for (int32_t t : generated)
      if (t >= 0 && t < vocab)
        ++counts[t];
    for (auto [t, c] : counts)
      logits[t] -=
          static_cast<float>(static_cast<double>(c) * params.frequencyPenalty +
                             params.presencePenalty);
  }
  for (auto [t, bias] : params.logitBias)
    if (t >= 0 && t < vocab)
      logits[t] += static_cast<float>(bias);
}

std::string tokenDisplay(const Tokenizer &tokenizer, int32_t token) {
  std::string text = tokenizer.decode({token});
  if (text.size() == 1 && static_cast<unsigned char>(text[0]) >= 0x80) {
    static const char hex[] = "0123456789abcdef";
    unsigned char c = static_cast<unsigned char>(text[0]);
    return std::string("bytes:\\x") + hex[c >> 4] + hex[c & 15];
  }
  return text;
}

} // namespace colm::serve
