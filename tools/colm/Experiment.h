//===- Experiment.h - colm experiment: the paper's claims as runs -*- C++
//-*-===//
//
// An experiment is a grid of runs (a variant of the model or of the training
// per row, one run per seed), each a list of colm commands run as child
// processes, then a report over the finished runs: results.json, results.md
// (mean and standard deviation over seeds) and SVG plots. A stage is done
// when its output exists, so an interrupted experiment resumes where it
// stopped and a finished run is never redone (docs/experiments.md).
//
//===----------------------------------------------------------------------===//
#ifndef COLM_TOOLS_EXPERIMENT_H
#define COLM_TOOLS_EXPERIMENT_H

#include "runtime/Config.h"
#include "runtime/Json.h"
#include "runtime/Status.h"

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace colm::cli {

/// The sizes an experiment runs at: the full size (about an hour on two
/// cores) or --quick (a smoke test of seconds).
struct ExperimentScale {
  bool quick = false;
  int64_t hidden = 512, heads = 8, kvHeads = 2, layers = 6, ffn = 1408;
  int64_t seq = 256, batch = 8, steps = 400, evalEvery = 100;
  /// Validation batches per evaluation (0: all).
  int64_t evalBatches = 0;
  double lr = 2e-3;
  int64_t warmup = 30;
};

struct ExperimentOptions {
  std::string name, out, data, val, backend = "cpu";
  int seeds = 1;
  ExperimentScale scale;
};

/// One colm command of a run. It is done when `done` (relative to the run
/// directory) exists; stdout goes to `stdoutFile` when set (written
/// atomically once the command succeeds), else with stderr to the stage log.
struct ExperimentStage {
  std::string label;
  std::vector<std::string> argv;
  std::string done;
  std::string stdoutFile;
  /// Training: when `resumeFrom` holds a checkpoint, `resumeArgv` runs
  /// instead of argv (an interrupted run continues bit for bit).
  std::string resumeFrom;
  std::vector<std::string> resumeArgv;
};

struct ExperimentRun {
  /// The row of the table ("colm-air [4,4]") and the run's directory name.
  std::string variant, id;
  int seed = 0;
  ModelConfig config;
  std::vector<ExperimentStage> stages;
  /// Measured after the run: metric name -> value (per sub-model metrics
  /// are named "loss@k").
  std::map<std::string, double> metrics;
  /// What the report states beside the table (steps, tokens, widths).
  JsonValue settings = JsonValue::object();
  /// (tokens seen, training loss) and (tokens, validation loss).
  std::vector<std::pair<double, double>> trainCurve, valCurve;
};

/// A column of the results table.
struct ExperimentColumn {
  std::string metric, title;
  /// printf format of the mean (and of the standard deviation).
  std::string format = "%.3f";
};

struct Experiment {
  std::string name, summary;
  /// What the paper says (or does not), printed beside our numbers.
  std::string paper;
  std::function<Result<std::vector<ExperimentRun>>(const ExperimentOptions &)>
      plan;
  std::vector<ExperimentColumn> columns;
  /// Derived metrics over all runs (e.g. the gap between variants); may
  /// add notes for the report.
  std::function<Status(const ExperimentOptions &, std::vector<ExperimentRun> &,
                       std::vector<std::string> &notes)>
      finish;
  /// Plots of its own: (file name, SVG).
  std::function<std::vector<std::pair<std::string, std::string>>(
      const std::vector<ExperimentRun> &)>
      plots;
  /// Training steps of a run at the full size (sized so that the whole
  /// grid of 3 seeds takes about an hour on two cores).
  int64_t steps = 400;
};

/// Every experiment, in the order of docs/experiments.md.
const std::vector<Experiment> &experiments();

/// The parameters of the k-chain sub-model that training can change (the
/// zero blocks above the chain diagonal excluded); k = 0: the full model.
double trainableParams(const ModelConfig &config, int k = 0);
/// Model FLOPs of one training token of the full model (6 per trainable
/// matrix weight, plus attention at `seq`): the compute axis.
double trainFlopsPerToken(const ModelConfig &config, int64_t seq);

/// The model config of `scale` with `chains` (heads split as they say).
ModelConfig scaleConfig(const ExperimentScale &scale,
                        const std::vector<int64_t> &chains, bool kvSharing);

Status runExperiment(const std::vector<std::string> &args);

} // namespace colm::cli

#endif // COLM_TOOLS_EXPERIMENT_H
