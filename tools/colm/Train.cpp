//===- Train.cpp - colm train, eval, expand ---------------------*- C++ -*-===//
#include "tools/colm/Commands.h"

#include "compiler/Graph.h"
#include "compiler/Pipeline.h"
#include "compiler/Trainer.h"
#include "runtime/Checkpoint.h"
#include "runtime/Data.h"
#include "runtime/Expand.h"
#include "runtime/File.h"
#include "runtime/Json.h"
#include "runtime/Model.h"
#include "runtime/Optimizer.h"
#include "runtime/Plot.h"
#include "runtime/Tokenizer.h"
#include "tools/colm/Args.h"
#include "tools/colm/Progress.h"

#include "mlir/IR/MLIRContext.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

namespace colm::cli {
namespace {

/// Sequential, non-overlapping windows of T+1 tokens, B per batch.
std::vector<Batch> evalBatches(const TokenData &data, int64_t B, int64_t T,
                               int64_t maxBatches) {
  std::vector<Batch> batches;
  for (int64_t start = 0; start + T + 1 <= data.size(); start += T) {
    if (batches.empty() || (int64_t)batches.back().inputs.size() == B) {
      if (maxBatches > 0 && (int64_t)batches.size() == maxBatches)
        break;
      batches.emplace_back();
    }
    Batch &b = batches.back();
    b.inputs.emplace_back(data.ids.begin() + start,
                          data.ids.begin() + start + T);
    b.targets.emplace_back(data.ids.begin() + start + 1,
                           data.ids.begin() + start + T + 1);
  }
  return batches;
}

/// Mean cross-entropy of every sub-model over the batches.
Result<std::map<unsigned, double>> evaluate(const StepProgram &program,
                                            const TensorMap &params,
                                            const std::vector<Batch> &batches) {
  std::map<unsigned, double> sums;
  double windows = 0;
  for (const Batch &b : batches) {
    COLM_ASSIGN_OR_RETURN(StepOutputs out, program.run(params, b));
    for (auto [k, ce] : out.subModelLoss)
      sums[k] += ce * double(b.inputs.size());
    windows += double(b.inputs.size());
  }
  for (auto &[k, s] : sums)
    s /= windows;
  return sums;
}

std::string fixed(double v, int digits = 4) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

/// The run's settings: read from flags, or restored from a checkpoint.
struct RunSettings {
  OptimizerConfig opt;
  int64_t batch = 8, seq = 128, freeze = 0;
  uint64_t seed = 0;
  std::string data, chainLoss = "full", sampler = "random";

  JsonValue toJson() const {
    JsonValue o = JsonValue::object();
    o.set("data", JsonValue::string(data));
    o.set("batch", JsonValue::integer(batch));
    o.set("seq", JsonValue::integer(seq));
    o.set("optimizer", JsonValue::string(optimizerKindName(opt.kind)));
    o.set("lr", JsonValue::number(opt.lr));
    o.set("beta1", JsonValue::number(opt.beta1));
    o.set("beta2", JsonValue::number(opt.beta2));
    o.set("eps", JsonValue::number(opt.eps));
    o.set("weight_decay", JsonValue::number(opt.weightDecay));
    o.set("schedule", JsonValue::string(scheduleName(opt.schedule)));
    o.set("warmup", JsonValue::integer(opt.warmup));
    o.set("clip_grad_norm", JsonValue::number(opt.clipGradNorm));
    o.set("sampler", JsonValue::string(sampler));
    o.set("chain_loss", JsonValue::string(chainLoss));
    o.set("freeze_chains", JsonValue::integer(freeze));
    o.set("seed", JsonValue::integer(static_cast<int64_t>(seed)));
    o.set("total_steps", JsonValue::integer(opt.totalSteps));
    return o;
  }
};

/// The settings of `base` with the flags given on the command line applied.
Result<RunSettings> settingsFromFlags(const Args &args, const RunSettings &base,
                                      bool fresh) {
  RunSettings s = base;
  s.data = args.get("--data", base.data);
  if (s.data.empty())
    return Status::error("missing required flag --data FILE");
  COLM_ASSIGN_OR_RETURN(s.batch,
                        args.getInt("--batch", base.batch, 1, 1 << 20));
  COLM_ASSIGN_OR_RETURN(s.seq, args.getInt("--seq", base.seq, 1, 1 << 20));
  COLM_ASSIGN_OR_RETURN(s.opt.kind,
                        parseOptimizerKind(args.get(
                            "--optimizer", optimizerKindName(base.opt.kind))));
  COLM_ASSIGN_OR_RETURN(s.opt.lr, args.getDouble("--lr", base.opt.lr));
  COLM_ASSIGN_OR_RETURN(s.opt.beta1, args.getDouble("--beta1", base.opt.beta1));
  COLM_ASSIGN_OR_RETURN(s.opt.beta2, args.getDouble("--beta2", base.opt.beta2));
  COLM_ASSIGN_OR_RETURN(s.opt.eps, args.getDouble("--eps", base.opt.eps));
  // PyTorch's defaults: AdamW decays 0.01, SGD does not.
  double decay = fresh ? (s.opt.kind == OptimizerConfig::AdamW ? 0.01 : 0.0)
                       : base.opt.weightDecay;
  COLM_ASSIGN_OR_RETURN(s.opt.weightDecay,
                        args.getDouble("--weight-decay", decay));
  COLM_ASSIGN_OR_RETURN(
      s.opt.schedule,
      parseSchedule(args.get("--schedule", scheduleName(base.opt.schedule))));
  COLM_ASSIGN_OR_RETURN(s.opt.warmup,
                        args.getInt("--warmup", base.opt.warmup, 0, INT64_MAX));
  COLM_ASSIGN_OR_RETURN(
      s.opt.clipGradNorm,
      args.getDouble("--clip-grad-norm", base.opt.clipGradNorm));
  s.sampler = args.get("--sampler", base.sampler);
  COLM_TRY(parseSamplerKind(s.sampler).status().isOk()
               ? Status::ok()
               : parseSamplerKind(s.sampler).status());
  s.chainLoss = args.get("--chain-loss", base.chainLoss);
  COLM_ASSIGN_OR_RETURN(s.freeze,
                        args.getInt("--freeze-chains", base.freeze, 0, 1024));
  COLM_ASSIGN_OR_RETURN(
      int64_t seed,
      args.getInt("--seed", static_cast<int64_t>(base.seed), 0, INT64_MAX));
  s.seed = static_cast<uint64_t>(seed);
  return s;
}

/// Default settings of a fresh run.
RunSettings defaultSettings() {
  RunSettings s;
  s.opt.kind = OptimizerConfig::AdamW;
  s.opt.lr = 1e-3;
  s.opt.clipGradNorm = 1.0;
  s.opt.schedule = OptimizerConfig::Constant;
  return s;
}

Result<RunSettings> settingsFromCheckpoint(const JsonValue &o,
                                           const std::string &dir) {
  auto str = [&](const char *key) -> Result<std::string> {
    const JsonValue *v = o.find(key);
    if (!v || !v->isString())
      return Status::error(dir + "/training_state.json: missing \"" +
                           std::string(key) + "\"");
    return v->asString();
  };
  auto num = [&](const char *key) -> Result<double> {
    const JsonValue *v = o.find(key);
    if (!v || !v->isNumber())
      return Status::error(dir + "/training_state.json: missing \"" +
                           std::string(key) + "\"");
    return v->asDouble();
  };
  RunSettings s;
  COLM_ASSIGN_OR_RETURN(s.data, str("data"));
  COLM_ASSIGN_OR_RETURN(double batch, num("batch"));
  COLM_ASSIGN_OR_RETURN(double seq, num("seq"));
  s.batch = static_cast<int64_t>(batch);
  s.seq = static_cast<int64_t>(seq);
  COLM_ASSIGN_OR_RETURN(std::string kind, str("optimizer"));
  COLM_ASSIGN_OR_RETURN(s.opt.kind, parseOptimizerKind(kind));
  COLM_ASSIGN_OR_RETURN(s.opt.lr, num("lr"));
  COLM_ASSIGN_OR_RETURN(s.opt.beta1, num("beta1"));
  COLM_ASSIGN_OR_RETURN(s.opt.beta2, num("beta2"));
  COLM_ASSIGN_OR_RETURN(s.opt.eps, num("eps"));
  COLM_ASSIGN_OR_RETURN(s.opt.weightDecay, num("weight_decay"));
  COLM_ASSIGN_OR_RETURN(std::string schedule, str("schedule"));
  COLM_ASSIGN_OR_RETURN(s.opt.schedule, parseSchedule(schedule));
  COLM_ASSIGN_OR_RETURN(double warmup, num("warmup"));
  s.opt.warmup = static_cast<int64_t>(warmup);
  COLM_ASSIGN_OR_RETURN(s.opt.clipGradNorm, num("clip_grad_norm"));
  COLM_ASSIGN_OR_RETURN(s.sampler, str("sampler"));
  COLM_ASSIGN_OR_RETURN(s.chainLoss, str("chain_loss"));
  COLM_ASSIGN_OR_RETURN(double freeze, num("freeze_chains"));
  s.freeze = static_cast<int64_t>(freeze);
  const JsonValue *seed = o.find("seed");
  if (!seed || !seed->isInteger())
    return Status::error(dir + "/training_state.json: missing \"seed\"");
  s.seed = static_cast<uint64_t>(seed->asInt()); // exact, not via a double
  return s;
}

/// A resumed run keeps its settings; a flag that disagrees is an error.
Status checkResumeFlags(const Args &args, const RunSettings &stored) {
  COLM_ASSIGN_OR_RETURN(RunSettings given,
                        settingsFromFlags(args, stored, /*fresh=*/false));
  JsonValue a = given.toJson(), b = stored.toJson();
  for (const std::string &key : b.keys()) {
    if (key == "total_steps")
      continue; // --steps may grow on resume
    std::string x = writeJson(*a.find(key), 0), y = writeJson(*b.find(key), 0);
    if (x != y) {
      std::string flag = "--" + key;
      for (char &c : flag)
        if (c == '_')
          c = '-';
      return Status::error(flag + " " + x + " differs from the checkpoint's " +
                           y + "; a resumed run keeps its settings");
    }
  }
  return Status::ok();
}

} // namespace

Status runTrain(const std::vector<std::string> &argv) {
  Args args("train",
            "--model DIR --data FILE --steps N --save OUT [flags]\n"
            "       colm train --resume OUT --steps N [flags]",
            "Trains a model with the chain loss of spec/colm.md section 4, "
            "using the training step\nthat chain-autodiff compiles from the "
            "model's graph. Checkpoints hold the optimizer\nstate, the step "
            "and the data position: --resume continues bit for bit.");
  args.option("--model", "DIR", "model directory to start from")
      .option("--data", "FILE", "training data: text (bytes) or .bin (uint16)")
      .option("--steps", "N", "total optimizer steps of the run", true)
      .option("--batch", "B", "sequences per step (default 8)")
      .option("--seq", "T", "tokens per sequence (default 128)")
      .option("--optimizer", "sgd|adamw", "optimizer (default adamw)")
      .option("--lr", "X", "peak learning rate (default 1e-3)")
      .option("--beta1", "X", "AdamW beta1 (default 0.9)")
      .option("--beta2", "X", "AdamW beta2 (default 0.999)")
      .option("--eps", "X", "AdamW eps (default 1e-8)")
      .option("--weight-decay", "X",
              "decoupled weight decay of matrices (default 0.01 for AdamW, 0 "
              "for SGD)")
      .option("--schedule", "constant|cosine", "learning-rate schedule")
      .option("--warmup", "W", "linear warm-up steps (default 0)")
      .option("--clip-grad-norm", "G",
              "clip the global gradient norm to G; 0 turns it off (default 1)")
      .option("--sampler", "sequential|random", "window order (default random)")
      .option("--chain-loss", "full|all|w1,...,wn",
              "sub-model loss weights (default full)")
      .option("--freeze-chains", "F",
              "freeze chains 1..F (chain tuning; default 0)")
      .option("--seed", "S", "seed of the random sampler (default 0)")
      .option("--save", "OUT", "checkpoint directory (default: --resume's)")
      .option("--save-every", "N", "also checkpoint every N steps")
      .option("--resume", "OUT", "continue the run saved in OUT")
      .option("--log", "FILE.jsonl", "append one JSON object per step")
      .option("--eval-every", "N", "evaluate on --val every N steps")
      .option("--val", "FILE", "validation data");
  COLM_ASSIGN_OR_RETURN(bool helped, args.parseOrPrintHelp(argv));
  if (helped)
    return Status::ok();

  // The model, the settings and where the run starts.
  Model model;
  Tokenizer tokenizer;
  RunSettings settings;
  TrainingState state;
  std::string resume = args.get("--resume");
  if (!resume.empty()) {
    COLM_ASSIGN_OR_RETURN(Checkpoint ckpt, loadCheckpoint(resume));
    if (args.has("--model") &&
        std::filesystem::weakly_canonical(args.get("--model")) !=
            std::filesystem::weakly_canonical(resume))
      return Status::error("--model " + args.get("--model") +
                           " is not the resumed checkpoint " + resume +
                           " (omit --model or name the same directory)");
    COLM_ASSIGN_OR_RETURN(settings,
                          settingsFromCheckpoint(ckpt.state.args, resume));
    COLM_TRY(checkResumeFlags(args, settings));
    model = std::move(ckpt.model);
    tokenizer = ckpt.tokenizer;
    state = std::move(ckpt.state);
  } else {
    if (!args.has("--model"))
      return Status::error("missing required flag --model DIR (or --resume "
                           "OUT)");
    COLM_ASSIGN_OR_RETURN(settings,
                          settingsFromFlags(args, defaultSettings(), true));
    COLM_ASSIGN_OR_RETURN(model, loadModel(args.get("--model")));
    COLM_ASSIGN_OR_RETURN(tokenizer, loadTokenizer(args.get("--model")));
    state.seed = settings.seed;
  }
  std::string save = args.get("--save", resume);
  if (save.empty())
    return Status::error("missing required flag --save OUT");
  COLM_ASSIGN_OR_RETURN(int64_t steps, args.getInt("--steps", 0, 1, INT64_MAX));
  if (state.step >= steps)
    return Status::error(resume + " is already at step " +
                         std::to_string(state.step) + " of --steps " +
                         std::to_string(steps));
  COLM_ASSIGN_OR_RETURN(int64_t saveEvery,
                        args.getInt("--save-every", 0, 0, INT64_MAX));
  COLM_ASSIGN_OR_RETURN(int64_t evalEvery,
                        args.getInt("--eval-every", 0, 0, INT64_MAX));
  if (evalEvery && !args.has("--val"))
    return Status::error("--eval-every needs --val FILE");
  if (!resume.empty() && settings.opt.schedule == OptimizerConfig::Cosine) {
    const JsonValue *planned = state.args.find("total_steps");
    if (planned && planned->isInteger() && planned->asInt() != steps)
      return Status::error(
          "the cosine schedule of " + resume + " was planned for " +
          std::to_string(planned->asInt()) + " steps; --steps " +
          std::to_string(steps) + " would change the learning rates");
  }
  settings.opt.totalSteps = steps;
  COLM_TRY(validateOptimizerConfig(settings.opt));
  if (settings.seq > model.config.maxPositionEmbeddings)
    return Status::error("--seq " + std::to_string(settings.seq) +
                         " is more than max_position_embeddings " +
                         std::to_string(model.config.maxPositionEmbeddings));

  // Data.
  COLM_ASSIGN_OR_RETURN(TokenData data,
                        loadTokens(settings.data, model.config.vocabSize));
  COLM_TRY(checkWindow(data, settings.seq));
  COLM_ASSIGN_OR_RETURN(Sampler::Kind samplerKind,
                        parseSamplerKind(settings.sampler));
  Sampler sampler(data, samplerKind, settings.seed);
  if (!resume.empty())
    sampler.setState(state.samplerRng);
  std::vector<Batch> valBatches;
  if (args.has("--val")) {
    COLM_ASSIGN_OR_RETURN(
        TokenData val, loadTokens(args.get("--val"), model.config.vocabSize));
    COLM_TRY(checkWindow(val, settings.seq));
    valBatches = evalBatches(val, settings.batch, settings.seq, 4);
  }

  // The compiled programs and the optimizer.
  mlir::MLIRContext context;
  dsl::loadDialects(context);
  COLM_ASSIGN_OR_RETURN(
      StepProgram program,
      StepProgram::compile(context, model.config, settings.chainLoss,
                           static_cast<unsigned>(settings.freeze), true));
  std::optional<StepProgram> evalProgram;
  if (!valBatches.empty()) {
    COLM_ASSIGN_OR_RETURN(
        StepProgram p,
        StepProgram::compile(context, model.config, "all", 0, false));
    evalProgram = std::move(p);
  }
  COLM_ASSIGN_OR_RETURN(Optimizer optimizer,
                        Optimizer::create(settings.opt, model.config,
                                          model.params,
                                          static_cast<int>(settings.freeze)));
  if (!resume.empty())
    COLM_TRY(optimizer.loadState(state.optimizer).withContext(resume));
  state.args = settings.toJson();

  auto checkpoint = [&](int64_t step) -> Status {
    state.step = step;
    state.samplerRng = sampler.state();
    state.optimizer = optimizer.stateTensors();
    return saveCheckpoint(save, model, state, tokenizer);
  };
  // Find an unwritable --save now, not after the training: the run's
  // starting point is its first checkpoint.
  COLM_TRY(checkpoint(state.step));
  std::ofstream log;
  if (args.has("--log")) {
    // A resumed run drops what was logged after its checkpoint.
    std::vector<std::string> kept;
    if (!resume.empty()) {
      std::ifstream old(args.get("--log"));
      for (std::string line; std::getline(old, line);) {
        auto v = parseJson(line, args.get("--log"));
        const JsonValue *s = v ? v->find("step") : nullptr;
        if (s && s->isNumber() && s->asDouble() <= double(state.step))
          kept.push_back(line);
      }
    }
    std::string text;
    for (const std::string &line : kept)
      text += line + "\n";
    COLM_TRY(writeFileAtomic(args.get("--log"), text));
    log.open(args.get("--log"), std::ios::app);
    if (!log)
      return Status::error("cannot open --log " + args.get("--log"));
  }

  std::fprintf(
      stderr,
      "training %s: %d chains %s, %s, chain loss %s%s, %lld steps of "
      "%lld x %lld tokens\n",
      resume.empty() ? args.get("--model").c_str() : resume.c_str(),
      model.config.numChains(), formatChains(model.config.chains).c_str(),
      model.config.kvSharing ? "CoLM-Air" : "CoLM", settings.chainLoss.c_str(),
      settings.freeze
          ? (", chains 1.." + std::to_string(settings.freeze) + " frozen")
                .c_str()
          : "",
      (long long)steps, (long long)settings.batch, (long long)settings.seq);
  Progress progress("step", state.step, steps);
  auto runStart = std::chrono::steady_clock::now();
  for (int64_t step = state.step + 1; step <= steps; ++step) {
    auto t0 = std::chrono::steady_clock::now();
    Batch batch;
    batch.inputs.resize(settings.batch);
    batch.targets.resize(settings.batch);
    for (int64_t r = 0; r < settings.batch; ++r)
      sampler.window(step - 1, r, settings.batch, settings.seq, batch.inputs[r],
                     batch.targets[r]);
    COLM_ASSIGN_OR_RETURN(StepOutputs out, program.run(model.params, batch));
    auto lastGood = [&] {
      return "; the last good checkpoint is " + save + " (step " +
             std::to_string(state.step) + ")";
    };
    if (!std::isfinite(out.loss)) {
      progress.finish();
      return Status::error("step " + std::to_string(step) + ": the loss is " +
                           (std::isnan(out.loss) ? "NaN" : "infinite") +
                           ", stopping" + lastGood());
    }
    Result<StepStats> stats = optimizer.step(model.params, out.grads, step);
    if (!stats) {
      progress.finish();
      return Status::error("step " + std::to_string(step) + ": " +
                           stats.status().message() + lastGood());
    }
    for (const auto &[name, t] : model.params)
      for (float v : t.data)
        if (!std::isfinite(v)) {
          progress.finish();
          return Status::error(
              "step " + std::to_string(step) + ": the update made " + name +
              " non-finite (is --lr too large?), stopping" + lastGood());
        }
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
            .count();
    double tokensPerSecond = settings.batch * settings.seq / seconds;

    JsonValue entry = JsonValue::object();
    entry.set("step", JsonValue::integer(step));
    entry.set("loss", JsonValue::number(out.loss));
    JsonValue ce = JsonValue::object();
    for (auto [k, v] : out.subModelLoss)
      ce.set(std::to_string(k), JsonValue::number(v));
    entry.set("ce", ce);
    entry.set("lr", JsonValue::number(stats->lr));
    entry.set("grad_norm", JsonValue::number(stats->gradNorm));
    entry.set("tokens_per_s", JsonValue::number(tokensPerSecond));
    std::string valInfo;
    if (evalProgram && evalEvery && (step % evalEvery == 0 || step == steps)) {
      COLM_ASSIGN_OR_RETURN(auto val,
                            evaluate(*evalProgram, model.params, valBatches));
      JsonValue v = JsonValue::object();
      for (auto [k, x] : val)
        v.set(std::to_string(k), JsonValue::number(x));
      entry.set("val_ce", v);
      valInfo = "  val " + fixed(val.rbegin()->second, 3);
    }
    if (log.is_open())
      log << writeJson(entry, 0) << "\n" << std::flush;
    progress.update(step, "loss " + fixed(out.loss, 3) + valInfo + "  " +
                              fixed(tokensPerSecond, 0) + " tok/s");
    if (saveEvery && step % saveEvery == 0 && step != steps)
      COLM_TRY(checkpoint(step));
  }
  progress.finish();
  COLM_TRY(checkpoint(steps));
  double total =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - runStart)
          .count();
  std::fprintf(stderr, "saved %s at step %lld (%s)\n", save.c_str(),
               (long long)steps, formatDuration(total).c_str());

  // A loss-curve picture next to the log.
  if (args.has("--log")) {
    log.close();
    std::ifstream in(args.get("--log"));
    std::vector<std::pair<double, double>> train;
    std::map<std::string, PlotSeries> val;
    std::string line;
    while (std::getline(in, line)) {
      auto v = parseJson(line, args.get("--log"));
      if (!v || !v->find("step") || !v->find("loss"))
        continue;
      double s = v->find("step")->asDouble();
      train.push_back({s, v->find("loss")->asDouble()});
      if (const JsonValue *vc = v->find("val_ce"))
        for (const std::string &k : vc->keys()) {
          PlotSeries &series = val[k];
          series.name = "validation, " + k + " chain" + (k == "1" ? "" : "s");
          series.points.push_back({s, vc->find(k)->asDouble()});
        }
    }
    std::vector<PlotSeries> extra;
    for (auto &[k, series] : val)
      extra.push_back(series);
    std::string svgPath =
        std::filesystem::path(args.get("--log")).replace_extension(".svg");
    COLM_TRY(writeFileAtomic(svgPath,
                             lossCurveSvg(train, extra, "colm train: loss")));
    std::fprintf(stderr, "loss curve: %s\n", svgPath.c_str());
  }
  return Status::ok();
}

Status runEval(const std::vector<std::string> &argv) {
  Args args("eval", "--model DIR --data FILE [--batch B --seq T] [--json]",
            "Loss and perplexity of every k-chain sub-model of one model "
            "(elastic inference at a\nglance), over sequential "
            "non-overlapping windows of the data.");
  args.option("--model", "DIR", "model directory", true)
      .option("--data", "FILE", "text (bytes) or .bin (uint16) data", true)
      .option("--batch", "B", "windows per batch (default 8)")
      .option("--seq", "T", "tokens per window (default 128)")
      .option("--max-batches", "N", "evaluate at most N batches (default all)")
      .flag("--json", "print JSON instead of a table");
  COLM_ASSIGN_OR_RETURN(bool helped, args.parseOrPrintHelp(argv));
  if (helped)
    return Status::ok();
  COLM_ASSIGN_OR_RETURN(int64_t B, args.getInt("--batch", 8, 1, 1 << 20));
  COLM_ASSIGN_OR_RETURN(int64_t T, args.getInt("--seq", 128, 1, 1 << 20));
  COLM_ASSIGN_OR_RETURN(int64_t maxBatches,
                        args.getInt("--max-batches", 0, 0, INT64_MAX));
  COLM_ASSIGN_OR_RETURN(Model model, loadModel(args.get("--model")));
  if (T > model.config.maxPositionEmbeddings)
    return Status::error("--seq " + std::to_string(T) +
                         " is more than max_position_embeddings " +
                         std::to_string(model.config.maxPositionEmbeddings));
  COLM_ASSIGN_OR_RETURN(TokenData data,
                        loadTokens(args.get("--data"), model.config.vocabSize));
  COLM_TRY(checkWindow(data, T));
  mlir::MLIRContext context;
  dsl::loadDialects(context);
  COLM_ASSIGN_OR_RETURN(
      StepProgram program,
      StepProgram::compile(context, model.config, "all", 0, false));
  std::vector<Batch> batches = evalBatches(data, B, T, maxBatches);
  Progress progress("batch", 0, static_cast<int64_t>(batches.size()));
  std::map<unsigned, double> sums;
  double windows = 0;
  for (size_t i = 0; i < batches.size(); ++i) {
    COLM_ASSIGN_OR_RETURN(StepOutputs out,
                          program.run(model.params, batches[i]));
    for (auto [k, ce] : out.subModelLoss)
      sums[k] += ce * double(batches[i].inputs.size());
    windows += double(batches[i].inputs.size());
    progress.update(static_cast<int64_t>(i + 1), "");
  }
  progress.finish();
  // The loss of the best model that ignores context, for comparison.
  std::map<int32_t, double> counts;
  for (int32_t id : data.ids)
    counts[id] += 1;
  double unigram = 0;
  for (auto [id, n] : counts) {
    double p = n / double(data.size());
    unigram -= p * std::log(p);
  }
  const ModelConfig &c = model.config;
  if (args.isSet("--json")) {
    JsonValue out = JsonValue::object();
    out.set("tokens", JsonValue::integer(static_cast<int64_t>(windows) * T));
    out.set("unigram_entropy", JsonValue::number(unigram));
    JsonValue subs = JsonValue::array();
    for (auto [k, s] : sums) {
      JsonValue e = JsonValue::object();
      e.set("chains", JsonValue::integer(k));
      e.set("width", JsonValue::integer(c.prefixWidth(c.hiddenSize, k)));
      e.set("loss", JsonValue::number(s / windows));
      e.set("perplexity", JsonValue::number(std::exp(s / windows)));
      subs.push(e);
    }
    out.set("sub_models", subs);
    std::printf("%s\n", writeJson(out).c_str());
    return Status::ok();
  }
  std::printf("%lld tokens of %s\n%-7s %-6s %-8s %s\n",
              (long long)(windows * T), args.get("--data").c_str(), "chains",
              "width", "loss", "perplexity");
  for (auto [k, s] : sums)
    std::printf(
        "%-7u %-6lld %-8s %s\n", k, (long long)c.prefixWidth(c.hiddenSize, k),
        fixed(s / windows).c_str(), fixed(std::exp(s / windows), 2).c_str());
  std::printf("unigram entropy of the data: %s nats/token (perplexity %s), "
              "the loss of a model that ignores context\n",
              fixed(unigram).c_str(), fixed(std::exp(unigram), 2).c_str());
  return Status::ok();
}

Status runExpand(const std::vector<std::string> &argv) {
  Args args("expand", "--model DIR --add-chains c1 [c2 ...] --out DIR2",
            "Appends chains to a trained model (progressive scaling): the old "
            "model becomes\nchains 1..n, new weights are fresh and the new "
            "lm_head columns are zero, so the\nexpanded model's logits equal "
            "the original's. Then `colm train --freeze-chains n`\nis chain "
            "tuning.");
  args.option("--model", "DIR", "model to expand (CoLM, CoLM-Air or LLaMA)",
              true)
      .listOption("--add-chains", "c1 [c2 ...]", "ratios of the new chains",
                  true)
      .option("--out", "DIR2", "where to write the expanded model", true)
      .option("--seed", "S", "seed of the new weights (default 0)")
      .flag("--force", "overwrite a model that already exists in DIR2");
  COLM_ASSIGN_OR_RETURN(bool helped, args.parseOrPrintHelp(argv));
  if (helped)
    return Status::ok();
  COLM_ASSIGN_OR_RETURN(auto add,
                        parseIntList(args.get("--add-chains"), "--add-chains"));
  COLM_ASSIGN_OR_RETURN(int64_t seed, args.getInt("--seed", 0, 0, INT64_MAX));
  std::string out = args.get("--out");
  if (!args.isSet("--force") &&
      std::filesystem::exists(out + "/model.safetensors"))
    return Status::error(out + " already holds a model (use --force to "
                               "overwrite it)");
  COLM_ASSIGN_OR_RETURN(Model model, loadModel(args.get("--model")));
  COLM_ASSIGN_OR_RETURN(Tokenizer tokenizer,
                        loadTokenizer(args.get("--model")));
  COLM_ASSIGN_OR_RETURN(Model expanded,
                        expandModel(model, add, static_cast<uint64_t>(seed)));
  COLM_TRY(saveModel(out, expanded));
  COLM_TRY(saveTokenizer(out, tokenizer));

  // The promise of expansion, checked on a few tokens.
  std::vector<int32_t> probe;
  for (int32_t i = 0; i < 8; ++i)
    probe.push_back(
        static_cast<int32_t>((i * 37 + 11) % model.config.vocabSize));
  mlir::MLIRContext context;
  dsl::loadDialects(context);
  COLM_ASSIGN_OR_RETURN(auto before, buildSubModel(context, model.config, 0));
  COLM_ASSIGN_OR_RETURN(auto after, buildSubModel(context, expanded.config, 0));
  COLM_ASSIGN_OR_RETURN(HostTensor a, runForward(*before, probe, model.params));
  COLM_ASSIGN_OR_RETURN(HostTensor b,
                        runForward(*after, probe, expanded.params));
  double diff = 0;
  for (size_t i = 0; i < a.data.size(); ++i)
    diff = std::max(diff, std::abs(a.data[i] - b.data[i]));
  std::printf("wrote %s: chains %s -> %s, hidden %lld -> %lld, heads %lld -> "
              "%lld\nfull-model logits vs the original on %zu tokens: max "
              "|difference| = %g\n",
              out.c_str(), formatChains(model.config.chains).c_str(),
              formatChains(expanded.config.chains).c_str(),
              (long long)model.config.hiddenSize,
              (long long)expanded.config.hiddenSize,
              (long long)model.config.numHeads,
              (long long)expanded.config.numHeads, probe.size(), diff);
  if (diff != 0)
    return Status::error("internal error: expansion changed the logits");
  return Status::ok();
}

} // namespace colm::cli
