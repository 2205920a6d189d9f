//===- Generate.cpp - colm generate -----------------------------*- C++ -*-===//
#include "tools/colm/Commands.h"

#include "compiler/Generator.h"
#include "compiler/Graph.h"
#include "compiler/Speculative.h"
#include "runtime/File.h"
#include "runtime/Model.h"
#include "runtime/Sampling.h"
#include "runtime/Tokenizer.h"
#include "tools/colm/Args.h"
#include "tools/colm/GenerateFlags.h"

#include "mlir/IR/MLIRContext.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>

namespace colm::cli {

std::string tokens(int64_t n) {
  return std::to_string(n) + (n == 1 ? " token" : " tokens");
}

Status checkContextFits(int64_t promptTokens, int64_t maxNew,
                        int64_t maxContext, bool contextGiven,
                        int64_t maxPositions, const char *newFlag) {
  if (maxContext > maxPositions)
    return Status::error("--max-context " + std::to_string(maxContext) +
                         " is more than the model's max_position_embeddings " +
                         std::to_string(maxPositions));
  // The last new token is sampled, never fed back: it needs no position.
  int64_t need = promptTokens + std::max<int64_t>(maxNew - 1, 0);
  if (need <= maxContext)
    return Status::ok();
  std::string holds = contextGiven
                          ? "--max-context is " + std::to_string(maxContext)
                          : "the model's max_position_embeddings is " +
                                std::to_string(maxContext);
  std::string raise = contextGiven && maxContext < maxPositions
                          ? " (or raise --max-context, at most " +
                                std::to_string(maxPositions) + ")"
                          : "";
  if (promptTokens > maxContext)
    return Status::error(
        "the context is full before the first new token: the prompt has " +
        tokens(promptTokens) + " but " + holds + "; shorten the prompt" +
        raise);
  return Status::error("the context is full before the end: the prompt's " +
                       tokens(promptTokens) + " plus " + newFlag + " " +
                       std::to_string(maxNew) + " need " +
                       std::to_string(need) + " positions, but " + holds +
                       "; the largest " + newFlag + " that fits is " +
                       std::to_string(maxContext - promptTokens + 1) + raise);
}

Result<SamplingConfig> samplingFlags(const Args &args) {
  SamplingConfig s;
  s.greedy = args.isSet("--greedy");
  if (s.greedy)
    for (const char *f : {"--temperature", "--top-k", "--top-p"})
      if (args.has(f))
        return Status::error(std::string(f) + " has no effect with --greedy");
  COLM_ASSIGN_OR_RETURN(s.temperature, args.getDouble("--temperature", 1.0));
  COLM_ASSIGN_OR_RETURN(s.topK, args.getInt("--top-k", 0, 0, INT64_MAX));
  COLM_ASSIGN_OR_RETURN(s.topP, args.getDouble("--top-p", 1.0));
  COLM_ASSIGN_OR_RETURN(s.repetitionPenalty,
                        args.getDouble("--repetition-penalty", 1.0));
  COLM_ASSIGN_OR_RETURN(int64_t seed, args.getInt("--seed", 0, 0, INT64_MAX));
  s.seed = static_cast<uint64_t>(seed);
  COLM_TRY(validateSamplingConfig(s));
  return s;
}

Result<std::vector<std::pair<int64_t, unsigned>>>
chainScheduleFlags(const Args &args, const ModelConfig &config) {
  unsigned n = static_cast<unsigned>(config.numChains());
  if (args.has("--chains") && args.has("--chain-schedule"))
    return Status::error("give --chains or --chain-schedule, not both");
  if (args.has("--chain-schedule"))
    return parseChainSchedule(args.get("--chain-schedule"), n,
                              "--chain-schedule");
  COLM_ASSIGN_OR_RETURN(int64_t k, args.getInt("--chains", n, 1, n));
  return std::vector<std::pair<int64_t, unsigned>>{{0, unsigned(k)}};
}

Result<bool> prefillFlag(const Args &args, const ModelConfig &config) {
  std::string p = args.get("--prefill-chains", config.kvSharing ? "1" : "all");
  if (p != "1" && p != "all")
    return Status::error("--prefill-chains must be 1 or all, got '" + p + "'");
  if (p == "1" && !config.kvSharing)
    return Status::error("--prefill-chains 1 needs a CoLM-Air model "
                         "(kv_sharing): a CoLM's keys and values need every "
                         "chain");
  return p == "1";
}

void addSpeculativeFlags(Args &args) {
  args.flag("--speculative",
            "CoLM-Air self-speculative decoding: a narrower sub-model drafts, "
            "the model verifies;\nthe output is plain decoding's, bit for "
            "bit (with --speculative-sampling compare)")
      .option("--draft-chains", "K",
              "--speculative: chains of the drafting sub-model (default 1)")
      .option("--max-draft", "G",
              "--speculative: most tokens drafted per round, 1..15 (default "
              "4); each round's length is chosen from the measured costs "
              "unless --fixed-draft")
      .flag("--fixed-draft", "--speculative: always draft --max-draft tokens")
      .option("--draft-min-prob", "P",
              "--speculative: stop drafting when the draft's top probability "
              "is below P (default 0: never)")
      .option("--draft-window", "N",
              "--speculative: the draft attends to the first 16 and the last "
              "N positions only (cheaper drafts over long contexts; the "
              "output does not change) (default 0: all)")
      .option("--speculative-sampling", "MODE",
              "--speculative: compare (the draws plain sampling makes, so "
              "the same tokens) or rejection (accept with min(1, p/q): "
              "distributed as plain sampling) (default compare)");
}

Result<std::optional<SpeculativeOptions>>
speculativeFlags(const Args &args, const ModelConfig &config, unsigned chains) {
  if (!args.isSet("--speculative")) {
    for (const char *flag :
         {"--draft-chains", "--max-draft", "--fixed-draft", "--draft-min-prob",
          "--draft-window", "--speculative-sampling"})
      if (args.has(flag) ||
          (std::string(flag) == "--fixed-draft" && args.isSet(flag)))
        return Status::error(std::string(flag) + " needs --speculative");
    return std::optional<SpeculativeOptions>();
  }
  SpeculativeOptions o;
  COLM_ASSIGN_OR_RETURN(int64_t draftChains, args.getInt("--draft-chains", 1, 1,
                                                         config.numChains()));
  o.draftChains = unsigned(draftChains);
  COLM_ASSIGN_OR_RETURN(
      o.maxDraft, args.getInt("--max-draft", 4, 1, Generator::kFewRows - 1));
  o.adaptive = !args.isSet("--fixed-draft");
  COLM_ASSIGN_OR_RETURN(o.minDraftProbability,
                        args.getDouble("--draft-min-prob", 0.0));
  if (!(o.minDraftProbability >= 0 && o.minDraftProbability < 1))
    return Status::error("--draft-min-prob must be in [0, 1)");
  COLM_ASSIGN_OR_RETURN(o.draftWindow,
                        args.getInt("--draft-window", 0, 0, int64_t(1) << 30));
  std::string mode = args.get("--speculative-sampling", "compare");
  if (mode != "compare" && mode != "rejection")
    return Status::error("--speculative-sampling must be compare or "
                         "rejection, got '" +
                         mode + "'");
  o.sampling = mode == "compare" ? SpeculativeSampling::Compare
                                 : SpeculativeSampling::Rejection;
  o.chains = chains;
  return std::optional<SpeculativeOptions>(o);
}

Status runGenerate(const std::vector<std::string> &argv) {
  Args args("generate",
            "--model DIR (--prompt TEXT | --prompt-tokens 1,2,3) --max-new N "
            "[flags]",
            "Generates text with a KV cache. Any sub-model can be chosen, and "
            "changed at any token\nwith --chain-schedule; CoLM-Air fills the "
            "cache of every sub-model by running only\nchain 1 over the "
            "prompt.");
  args.option("--model", "DIR", "model directory", true)
      .option("--prompt", "TEXT",
              "prompt text (tokenized with the model's "
              "tokenizer)")
      .option("--prompt-tokens", "IDS", "prompt as comma-separated token ids")
      .option("--max-new", "N", "tokens to generate", true)
      .flag("--greedy", "always take the most likely token")
      .option("--temperature", "T", "sampling temperature (default 1)")
      .option("--top-k", "K", "sample among the K most likely (0 = all)")
      .option("--top-p", "P",
              "sample from the smallest set with probability "
              ">= P (default 1)")
      .option("--repetition-penalty", "R",
              "penalise tokens already present (1 = off)")
      .option("--seed", "S", "sampling seed (default 0)")
      .option("--chains", "K", "run the K-chain sub-model (default all)")
      .option("--chain-schedule", "SPEC",
              "\"0:1,8:3,16:2\": from generated token 0 use 1 chain, from 8 "
              "use 3, ...")
      .option("--prefill-chains", "1|all",
              "chains run over the prompt (default 1 for CoLM-Air, all for "
              "CoLM)")
      .listOption("--stop", "TEXT", "stop when the text contains TEXT")
      .option("--max-context", "N",
              "positions the cache holds (default: max_position_embeddings)")
      .option("--tokens-out", "FILE",
              "write the generated ids, comma-separated")
      .option("--output", "FILE", "also write the generated text to FILE",
              false, "-o")
      .flag("--stats", "print prefill and decode time and tokens/s")
      .option("--backend", "NAME", kBackendHelp)
      .option("--precision", "P", kPrecisionHelp);
  addSpeculativeFlags(args);
  COLM_ASSIGN_OR_RETURN(bool helped, args.parseOrPrintHelp(argv));
  if (helped)
    return Status::ok();
  COLM_ASSIGN_OR_RETURN(Backend backend, backendFlags(args));
  COLM_ASSIGN_OR_RETURN(Model model, loadModel(args.get("--model")));
  COLM_ASSIGN_OR_RETURN(Tokenizer tokenizer,
                        loadTokenizer(args.get("--model")));
  const ModelConfig &config = model.config;
  if (args.has("--prompt") == args.has("--prompt-tokens"))
    return Status::error("give exactly one of --prompt TEXT and "
                         "--prompt-tokens IDS");
  std::vector<int32_t> prompt;
  if (args.has("--prompt")) {
    prompt = tokenizer.encode(args.get("--prompt"));
  } else {
    COLM_ASSIGN_OR_RETURN(
        auto ids, parseIntList(args.get("--prompt-tokens"), "--prompt-tokens"));
    for (size_t i = 0; i < ids.size(); ++i) {
      if (ids[i] < 0 || ids[i] >= config.vocabSize)
        return Status::error("--prompt-tokens: token id " +
                             std::to_string(ids[i]) + " at position " +
                             std::to_string(i) +
                             " is outside the vocabulary [0, " +
                             std::to_string(config.vocabSize) + ")");
      prompt.push_back(static_cast<int32_t>(ids[i]));
    }
  }
  if (prompt.empty())
    return Status::error("the prompt is empty");
  COLM_ASSIGN_OR_RETURN(int64_t maxNew,
                        args.getInt("--max-new", 0, 0, INT64_MAX));
  COLM_ASSIGN_OR_RETURN(SamplingConfig sampling, samplingFlags(args));
  COLM_ASSIGN_OR_RETURN(auto schedule, chainScheduleFlags(args, config));
  COLM_ASSIGN_OR_RETURN(bool chain1, prefillFlag(args, config));
  COLM_ASSIGN_OR_RETURN(
      int64_t maxContext,
      args.getInt("--max-context", config.maxPositionEmbeddings, 1, INT64_MAX));
  COLM_ASSIGN_OR_RETURN(auto specOptions,
                        speculativeFlags(args, config, chainsAt(schedule, 0)));
  bool speculative = specOptions.has_value();
  if (speculative && args.has("--chain-schedule"))
    return Status::error("--speculative takes --chains K, not "
                         "--chain-schedule");
  std::vector<std::string> stops;
  if (args.has("--stop"))
    stops.push_back(args.get("--stop"));
  COLM_TRY(checkContextFits(static_cast<int64_t>(prompt.size()), maxNew,
                            maxContext, args.has("--max-context"),
                            config.maxPositionEmbeddings, "--max-new"));

  mlir::MLIRContext context;
  dsl::loadDialects(context);
  COLM_ASSIGN_OR_RETURN(auto generator,
                        Generator::create(context, model, backend));
  COLM_ASSIGN_OR_RETURN(Sequence seq, generator->newSequence(maxContext));
  std::optional<SpeculativeDecoder> drafter;
  if (speculative) {
    COLM_ASSIGN_OR_RETURN(
        SpeculativeDecoder d,
        SpeculativeDecoder::create(*generator, config, *specOptions, sampling));
    drafter.emplace(std::move(d));
  }
  GenerationStats stats;
  TokenSampler sampler(sampling);
  StopChecker stop(stops);
  std::vector<int32_t> generated, history = prompt;
  std::string text;
  Result<std::vector<float>> logits =
      maxNew ? generator->prefill(seq, prompt, chainsAt(schedule, 0), chain1,
                                  &stats)
             : std::vector<float>();
  if (!logits)
    return logits.status();
  // Emits a token; true when the generation ends with it.
  auto emit = [&](int32_t token) -> Result<bool> {
    generated.push_back(token);
    history.push_back(token);
    bool last = int64_t(generated.size()) == maxNew;
    bool stopped = stop.feed(tokenizer.decode({token}));
    std::string ready = stop.takeReady(stopped || last);
    text += ready;
    std::fwrite(ready.data(), 1, ready.size(), stdout);
    // A reader that went away (or a full disk) ends the generation now.
    if (std::fflush(stdout) != 0 || std::ferror(stdout))
      return Status::error(std::string("cannot write to standard output: ") +
                           std::strerror(errno));
    return stopped || last;
  };
  auto decodeStart = std::chrono::steady_clock::now();
  if (drafter && maxNew > 0) {
    int32_t token = sampler.sample(logits->data(), config.vocabSize, history);
    COLM_ASSIGN_OR_RETURN(bool done, emit(token));
    while (!done) {
      Result<std::vector<int32_t>> round = drafter->round(
          seq, token, maxNew - int64_t(generated.size()), sampler, history);
      if (!round) {
        std::fputc('\n', stdout);
        return round.status();
      }
      for (int32_t t : *round) {
        COLM_ASSIGN_OR_RETURN(done, emit(t));
        if (done)
          break;
      }
      token = round->back();
    }
  }
  for (int64_t i = 0; !drafter && i < maxNew; ++i) {
    int32_t token = sampler.sample(logits->data(), config.vocabSize, history);
    COLM_ASSIGN_OR_RETURN(bool done, emit(token));
    if (done)
      break;
    logits = generator->decode(seq, token, chainsAt(schedule, i + 1), &stats);
    if (!logits) {
      std::fputc('\n', stdout);
      return logits.status();
    }
  }
  double decodeWall = std::chrono::duration<double>(
                          std::chrono::steady_clock::now() - decodeStart)
                          .count();
  std::fputc('\n', stdout);
  std::fflush(stdout);
  if (args.has("--tokens-out")) {
    std::string ids;
    for (size_t i = 0; i < generated.size(); ++i)
      ids += (i ? "," : "") + std::to_string(generated[i]);
    COLM_TRY(writeFileAtomic(args.get("--tokens-out"), ids + "\n"));
  }
  if (args.has("--output"))
    COLM_TRY(writeFileAtomic(args.get("--output"), text));
  if (args.isSet("--stats")) {
    auto rate = [](int64_t n, double s) { return s > 0 ? n / s : 0.0; };
    std::fprintf(stderr, "prefill  %lld tokens in %.3f s (%.1f tokens/s)%s\n",
                 (long long)stats.prefillTokens, stats.prefillSeconds,
                 rate(stats.prefillTokens, stats.prefillSeconds),
                 chain1 ? ", chain-1 prefill" : "");
    if (!drafter)
      std::fprintf(stderr, "decode   %lld tokens in %.3f s (%.1f tokens/s)\n",
                   (long long)stats.decodeTokens, stats.decodeSeconds,
                   rate(stats.decodeTokens, stats.decodeSeconds));
    if (drafter) {
      const SpeculativeStats &sp = drafter->stats();
      std::fprintf(
          stderr,
          "speculative: %lld tokens in %.3f s (%.1f tokens/s), %lld "
          "rounds drafting up to %lld with %u chain%s: %lld of %lld "
          "drafts accepted (%.1f%%), %.2f tokens per round; "
          "drafting %.3f s, verifying %.3f s\n",
          (long long)generated.size() - 1, decodeWall,
          generated.size() > 1 ? double(generated.size() - 1) / decodeWall
                               : 0.0,
          (long long)sp.rounds, (long long)specOptions->maxDraft,
          specOptions->draftChains, specOptions->draftChains == 1 ? "" : "s",
          (long long)sp.accepted, (long long)sp.drafted,
          100 * sp.acceptanceRate(), sp.meanAcceptedLength(), sp.draftSeconds,
          sp.verifySeconds);
    }
    if (stats.recomputedTokens)
      std::fprintf(stderr,
                   "switching up recomputed %lld history positions in %.3f s\n",
                   (long long)stats.recomputedTokens, stats.recomputeSeconds);
  }
  return Status::ok();
}

} // namespace colm::cli
