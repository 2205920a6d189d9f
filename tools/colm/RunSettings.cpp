//===- RunSettings.cpp - colm train's settings and their checks -----------===//
#include "tools/colm/RunSettings.h"

#include "runtime/Model.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <set>

namespace colm::cli {

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

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

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
  s.precision = args.get("--precision", base.precision);
  COLM_TRY(parsePrecision(s.precision).status());
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
  if (optional("precision")) { // absent before bf16: fp32
    COLM_ASSIGN_OR_RETURN(s.precision, str("precision"));
    if (!parsePrecision(s.precision))
      return Status::error(where + ": \"precision\" must be \"fp32\" or "
                                   "\"bf16\"");
  }
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
                         bool training) {
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

} // namespace colm::cli
