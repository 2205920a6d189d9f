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
#include <set>

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
  /// What identifies the data whatever its path (0: not recorded, an older
  /// checkpoint).
  uint64_t dataBytes = 0, dataFingerprint = 0;
  /// Where the run logs and evaluates; a resumed run keeps them by default.
  std::string log, val;
  int64_t evalEvery = 0, saveEvery = 0;

  JsonValue toJson() const {
    JsonValue o = JsonValue::object();
    o.set("data", JsonValue::string(data));
    o.set("data_bytes", JsonValue::string(std::to_string(dataBytes)));
    o.set("data_fingerprint", JsonValue::string(hex(dataFingerprint)));
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
    o.set("log", JsonValue::string(log));
    o.set("val", JsonValue::string(val));
    o.set("eval_every", JsonValue::integer(evalEvery));
    o.set("save_every", JsonValue::integer(saveEvery));
    return o;
  }

  static std::string hex(uint64_t x) {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", (unsigned long long)x);
    return buf;
  }
};

/// An absolute, normalised path (the file need not exist), so a checkpoint
/// resumes from any working directory.
std::string absolutePath(const std::string &path) {
  if (path.empty())
    return path;
  std::error_code ec;
  auto abs = std::filesystem::absolute(path, ec);
  if (ec)
    return path;
  auto p = std::filesystem::weakly_canonical(abs, ec);
  return ec ? abs.lexically_normal().string() : p.string();
}

/// The settings of `base` with the flags given on the command line applied.
Result<RunSettings> settingsFromFlags(const Args &args, const RunSettings &base,
                                      bool fresh) {
  RunSettings s = base;
  s.data = args.has("--data") ? absolutePath(args.get("--data")) : base.data;
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
  s.log = args.has("--log") ? absolutePath(args.get("--log")) : base.log;
  s.val = args.has("--val") ? absolutePath(args.get("--val")) : base.val;
  COLM_ASSIGN_OR_RETURN(
      s.evalEvery, args.getInt("--eval-every", base.evalEvery, 0, INT64_MAX));
  COLM_ASSIGN_OR_RETURN(
      s.saveEvery, args.getInt("--save-every", base.saveEvery, 0, INT64_MAX));
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
  std::string where = dir + "/training_state.json";
  auto str = [&](const char *key) -> Result<std::string> {
    const JsonValue *v = o.find(key);
    if (!v || !v->isString())
      return Status::error(where + ": missing \"" + std::string(key) + "\"");
    return v->asString();
  };
  auto num = [&](const char *key) -> Result<double> {
    const JsonValue *v = o.find(key);
    if (!v || !v->isNumber() || !std::isfinite(v->asDouble()))
      return Status::error(where + ": missing \"" + std::string(key) + "\"");
    return v->asDouble();
  };
  auto count = [&](const char *key, int64_t lo, int64_t hi) -> Result<int64_t> {
    const JsonValue *v = o.find(key);
    if (!v || !v->isInteger() || v->asInt() < lo || v->asInt() > hi)
      return Status::error(where + ": \"" + std::string(key) +
                           "\" must be an integer in [" + std::to_string(lo) +
                           ", " + std::to_string(hi) + "]");
    return v->asInt();
  };
  // Keys that older checkpoints lack.
  auto optional = [&](const char *key) { return o.find(key) != nullptr; };
  RunSettings s;
  COLM_ASSIGN_OR_RETURN(s.data, str("data"));
  COLM_ASSIGN_OR_RETURN(s.batch, count("batch", 1, 1 << 20));
  COLM_ASSIGN_OR_RETURN(s.seq, count("seq", 1, 1 << 20));
  COLM_ASSIGN_OR_RETURN(std::string kind, str("optimizer"));
  COLM_ASSIGN_OR_RETURN(s.opt.kind, parseOptimizerKind(kind));
  COLM_ASSIGN_OR_RETURN(s.opt.lr, num("lr"));
  COLM_ASSIGN_OR_RETURN(s.opt.beta1, num("beta1"));
  COLM_ASSIGN_OR_RETURN(s.opt.beta2, num("beta2"));
  COLM_ASSIGN_OR_RETURN(s.opt.eps, num("eps"));
  COLM_ASSIGN_OR_RETURN(s.opt.weightDecay, num("weight_decay"));
  COLM_ASSIGN_OR_RETURN(std::string schedule, str("schedule"));
  COLM_ASSIGN_OR_RETURN(s.opt.schedule, parseSchedule(schedule));
  COLM_ASSIGN_OR_RETURN(s.opt.warmup, count("warmup", 0, INT64_MAX));
  COLM_ASSIGN_OR_RETURN(s.opt.clipGradNorm, num("clip_grad_norm"));
  COLM_ASSIGN_OR_RETURN(s.sampler, str("sampler"));
  COLM_ASSIGN_OR_RETURN(s.chainLoss, str("chain_loss"));
  COLM_ASSIGN_OR_RETURN(s.freeze, count("freeze_chains", 0, 1024));
  COLM_ASSIGN_OR_RETURN(int64_t seed, count("seed", 0, INT64_MAX));
  s.seed = static_cast<uint64_t>(seed); // exact, not via a double
  COLM_ASSIGN_OR_RETURN(s.opt.totalSteps, count("total_steps", 0, INT64_MAX));
  if (optional("data_fingerprint")) {
    COLM_ASSIGN_OR_RETURN(std::string bytes, str("data_bytes"));
    COLM_ASSIGN_OR_RETURN(std::string fp, str("data_fingerprint"));
    char *end = nullptr;
    s.dataBytes = std::strtoull(bytes.c_str(), &end, 10);
    bool ok = !bytes.empty() && *end == '\0';
    s.dataFingerprint = std::strtoull(fp.c_str(), &end, 16);
    if (!ok || fp.size() != 16 || *end != '\0')
      return Status::error(where + ": \"data_bytes\" and \"data_fingerprint\" "
                                   "must be a decimal and a 16-digit hex "
                                   "string");
  }
  if (optional("log")) {
    COLM_ASSIGN_OR_RETURN(s.log, str("log"));
    COLM_ASSIGN_OR_RETURN(s.val, str("val"));
    COLM_ASSIGN_OR_RETURN(s.evalEvery, count("eval_every", 0, INT64_MAX));
    COLM_ASSIGN_OR_RETURN(s.saveEvery, count("save_every", 0, INT64_MAX));
  }
  return s;
}

/// What a resumed run changes. The settings that define the run's data
/// stream and its optimizer state are fixed (an error names the flag); the
/// rest may change, and each change is listed ("--lr 0.003 -> 0.001").
Result<std::vector<std::string>> resumeChanges(const RunSettings &stored,
                                               const RunSettings &given) {
  static const std::set<std::string> fixed = {
      "batch", "seq", "optimizer", "sampler", "freeze_chains", "seed"};
  static const std::set<std::string> notFlags = {
      "data", "data_bytes", "data_fingerprint", "total_steps"};
  JsonValue a = given.toJson(), b = stored.toJson();
  std::vector<std::string> changes;
  for (const std::string &key : b.keys()) {
    if (notFlags.count(key))
      continue;
    std::string x = writeJson(*a.find(key), 0), y = writeJson(*b.find(key), 0);
    if (x == y)
      continue;
    std::string flag = "--" + key;
    for (char &c : flag)
      if (c == '_')
        c = '-';
    if (fixed.count(key))
      return Status::error(flag + " " + x + " differs from the checkpoint's " +
                           y +
                           "; a resumed run keeps the settings of its data "
                           "stream and optimizer state (start a new run to "
                           "change " +
                           flag + ")");
    auto shown = [](const std::string &v) {
      return v == "\"\"" ? std::string("(none)") : v;
    };
    changes.push_back(flag + " " + shown(y) + " -> " + shown(x));
  }
  return changes;
}

/// The stored data when it is the same as `data` (by size and content hash,
/// whatever the path); an error that says what differs otherwise.
Status checkSameData(const RunSettings &stored, const TokenData &data,
                     const std::string &resume) {
  if (stored.dataFingerprint == 0)
    return Status::ok(); // an older checkpoint: nothing to compare
  if (data.fileBytes == stored.dataBytes &&
      data.fingerprint == stored.dataFingerprint)
    return Status::ok();
  std::string was = std::to_string(stored.dataBytes) + " bytes, fingerprint " +
                    RunSettings::hex(stored.dataFingerprint);
  std::string now = std::to_string(data.fileBytes) + " bytes, fingerprint " +
                    RunSettings::hex(data.fingerprint);
  if (data.source == stored.data)
    return Status::error("the data " + data.source + " of " + resume +
                         " changed since the checkpoint (" + was + ", now " +
                         now +
                         "): resuming on other data would not continue the "
                         "run bit for bit; restore the file, give the "
                         "original with --data, or start a new run");
  return Status::error(
      "the data " + data.source + " (" + std::to_string(data.fileBytes) +
      " bytes, fingerprint " + RunSettings::hex(data.fingerprint) +
      ") is not the data of the run in " + resume + " (" + stored.data + ", " +
      std::to_string(stored.dataBytes) + " bytes, fingerprint " +
      RunSettings::hex(stored.dataFingerprint) +
      "): resuming on changed data would not continue the run; restore the "
      "file, give the same data with --data, or start a new run");
}

/// An estimate of what a training step holds: parameters, gradients and
/// optimizer moments in fp32, and the interpreter's activations in double
/// (every layer's intermediates and attention probabilities, the logits).
Status checkTrainingFits(const ModelConfig &c, const RunSettings &s,
                         bool training = true) {
  double rows = double(s.batch) * double(s.seq);
  double perToken = 8.0 * double(c.hiddenSize) +
                    4.0 * double(c.intermediateSize) +
                    2.0 * double(c.qWidth() + c.kvWidth()) +
                    double(c.numHeads) * double(s.seq);
  double activations = 8.0 * rows *
                       (double(c.numLayers) * perToken +
                        3.0 * double(c.vocabSize) * double(c.numChains()));
  double copies = !training                              ? 1.0
                  : s.opt.kind == OptimizerConfig::AdamW ? 4.0
                                                         : 2.0;
  return checkModelFits(c, copies, activations,
                        std::string(training ? "training" : "evaluating") +
                            " with --batch " + std::to_string(s.batch) +
                            " --seq " + std::to_string(s.seq));
}

} // namespace

Status runTrain(const std::vector<std::string> &argv) {
  Args args("train",
            "--model DIR --data FILE --steps N --out OUT [flags]\n"
            "       colm train --resume OUT [--steps N] [flags]",
            "Trains a model with the chain loss of spec/colm.md section 4, "
            "using the training step\nthat chain-autodiff compiles from the "
            "model's graph. Checkpoints hold the optimizer\nstate, the step "
            "and the data position: --resume continues bit for bit. A resumed "
            "run\nmay change --steps (a cosine schedule re-plans its tail), "
            "--lr, --beta1/2, --eps,\n--weight-decay, --schedule, --warmup, "
            "--clip-grad-norm, --chain-loss, --log, --val,\n--eval-every and "
            "--save-every; it prints what changed.");
  args.option("--model", "DIR", "model directory to start from")
      .option("--data", "FILE", "training data: text (bytes) or .bin (uint16)")
      .option("--steps", "N",
              "total optimizer steps of the run (required for a new run)")
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
      .option("--out", "OUT", "checkpoint directory (default: --resume's)",
              false, "--save")
      .flag("--force", "replace a model or checkpoint that already exists in "
                       "OUT")
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
  RunSettings settings, stored;
  TrainingState state;
  std::string resume = args.get("--resume");
  std::vector<std::string> changes;
  if (!resume.empty()) {
    COLM_ASSIGN_OR_RETURN(Checkpoint ckpt, loadCheckpoint(resume));
    if (args.has("--model") &&
        std::filesystem::weakly_canonical(args.get("--model")) !=
            std::filesystem::weakly_canonical(resume))
      return Status::error("--model " + args.get("--model") +
                           " is not the resumed checkpoint " + resume +
                           " (omit --model or name the same directory)");
    COLM_ASSIGN_OR_RETURN(stored,
                          settingsFromCheckpoint(ckpt.state.args, resume));
    COLM_ASSIGN_OR_RETURN(settings,
                          settingsFromFlags(args, stored, /*fresh=*/false));
    COLM_ASSIGN_OR_RETURN(changes, resumeChanges(stored, settings));
    model = std::move(ckpt.model);
    tokenizer = ckpt.tokenizer;
    state = std::move(ckpt.state);
  } else {
    if (!args.has("--model"))
      return Status::error("missing required flag --model DIR (or --resume "
                           "OUT)");
    if (!args.has("--steps"))
      return Status::error("missing required flag --steps N");
    COLM_ASSIGN_OR_RETURN(settings,
                          settingsFromFlags(args, defaultSettings(), true));
    COLM_ASSIGN_OR_RETURN(model, loadModel(args.get("--model")));
    COLM_ASSIGN_OR_RETURN(tokenizer, loadTokenizer(args.get("--model")));
    state.seed = settings.seed;
  }
  std::string save = args.get("--out", resume);
  if (save.empty())
    return Status::error("missing required flag --out OUT");
  COLM_ASSIGN_OR_RETURN(int64_t steps,
                        args.getInt("--steps",
                                    resume.empty() ? 0 : stored.opt.totalSteps,
                                    1, INT64_MAX));
  if (!resume.empty() && state.step >= steps) {
    if (state.step == steps && !args.has("--steps")) {
      std::fprintf(stderr,
                   "%s is finished: it is at step %lld of %lld; nothing to "
                   "do (give a larger --steps to train on)\n",
                   resume.c_str(), (long long)state.step, (long long)steps);
      return Status::ok();
    }
    if (state.step == steps) {
      std::fprintf(stderr,
                   "%s is already at step %lld of --steps %lld; nothing to "
                   "do\n",
                   resume.c_str(), (long long)state.step, (long long)steps);
      return Status::ok();
    }
    return Status::error("--steps " + std::to_string(steps) + " is less than " +
                         "the " + std::to_string(state.step) + " steps that " +
                         resume + " has done");
  }
  if (!resume.empty() && steps != stored.opt.totalSteps)
    changes.push_back("--steps " + std::to_string(stored.opt.totalSteps) +
                      " -> " + std::to_string(steps));
  bool sameDir =
      !resume.empty() && std::filesystem::weakly_canonical(save) ==
                             std::filesystem::weakly_canonical(resume);
  // A new run (or a resumed one written elsewhere) must not silently
  // replace another model or checkpoint.
  std::error_code ec;
  bool occupied = !sameDir && std::filesystem::exists(save, ec) &&
                  !(std::filesystem::is_directory(save, ec) &&
                    std::filesystem::is_empty(save, ec));
  if (occupied && !args.isSet("--force"))
    return Status::error(
        save + " already holds " +
        (isTrainingCheckpoint(save)
             ? "a training checkpoint"
             : std::string(std::filesystem::exists(save + "/config.json", ec)
                               ? "a model"
                               : "files")) +
        " (use --force to replace it, or --resume " + save +
        " to continue that run)");
  // One writer per checkpoint directory (its lock lives next to it).
  std::string parent = std::filesystem::path(save).parent_path().string();
  if (!parent.empty())
    COLM_TRY(makeDirectories(parent).withContext("cannot save checkpoint '" +
                                                 save + "'"));
  COLM_ASSIGN_OR_RETURN(
      DirectoryLock lock,
      DirectoryLock::acquire(save, "colm train, writing " + save));

  int64_t saveEvery = settings.saveEvery, evalEvery = settings.evalEvery;
  if (evalEvery && settings.val.empty())
    return Status::error("--eval-every needs --val FILE");

  // A resumed run follows the schedule that its (new) --steps, --lr and
  // --warmup define: a longer cosine re-plans the tail from here on.
  settings.opt.totalSteps = steps;
  if (!resume.empty() && !changes.empty()) {
    double before = learningRate(stored.opt, state.step + 1);
    double after = learningRate(settings.opt, state.step + 1);
    if (before != after) {
      char buf[160];
      std::snprintf(buf, sizeof buf,
                    "the learning rate of step %lld is %.4g (%.4g under the "
                    "old plan)",
                    (long long)state.step + 1, after, before);
      changes.push_back(buf);
    }
  }
  COLM_TRY(validateOptimizerConfig(settings.opt));
  if (settings.seq > model.config.maxPositionEmbeddings)
    return Status::error("--seq " + std::to_string(settings.seq) +
                         " is more than max_position_embeddings " +
                         std::to_string(model.config.maxPositionEmbeddings));
  COLM_TRY(checkTrainingFits(model.config, settings));

  // Data: the same contents, under whatever path.
  if (!resume.empty() && !args.has("--data") &&
      !std::filesystem::exists(settings.data, ec))
    return Status::error("the data of " + resume + ", " + settings.data +
                         ", is gone; give --data FILE (the same contents "
                         "under another path resume exactly)");
  COLM_ASSIGN_OR_RETURN(TokenData data,
                        loadTokens(settings.data, model.config.vocabSize));
  if (!resume.empty()) {
    COLM_TRY(checkSameData(stored, data, resume));
    if (stored.dataFingerprint == 0)
      std::fprintf(stderr,
                   "warning: %s records no fingerprint of its data; "
                   "cannot check that %s is unchanged\n",
                   resume.c_str(), settings.data.c_str());
    else if (settings.data != stored.data)
      changes.push_back("--data " + stored.data + " -> " + settings.data +
                        " (the same contents)");
  }
  settings.dataBytes = data.fileBytes;
  settings.dataFingerprint = data.fingerprint;
  COLM_TRY(checkWindow(data, settings.seq));
  COLM_ASSIGN_OR_RETURN(Sampler::Kind samplerKind,
                        parseSamplerKind(settings.sampler));
  Sampler sampler(data, samplerKind, settings.seed);
  if (!resume.empty())
    sampler.setState(state.samplerRng);
  std::vector<Batch> valBatches;
  if (!settings.val.empty()) {
    COLM_ASSIGN_OR_RETURN(TokenData val,
                          loadTokens(settings.val, model.config.vocabSize));
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

  bool replaceAll = occupied; // --force on another run: nothing of it stays
  auto checkpoint = [&](int64_t step) -> Status {
    state.step = step;
    state.samplerRng = sampler.state();
    state.optimizer = optimizer.stateTensors();
    Status st = saveCheckpoint(save, model, state, tokenizer, !replaceAll);
    replaceAll = false;
    return st;
  };
  // Find an unwritable --out now, not after the training: the run's
  // starting point is its first checkpoint.
  COLM_TRY(checkpoint(state.step));
  std::ofstream log;
  std::string logPath = settings.log;
  if (!logPath.empty()) {
    // A resumed run drops what was logged after its checkpoint.
    std::vector<std::string> kept;
    if (!resume.empty()) {
      std::ifstream old(logPath);
      for (std::string line; std::getline(old, line);) {
        auto v = parseJson(line, logPath);
        const JsonValue *s = v ? v->find("step") : nullptr;
        if (s && s->isNumber() && s->asDouble() <= double(state.step))
          kept.push_back(line);
      }
    }
    std::string text;
    for (const std::string &line : kept)
      text += line + "\n";
    COLM_TRY(writeFileAtomic(logPath, text));
    log.open(logPath, std::ios::app);
    if (!log)
      return Status::error("cannot open --log " + logPath);
  }
  if (!resume.empty()) {
    std::string list;
    for (const std::string &c : changes)
      list += "\n  " + c;
    std::fprintf(stderr, "resuming %s at step %lld: %s%s\n", resume.c_str(),
                 (long long)state.step,
                 changes.empty() ? "settings unchanged (bit-exact)"
                                 : "changed:",
                 list.c_str());
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
    if (log.is_open()) {
      log << writeJson(entry, 0) << "\n" << std::flush;
      if (!log) {
        progress.finish();
        return Status::error("cannot write --log " + logPath +
                             " (disk full?); stopping" + lastGood());
      }
    }
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
  if (!logPath.empty()) {
    log.close();
    std::ifstream in(logPath);
    std::vector<std::pair<double, double>> train;
    std::map<std::string, PlotSeries> val;
    std::string line;
    while (std::getline(in, line)) {
      auto v = parseJson(line, logPath);
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
        std::filesystem::path(logPath).replace_extension(".svg");
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
  RunSettings shape;
  shape.batch = B;
  shape.seq = T;
  COLM_TRY(checkTrainingFits(model.config, shape, /*training=*/false));
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
      .flag("--force", "replace a model that already exists in DIR2 (all of "
                       "it, training state included)");
  COLM_ASSIGN_OR_RETURN(bool helped, args.parseOrPrintHelp(argv));
  if (helped)
    return Status::ok();
  COLM_ASSIGN_OR_RETURN(auto add,
                        parseIntList(args.get("--add-chains"), "--add-chains"));
  COLM_ASSIGN_OR_RETURN(int64_t seed, args.getInt("--seed", 0, 0, INT64_MAX));
  std::string out = args.get("--out");
  bool force = args.isSet("--force");
  COLM_TRY(checkModelDirectoryWritable(out, force));
  COLM_ASSIGN_OR_RETURN(Model model, loadModel(args.get("--model")));
  COLM_ASSIGN_OR_RETURN(Tokenizer tokenizer,
                        loadTokenizer(args.get("--model")));
  COLM_ASSIGN_OR_RETURN(Model expanded,
                        expandModel(model, add, static_cast<uint64_t>(seed)));
  COLM_TRY(saveModelDirectory(out, expanded, tokenizer, force));

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
