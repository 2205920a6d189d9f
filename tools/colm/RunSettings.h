//===- RunSettings.h - colm train's settings and their checks ---*- C++ -*-===//
//
// What a training run is: its flags, or what a checkpoint restored, and the
// rules of resuming (what may change, the data by its contents), plus the
// memory estimate of a step. Shared by colm train and colm eval.
//
//===----------------------------------------------------------------------===//
#ifndef COLM_TOOLS_RUNSETTINGS_H
#define COLM_TOOLS_RUNSETTINGS_H

#include "compiler/Trainer.h"
#include "runtime/Config.h"
#include "runtime/Data.h"
#include "runtime/Json.h"
#include "runtime/Optimizer.h"
#include "tools/colm/Args.h"

#include <map>
#include <string>
#include <vector>

namespace colm::cli {

/// The run's settings: read from flags, or restored from a checkpoint.
struct RunSettings {
  OptimizerConfig opt;
  int64_t batch = 8, seq = 128, freeze = 0;
  uint64_t seed = 0;
  std::string data, chainLoss = "full", sampler = "random";
  /// fp32 or bf16 (--precision): a resumed run keeps its precision unless
  /// told otherwise, and a change is listed (it is not bit-exact).
  std::string precision = "fp32";
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
    o.set("precision", JsonValue::string(precision));
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
std::string absolutePath(const std::string &path);

/// The settings of `base` with the flags given on the command line applied.
Result<RunSettings> settingsFromFlags(const Args &args, const RunSettings &base,
                                      bool fresh);

/// Default settings of a fresh run.
RunSettings defaultSettings();

/// The settings a checkpoint's training_state.json holds ("args").
Result<RunSettings> settingsFromCheckpoint(const JsonValue &o,
                                           const std::string &dir);

/// What a resumed run changes. The settings that define the run's data
/// stream and its optimizer state are fixed (an error names the flag); the
/// rest may change, and each change is listed ("--lr 0.003 -> 0.001").
Result<std::vector<std::string>> resumeChanges(const RunSettings &stored,
                                               const RunSettings &given);

/// OK when `data` is the stored data (by size and content hash, whatever the
/// path); an error that says what differs otherwise.
Status checkSameData(const RunSettings &stored, const TokenData &data,
                     const std::string &resume);

/// An estimate of what a step holds: parameters, gradients and optimizer
/// moments in fp32 (parameters only when !training), and the interpreter's
/// activations in double; an error naming it when it does not fit.
Status checkTrainingFits(const ModelConfig &c, const RunSettings &s,
                         bool training = true);

/// Sequential, non-overlapping windows of T+1 tokens, B per batch.
std::vector<Batch> evalBatches(const TokenData &data, int64_t B, int64_t T,
                               int64_t maxBatches);

/// Mean cross-entropy of every sub-model over the batches.
Result<std::map<unsigned, double>> evaluate(const StepProgram &program,
                                            const TensorMap &params,
                                            const std::vector<Batch> &batches);

/// "%.*f".
std::string fixed(double v, int digits = 4);

} // namespace colm::cli

#endif // COLM_TOOLS_RUNSETTINGS_H
