//===- ExperimentCatalog.cpp - the experiments of colm experiment -*- C++
//-*-===//
//
// Each experiment is a plan (the runs and their colm commands) and the
// columns of its table. Sizes come from ExperimentScale, so --quick runs the
// same plan on a tiny model. docs/experiments.md explains the choices.
//
//===----------------------------------------------------------------------===//
#include "tools/colm/Experiment.h"

#include "runtime/Plot.h"

#include <cmath>
#include <cstdio>

namespace colm::cli {
namespace {

std::string str(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

/// A slug of a variant for directory names: "colm-air [4,4]" ->
/// "colm-air-4-4".
std::string slug(const std::string &variant) {
  std::string s;
  for (char ch : variant) {
    bool word = std::isalnum(static_cast<unsigned char>(ch));
    if (word)
      s += char(std::tolower(static_cast<unsigned char>(ch)));
    else if (!s.empty() && s.back() != '-')
      s += '-';
  }
  while (!s.empty() && s.back() == '-')
    s.pop_back();
  return s;
}

ExperimentRun makeRun(const ExperimentOptions &o, const std::string &variant,
                      int seed, const ModelConfig &config) {
  ExperimentRun r;
  r.variant = variant;
  r.id = slug(variant) + "-s" + std::to_string(seed);
  r.seed = seed;
  r.config = config;
  r.settings.set("hidden_size", JsonValue::integer(config.hiddenSize));
  r.settings.set("intermediate_size",
                 JsonValue::integer(config.intermediateSize));
  r.settings.set("layers", JsonValue::integer(config.numLayers));
  r.settings.set("heads", JsonValue::integer(config.numHeads));
  r.settings.set("kv_heads", JsonValue::integer(config.numKvHeads));
  r.settings.set("kv_sharing", JsonValue::boolean(config.kvSharing));
  r.settings.set("params", JsonValue::number(trainableParams(config)));
  r.settings.set("tokens_per_step",
                 JsonValue::integer(o.scale.batch * o.scale.seq));
  r.metrics["params_m"] = trainableParams(config) / 1e6;
  return r;
}

void addInit(ExperimentRun &r) {
  r.stages.push_back({"init",
                      {"init", "--config", "@/config.json", "--out", "@/init",
                       "--seed", std::to_string(r.seed), "--force"},
                      "init.done",
                      "",
                      "",
                      {}});
}

/// Training from `from` (a model directory) for `steps` to @/`out`, with
/// the training log @/train.jsonl; `extra` adds flags (--chain-loss, ...).
void addTrain(ExperimentRun &r, const ExperimentOptions &o,
              const std::string &from, int64_t steps,
              const std::vector<std::string> &extra,
              const std::string &label = "train",
              const std::string &out = "model") {
  const ExperimentScale &s = o.scale;
  std::vector<std::string> common = {
      "--steps",      std::to_string(steps),
      "--log",        "@/train.jsonl",
      "--val",        o.val,
      "--eval-every", std::to_string(s.evalEvery),
      "--save-every", std::to_string(s.evalEvery),
      "--backend",    o.backend};
  std::vector<std::string> fresh = {"train",      "--model",
                                    from,         "--data",
                                    o.data,       "--out",
                                    "@/" + out,   "--force",
                                    "--batch",    std::to_string(s.batch),
                                    "--seq",      std::to_string(s.seq),
                                    "--lr",       str(s.lr),
                                    "--schedule", "cosine",
                                    "--warmup",   std::to_string(s.warmup),
                                    "--seed",     std::to_string(r.seed)};
  fresh.insert(fresh.end(), extra.begin(), extra.end());
  fresh.insert(fresh.end(), common.begin(), common.end());
  std::vector<std::string> resume = {"train", "--resume", "@/" + out};
  resume.insert(resume.end(), common.begin(), common.end());
  r.stages.push_back({label, fresh, label + ".done", "", out, resume});
  r.settings.set("steps", JsonValue::integer(steps));
}

void addEval(ExperimentRun &r, const ExperimentOptions &o,
             const std::string &model = "@/model",
             const std::string &label = "eval") {
  std::vector<std::string> argv = {"eval",
                                   "--model",
                                   model,
                                   "--data",
                                   o.val,
                                   "--seq",
                                   std::to_string(o.scale.seq),
                                   "--batch",
                                   std::to_string(o.scale.batch),
                                   "--json",
                                   "--backend",
                                   o.backend};
  if (o.scale.evalBatches > 0) {
    argv.push_back("--max-batches");
    argv.push_back(std::to_string(o.scale.evalBatches));
  }
  r.stages.push_back({label, argv, label + ".done", label + ".json", "", {}});
}

/// A plain train-and-evaluate run.
ExperimentRun trainedRun(const ExperimentOptions &o, const std::string &variant,
                         int seed, const ModelConfig &config,
                         const std::vector<std::string> &extra) {
  ExperimentRun r = makeRun(o, variant, seed, config);
  addInit(r);
  addTrain(r, o, "@/init", o.scale.steps, extra);
  addEval(r, o);
  return r;
}

/// The config with `chains` whose trainable parameters come closest to
/// `target`, widening the heads (even head sizes) and the FFN (a multiple of
/// 16, near the scale's FFN-to-width ratio).
ModelConfig matchParams(const ExperimentScale &s,
                        const std::vector<int64_t> &chains, bool kvSharing,
                        double target) {
  ModelConfig best = scaleConfig(s, chains, kvSharing);
  double bestGap = INFINITY;
  int64_t hd0 = s.hidden / s.heads;
  double ratio = double(s.ffn) / double(s.hidden);
  for (int64_t hd = hd0; hd <= 2 * hd0; hd += 2)
    for (int64_t df = -4; df <= 4; ++df) {
      ModelConfig c = scaleConfig(s, chains, kvSharing);
      c.hiddenSize = hd * s.heads;
      c.intermediateSize =
          (int64_t(std::lround(ratio * double(c.hiddenSize) / 16.0)) + df) * 16;
      if (c.intermediateSize < 16 || !validateConfig(c).isOk())
        continue;
      double gap = std::fabs(trainableParams(c) - target);
      if (gap < bestGap) {
        bestGap = gap;
        best = c;
      }
    }
  return best;
}

Result<std::vector<ExperimentRun>>
planMatchedParams(const ExperimentOptions &o) {
  const ExperimentScale &s = o.scale;
  ModelConfig dense = scaleConfig(s, {s.heads}, false);
  double target = trainableParams(dense);
  std::vector<int64_t> two = {s.heads / 2, s.heads / 2};
  ModelConfig colm = matchParams(s, two, false, target);
  ModelConfig air = matchParams(s, two, true, target);
  std::vector<ExperimentRun> runs;
  for (int seed = 1; seed <= o.seeds; ++seed) {
    runs.push_back(trainedRun(o, "dense " + formatChains(dense.chains), seed,
                              dense, {"--chain-loss", "full"}));
    runs.push_back(trainedRun(o,
                              "CoLM " + formatChains(two) +
                                  " D=" + std::to_string(colm.hiddenSize),
                              seed, colm, {"--chain-loss", "full"}));
    runs.push_back(trainedRun(o,
                              "CoLM-Air " + formatChains(two) +
                                  " D=" + std::to_string(air.hiddenSize),
                              seed, air, {"--chain-loss", "full"}));
  }
  return runs;
}

Result<std::vector<ExperimentRun>>
planChainLayouts(const ExperimentOptions &o) {
  const ExperimentScale &s = o.scale;
  int64_t q = s.heads / 4;
  std::vector<std::vector<int64_t>> layouts = {
      {2 * q, 2 * q}, {q, q, q, q}, {q, 3 * q}, {q, q, 2 * q}};
  std::vector<ExperimentRun> runs;
  for (int seed = 1; seed <= o.seeds; ++seed)
    for (const auto &chains : layouts)
      runs.push_back(trainedRun(o, "CoLM-Air " + formatChains(chains), seed,
                                scaleConfig(s, chains, true),
                                {"--chain-loss", "full"}));
  return runs;
}

Result<std::vector<ExperimentRun>> planChainLoss(const ExperimentOptions &o) {
  const ExperimentScale &s = o.scale;
  int64_t q = s.heads / 4;
  ModelConfig c = scaleConfig(s, {q, q, 2 * q}, true);
  std::vector<ExperimentRun> runs;
  for (int seed = 1; seed <= o.seeds; ++seed) {
    runs.push_back(
        trainedRun(o, "full-model loss", seed, c, {"--chain-loss", "full"}));
    runs.push_back(trainedRun(o, "multi-chain loss (all)", seed, c,
                              {"--chain-loss", "all"}));
  }
  return runs;
}

/// Progressive scaling: a one-chain model of half the width, expanded by a
/// chain of the same size, then trained with chain 1 frozen (chain tuning)
/// or not, against the two-chain model trained from scratch for the same
/// training FLOPs (the small model's included).
Result<std::vector<ExperimentRun>> planProgressive(const ExperimentOptions &o) {
  const ExperimentScale &s = o.scale;
  int64_t half = s.heads / 2;
  ModelConfig large = scaleConfig(s, {half, half}, true);
  ModelConfig small = scaleConfig(s, {half}, true);
  small.hiddenSize = s.hidden / 2;
  small.numHeads = half;
  small.intermediateSize = s.ffn / 2;
  double fLarge = trainFlopsPerToken(large, s.seq);
  double fSmall = trainFlopsPerToken(small, s.seq);
  int64_t steps = s.steps;
  // Small for `steps`, the expanded model for the rest of the large
  // model's budget.
  int64_t rest = std::max<int64_t>(
      1, int64_t(std::lround(double(steps) * (1.0 - fSmall / fLarge))));
  double tokens = double(s.batch * s.seq);
  std::vector<ExperimentRun> runs;
  for (int seed = 1; seed <= o.seeds; ++seed) {
    ExperimentRun scratch =
        trainedRun(o, "from scratch " + formatChains(large.chains), seed, large,
                   {"--chain-loss", "all"});
    scratch.metrics["tflop"] = fLarge * tokens * double(steps) / 1e12;
    scratch.settings.set("flops_per_token", JsonValue::number(fLarge));
    runs.push_back(scratch);

    ExperimentRun base = trainedRun(o, "small " + formatChains(small.chains),
                                    seed, small, {"--chain-loss", "all"});
    base.metrics["tflop"] = fSmall * tokens * double(steps) / 1e12;
    base.settings.set("flops_per_token", JsonValue::number(fSmall));
    std::string baseId = base.id;
    runs.push_back(base);

    for (bool frozen : {true, false}) {
      ExperimentRun r = makeRun(
          o, frozen ? "expand + chain tuning" : "expand + fine-tuning all",
          seed, large);
      r.stages.push_back(
          {"expand",
           {"expand", "--model", "@/../" + baseId + "/model", "--add-chains",
            std::to_string(half), "--out", "@/expanded", "--seed",
            std::to_string(seed), "--force"},
           "expand.done",
           "",
           "",
           {}});
      std::vector<std::string> extra = {"--chain-loss", "all"};
      if (frozen) {
        extra.push_back("--freeze-chains");
        extra.push_back("1");
      }
      addTrain(r, o, "@/expanded", rest, extra);
      addEval(r, o);
      r.settings.set("flops_per_token", JsonValue::number(fLarge));
      r.settings.set("flops_before",
                     JsonValue::number(fSmall * tokens * double(steps)));
      r.settings.set("tokens_before",
                     JsonValue::number(tokens * double(steps)));
      r.settings.set("base_run", JsonValue::string(baseId));
      r.metrics["tflop"] =
          (fSmall * double(steps) + fLarge * double(rest)) * tokens / 1e12;
      runs.push_back(r);
    }
  }
  return runs;
}

Status finishProgressive(const ExperimentOptions &,
                         std::vector<ExperimentRun> &runs,
                         std::vector<std::string> &notes) {
  // Chain tuning must leave the base model's outputs exactly as they were:
  // the expanded model's chain-1 loss is the small model's, bit for bit.
  for (const ExperimentRun &r : runs) {
    const JsonValue *base = r.settings.find("base_run");
    if (!base || r.variant != "expand + chain tuning")
      continue;
    for (const ExperimentRun &b : runs)
      if (b.id == base->asString()) {
        auto after = r.metrics.find("loss@1");
        auto before = b.metrics.find("loss");
        if (after == r.metrics.end() || before == b.metrics.end())
          continue;
        char buf[200];
        std::snprintf(buf, sizeof buf,
                      "seed %d: chain 1 after chain tuning %.17g, the small "
                      "model %.17g: %s",
                      r.seed, after->second, before->second,
                      after->second == before->second
                          ? "unchanged, bit for bit"
                          : "CHANGED (a bug: frozen chains must keep it)");
        notes.push_back(buf);
      }
  }
  return Status::ok();
}

/// One trained model measured at every chain count: loss, decode speed.
Result<std::vector<ExperimentRun>> planElastic(const ExperimentOptions &o) {
  const ExperimentScale &s = o.scale;
  int64_t q = s.heads / 4;
  ModelConfig c = scaleConfig(s, {q, q, 2 * q}, true);
  std::vector<ExperimentRun> runs;
  for (int seed = 1; seed <= o.seeds; ++seed) {
    ExperimentRun r = trainedRun(o, "CoLM-Air " + formatChains(c.chains), seed,
                                 c, {"--chain-loss", "all"});
    r.stages.push_back(
        {"bench",
         {"bench", "--model", "@/model", "--prefill", "--decode",
          "--prompt-len", std::to_string(s.quick ? 32 : 1024),
          "--decode-tokens", std::to_string(s.quick ? 8 : 64), "--repeat",
          s.quick ? "1" : "3", "--no-peak", "--json", "--backend", o.backend},
         "bench.done",
         "bench.json",
         "",
         {}});
    runs.push_back(r);
  }
  return runs;
}

/// CoLM-Air chain-1 prefill against full prefill, random weights (speed
/// does not depend on them).
Result<std::vector<ExperimentRun>> planPrefill(const ExperimentOptions &o) {
  const ExperimentScale &s = o.scale;
  int64_t q = s.heads / 4;
  std::vector<int64_t> lengths =
      s.quick ? std::vector<int64_t>{32, 64}
              : std::vector<int64_t>{256, 1024, 4096, 16384};
  std::vector<ExperimentRun> runs;
  for (int64_t t : lengths) {
    ModelConfig c = scaleConfig(s, {q, q, 2 * q}, true);
    c.maxPositionEmbeddings = std::max<int64_t>(c.maxPositionEmbeddings, t);
    ExperimentRun r = makeRun(o, "T=" + std::to_string(t), 1, c);
    r.settings.set("prompt_tokens", JsonValue::integer(t));
    r.stages.push_back(
        {"bench",
         {"bench", "--config", "@/config.json", "--prefill", "--prompt-len",
          std::to_string(t), "--repeat", s.quick ? "1" : "3", "--no-peak",
          "--json", "--backend", o.backend},
         "bench.done",
         "bench.json",
         "",
         {}});
    runs.push_back(r);
  }
  return runs;
}

/// Forward FLOPs of the k-chain sub-model over a prompt of t tokens: the
/// matrices (embedding and head excluded) and causal attention.
double prefillFlops(const ModelConfig &c, int k, double t) {
  double matrices =
      trainableParams(c, k) -
      2.0 * double(c.vocabSize) * double(c.prefixWidth(c.hiddenSize, k));
  double heads = double(c.prefixWidth(c.qWidth(), k));
  return 2.0 * matrices * t + 2.0 * 2.0 * c.numLayers * heads * t * (t + 1) / 2;
}

Status finishPrefill(const ExperimentOptions &,
                     std::vector<ExperimentRun> &runs,
                     std::vector<std::string> &) {
  for (ExperimentRun &r : runs) {
    double t = r.settings.find("prompt_tokens")->asDouble();
    auto full = r.metrics.find("prefill_seconds_full");
    auto one = r.metrics.find("prefill_seconds_chain1");
    if (full == r.metrics.end() || one == r.metrics.end())
      return Status::error(r.id + ": bench.json has no prefill times");
    r.metrics["full_ms"] = full->second * 1e3;
    r.metrics["chain1_ms"] = one->second * 1e3;
    r.metrics["speedup"] = full->second / one->second;
    // Chain 1 over every token, then the higher chains on the last one.
    double chain1 = prefillFlops(r.config, 1, t) +
                    prefillFlops(r.config, r.config.numChains(), 1) -
                    prefillFlops(r.config, 1, 1);
    r.metrics["flop_ratio"] =
        prefillFlops(r.config, r.config.numChains(), t) / chain1;
  }
  return Status::ok();
}

Status finishElastic(const ExperimentOptions &,
                     std::vector<ExperimentRun> &runs,
                     std::vector<std::string> &notes) {
  for (ExperimentRun &r : runs) {
    for (int k = 1; k <= r.config.numChains(); ++k) {
      std::string kk = std::to_string(k);
      r.metrics["params_m@" + kk] = trainableParams(r.config, k) / 1e6;
    }
    auto full = r.metrics.find("prefill_seconds_full");
    auto one = r.metrics.find("prefill_seconds_chain1");
    if (full != r.metrics.end() && one != r.metrics.end()) {
      char buf[160];
      std::snprintf(buf, sizeof buf,
                    "seed %d: prefill of the bench prompt %.1f ms with every "
                    "chain, %.1f ms with chain 1 (the same cache)",
                    r.seed, full->second * 1e3, one->second * 1e3);
      notes.push_back(buf);
    }
  }
  return Status::ok();
}

using Plots = std::vector<std::pair<std::string, std::string>>;

/// Validation loss against the training FLOPs spent so far (the small
/// model's included for the expanded runs): the loss per unit of compute.
Plots plotProgressive(const std::vector<ExperimentRun> &runs) {
  std::vector<PlotSeries> series;
  for (const ExperimentRun &r : runs) {
    const JsonValue *perToken = r.settings.find("flops_per_token");
    if (!perToken || r.valCurve.empty())
      continue;
    const JsonValue *flopsBefore = r.settings.find("flops_before");
    const JsonValue *tokensBefore = r.settings.find("tokens_before");
    double f0 = flopsBefore ? flopsBefore->asDouble() : 0;
    double t0 = tokensBefore ? tokensBefore->asDouble() : 0;
    PlotSeries s{r.variant + " s" + std::to_string(r.seed), {}};
    for (auto [tokens, loss] : r.valCurve)
      s.points.push_back(
          {(f0 + (tokens - t0) * perToken->asDouble()) / 1e12, loss});
    series.push_back(s);
  }
  return {{"val-loss-vs-compute.svg",
           lineChartSvg(series,
                        "progressive: full-model validation loss per compute",
                        "training TFLOP (the small model's included)",
                        "validation loss")}};
}

/// Validation loss of each sub-model against its decode speed, per seed.
Plots plotElastic(const std::vector<ExperimentRun> &runs) {
  std::vector<PlotSeries> series;
  for (const ExperimentRun &r : runs) {
    PlotSeries s{"seed " + std::to_string(r.seed), {}};
    for (int k = 1; k <= r.config.numChains(); ++k) {
      auto loss = r.metrics.find("loss@" + std::to_string(k));
      auto speed = r.metrics.find("decode_tok_s@" + std::to_string(k));
      if (loss != r.metrics.end() && speed != r.metrics.end())
        s.points.push_back({speed->second, loss->second});
    }
    series.push_back(s);
  }
  return {{"loss-vs-decode.svg",
           lineChartSvg(series, "elastic: every chain count of one model",
                        "decode tokens/s (batch 1)", "validation loss")}};
}

/// Measured speed-up and FLOP ratio against the prompt length.
Plots plotPrefill(const std::vector<ExperimentRun> &runs) {
  PlotSeries measured{"measured speed-up", {}}, flops{"FLOP ratio", {}};
  for (const ExperimentRun &r : runs) {
    double t = r.settings.find("prompt_tokens")->asDouble();
    measured.points.push_back({std::log2(t), r.metrics.at("speedup")});
    flops.points.push_back({std::log2(t), r.metrics.at("flop_ratio")});
  }
  return {{"prefill-speedup.svg",
           lineChartSvg({measured, flops},
                        "CoLM-Air: full prefill time / chain-1 prefill time",
                        "log2(prompt tokens)", "ratio")}};
}

std::vector<Experiment> build() {
  std::vector<Experiment> list;
  list.push_back(
      {"matched-params",
       "dense against CoLM and CoLM-Air at the same parameters and tokens",
       "CoLM {16,16} is about 0.1 point of downstream accuracy below the "
       "dense baseline at the same width and reaches parity when widened to "
       "match parameters; CoLM-Air costs about 1 point (talk; Table 1's "
       "numbers are missing from every source). The paper reports accuracy, "
       "never loss.",
       planMatchedParams,
       {{"params_m", "params (M)", "%.2f"},
        {"loss", "val loss (full)", "%.4f"},
        {"loss@1", "val loss (chain 1)", "%.4f"},
        {"train_tok_s", "train tok/s", "%.0f"},
        {"seconds_train", "train s", "%.0f"}},
       nullptr});
  list.back().steps = 150;
  list.push_back(
      {"chain-layouts",
       "two equal chains against four and against unequal layouts, one width",
       "{16,16} ahead of {8,8,8,8} (Table 1, stated qualitatively); among "
       "{8,8,8,8}, {16,16}, {8,24} and {8,8,16} in small runs, {16,16} "
       "converges fastest and lowest (A.3).",
       planChainLayouts,
       {{"params_m", "params (M)", "%.2f"},
        {"loss", "val loss (full)", "%.4f"},
        {"train_tok_s", "train tok/s", "%.0f"},
        {"seconds_train", "train s", "%.0f"}},
       nullptr});
  list.back().steps = 150;
  list.push_back(
      {"chain-loss",
       "full-model loss only against the multi-chain loss, every sub-model",
       "pre-training used the full model's cross-entropy only; the "
       "multi-chain loss came in a later stage, and the per-chain weights are "
       "not given (section 3.4). No table compares the two.",
       planChainLoss,
       {{"loss@1", "val loss k=1", "%.4f"},
        {"loss@2", "val loss k=2", "%.4f"},
        {"loss@3", "val loss k=3", "%.4f"},
        {"seconds_train", "train s", "%.0f"}},
       nullptr});
  list.back().steps = 150;
  list.push_back(
      {"progressive",
       "grow a small model by a chain, chain-tune or fine-tune, against "
       "scratch at equal compute",
       "expansion plus chain tuning (chain 1 frozen) improves the base "
       "models' zero-shot average by 0.92 and 0.14 points and keeps their "
       "logits at step 0; no compute saving is measured (section 4.2).",
       planProgressive,
       {{"params_m", "params (M)", "%.2f"},
        {"tflop", "train TFLOP", "%.2f"},
        {"loss@1", "val loss k=1", "%.4f"},
        {"loss", "val loss (full)", "%.4f"},
        {"seconds_train", "train s", "%.0f"}},
       finishProgressive,
       plotProgressive});
  list.back().steps = 200;
  list.push_back(
      {"elastic",
       "one model at every chain count: loss against decode speed",
       "Table 3 (elastic inference of CoLM-Air {16,16}) is missing from "
       "every source; the text claims only potential.",
       planElastic,
       {{"params_m@1", "params k=1 (M)", "%.2f"},
        {"loss@1", "val loss k=1", "%.4f"},
        {"decode_tok_s@1", "decode tok/s k=1", "%.0f"},
        {"loss@2", "val loss k=2", "%.4f"},
        {"decode_tok_s@2", "decode tok/s k=2", "%.0f"},
        {"loss@3", "val loss k=3", "%.4f"},
        {"decode_tok_s@3", "decode tok/s k=3", "%.0f"}},
       finishElastic,
       plotElastic});
  list.back().steps = 400;
  list.push_back(
      {"prefill",
       "CoLM-Air chain-1 prefill against full prefill, 256 to 16K tokens",
       "1.6x ({16,16}) and 3.0x ({8,8,8,8}) faster prefill at 1M tokens on an "
       "A100 at similar parameters; almost no gain at 2K (Tables 9-12).",
       planPrefill,
       {{"full_ms", "full prefill (ms)", "%.1f"},
        {"chain1_ms", "chain-1 prefill (ms)", "%.1f"},
        {"speedup", "speed-up", "%.2f"},
        {"flop_ratio", "FLOP ratio", "%.2f"}},
       finishPrefill,
       plotPrefill});
  return list;
}

} // namespace

const std::vector<Experiment> &experiments() {
  static const std::vector<Experiment> list = build();
  return list;
}

} // namespace colm::cli
