//===- Bench.cpp - colm bench: prefill and decode speed ---------*- C++ -*-===//
//
// Measures side by side in one run (the machines are shared and noisy):
// training tokens/s and model FLOP/s against this machine's FMA peak,
// CoLM-Air prefill with the full model against chain-1 prefill, and decode
// tokens/s of every sub-model. Reports time ratios next to FLOP ratios
// counted from the compiled programs; --json ends with one JSON object.
//
//===----------------------------------------------------------------------===//
#include "tools/colm/Commands.h"
#include "tools/colm/GenerateFlags.h"

#include "compiler/CudaOptimizer.h"
#include "compiler/Generator.h"
#include "compiler/Graph.h"
#include "compiler/Pipeline.h"
#include "compiler/Trainer.h"
#include "compiler/codegen/cpu/CpuJit.h"
#include "compiler/codegen/cpu/FmaPeak.h"
#include "dialect/ChainDialect.h"
#include "runtime/CpuInfo.h"
#include "runtime/Json.h"
#include "runtime/Model.h"
#include "runtime/Optimizer.h"
#include "runtime/Random.h"
#include "runtime/dist/Communicator.h"
#include "runtime/dist/DataParallel.h"
#include "tools/colm/Args.h"

#include "mlir/IR/MLIRContext.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <sys/resource.h>

namespace colm::cli {
namespace {

/// spec/bench.md's bench-cpu configuration (CoLM-Air).
ModelConfig benchCpu() {
  ModelConfig c;
  c.vocabSize = 256;
  c.hiddenSize = 512;
  c.intermediateSize = 1408;
  c.numLayers = 6;
  c.numHeads = 8;
  c.numKvHeads = 2;
  c.chains = {2, 2, 4};
  c.kvSharing = true;
  c.maxPositionEmbeddings = 4096;
  return c;
}

/// FLOPs of the attention scores and weighted sums of `module` when `tq`
/// queries at the end of `tk` keys run (causal: query i sees tk-tq+i+1 keys).
double attentionFlops(mlir::ModuleOp module, int64_t tq, int64_t tk) {
  double keysSeen = 0;
  for (int64_t i = 0; i < tq; ++i)
    keysSeen += double(tk - tq + i + 1);
  double total = 0;
  module.walk([&](chain::AttentionOp op) {
    total +=
        4.0 * double(op.getNumHeads()) * double(op.getHeadDim()) * keysSeen;
  });
  return total;
}

/// The process's peak resident memory (max RSS), in bytes.
int64_t peakMemoryBytes() {
  struct rusage usage;
  if (::getrusage(RUSAGE_SELF, &usage) != 0)
    return 0;
  return static_cast<int64_t>(usage.ru_maxrss) * 1024;
}

double now() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

/// Where the cpu backend spends `what`'s time, from its launches summed over
/// `runs` runs of one `unit` ("step", "run"): per kind of kernel, then the
/// slowest launches, per run. GFLOP/s only with `rates`: a generation step
/// program counts its launches' FLOPs at the sizes it was planned for, not
/// the ones it ran at.
void printProfile(const std::vector<LaunchProfile> &launches, int64_t runs,
                  const char *what, const char *unit, bool rates) {
  struct Row {
    std::string label;
    double seconds = 0, flops = 0;
    int64_t calls = 0;
  };
  auto add = [](std::map<std::string, Row> &rows, const std::string &key,
                const LaunchProfile &p) {
    Row &r = rows[key];
    r.label = key;
    r.seconds += p.seconds;
    r.flops += p.flops;
    r.calls += p.calls;
  };
  std::map<std::string, Row> byKind, byLaunch;
  double total = 0;
  for (const LaunchProfile &p : launches) {
    add(byKind, p.kernel.substr(0, p.kernel.find('_')), p);
    // Attention launches once per sequence: one row for all of them.
    add(byLaunch, p.label + " [" + p.kernel + "]", p);
    total += p.seconds;
  }
  std::string header = std::string("ms/") + unit;
  auto print = [&](const std::map<std::string, Row> &rows, size_t limit,
                   const char *what) {
    std::vector<Row> sorted;
    for (auto &[k, r] : rows)
      sorted.push_back(r);
    std::sort(sorted.begin(), sorted.end(),
              [](const Row &a, const Row &b) { return a.seconds > b.seconds; });
    std::printf("  %8s %6s %9s  %s\n", header.c_str(), "share", "GFLOP/s",
                what);
    for (size_t i = 0; i < sorted.size() && i < limit; ++i) {
      const Row &r = sorted[i];
      double ms = 1e3 * r.seconds / double(runs);
      if (r.flops > 0 && rates)
        std::printf("  %8.2f %5.1f%% %9.1f  %s\n", ms, 100 * r.seconds / total,
                    r.flops / r.seconds / 1e9, r.label.c_str());
      else
        std::printf("  %8.2f %5.1f%% %9s  %s\n", ms, 100 * r.seconds / total,
                    "", r.label.c_str());
    }
  };
  std::printf("\nprofile of %s: %zu launches, %.1f ms per %s in kernels\n",
              what, launches.size(), 1e3 * total / double(runs), unit);
  print(byKind, byKind.size(), "kernel kind");
  std::printf("\n");
  print(byLaunch, 25, "launch (the 25 slowest)");
}

/// The optimizer every training benchmark steps.
OptimizerConfig benchOptimizer() {
  OptimizerConfig oc;
  oc.kind = OptimizerConfig::AdamW;
  oc.lr = 1e-3;
  oc.weightDecay = 0.01;
  oc.clipGradNorm = 1.0;
  return oc;
}

/// `rows` sequences of `seq` random tokens and targets.
Batch randomBatch(int64_t rows, int64_t seq, int64_t vocab, uint64_t seed) {
  Random rng = Random::forName(seed, "bench");
  Batch b;
  b.inputs.assign(size_t(rows), std::vector<int32_t>(size_t(seq)));
  b.targets.assign(size_t(rows), std::vector<int32_t>(size_t(seq)));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t t = 0; t < seq; ++t) {
      b.inputs[r][t] = static_cast<int32_t>(rng.next() % vocab);
      b.targets[r][t] = static_cast<int32_t>(rng.next() % vocab);
    }
  return b;
}

/// Training steps on random tokens: tokens/s, model FLOP/s (spec/bench.md:
/// 6 x the weights the chain rule leaves non-zero, per token) and the
/// fraction of `peak`.
Status benchTrain(mlir::MLIRContext &context, Model &model, Backend backend,
                  int64_t batch, int64_t seq, int64_t steps, double peak,
                  bool profile, JsonValue &json) {
  const ModelConfig &c = model.config;
  COLM_ASSIGN_OR_RETURN(
      StepProgram program,
      StepProgram::compile(context, c, "full", 0, true, backend));
  OptimizerConfig oc = benchOptimizer();
  COLM_ASSIGN_OR_RETURN(Optimizer optimizer,
                        Optimizer::create(oc, c, model.params, 0));
  COLM_ASSIGN_OR_RETURN(auto forward, buildSubModel(context, c, 0));
  double flopsPerToken = 6.0 * double(multipliedWeights(*forward));
  Batch b = randomBatch(batch, seq, c.vocabSize, 7);
  std::printf("\ntraining on the %s backend (%s), %lld x %lld tokens, AdamW, "
              "%lld step%s\n",
              backendName(backend), precisionName(cpuPrecision()),
              (long long)batch, (long long)seq, (long long)steps,
              steps == 1 ? "" : "s");
  // On the GPU the weights and AdamW's state stay there (as colm train).
  std::unique_ptr<CudaOptimizer> gpuOptimizer;
  if (backend == Backend::Cuda) {
    COLM_ASSIGN_OR_RETURN(gpuOptimizer,
                          CudaOptimizer::create(optimizer, model.params,
                                                cuda::defaultDeviceOrdinal()));
    program.keepOnDevice(gpuOptimizer.get());
  }
  auto optimizerStep = [&](const StepOutputs &out, int64_t step) -> Status {
    if (gpuOptimizer)
      return gpuOptimizer
          ->step(*static_cast<CudaExecutor *>(program.lastExecutor()), step)
          .status();
    return optimizer.step(model.params, out.grads, step).status();
  };
  if (isCompiled(backend)) {
    // The first step compiles (or loads from the cache): not timed.
    COLM_ASSIGN_OR_RETURN(StepOutputs out, program.run(model.params, b));
    (void)out;
    std::printf("  compiled in %.2f s: %s\n", program.compiled()->seconds,
                program.compiled()->summary.c_str());
    json.set("compile_seconds", JsonValue::number(program.compiled()->seconds));
    json.set(
        "arena_bytes",
        JsonValue::integer(program.compiled()->kernels.program.arenaBytes));
    program.compiled()->executor->setProfiling(profile);
  }
  double t0 = now(), inOptimizer = 0;
  for (int64_t step = 1; step <= steps; ++step) {
    COLM_ASSIGN_OR_RETURN(StepOutputs out, program.run(model.params, b));
    double o0 = now();
    COLM_TRY(optimizerStep(out, step));
    inOptimizer += now() - o0;
  }
  double seconds = (now() - t0) / double(steps);
  double tokensPerSecond = double(batch * seq) / seconds;
  double modelFlops = flopsPerToken * tokensPerSecond;
  std::printf("  %.3f s/step  %.1f tokens/s  %.2f model GFLOP/s", seconds,
              tokensPerSecond, modelFlops / 1e9);
  if (peak > 0)
    std::printf("  (%.2f%% of the %.0f GFLOP/s FMA peak)",
                100 * modelFlops / peak, peak / 1e9);
  std::printf("\n  the optimizer: %.1f ms/step\n",
              1e3 * inOptimizer / double(steps));
  json.set("tokens_per_second", JsonValue::number(tokensPerSecond));
  json.set("optimizer_seconds_per_step",
           JsonValue::number(inOptimizer / double(steps)));
  json.set("step_seconds", JsonValue::number(seconds));
  json.set("model_flops_per_second", JsonValue::number(modelFlops));
  json.set("peak_fraction",
           peak > 0 ? JsonValue::number(modelFlops / peak) : JsonValue());
  json.set("peak_memory_bytes", JsonValue::integer(peakMemoryBytes()));
  if (profile && program.compiled())
    printProfile(program.compiled()->executor->profile(), steps,
                 "the training step", "step", true);
  return Status::ok();
}

/// Data-parallel training steps under mpirun (--distributed), in one run:
/// first rank 0 alone on its share of the batch (no exchange; the other
/// ranks wait), then every rank on the global batch with the gradient
/// exchange and the sharded AdamW of colm train --distributed. Scaling
/// efficiency = N-rank tokens/s / (N x one rank's tokens/s).
Status benchTrainDistributed(mlir::MLIRContext &context, Model &model,
                             Backend backend, int64_t batch, int64_t seq,
                             int64_t steps, dist::Communicator &comm,
                             std::shared_ptr<dist::Communicator> shared,
                             JsonValue &json) {
  const ModelConfig &c = model.config;
  int n = comm.size(), me = comm.rank();
  auto [first, end] = dist::rowsOf(batch, me, n);
  if (end == first)
    return Status::error("--batch " + std::to_string(batch) + " leaves rank " +
                         std::to_string(me) + " without rows (" +
                         std::to_string(n) + " ranks)");
  int64_t rows = end - first;
  COLM_ASSIGN_OR_RETURN(
      StepProgram program,
      StepProgram::compile(context, c, "full", 0, true, backend));
  OptimizerConfig oc = benchOptimizer();
  Batch b = randomBatch(rows, seq, c.vocabSize, 7 + uint64_t(me));
  std::printf("\ntraining on %d ranks (%s), the %s backend, %d thread%s per "
              "rank, %lld x %lld tokens, AdamW, %lld step%s\n",
              n, comm.name().c_str(), backendName(backend),
              CpuInfo::host().threads, CpuInfo::host().threads == 1 ? "" : "s",
              (long long)batch, (long long)seq, (long long)steps,
              steps == 1 ? "" : "s");
  // Every rank compiles its shape (untimed), then they start together.
  std::vector<std::string> order;
  if (isCompiled(backend)) {
    COLM_ASSIGN_OR_RETURN(const CompiledFunction *f,
                          program.prepare(rows, seq));
    order = dist::gradientOrder(f->executor->program());
  }
  double sync = 0;
  COLM_TRY(comm.allReduceSumNow(&sync, 1, "the start"));

  // One rank, no exchange. On the GPU the optimizer's state stays there
  // (sharded over the GPUs for the N-rank run).
  bool gpu = backend == Backend::Cuda;
  auto gpuStep = [&](CudaOptimizer &o, int64_t step) {
    return o.step(*static_cast<CudaExecutor *>(program.lastExecutor()), step)
        .status();
  };
  double oneRank = 0;
  if (me == 0) {
    TensorMap params = model.params;
    COLM_ASSIGN_OR_RETURN(Optimizer optimizer,
                          Optimizer::create(oc, c, params, 0));
    std::unique_ptr<CudaOptimizer> onGpu;
    if (gpu) {
      COLM_ASSIGN_OR_RETURN(
          onGpu, CudaOptimizer::create(optimizer, params,
                                       cuda::defaultDeviceOrdinal()));
      program.keepOnDevice(onGpu.get());
    }
    double t0 = 0;
    for (int64_t step = 0; step <= steps; ++step) { // step 0 warms up
      if (step == 1)
        t0 = now();
      COLM_ASSIGN_OR_RETURN(StepOutputs out, program.run(params, b));
      COLM_TRY(onGpu ? gpuStep(*onGpu, step + 1)
                     : optimizer.step(params, out.grads, step + 1).status());
    }
    oneRank = (now() - t0) / double(steps);
    program.keepOnDevice(nullptr);
  }
  COLM_TRY(comm.allReduceSumNow(&oneRank, 1, "the one-rank timing"));

  // Every rank.
  std::unique_ptr<dist::DataParallel> dp;
  std::unique_ptr<CudaOptimizer> sharded;
  if (gpu) {
    COLM_ASSIGN_OR_RETURN(Optimizer optimizer,
                          Optimizer::create(oc, c, model.params, 0));
    CudaOptimizer::Sharding sharding{shared, c, 0};
    Result<std::unique_ptr<CudaOptimizer>> made = CudaOptimizer::create(
        optimizer, model.params, cuda::defaultDeviceOrdinal(), &sharding);
    COLM_TRY(dist::agree(comm, made.status(), "starting the GPUs", true));
    sharded = made.take();
    sharded->setShareOfBatch(double(rows) / double(batch));
    program.keepOnDevice(sharded.get());
  } else {
    COLM_ASSIGN_OR_RETURN(
        dp, dist::DataParallel::create(shared, oc, c, 0, model.params, order));
    program.setLaunchHook([&](const Executor &e, size_t launch) {
      dp->launchFinished(e, launch);
    });
  }
  double waited = 0, overlapped = 0, t0 = 0;
  for (int64_t step = 0; step <= steps; ++step) { // step 0 warms up
    if (step == 1)
      t0 = now();
    if (dp)
      dp->beginStep(step + 1, rows, batch);
    COLM_ASSIGN_OR_RETURN(StepOutputs out, program.run(model.params, b));
    if (sharded) {
      COLM_TRY(gpuStep(*sharded, step + 1));
      continue;
    }
    COLM_TRY(dp->finishStep(model.params, out.grads, out.loss, out.subModelLoss)
                 .status());
    if (step > 0) {
      waited += dp->lastExchange().waitSeconds;
      overlapped += double(dp->lastExchange().overlapped);
    }
  }
  double seconds = (now() - t0) / double(steps);
  auto [first0, end0] = dist::rowsOf(batch, 0, n);
  double oneTokens = double((end0 - first0) * seq) / oneRank;
  double tokens = double(batch * seq) / seconds;
  double efficiency = tokens / (double(n) * oneTokens);
  std::printf("  1 rank:  %.3f s/step  %.1f tokens/s  (%lld x %lld tokens, "
              "no exchange)\n",
              oneRank, oneTokens, (long long)(end0 - first0), (long long)seq);
  std::printf("  %d ranks: %.3f s/step  %.1f tokens/s  scaling efficiency "
              "%.1f%%\n",
              n, seconds, tokens, 100 * efficiency);
  if (dp)
    std::printf("  the exchange: %lld buckets of %lld trainable entries, "
                "%.1f started during the backward pass, %.1f ms/step waited "
                "for after it\n",
                (long long)dp->bucketCount(), (long long)dp->trainableEntries(),
                overlapped / double(steps), 1e3 * waited / double(steps));
  else
    std::printf("  the exchange: %s, %lld trainable entries reduce-scattered "
                "and all-gathered after each step program\n",
                sharded->exchange()->name().c_str(),
                (long long)sharded->exchange()->trainableEntries());
  JsonValue d = JsonValue::object();
  d.set("ranks", JsonValue::integer(n));
  d.set("one_rank_tokens_per_second", JsonValue::number(oneTokens));
  d.set("tokens_per_second", JsonValue::number(tokens));
  d.set("scaling_efficiency", JsonValue::number(efficiency));
  d.set("step_seconds", JsonValue::number(seconds));
  if (dp) {
    d.set("exchange_wait_seconds_per_step",
          JsonValue::number(waited / double(steps)));
    d.set("buckets", JsonValue::integer(dp->bucketCount()));
  }
  json.set("distributed", d);
  return Status::ok();
}

/// Greedy decoding of `tokens` tokens after `prompt` with the full model,
/// plainly and self-speculatively (the best of `repeat` timed runs after a
/// warm-up each); prints both, the speed-up and where the time went.
Status benchSpeculative(const Generator &generator,
                        const std::vector<int32_t> &prompt,
                        const SpeculativeOptions &options, int64_t tokens,
                        int64_t repeat, int64_t context, bool profile,
                        JsonValue &json) {
  SamplingConfig greedy;
  greedy.greedy = true;
  unsigned n = options.chains;
  int64_t vocab = generator.config().vocabSize;
  std::vector<int32_t> plainTokens, specTokens;
  double plainBest = 1e300, specBest = 1e300;
  SpeculativeStats stats;
  for (int64_t r = 0; r <= repeat; ++r) { // run 0 warms up
    COLM_ASSIGN_OR_RETURN(Sequence seq, generator.newSequence(context));
    COLM_ASSIGN_OR_RETURN(auto logits, generator.prefill(seq, prompt, n, true));
    double t0 = now();
    plainTokens.clear();
    for (int64_t i = 0; i < tokens; ++i) {
      plainTokens.push_back(int32_t(
          std::max_element(logits.begin(), logits.end()) - logits.begin()));
      if (i + 1 < tokens) {
        COLM_ASSIGN_OR_RETURN(logits,
                              generator.decode(seq, plainTokens.back(), n));
      }
    }
    if (r > 0)
      plainBest = std::min(plainBest, now() - t0);

    COLM_ASSIGN_OR_RETURN(Sequence spec, generator.newSequence(context));
    COLM_ASSIGN_OR_RETURN(auto first, generator.prefill(spec, prompt, n, true));
    COLM_ASSIGN_OR_RETURN(
        auto decoder, SpeculativeDecoder::create(generator, generator.config(),
                                                 options, greedy));
    TokenSampler sampler(greedy);
    std::vector<int32_t> history = prompt;
    if (r == 1 && profile)
      generator.resetProfile();
    generator.setProfiling(r > 0 && profile);
    double t1 = now();
    specTokens = {sampler.sample(first.data(), vocab, history)};
    history.push_back(specTokens.back());
    while (int64_t(specTokens.size()) < tokens) {
      COLM_ASSIGN_OR_RETURN(auto round,
                            decoder.round(spec, specTokens.back(),
                                          tokens - int64_t(specTokens.size()),
                                          sampler, history));
      specTokens.insert(specTokens.end(), round.begin(), round.end());
      history.insert(history.end(), round.begin(), round.end());
    }
    generator.setProfiling(false);
    if (r > 0 && now() - t1 < specBest) {
      specBest = now() - t1;
      stats = decoder.stats();
    }
  }
  if (profile)
    printProfile(generator.profile(), repeat,
                 "speculative decoding (draft "
                 "steps and verify runs)",
                 "run", false);
  if (specTokens != plainTokens)
    return Status::error("internal error: speculative decoding emitted "
                         "other tokens than plain greedy decoding");
  double plainRate = double(tokens) / plainBest,
         specRate = double(tokens) / specBest;
  std::printf("\nself-speculative greedy decoding, %lld tokens after the "
              "prompt: %u-chain draft, up to %lld per round%s\n",
              (long long)tokens, options.draftChains,
              (long long)options.maxDraft,
              options.adaptive ? " (chosen online)" : "");
  std::printf("  plain        %8.1f tokens/s\n", plainRate);
  std::printf("  speculative  %8.1f tokens/s  speed-up %.2fx (the same "
              "tokens)\n",
              specRate, specRate / plainRate);
  std::printf("  %lld rounds: %.1f%% of %lld drafts accepted, %.2f tokens "
              "per round; drafting %.3f s, verifying %.3f s\n",
              (long long)stats.rounds, 100 * stats.acceptanceRate(),
              (long long)stats.drafted, stats.meanAcceptedLength(),
              stats.draftSeconds, stats.verifySeconds);
  JsonValue o = JsonValue::object();
  o.set("draft_chains", JsonValue::integer(options.draftChains));
  o.set("max_draft", JsonValue::integer(options.maxDraft));
  o.set("plain_tokens_per_second", JsonValue::number(plainRate));
  o.set("tokens_per_second", JsonValue::number(specRate));
  o.set("speed_up", JsonValue::number(specRate / plainRate));
  o.set("acceptance_rate", JsonValue::number(stats.acceptanceRate()));
  o.set("mean_accepted_length", JsonValue::number(stats.meanAcceptedLength()));
  o.set("draft_seconds", JsonValue::number(stats.draftSeconds));
  o.set("verify_seconds", JsonValue::number(stats.verifySeconds));
  json.set("speculative", o);
  return Status::ok();
}

/// Tokens per second of `batch` sequences decoding together after the same
/// prompt (the best of `repeat` timed runs after one warm-up).
Result<double> timeDecodeBatch(const Generator &generator,
                               const std::vector<int32_t> &prompt, unsigned k,
                               bool chain1Prefill, int64_t batch,
                               int64_t tokens, int64_t repeat, int64_t context,
                               bool profile) {
  double best = 1e300;
  for (int64_t r = 0; r <= repeat; ++r) { // run 0 warms up
    std::vector<Sequence> sequences;
    for (int64_t s = 0; s < batch; ++s) {
      COLM_ASSIGN_OR_RETURN(Sequence sequence, generator.newSequence(context));
      COLM_TRY(generator.prefill(sequence, prompt, k, chain1Prefill).status());
      sequences.push_back(std::move(sequence));
    }
    std::vector<Sequence *> seqs;
    for (Sequence &s : sequences)
      seqs.push_back(&s);
    std::vector<int32_t> next(batch, 1);
    std::vector<unsigned> chains(batch, k);
    if (r == 1 && profile)
      generator.resetProfile();
    generator.setProfiling(r > 0 && profile);
    double t0 = now();
    for (int64_t i = 0; i < (r > 0 ? tokens : std::min<int64_t>(2, tokens));
         ++i)
      for (auto &logits : generator.decodeBatch(seqs, next, chains))
        COLM_TRY(logits.status());
    if (r > 0)
      best = std::min(best, now() - t0);
  }
  generator.setProfiling(false);
  if (profile) {
    std::string what = "a decoding batch of " + std::to_string(batch) + " at " +
                       std::to_string(k) + " chains";
    printProfile(generator.profile(), repeat * tokens, what.c_str(), "step",
                 false);
  }
  return double(batch * tokens) / best;
}

} // namespace

Status runBench(const std::vector<std::string> &argv) {
  Args args("bench",
            "[--model DIR | --config FILE.json] [--train] [--prefill] "
            "[--decode] [flags]",
            "Measures, side by side in one run on --backend (default cpu): "
            "training tokens/s and\nmodel FLOP/s against this machine's "
            "measured fp32 FMA peak (--train), prefill with every chain\n(and, "
            "on CoLM-Air, against chain-1 prefill: --prefill), and decode "
            "tokens/s "
            "of every\nsub-model (--decode). Without a mode flag: prefill and "
            "decode. Without --model or\n--config: the bench-cpu CoLM-Air of "
            "spec/bench.md with random weights.");
  args.flag("--train", "benchmark training steps")
      .flag("--prefill", "benchmark prefill")
      .flag("--decode", "benchmark decode")
      .option("--model", "DIR", "model directory (default: bench-cpu)")
      .option("--config", "FILE.json", "a model config, random weights")
      .option("--batch", "B", "training sequences per step (default 8)")
      .option("--seq", "T",
              "tokens per training sequence (default 256); the prompt "
              "length too unless --prompt-len is given")
      .option("--steps", "N", "training steps timed (default 1)")
      .option("--prompt-len", "T", "prompt tokens (default 1024)")
      .option("--decode-tokens", "N",
              "tokens decoded per sub-model "
              "(default 16)")
      .option("--decode-batch", "B",
              "also decode B sequences together, as colm serve does for "
              "concurrent requests (cpu backend; default 1: off)")
      .option("--repeat", "R",
              "timed runs of each prefill/decode measurement, after one "
              "untimed warm-up; the best counts "
              "(default 1)")
      .flag("--json", "end with one JSON object of the results on the last "
                      "line of stdout")
      .flag("--no-peak", "skip measuring the FMA peak (no peak_fraction)")
      .option("--backend", "NAME", kBackendHelp)
      .option("--precision", "P", kPrecisionHelp)
      .flag("--distributed",
            "with --train under mpirun -np N: one rank alone, then N ranks "
            "with the\ngradient exchange of colm train --distributed; prints "
            "the scaling efficiency")
      .flag("--profile", "time every kernel launch of the training step, "
                         "of each prefill and of decoding "
                         "(cpu backend) and print them, slowest first");
  addSpeculativeFlags(args);
  COLM_ASSIGN_OR_RETURN(bool helped, args.parseOrPrintHelp(argv));
  if (helped)
    return Status::ok();
  bool train = args.isSet("--train");
  bool explicitPrefill = args.isSet("--prefill");
  bool anyMode = train || explicitPrefill || args.isSet("--decode");
  bool prefill = explicitPrefill || !anyMode;
  bool decode = args.isSet("--decode") || !anyMode;
  if (args.isSet("--speculative") && !args.isSet("--decode"))
    return Status::error("--speculative benchmarks decoding: give --decode");
  COLM_ASSIGN_OR_RETURN(int64_t batch, args.getInt("--batch", 8, 1, 1 << 16));
  COLM_ASSIGN_OR_RETURN(int64_t seq, args.getInt("--seq", 256, 1, 1 << 20));
  COLM_ASSIGN_OR_RETURN(int64_t steps, args.getInt("--steps", 1, 1, 1 << 20));
  COLM_ASSIGN_OR_RETURN(
      int64_t promptLen,
      args.getInt("--prompt-len", args.has("--seq") ? seq : 1024, 2, 1 << 20));
  COLM_ASSIGN_OR_RETURN(int64_t decodeTokens,
                        args.getInt("--decode-tokens", 16, 1, 1 << 20));
  COLM_ASSIGN_OR_RETURN(int64_t decodeBatch,
                        args.getInt("--decode-batch", 1, 1, 256));
  COLM_ASSIGN_OR_RETURN(int64_t repeat, args.getInt("--repeat", 1, 1, 100));
  std::shared_ptr<dist::Communicator> comm;
  if (args.isSet("--distributed")) {
    if (!train || explicitPrefill || args.isSet("--decode"))
      return Status::error("--distributed benchmarks training only: give "
                           "--train (and no --prefill or --decode)");
    if (args.isSet("--profile"))
      return Status::error("--distributed does not take --profile");
    dist::shareCores();
    COLM_ASSIGN_OR_RETURN(comm, dist::openMpi());
    comm->setTimeout(3600);
    // Rank 0 reports.
    if (comm->rank() != 0 && !std::freopen("/dev/null", "w", stdout))
      return Status::error("cannot silence rank " +
                           std::to_string(comm->rank()) + "'s output");
  }
  COLM_ASSIGN_OR_RETURN(Backend backend, backendFlags(args));
  if (comm && backend == Backend::Cuda)
    dist::pickLocalGpu();
  if (args.has("--model") && args.has("--config"))
    return Status::error("give --model DIR or --config FILE.json, not both");
  Model model;
  if (args.has("--model")) {
    COLM_ASSIGN_OR_RETURN(model, loadModel(args.get("--model")));
  } else {
    ModelConfig config = benchCpu();
    if (args.has("--config")) {
      COLM_ASSIGN_OR_RETURN(config, loadConfig(args.get("--config")));
      COLM_TRY(validateConfig(config).withContext(args.get("--config")));
    }
    COLM_TRY(checkModelFits(config, 1, 0, "colm bench"));
    model = initModel(config, 0);
  }
  const ModelConfig &c = model.config;
  std::printf("model: %s, D=%lld, %lld layers, %lld heads (%lld key/value), "
              "chains %s\n",
              c.kvSharing ? "CoLM-Air" : "CoLM", (long long)c.hiddenSize,
              (long long)c.numLayers, (long long)c.numHeads,
              (long long)c.numKvHeads, formatChains(c.chains).c_str());
  JsonValue json = JsonValue::object();
  json.set("backend", JsonValue::string(backendName(backend)));
  json.set("precision", JsonValue::string(precisionName(cpuPrecision())));
  json.set("threads", JsonValue::integer(CpuInfo::host().threads));
  mlir::MLIRContext mlirContext;
  dsl::loadDialects(mlirContext);
  if (train) {
    double peak = 0;
    if (!args.isSet("--no-peak") && !comm) {
      COLM_ASSIGN_OR_RETURN(auto jit, CpuJit::create());
      ThreadPool pool(CpuInfo::host().threads);
      COLM_ASSIGN_OR_RETURN(peak, codegen::cpu::measureFmaPeak(jit, pool));
      std::printf("fp32 FMA peak: %.1f GFLOP/s on %d thread%s\n", peak / 1e9,
                  pool.threads(), pool.threads() == 1 ? "" : "s");
      json.set("fma_peak_flops_per_second", JsonValue::number(peak));
    }
    if (comm)
      COLM_TRY(benchTrainDistributed(mlirContext, model, backend, batch, seq,
                                     steps, *comm, comm, json));
    else
      COLM_TRY(benchTrain(mlirContext, model, backend, batch, seq, steps, peak,
                          args.isSet("--profile"), json));
  }
  if (!prefill && !decode) {
    if (args.isSet("--json"))
      std::printf("%s\n", writeJson(json, 0).c_str());
    return Status::ok();
  }
  // Chain-1 prefill needs CoLM-Air; a CoLM (or dense) model gets the full
  // prefill only.
  bool chain1Prefill = prefill && c.kvSharing;
  if (!decode)
    decodeTokens = 0;
  if (promptLen + decodeTokens > c.maxPositionEmbeddings) {
    std::string limit = "the model's max_position_embeddings is " +
                        std::to_string(c.maxPositionEmbeddings);
    if (!decode)
      return Status::error("--prompt-len " + std::to_string(promptLen) +
                           " is too long: " + limit);
    if (promptLen >= c.maxPositionEmbeddings)
      return Status::error("--prompt-len " + std::to_string(promptLen) +
                           " leaves no room to decode: " + limit +
                           "; the largest --prompt-len is " +
                           std::to_string(c.maxPositionEmbeddings - 1));
    return Status::error(
        "--prompt-len " + std::to_string(promptLen) + " plus --decode-tokens " +
        std::to_string(decodeTokens) + " need " +
        std::to_string(promptLen + decodeTokens) + " positions, but " + limit +
        "; the largest --decode-tokens that fits is " +
        std::to_string(c.maxPositionEmbeddings - promptLen));
  }
  int64_t context = promptLen + decodeTokens;
  std::vector<int32_t> prompt;
  for (int64_t i = 0; i < promptLen; ++i)
    prompt.push_back(static_cast<int32_t>((i * 131 + 7) % c.vocabSize));

  COLM_ASSIGN_OR_RETURN(auto generator,
                        Generator::create(mlirContext, model, backend));
  unsigned n = static_cast<unsigned>(c.numChains());

  // --profile with prefill: the launches of each measurement's timed runs
  // (the cpu backend; the warm-up run is not counted).
  bool profile = args.isSet("--profile") && backend == Backend::Cpu;
  std::vector<std::vector<LaunchProfile>> profiles;
  if (prefill) {
    auto time = [&](bool chain1) -> Result<double> {
      // Run 0 warms up (compiles the programs, touches the memory) and is
      // not counted.
      double best = 1e300;
      for (int64_t r = 0; r <= repeat; ++r) {
        if (r == 1 && profile) {
          generator->resetProfile();
          generator->setProfiling(true);
        }
        COLM_ASSIGN_OR_RETURN(Sequence sequence,
                              generator->newSequence(context));
        double t0 = now();
        COLM_TRY(generator->prefill(sequence, prompt, n, chain1).status());
        if (r > 0)
          best = std::min(best, now() - t0);
      }
      if (profile) {
        generator->setProfiling(false);
        profiles.push_back(generator->profile());
      }
      return best;
    };
    COLM_ASSIGN_OR_RETURN(double full, time(false));
    double fullFlops =
        2.0 * multipliedWeights(generator->stepModule(n)) * double(promptLen);
    double fullAttn =
        attentionFlops(generator->stepModule(n), promptLen, promptLen);
    std::printf("\nprefill of %lld tokens   time       tokens/s   GFLOP "
                "(weights)  GFLOP (+attention)\n",
                (long long)promptLen);
    std::printf("  %-18s %8.3f s  %9.1f  %15.3f  %18.3f\n", "all chains", full,
                promptLen / full, fullFlops / 1e9,
                (fullFlops + fullAttn) / 1e9);
    json.set("prefill_tokens", JsonValue::integer(promptLen));
    json.set("prefill_seconds_full", JsonValue::number(full));
    if (!chain1Prefill) {
      std::printf("  (chain-1 prefill needs a CoLM-Air model: not measured)\n");
    } else {
      COLM_ASSIGN_OR_RETURN(double chain1, time(true));
      // Weights' FLOPs (spec/bench.md's count) and those plus attention.
      double chain1Flops = 2.0 *
                               multipliedWeights(generator->keysOnlyModule()) *
                               double(promptLen - 1) +
                           2.0 * multipliedWeights(generator->stepModule(n));
      double chain1Attn =
          attentionFlops(generator->keysOnlyModule(), promptLen - 1,
                         promptLen - 1) +
          attentionFlops(generator->stepModule(n), 1, promptLen);
      std::printf("  %-18s %8.3f s  %9.1f  %15.3f  %18.3f\n", "chain-1 prefill",
                  chain1, promptLen / chain1, chain1Flops / 1e9,
                  (chain1Flops + chain1Attn) / 1e9);
      std::printf("  speed-up %.2fx; FLOP ratio %.2fx (weights), %.2fx (with "
                  "attention)\n",
                  full / chain1, fullFlops / chain1Flops,
                  (fullFlops + fullAttn) / (chain1Flops + chain1Attn));
      json.set("prefill_seconds_chain1", JsonValue::number(chain1));
    }
    if (profile) {
      printProfile(profiles[0], repeat, "the full prefill", "run", false);
      if (profiles.size() > 1)
        printProfile(profiles[1], repeat, "chain-1 prefill", "run", false);
    }
  }
  if (decode) {
    std::printf("\ndecode after a %lld-token prompt, %lld tokens per "
                "sub-model\n",
                (long long)promptLen, (long long)decodeTokens);
    COLM_ASSIGN_OR_RETURN(Sequence base, generator->newSequence(context));
    COLM_TRY(generator->prefill(base, prompt, n, c.kvSharing).status());
    JsonValue rates = JsonValue::object(), batchRates = JsonValue::object();
    for (unsigned k = 1; k <= n; ++k) {
      double best = 1e300;
      for (int64_t r = 0; r <= repeat; ++r) { // run 0 warms up
        COLM_ASSIGN_OR_RETURN(Sequence sequence,
                              generator->newSequence(context));
        COLM_TRY(generator->prefill(sequence, prompt, k, c.kvSharing).status());
        if (r == 1 && profile)
          generator->resetProfile();
        generator->setProfiling(r > 0 && profile);
        double t0 = now();
        int32_t token = 1;
        for (int64_t i = 0;
             i < (r > 0 ? decodeTokens : std::min<int64_t>(2, decodeTokens));
             ++i)
          COLM_TRY(generator->decode(sequence, token, k).status());
        if (r > 0)
          best = std::min(best, now() - t0);
      }
      generator->setProfiling(false);
      int64_t weights = multipliedWeights(generator->stepModule(k));
      std::printf("  %u chain%s  %8.1f tokens/s  %8.3f MFLOP/token\n", k,
                  k == 1 ? " " : "s", decodeTokens / best, 2.0 * weights / 1e6);
      if (profile) {
        std::string what = "decoding at " + std::to_string(k) + " chains";
        printProfile(generator->profile(), repeat * decodeTokens, what.c_str(),
                     "step", false);
      }
      rates.set(std::to_string(k), JsonValue::number(decodeTokens / best));
      if (decodeBatch > 1) {
        COLM_ASSIGN_OR_RETURN(
            double batched,
            timeDecodeBatch(*generator, prompt, k, c.kvSharing, decodeBatch,
                            decodeTokens, repeat, context, profile));
        std::printf("  %u chain%s  %8.1f tokens/s  in a batch of %lld "
                    "sequences (%.2fx one sequence)\n",
                    k, k == 1 ? " " : "s", batched, (long long)decodeBatch,
                    batched * best / decodeTokens);
        batchRates.set(std::to_string(k), JsonValue::number(batched));
      }
    }
    json.set("decode_tokens_per_second", rates);
    COLM_ASSIGN_OR_RETURN(auto spec, speculativeFlags(args, c, n));
    if (spec)
      COLM_TRY(benchSpeculative(*generator, prompt, *spec, decodeTokens, repeat,
                                context, profile, json));
    if (decodeBatch > 1) {
      json.set("decode_batch", JsonValue::integer(decodeBatch));
      json.set("decode_batch_tokens_per_second", batchRates);
    }
  }
  json.set("peak_memory_bytes", JsonValue::integer(peakMemoryBytes()));
  if (args.isSet("--json"))
    std::printf("%s\n", writeJson(json, 0).c_str());
  return Status::ok();
}

} // namespace colm::cli
