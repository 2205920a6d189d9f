//===- Train.cpp - colm train, eval, expand ---------------------*- C++ -*-===//
#include "tools/colm/Commands.h"

#include "compiler/CudaOptimizer.h"
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
#include "runtime/dist/Communicator.h"
#include "runtime/dist/DataParallel.h"
#include "runtime/dist/GpuExchange.h"
#include "tools/colm/Args.h"
#include "tools/colm/Progress.h"
#include "tools/colm/RunSettings.h"

#include "mlir/IR/MLIRContext.h"

#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <unistd.h>

namespace colm::cli {
namespace {

/// The ranks of a --distributed run (no communicator: one process).
///
/// Setup (flags, files, compiling) is local; it ends with every rank's
/// verdict (endSetup), so that a rank that cannot start stops the others
/// before any collective. After it, an error that every rank reaches
/// together (a bad batch, a diverged step) is returned on every rank and
/// printed by rank 0; any other (a rank's own failure, a collective that
/// timed out) prints and aborts the job, so that nothing waits forever.
struct TrainJob {
  std::shared_ptr<dist::Communicator> comm;
  bool setupDone = false;
  /// The error being returned is every rank's.
  bool agreed = false;
  /// Another rank reports the error.
  bool silent = false;

  bool root() const { return !comm || comm->rank() == 0; }
  int rank() const { return comm ? comm->rank() : 0; }
  int ranks() const { return comm ? comm->size() : 1; }

  Status endSetup(bool failed) {
    if (!comm)
      return Status::ok();
    std::vector<double> flags(size_t(ranks()), 0.0);
    flags[size_t(rank())] = failed ? 1.0 : 0.0;
    COLM_TRY(comm->allReduceSumNow(flags.data(), int64_t(flags.size()),
                                   "the ranks' verdict on their setup"));
    bool any = false;
    for (double f : flags)
      any |= f != 0;
    agreed = true;
    setupDone = !any;
    // Rank 0 reports its failure; else each failing rank its own.
    silent = (flags[0] != 0 && rank() != 0) || (any && !failed);
    return any ? Status::error("") : Status::ok();
  }

  /// What this rank returns (and prints) for the run's status `st`.
  Status finish(Status st) {
    if (!comm || st.isOk())
      return st;
    std::string message = st.message();
    if (rank() != 0 && !message.empty() && message.rfind("rank ", 0) != 0)
      message = "rank " + std::to_string(rank()) + ": " + message;
    if (!comm->healthy() || (setupDone && !agreed)) {
      std::fprintf(stderr, "error: %s (aborting the job)\n", message.c_str());
      comm->abort(1);
    }
    // Printed here, before MPI_Finalize lets the other ranks exit and the
    // launcher kill this one.
    if (!silent && !(rank() != 0 && agreed && setupDone) && !message.empty())
      std::fprintf(stderr, "error: %s\n", message.c_str());
    return Status::error("");
  }
};

/// Holds the end of setup for early returns: every rank must give its
/// verdict before any of them leaves.
struct SetupGuard {
  TrainJob &job;
  bool passed = false;
  /// The early return is a success (every rank takes it together).
  bool okReturn = false;
  ~SetupGuard() {
    if (!passed && job.comm) {
      Status s = job.endSetup(!okReturn);
      (void)s;
    }
  }
  Status pass() {
    passed = true;
    return job.endSetup(false);
  }
};

Status train(Args &args, TrainJob &job);

/// COLM_FAULT=RANK:STEP:nan|kill|hang makes rank RANK's step STEP go
/// wrong after its step program ran (a non-finite loss, SIGKILL, or
/// sleeping forever), to test how a distributed job stops.
void injectFault(int rank, int64_t step, StepOutputs &out) {
  static const char *env = std::getenv("COLM_FAULT");
  if (!env || !*env)
    return;
  int r = -1;
  long long s = -1;
  char kind[16] = {};
  if (std::sscanf(env, "%d:%lld:%15s", &r, &s, kind) != 3 || r != rank ||
      s != step)
    return;
  if (std::strcmp(kind, "nan") == 0) {
    out.loss = std::nan("");
  } else if (std::strcmp(kind, "kill") == 0) {
    std::raise(SIGKILL);
  } else if (std::strcmp(kind, "hang") == 0) {
    for (;;)
      ::pause();
  }
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
      .option("--val", "FILE", "validation data")
      .option("--backend", "NAME", kBackendHelp)
      .option("--precision", "P", kPrecisionHelp)
      .flag("--distributed",
            "run as one rank of an MPI job, e.g. mpirun -np 2 colm train ... "
            "--distributed:\neach rank computes its share of every batch; "
            "rank 0 writes (docs/distributed.md)")
      .option("--bucket-mb", "MB",
              "--distributed: megabytes of gradient per exchange (default 4)")
      .option("--collective-timeout", "S",
              "--distributed: seconds a rank waits for the others before the "
              "job stops (default 300)");
  COLM_ASSIGN_OR_RETURN(bool helped, args.parseOrPrintHelp(argv));
  if (helped)
    return Status::ok();
  TrainJob job;
  if (args.isSet("--distributed")) {
    COLM_ASSIGN_OR_RETURN(double timeout,
                          args.getDouble("--collective-timeout", 300));
    if (!(timeout > 0))
      return Status::error("--collective-timeout must be positive");
    dist::shareCores();
    COLM_ASSIGN_OR_RETURN(job.comm, dist::openMpi());
    job.comm->setTimeout(timeout);
  } else {
    for (const char *flag : {"--bucket-mb", "--collective-timeout"})
      if (args.has(flag))
        return Status::error(std::string(flag) + " needs --distributed");
  }
  return job.finish(train(args, job));
}

namespace {

Status train(Args &args, TrainJob &job) {
  SetupGuard guard{job};
  COLM_ASSIGN_OR_RETURN(Backend backend, backendFlags(args));
  // One GPU per rank: the rank's place on its machine, unless
  // COLM_CUDA_DEVICE says otherwise.
  if (job.comm && backend == Backend::Cuda)
    dist::pickLocalGpu();

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
      guard.okReturn = true;
      return Status::ok();
    }
    if (state.step == steps) {
      std::fprintf(stderr,
                   "%s is already at step %lld of --steps %lld; nothing to "
                   "do\n",
                   resume.c_str(), (long long)state.step, (long long)steps);
      guard.okReturn = true;
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
  if (occupied && !args.isSet("--force") && job.root())
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
  // (Only rank 0 of a distributed run writes.)
  std::optional<DirectoryLock> lock;
  if (job.root()) {
    std::string parent = std::filesystem::path(save).parent_path().string();
    if (!parent.empty())
      COLM_TRY(makeDirectories(parent).withContext("cannot save checkpoint '" +
                                                   save + "'"));
    COLM_ASSIGN_OR_RETURN(
        DirectoryLock held,
        DirectoryLock::acquire(save, "colm train, writing " + save));
    lock.emplace(std::move(held));
  }

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

  // The compiled programs and the optimizer, in the run's precision (a
  // resumed run's unless --precision changes it).
  COLM_ASSIGN_OR_RETURN(codegen::Precision precision,
                        parsePrecision(settings.precision));
  if (precision == codegen::Precision::Bf16 && !isCompiled(backend))
    return Status::error(
        "this run trains in bf16, which needs --backend cpu or cuda-sim");
  setCpuPrecision(precision);
  mlir::MLIRContext context;
  dsl::loadDialects(context);
  COLM_ASSIGN_OR_RETURN(
      StepProgram program,
      StepProgram::compile(context, model.config, settings.chainLoss,
                           static_cast<unsigned>(settings.freeze), true,
                           backend));
  std::optional<StepProgram> evalProgram;
  if (!valBatches.empty()) {
    COLM_ASSIGN_OR_RETURN(
        StepProgram p,
        StepProgram::compile(context, model.config, "all", 0, false, backend));
    evalProgram = std::move(p);
  }
  COLM_ASSIGN_OR_RETURN(Optimizer created,
                        Optimizer::create(settings.opt, model.config,
                                          model.params,
                                          static_cast<int>(settings.freeze)));
  std::optional<Optimizer> optimizer(std::move(created));
  // Distributed, AdamW on the GPU sums gradients with NCCL (each GPU keeps
  // the whole state); everything else exchanges host gradients over MPI and
  // shards the optimizer state (ZeRO-1).
  bool gpuState =
      backend == Backend::Cuda && settings.opt.kind == OptimizerConfig::AdamW;
  bool hostExchange = job.comm && !gpuState;
  if (!resume.empty() && !hostExchange)
    COLM_TRY(optimizer->loadState(state.optimizer).withContext(resume));
  state.args = settings.toJson();
  // This rank's rows of every batch (all of them in one process).
  auto [firstRow, endRow] =
      dist::rowsOf(settings.batch, job.rank(), job.ranks());
  if (job.comm && endRow == firstRow)
    return Status::error("--batch " + std::to_string(settings.batch) +
                         " gives rank " + std::to_string(job.rank()) +
                         " no rows: a distributed run needs at least one "
                         "sequence per rank (" +
                         std::to_string(job.ranks()) + " ranks)");
  int64_t localRows = endRow - firstRow;
  // The step is compiled before the ranks agree to start (a rank that
  // cannot compile stops them all), and its launch order gives the order
  // in which gradients are exchanged.
  std::vector<std::string> gradientOrder;
  if (job.comm) {
    COLM_ASSIGN_OR_RETURN(const CompiledFunction *compiled,
                          program.prepare(localRows, settings.seq));
    if (compiled)
      gradientOrder = dist::gradientOrder(compiled->executor->program());
  }
  COLM_ASSIGN_OR_RETURN(double bucketMb, args.getDouble("--bucket-mb", 4));
  if (!(bucketMb > 0 && bucketMb <= 1 << 20))
    return Status::error("--bucket-mb must be in (0, 1048576]");

  // Every rank has set up: from here on the ranks move together.
  COLM_TRY(guard.pass());
  std::unique_ptr<dist::DataParallel> dp;
  int64_t bucketBytes =
      std::max<int64_t>(4, int64_t(bucketMb * double(1 << 20)));
  if (hostExchange) {
    dist::DataParallelOptions options;
    options.bucketBytes = bucketBytes;
    COLM_ASSIGN_OR_RETURN(
        dp, dist::DataParallel::create(job.comm, settings.opt, model.config,
                                       static_cast<int>(settings.freeze),
                                       model.params, gradientOrder, options));
    if (!resume.empty())
      COLM_TRY(dp->loadState(state.optimizer).withContext(resume));
    // Each rank keeps AdamW's moments of its slice only.
    optimizer.reset();
    state.optimizer.clear();
    program.setLaunchHook([&](const Executor &e, size_t launch) {
      dp->launchFinished(e, launch);
    });
  }
  // On the GPU, AdamW's state and the weights stay there between steps;
  // they come back for checkpoints and evaluation.
  // Distributed, each GPU keeps its slice of AdamW's state (ZeRO-1 over
  // NCCL).
  std::unique_ptr<CudaOptimizer> gpuOptimizer;
  double rowShare = double(localRows) / double(settings.batch);
  if (gpuState) {
    std::optional<CudaOptimizer::Sharding> sharding;
    if (job.comm) {
      COLM_TRY(dist::checkSameStart(*job.comm, settings.opt,
                                    static_cast<int>(settings.freeze),
                                    model.config, model.params));
      sharding = CudaOptimizer::Sharding{job.comm, model.config,
                                         static_cast<int>(settings.freeze)};
    }
    Result<std::unique_ptr<CudaOptimizer>> made = CudaOptimizer::create(
        *optimizer, model.params, cuda::defaultDeviceOrdinal(),
        sharding ? &*sharding : nullptr);
    if (job.comm)
      COLM_TRY(dist::agree(*job.comm, made.status(), "starting the GPU"));
    COLM_TRY(made.status());
    gpuOptimizer = made.take();
    gpuOptimizer->setShareOfBatch(rowShare);
    program.keepOnDevice(gpuOptimizer.get());
  }
  const dist::GpuExchange *gpuExchange =
      gpuOptimizer ? gpuOptimizer->exchange() : nullptr;
  auto toHost = [&]() -> Status {
    return gpuOptimizer ? gpuOptimizer->download(model.params, *optimizer)
                        : Status::ok();
  };
  // Errors every rank of a distributed run reaches together.
  auto together = [&](Status st) {
    job.agreed =
        !(dp && dp->broken()) && !(gpuExchange && gpuExchange->broken());
    return st;
  };

  bool replaceAll = occupied; // --force on another run: nothing of it stays
  auto checkpoint = [&](int64_t step) -> Status {
    COLM_TRY(toHost());
    state.step = step;
    state.samplerRng = sampler.state();
    if (dp) {
      Result<TensorMap> moments = dp->stateTensors();
      if (!moments)
        return moments.status();
      state.optimizer = moments.take();
    } else {
      state.optimizer = optimizer->stateTensors();
    }
    Status st = job.root()
                    ? saveCheckpoint(save, model, state, tokenizer, !replaceAll)
                    : Status::ok();
    replaceAll = false;
    state.optimizer.clear();
    if (job.comm) {
      st = dist::agree(*job.comm, st, "writing the checkpoint");
      if (!st)
        return together(st);
    }
    return st;
  };
  // Find an unwritable --out now, not after the training: the run's
  // starting point is its first checkpoint.
  COLM_TRY(checkpoint(state.step));
  std::ofstream log;
  std::string logPath = job.root() ? settings.log : std::string();
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
    Status st = writeFileAtomic(logPath, text);
    if (st) {
      log.open(logPath, std::ios::app);
      if (!log)
        st = Status::error("cannot open --log " + logPath);
    }
    if (job.comm)
      st = together(dist::agree(*job.comm, st, "opening the log"));
    COLM_TRY(st);
  } else if (job.comm) {
    COLM_TRY(together(dist::agree(*job.comm, Status::ok(), "opening the log")));
  }
  if (!resume.empty() && job.root()) {
    std::string list;
    for (const std::string &c : changes)
      list += "\n  " + c;
    std::fprintf(stderr, "resuming %s at step %lld: %s%s\n", resume.c_str(),
                 (long long)state.step,
                 changes.empty() ? "settings unchanged (bit-exact)"
                                 : "changed:",
                 list.c_str());
  }

  if (job.root())
    std::fprintf(
        stderr,
        "training %s: %d chains %s, %s, chain loss %s%s, %lld steps of "
        "%lld x %lld tokens%s%s\n",
        resume.empty() ? args.get("--model").c_str() : resume.c_str(),
        model.config.numChains(), formatChains(model.config.chains).c_str(),
        model.config.kvSharing ? "CoLM-Air" : "CoLM",
        settings.chainLoss.c_str(),
        settings.freeze
            ? (", chains 1.." + std::to_string(settings.freeze) + " frozen")
                  .c_str()
            : "",
        (long long)steps, (long long)settings.batch, (long long)settings.seq,
        cpuPrecision() == codegen::Precision::Bf16 ? ", bf16 GEMM inputs" : "",
        job.comm ? (", " + std::to_string(job.ranks()) + " ranks (" +
                    job.comm->name() +
                    (gpuExchange ? ", " + gpuExchange->name() +
                                       "), AdamW's state sharded over the GPUs"
                                 : "), " + std::to_string(dp->bucketCount()) +
                                       " gradient buckets"))
                       .c_str()
                 : "");
  // Validation: each rank evaluates its share of the batches.
  auto validate = [&]() -> Result<std::map<unsigned, double>> {
    if (!job.comm)
      return evaluate(*evalProgram, model.params, valBatches);
    std::vector<Batch> mine;
    for (size_t i = size_t(job.rank()); i < valBatches.size();
         i += size_t(job.ranks()))
      mine.push_back(valBatches[i]);
    std::map<unsigned, double> share;
    if (!mine.empty()) {
      Result<std::map<unsigned, double>> r =
          evaluate(*evalProgram, model.params, mine);
      if (!r)
        return r.status();
      share = *r;
    }
    std::vector<double> sums(size_t(model.config.numChains()) + 1, 0.0);
    double windows = 0;
    for (const Batch &b : mine)
      windows += double(b.inputs.size());
    for (auto [k, ce] : share)
      if (k >= 1 && k <= unsigned(model.config.numChains()))
        sums[k - 1] = ce * windows;
    sums.back() = windows;
    COLM_TRY(job.comm->allReduceSumNow(sums.data(), int64_t(sums.size()),
                                       "the validation losses"));
    std::map<unsigned, double> val;
    for (int k = 1; k <= model.config.numChains(); ++k)
      val[unsigned(k)] = sums[size_t(k - 1)] / sums.back();
    return val;
  };
  std::optional<Progress> progress;
  if (job.root())
    progress.emplace("step", state.step, steps);
  auto endProgress = [&] {
    if (progress)
      progress->finish();
  };
  auto runStart = std::chrono::steady_clock::now();
  std::vector<int32_t> skippedInputs, skippedTargets;
  for (int64_t step = state.step + 1; step <= steps; ++step) {
    auto t0 = std::chrono::steady_clock::now();
    Batch batch;
    batch.inputs.resize(localRows);
    batch.targets.resize(localRows);
    // Every rank draws every row (the random sampler is one stream) and
    // keeps its own.
    for (int64_t r = 0; r < settings.batch; ++r) {
      bool mine = r >= firstRow && r < endRow;
      sampler.window(step - 1, r, settings.batch, settings.seq,
                     mine ? batch.inputs[r - firstRow] : skippedInputs,
                     mine ? batch.targets[r - firstRow] : skippedTargets);
    }
    if (dp)
      dp->beginStep(step, localRows, settings.batch);
    COLM_ASSIGN_OR_RETURN(StepOutputs out, program.run(model.params, batch));
    injectFault(job.rank(), step, out);
    auto lastGood = [&] {
      return "; the last good checkpoint is " + save + " (step " +
             std::to_string(state.step) + ")";
    };
    Result<StepStats> stats = StepStats{};
    if (dp) {
      stats =
          dp->finishStep(model.params, out.grads, out.loss, out.subModelLoss);
      if (!stats) {
        endProgress();
        return together(Status::error("step " + std::to_string(step) + ": " +
                                      stats.status().message() + ", stopping" +
                                      lastGood()));
      }
    } else {
      if (gpuExchange) {
        std::vector<double> none;
        Status agreed = dist::agreeOnLoss(
            *job.comm, "the loss of step " + std::to_string(step), rowShare,
            out.loss, out.subModelLoss, none);
        if (!agreed) {
          endProgress();
          return together(Status::error("step " + std::to_string(step) + ": " +
                                        agreed.message() + ", stopping" +
                                        lastGood()));
        }
      }
      if (!std::isfinite(out.loss)) {
        endProgress();
        return Status::error("step " + std::to_string(step) + ": the loss is " +
                             (std::isnan(out.loss) ? "NaN" : "infinite") +
                             ", stopping" + lastGood());
      }
      stats =
          gpuOptimizer
              ? gpuOptimizer->step(
                    *static_cast<CudaExecutor *>(program.lastExecutor()), step)
              : optimizer->step(model.params, out.grads, step);
      if (!stats) {
        endProgress();
        return together(Status::error("step " + std::to_string(step) + ": " +
                                      stats.status().message() + lastGood()));
      }
      // (The GPU optimizer checks its weights itself.)
      if (!gpuOptimizer)
        for (const auto &[name, t] : model.params)
          for (float v : t.data)
            if (!std::isfinite(v)) {
              endProgress();
              return Status::error(
                  "step " + std::to_string(step) + ": the update made " + name +
                  " non-finite (is --lr too large?), stopping" + lastGood());
            }
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
    if (dp)
      entry.set("exchange_wait_s",
                JsonValue::number(dp->lastExchange().waitSeconds));
    std::string valInfo;
    if (evalProgram && evalEvery && (step % evalEvery == 0 || step == steps)) {
      COLM_TRY(toHost());
      COLM_ASSIGN_OR_RETURN(auto val, validate());
      JsonValue v = JsonValue::object();
      for (auto [k, x] : val)
        v.set(std::to_string(k), JsonValue::number(x));
      entry.set("val_ce", v);
      valInfo = "  val " + fixed(val.rbegin()->second, 3);
    }
    if (log.is_open()) {
      log << writeJson(entry, 0) << "\n" << std::flush;
      if (!log) {
        endProgress();
        return Status::error("cannot write --log " + logPath +
                             " (disk full?); stopping" + lastGood());
      }
    }
    if (progress)
      progress->update(step, "loss " + fixed(out.loss, 3) + valInfo + "  " +
                                 fixed(tokensPerSecond, 0) + " tok/s");
    if (saveEvery && step % saveEvery == 0 && step != steps)
      COLM_TRY(checkpoint(step));
  }
  endProgress();
  COLM_TRY(checkpoint(steps));
  double total =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - runStart)
          .count();
  if (job.root())
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

} // namespace

} // namespace colm::cli
