//===- Experiment.cpp - colm experiment: runner and report ------*- C++ -*-===//
#include "tools/colm/Experiment.h"

#include "runtime/File.h"
#include "runtime/Model.h"
#include "runtime/Plot.h"
#include "tools/colm/Args.h"
#include "tools/colm/Progress.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <set>
#include <spawn.h>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

namespace colm::cli {
namespace fs = std::filesystem;

double trainableParams(const ModelConfig &c, int k) {
  if (k <= 0 || k > c.numChains())
    k = c.numChains();
  double total = 0;
  for (const ParamSpec &p : modelParams(c)) {
    switch (p.kind) {
    case ParamKind::ChainLinear: {
      // Block (i, j) with j <= i of the first k chains.
      int64_t out = p.shape[0], in = p.shape[1];
      for (int i = 1; i <= k; ++i)
        total += double(c.chainWidth(out, i)) * double(c.prefixWidth(in, i));
      break;
    }
    case ParamKind::Dense:
      total += double(p.shape[0]) * double(p.shape[1]);
      break;
    case ParamKind::ChainedColumns:
      total += double(p.shape[0]) * double(c.prefixWidth(p.shape[1], k));
      break;
    case ParamKind::Gain:
      total += double(c.prefixWidth(p.shape[0], k));
      break;
    }
  }
  return total;
}

double trainFlopsPerToken(const ModelConfig &c, int64_t seq) {
  // Every weight but the embedding table's does a multiply-add per token
  // forward and two backward; causal attention scores and values read seq/2
  // positions on average per head dimension.
  double weights = trainableParams(c) - double(c.vocabSize) * c.hiddenSize;
  double attention = 2.0 * c.numLayers * double(c.qWidth()) * double(seq) / 2;
  return 6.0 * weights + 3.0 * 2.0 * attention;
}

ModelConfig scaleConfig(const ExperimentScale &s,
                        const std::vector<int64_t> &chains, bool kvSharing) {
  ModelConfig c;
  c.vocabSize = 256;
  c.hiddenSize = s.hidden;
  c.intermediateSize = s.ffn;
  c.numLayers = s.layers;
  c.numHeads = s.heads;
  c.numKvHeads = s.kvHeads;
  c.rmsNormEps = 1e-5;
  c.ropeTheta = 10000.0;
  c.maxPositionEmbeddings = std::max<int64_t>(4096, s.seq);
  c.chains = chains;
  c.kvSharing = kvSharing;
  return c;
}

namespace {

/// The running stage's process and the signal that stopped the runner: a
/// SIGINT or SIGTERM sent to the runner alone (kill, timeout) reaches the
/// stage too, so no orphan goes on writing the run directory.
volatile sig_atomic_t runningChild = 0;
volatile sig_atomic_t stopSignal = 0;

void forwardSignal(int sig) {
  stopSignal = sig;
  if (runningChild > 0)
    kill(pid_t(runningChild), sig);
}

std::string selfPath() {
  std::error_code ec;
  fs::path p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("colm") : p.string();
}

std::string join(const std::vector<std::string> &argv) {
  std::string s;
  for (const std::string &a : argv)
    s += (s.empty() ? "" : " ") + a;
  return s;
}

/// The last lines of a log, to show why a stage failed.
std::string tail(const std::string &path, int lines) {
  auto text = readFile(path);
  if (!text)
    return "";
  std::vector<std::string> all;
  std::istringstream in(*text);
  for (std::string line; std::getline(in, line);)
    all.push_back(line);
  std::string out;
  for (size_t i = all.size() > size_t(lines) ? all.size() - lines : 0;
       i < all.size(); ++i)
    out += "  | " + all[i] + "\n";
  return out;
}

/// Runs `colm argv...` with stdout to `stdoutPath` and stderr to `logPath`
/// (appended, as is stdout when stdoutPath is empty).
Status spawnColm(const std::vector<std::string> &argv,
                 const std::string &stdoutPath, const std::string &logPath) {
  std::vector<std::string> full = {selfPath()};
  full.insert(full.end(), argv.begin(), argv.end());
  std::vector<char *> cargv;
  for (std::string &a : full)
    cargv.push_back(a.data());
  cargv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, logPath.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (stdoutPath.empty())
    posix_spawn_file_actions_adddup2(&actions, 2, 1);
  else
    posix_spawn_file_actions_addopen(&actions, 1, stdoutPath.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = 0;
  int rc =
      posix_spawn(&pid, cargv[0], &actions, nullptr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0)
    return Status::error("cannot start " + full[0] + ": " + std::strerror(rc));
  runningChild = pid;
  if (stopSignal)
    kill(pid, stopSignal);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) {
      runningChild = 0;
      return Status::error(std::string("waiting for colm: ") +
                           std::strerror(errno));
    }
  runningChild = 0;
  if (stopSignal)
    return Status::error("interrupted (signal " + std::to_string(stopSignal) +
                         "); rerun the same command to resume");
  if (WIFSIGNALED(status))
    return Status::error("`colm " + join(argv) + "` was killed by signal " +
                         std::to_string(WTERMSIG(status)) +
                         " (rerun the experiment to resume)");
  if (WEXITSTATUS(status) != 0)
    return Status::error("`colm " + join(argv) + "` failed (exit " +
                         std::to_string(WEXITSTATUS(status)) + "); log " +
                         logPath + ":\n" + tail(logPath, 12));
  return Status::ok();
}

bool exists(const std::string &path) {
  std::error_code ec;
  return fs::exists(path, ec);
}

Status runStage(const ExperimentStage &stage, const std::string &dir) {
  std::string log = dir + "/" + stage.label + ".log";
  std::vector<std::string> argv = stage.argv;
  if (!stage.resumeFrom.empty() &&
      exists(dir + "/" + stage.resumeFrom + "/training_state.json"))
    argv = stage.resumeArgv;
  // Relative paths in argv are the run directory's.
  for (std::string &a : argv)
    if (a.rfind("@/", 0) == 0)
      a = dir + a.substr(1);
  std::string out;
  if (!stage.stdoutFile.empty())
    out = dir + "/" + stage.stdoutFile + ".partial";
  auto start = std::chrono::steady_clock::now();
  COLM_TRY(spawnColm(argv, out, log));
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  if (!out.empty()) {
    std::error_code ec;
    fs::rename(out, dir + "/" + stage.stdoutFile, ec);
    if (ec)
      return Status::error("cannot move " + out +
                           " into place: " + ec.message());
  }
  JsonValue done = JsonValue::object();
  done.set("seconds", JsonValue::number(seconds));
  done.set("command", JsonValue::string("colm " + join(argv)));
  return writeFileAtomic(dir + "/" + stage.done, writeJson(done, 0) + "\n");
}

/// The last JSON object of a command's stdout (colm bench --json ends with
/// one; colm eval --json prints only one).
Result<JsonValue> readJsonOutput(const std::string &path) {
  COLM_ASSIGN_OR_RETURN(std::string text, readFile(path));
  size_t start = text.rfind("\n{");
  std::string_view json = text;
  if (text.rfind('{', 0) != 0 && start != std::string::npos)
    json = std::string_view(text).substr(start + 1);
  return parseJson(json, path);
}

/// Metrics of a finished run from the files its stages wrote.
Status collect(ExperimentRun &run, const std::string &dir) {
  for (const ExperimentStage &stage : run.stages) {
    auto done = readFile(dir + "/" + stage.done);
    if (done) {
      auto j = parseJson(*done, stage.done);
      if (j && j->find("seconds"))
        run.metrics["seconds_" + stage.label] = j->find("seconds")->asDouble();
    }
    if (stage.label.rfind("eval", 0) == 0) {
      COLM_ASSIGN_OR_RETURN(JsonValue e,
                            readJsonOutput(dir + "/" + stage.stdoutFile));
      const JsonValue *subs = e.find("sub_models");
      if (!subs || !subs->isArray())
        return Status::error(dir + "/" + stage.stdoutFile +
                             ": no sub_models (not colm eval --json output)");
      std::string suffix = stage.label.substr(4); // "eval_base" -> "_base"
      int64_t most = 0;
      for (const JsonValue &s : subs->elements()) {
        int64_t k = s.find("chains")->asInt();
        double loss = s.find("loss")->asDouble();
        run.metrics["loss@" + std::to_string(k) + suffix] = loss;
        most = std::max(most, k);
        if (k == most)
          run.metrics["loss" + suffix] = loss;
      }
    }
    if (stage.label.rfind("bench", 0) == 0) {
      COLM_ASSIGN_OR_RETURN(JsonValue b,
                            readJsonOutput(dir + "/" + stage.stdoutFile));
      std::string suffix = stage.label.substr(5);
      for (const char *key : {"prefill_seconds_full", "prefill_seconds_chain1",
                              "train_tokens_per_second"})
        if (const JsonValue *v = b.find(key); v && v->isNumber())
          run.metrics[key + suffix] = v->asDouble();
      if (const JsonValue *d = b.find("decode_tokens_per_second"))
        for (const std::string &k : d->keys())
          run.metrics["decode_tok_s@" + k + suffix] = d->find(k)->asDouble();
    }
  }
  double seconds = 0;
  for (auto &[k, v] : run.metrics)
    if (k.rfind("seconds_", 0) == 0)
      seconds += v;
  run.metrics["seconds"] = seconds;
  // The training log: the last entry of each step (a resumed run appends
  // the steps after its checkpoint again).
  auto log = readFile(dir + "/train.jsonl");
  if (log) {
    std::map<int64_t, JsonValue> steps;
    std::istringstream in(*log);
    for (std::string line; std::getline(in, line);) {
      auto j = parseJson(line, dir + "/train.jsonl");
      if (j && j->find("step"))
        steps[j->find("step")->asInt()] = std::move(*j);
    }
    double tokensPerStep =
        run.settings.find("tokens_per_step")
            ? run.settings.find("tokens_per_step")->asDouble()
            : 0;
    double offset = run.settings.find("tokens_before")
                        ? run.settings.find("tokens_before")->asDouble()
                        : 0;
    double speed = 0;
    int speeds = 0;
    for (auto &[step, j] : steps) {
      double tokens = offset + double(step) * tokensPerStep;
      run.trainCurve.push_back({tokens, j.find("loss")->asDouble()});
      if (const JsonValue *v = j.find("val_ce"))
        if (v->isObject() && !v->keys().empty())
          run.valCurve.push_back(
              {tokens, v->find(v->keys().back())->asDouble()});
      if (const JsonValue *t = j.find("tokens_per_s"); t && step > 1) {
        speed += t->asDouble();
        ++speeds;
      }
    }
    if (!steps.empty())
      run.metrics["train_loss"] =
          steps.rbegin()->second.find("loss")->asDouble();
    if (speeds)
      run.metrics["train_tok_s"] = speed / speeds;
  }
  return Status::ok();
}

struct Summary {
  double mean = NAN, sd = NAN;
  int n = 0;
};

Summary summarise(const std::vector<double> &v) {
  Summary s;
  s.n = int(v.size());
  if (v.empty())
    return s;
  double sum = 0;
  for (double x : v)
    sum += x;
  s.mean = sum / double(v.size());
  if (v.size() > 1) {
    double ss = 0;
    for (double x : v)
      ss += (x - s.mean) * (x - s.mean);
    s.sd = std::sqrt(ss / double(v.size() - 1));
  }
  return s;
}

std::string formatCell(const std::string &format, Summary s) {
  if (s.n == 0 || !std::isfinite(s.mean))
    return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, format.c_str(), s.mean);
  std::string cell = buf;
  if (s.n > 1 && std::isfinite(s.sd)) {
    std::snprintf(buf, sizeof buf, format.c_str(), s.sd);
    cell += std::string(" ± ") + buf;
  }
  return cell;
}

int64_t seedCount(const std::vector<ExperimentRun> &runs) {
  std::set<int> seeds;
  for (const ExperimentRun &r : runs)
    seeds.insert(r.seed);
  return int64_t(seeds.size());
}

/// Variants in the order the plan lists them.
std::vector<std::string> variantsOf(const std::vector<ExperimentRun> &runs) {
  std::vector<std::string> order;
  for (const ExperimentRun &r : runs)
    if (std::find(order.begin(), order.end(), r.variant) == order.end())
      order.push_back(r.variant);
  return order;
}

Status writeReport(const Experiment &e, const ExperimentOptions &o,
                   const std::vector<ExperimentRun> &runs,
                   const std::vector<std::string> &notes, double seconds) {
  JsonValue root = JsonValue::object();
  root.set("experiment", JsonValue::string(e.name));
  root.set("quick", JsonValue::boolean(o.scale.quick));
  root.set("seeds", JsonValue::integer(seedCount(runs)));
  root.set("backend", JsonValue::string(o.backend));
  root.set("data", JsonValue::string(o.data));
  root.set("val", JsonValue::string(o.val));
  root.set("seconds", JsonValue::number(seconds));
  double stageSeconds = 0;
  for (const ExperimentRun &r : runs)
    if (auto it = r.metrics.find("seconds"); it != r.metrics.end())
      stageSeconds += it->second;
  root.set("stage_seconds", JsonValue::number(stageSeconds));
  JsonValue list = JsonValue::array();
  for (const ExperimentRun &r : runs) {
    JsonValue j = JsonValue::object();
    j.set("variant", JsonValue::string(r.variant));
    j.set("id", JsonValue::string(r.id));
    j.set("seed", JsonValue::integer(r.seed));
    j.set("chains", JsonValue::string(formatChains(r.config.chains)));
    j.set("settings", r.settings);
    JsonValue m = JsonValue::object();
    for (auto &[k, v] : r.metrics)
      m.set(k, JsonValue::number(v));
    j.set("metrics", m);
    list.push(j);
  }
  root.set("runs", list);
  JsonValue notesJson = JsonValue::array();
  for (const std::string &n : notes)
    notesJson.push(JsonValue::string(n));
  root.set("notes", notesJson);
  COLM_TRY(writeFileAtomic(o.out + "/results.json", writeJson(root) + "\n"));

  // The table: one row per variant, mean ± sd over seeds.
  std::string md = "# " + e.name + "\n\n" + e.summary + "\n\n";
  md += std::string(o.scale.quick ? "Size: --quick (a smoke test: the "
                                    "numbers mean nothing). "
                                  : "Size: full. ") +
        "Seeds: " + std::to_string(seedCount(runs)) +
        ". Backend: " + o.backend +
        ". Time of every stage of every run: " + formatDuration(stageSeconds) +
        " (this invocation: " + formatDuration(seconds) + ").\n\n";
  md += "| variant |";
  std::string rule = "|---|";
  for (const ExperimentColumn &c : e.columns) {
    md += " " + c.title + " |";
    rule += "---|";
  }
  md += "\n" + rule + "\n";
  for (const std::string &v : variantsOf(runs)) {
    md += "| " + v + " |";
    for (const ExperimentColumn &c : e.columns) {
      std::vector<double> values;
      for (const ExperimentRun &r : runs)
        if (r.variant == v)
          if (auto it = r.metrics.find(c.metric); it != r.metrics.end())
            values.push_back(it->second);
      md += " " + formatCell(c.format, summarise(values)) + " |";
    }
    md += "\n";
  }
  if (!notes.empty()) {
    md += "\n";
    for (const std::string &n : notes)
      md += "- " + n + "\n";
  }
  md += "\nThe paper: " + e.paper + "\n";
  COLM_TRY(writeFileAtomic(o.out + "/results.md", md));

  // Loss curves of every run over the tokens trained on.
  std::vector<PlotSeries> train, val;
  for (const ExperimentRun &r : runs) {
    std::string name = r.variant + (o.seeds > 1 ? " s" + std::to_string(r.seed)
                                                : std::string());
    if (!r.trainCurve.empty())
      train.push_back({name, r.trainCurve});
    if (!r.valCurve.empty())
      val.push_back({name, r.valCurve});
  }
  if (!train.empty())
    COLM_TRY(writeFileAtomic(
        o.out + "/train-loss.svg",
        lineChartSvg(train, e.name + ": training loss", "tokens", "loss")));
  if (!val.empty())
    COLM_TRY(writeFileAtomic(
        o.out + "/val-loss.svg",
        lineChartSvg(val, e.name + ": validation loss", "tokens", "loss")));
  // Validation loss of every sub-model against its parameters, one series
  // per variant (seed means).
  std::vector<PlotSeries> byParams;
  for (const std::string &v : variantsOf(runs)) {
    PlotSeries s{v, {}};
    const ExperimentRun *first = nullptr;
    for (const ExperimentRun &r : runs)
      if (r.variant == v) {
        first = &r;
        break;
      }
    for (int k = 1; first && k <= first->config.numChains(); ++k) {
      std::vector<double> losses;
      for (const ExperimentRun &r : runs)
        if (r.variant == v)
          if (auto it = r.metrics.find("loss@" + std::to_string(k));
              it != r.metrics.end())
            losses.push_back(it->second);
      if (!losses.empty())
        s.points.push_back(
            {trainableParams(first->config, k) / 1e6, summarise(losses).mean});
    }
    if (!s.points.empty())
      byParams.push_back(s);
  }
  if (!byParams.empty())
    COLM_TRY(writeFileAtomic(
        o.out + "/loss-vs-params.svg",
        lineChartSvg(byParams, e.name + ": validation loss of every sub-model",
                     "parameters (millions)", "validation loss")));
  if (e.plots)
    for (auto &[file, svg] : e.plots(runs))
      COLM_TRY(writeFileAtomic(o.out + "/" + file, svg));
  return Status::ok();
}

Status requireFile(const std::string &path, const std::string &flag) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec))
    return Status::error(flag + " " + path +
                         ": no such file (tools/fetch-corpus.sh fetches the "
                         "Brown corpus)");
  return Status::ok();
}

} // namespace

Status runExperiment(const std::vector<std::string> &argv) {
  std::string names;
  for (const Experiment &e : experiments())
    names += "\n  " + e.name +
             std::string(18 - std::min<size_t>(17, e.name.size()), ' ') +
             e.summary;
  Args args("experiment", "NAME [--quick] [--seeds N] [--out DIR]",
            "Reproduces one of the paper's claims (or an ablation it leaves "
            "out) on this machine:\ntrains every run of the experiment's "
            "grid, evaluates every sub-model on the\nvalidation data and "
            "writes results.json, results.md (mean ± sd over seeds) and\nSVG "
            "plots to --out. Stages run as colm commands; an interrupted "
            "experiment resumes\nwhere it stopped, a finished run is not "
            "redone. docs/experiments.md has the\nsettings and the results "
            "measured here.\n\nexperiments:" +
                names);
  args.flag("--quick", "tiny sizes: a smoke test of seconds (the numbers mean "
                       "nothing)")
      .option("--seeds", "N",
              "runs per variant, seeds 1..N (default 3; 1 "
              "with --quick)")
      .option("--out", "DIR",
              "where runs and results go (default "
              "experiments/NAME, or experiments/NAME-quick)")
      .option("--data", "FILE",
              "training data (default the Brown corpus of "
              "tools/fetch-corpus.sh)")
      .option("--val", "FILE",
              "validation data (default Brown's held-out "
              "documents)")
      .option("--steps", "N",
              "training steps of a run (default: the "
              "experiment's)")
      .option("--backend", "NAME",
              "cpu (default) or reference: the backend "
              "of every stage")
      .flag("--list", "list the experiments and exit")
      .flag("--plan", "print the commands the experiment would run and exit");
  // NAME is the first word that is not a flag's value.
  const std::set<std::string> takesValue = {"--seeds", "--out",   "--data",
                                            "--val",   "--steps", "--backend"};
  std::vector<std::string> rest;
  std::string name;
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string &a = argv[i];
    bool value = i > 0 && takesValue.count(argv[i - 1]);
    if (name.empty() && !value && !a.empty() && a[0] != '-')
      name = a;
    else
      rest.push_back(a);
  }
  COLM_ASSIGN_OR_RETURN(bool helped, args.parseOrPrintHelp(rest));
  if (helped)
    return Status::ok();
  if (args.isSet("--list")) {
    for (const Experiment &e : experiments())
      std::printf("%-18s %s\n", e.name.c_str(), e.summary.c_str());
    return Status::ok();
  }
  const Experiment *experiment = nullptr;
  for (const Experiment &e : experiments())
    if (e.name == name)
      experiment = &e;
  if (name.empty())
    return Status::error("missing the experiment's NAME (colm experiment "
                         "--list names them)");
  if (!experiment)
    return Status::error("unknown experiment '" + name +
                         "' (colm experiment --list names them)");

  ExperimentOptions o;
  o.name = name;
  o.scale.quick = args.isSet("--quick");
  if (o.scale.quick) {
    ExperimentScale q;
    q.quick = true;
    q.hidden = 64, q.heads = 8, q.kvHeads = 2, q.layers = 2, q.ffn = 128;
    q.seq = 32, q.batch = 4, q.steps = 6, q.evalEvery = 3, q.evalBatches = 2;
    q.lr = 3e-3, q.warmup = 1;
    o.scale = q;
  }
  COLM_ASSIGN_OR_RETURN(int64_t seeds,
                        args.getInt("--seeds", o.scale.quick ? 1 : 3, 1, 100));
  o.seeds = int(seeds);
  if (!o.scale.quick) {
    o.scale.steps = experiment->steps;
    o.scale.evalBatches = 48;
  }
  COLM_ASSIGN_OR_RETURN(o.scale.steps,
                        args.getInt("--steps", o.scale.steps, 1, 1 << 30));
  o.backend = args.get("--backend", "cpu");
  if (o.backend != "cpu" && o.backend != "reference")
    return Status::error("--backend " + o.backend +
                         ": experiments run on cpu or reference");
  std::string cache =
      std::getenv("COLM_CACHE_DIR")
          ? std::getenv("COLM_CACHE_DIR")
          : std::string(std::getenv("HOME") ? std::getenv("HOME") : ".") +
                "/.cache/colm";
  o.data = args.get("--data", cache + "/data/brown-train.txt");
  o.val = args.get("--val", cache + "/data/brown-val.txt");
  o.out = args.get("--out",
                   "experiments/" + name + (o.scale.quick ? "-quick" : ""));
  COLM_ASSIGN_OR_RETURN(std::vector<ExperimentRun> runs, experiment->plan(o));

  if (args.isSet("--plan")) {
    for (const ExperimentRun &r : runs) {
      std::printf(
          "%s: %s, chains %s%s, width %lld, FFN %lld, %lld layers, "
          "%.3fM trainable parameters\n",
          r.id.c_str(), r.variant.c_str(),
          formatChains(r.config.chains).c_str(),
          r.config.kvSharing ? " (CoLM-Air)" : "",
          (long long)r.config.hiddenSize, (long long)r.config.intermediateSize,
          (long long)r.config.numLayers, trainableParams(r.config) / 1e6);
      for (const ExperimentStage &s : r.stages)
        std::printf("  %s: colm %s\n", s.label.c_str(), join(s.argv).c_str());
    }
    return Status::ok();
  }
  COLM_TRY(requireFile(o.data, "--data"));
  COLM_TRY(requireFile(o.val, "--val"));
  COLM_TRY(makeDirectories(o.out));

  int64_t total = 0, done = 0;
  for (const ExperimentRun &r : runs)
    for (const ExperimentStage &s : r.stages)
      (exists(o.out + "/" + r.id + "/" + s.done) ? done : total) += 1;
  total += done;
  // Measurements without training (prefill) run once, whatever --seeds.
  int64_t seedsRun = seedCount(runs);
  std::printf("%s: %zu runs (%lld seed%s), %lld of %lld stages to run; output "
              "in %s\n",
              name.c_str(), runs.size(), (long long)seedsRun,
              seedsRun > 1 ? "s" : "", (long long)(total - done),
              (long long)total, o.out.c_str());
  std::fflush(stdout);
  auto start = std::chrono::steady_clock::now();
  struct sigaction action = {};
  action.sa_handler = forwardSignal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  Progress progress(name, done, total);
  for (const ExperimentRun &r : runs) {
    std::string dir = o.out + "/" + r.id;
    COLM_TRY(makeDirectories(dir));
    COLM_TRY(writeFileAtomic(dir + "/config.json", configToJson(r.config)));
    for (const ExperimentStage &s : r.stages) {
      if (exists(dir + "/" + s.done))
        continue;
      progress.update(done, r.id + ": " + s.label);
      COLM_TRY(runStage(s, dir));
      ++done;
    }
  }
  progress.update(done, "report");
  progress.finish();
  for (ExperimentRun &r : runs)
    COLM_TRY(collect(r, o.out + "/" + r.id));
  std::vector<std::string> notes;
  if (experiment->finish)
    COLM_TRY(experiment->finish(o, runs, notes));
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  COLM_TRY(writeReport(*experiment, o, runs, notes, seconds));
  auto md = readFile(o.out + "/results.md");
  if (md)
    std::printf("\n%s", md->c_str());
  std::printf("\nwrote %s/results.json, results.md and plots\n", o.out.c_str());
  return Status::ok();
}

} // namespace colm::cli
