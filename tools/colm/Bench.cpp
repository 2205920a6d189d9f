//===- Bench.cpp - colm bench: prefill and decode speed ---------*- C++ -*-===//
//
// Measures side by side in one run (the machines are shared and noisy):
// CoLM-Air prefill with the full model against chain-1 prefill, and decode
// tokens/s of every sub-model. Reports time ratios next to FLOP ratios
// counted from the compiled programs.
//
//===----------------------------------------------------------------------===//
#include "tools/colm/Commands.h"

#include "compiler/Generator.h"
#include "compiler/Graph.h"
#include "compiler/Pipeline.h"
#include "dialect/ChainDialect.h"
#include "runtime/Model.h"
#include "tools/colm/Args.h"

#include "mlir/IR/MLIRContext.h"

#include <chrono>
#include <cstdio>

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

double now() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

} // namespace

Status runBench(const std::vector<std::string> &argv) {
  Args args("bench", "[--prefill] [--decode] [--model DIR] [flags]",
            "Prefill time of CoLM-Air with every chain against chain-1 "
            "prefill, and decode tokens/s\nof every sub-model, measured side "
            "by side in one run on the reference interpreter.\nWithout "
            "--model: the bench-cpu configuration of spec/bench.md with "
            "random weights.");
  args.flag("--prefill", "benchmark prefill (default: both)")
      .flag("--decode", "benchmark decode (default: both)")
      .option("--model", "DIR", "model directory (default: bench-cpu)")
      .option("--prompt-len", "T", "prompt tokens (default 1024)")
      .option("--decode-tokens", "N",
              "tokens decoded per sub-model "
              "(default 16)")
      .option("--repeat", "R",
              "runs of each measurement; the best counts "
              "(default 1)");
  COLM_ASSIGN_OR_RETURN(bool helped, args.parseOrPrintHelp(argv));
  if (helped)
    return Status::ok();
  bool explicitPrefill = args.isSet("--prefill");
  bool prefill = explicitPrefill || !args.isSet("--decode");
  bool decode = args.isSet("--decode") || !args.isSet("--prefill");
  COLM_ASSIGN_OR_RETURN(int64_t promptLen,
                        args.getInt("--prompt-len", 1024, 2, 1 << 20));
  COLM_ASSIGN_OR_RETURN(int64_t decodeTokens,
                        args.getInt("--decode-tokens", 16, 1, 1 << 20));
  COLM_ASSIGN_OR_RETURN(int64_t repeat, args.getInt("--repeat", 1, 1, 100));
  Model model;
  if (args.has("--model")) {
    COLM_ASSIGN_OR_RETURN(model, loadModel(args.get("--model")));
  } else {
    model = initModel(benchCpu(), 0);
  }
  const ModelConfig &c = model.config;
  // Decode feeds every measured token: the prompt plus all of them need a
  // position (one more than generation, which never feeds its last token).
  if (prefill && !c.kvSharing) {
    if (explicitPrefill)
      return Status::error("--prefill compares chain-1 prefill, which needs "
                           "a CoLM-Air model");
    // Without flags: measure what applies to a CoLM.
    std::printf("(a CoLM model: chain-1 prefill needs CoLM-Air, so only "
                "decode is measured)\n");
    prefill = false;
  }
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

  mlir::MLIRContext mlirContext;
  dsl::loadDialects(mlirContext);
  COLM_ASSIGN_OR_RETURN(auto generator, Generator::create(mlirContext, model));
  unsigned n = static_cast<unsigned>(c.numChains());
  std::printf("model: %s, D=%lld, %lld layers, %lld heads (%lld key/value), "
              "chains %s\n",
              c.kvSharing ? "CoLM-Air" : "CoLM", (long long)c.hiddenSize,
              (long long)c.numLayers, (long long)c.numHeads,
              (long long)c.numKvHeads, formatChains(c.chains).c_str());

  if (prefill) {
    auto time = [&](bool chain1) -> Result<double> {
      double best = 1e300;
      for (int64_t r = 0; r < repeat; ++r) {
        COLM_ASSIGN_OR_RETURN(Sequence seq, generator->newSequence(context));
        double t0 = now();
        COLM_TRY(generator->prefill(seq, prompt, n, chain1).status());
        best = std::min(best, now() - t0);
      }
      return best;
    };
    // Alternate so that both see the same machine.
    COLM_ASSIGN_OR_RETURN(double full, time(false));
    COLM_ASSIGN_OR_RETURN(double chain1, time(true));
    // Weights' FLOPs (spec/bench.md's count) and those plus attention.
    double fullFlops =
        2.0 * multipliedWeights(generator->stepModule(n)) * double(promptLen);
    double chain1Flops = 2.0 * multipliedWeights(generator->keysOnlyModule()) *
                             double(promptLen - 1) +
                         2.0 * multipliedWeights(generator->stepModule(n));
    double fullAttn =
        attentionFlops(generator->stepModule(n), promptLen, promptLen);
    double chain1Attn = attentionFlops(generator->keysOnlyModule(),
                                       promptLen - 1, promptLen - 1) +
                        attentionFlops(generator->stepModule(n), 1, promptLen);
    std::printf("\nprefill of %lld tokens   time       tokens/s   GFLOP "
                "(weights)  GFLOP (+attention)\n",
                (long long)promptLen);
    std::printf("  %-18s %8.3f s  %9.1f  %15.3f  %18.3f\n", "all chains", full,
                promptLen / full, fullFlops / 1e9,
                (fullFlops + fullAttn) / 1e9);
    std::printf("  %-18s %8.3f s  %9.1f  %15.3f  %18.3f\n", "chain-1 prefill",
                chain1, promptLen / chain1, chain1Flops / 1e9,
                (chain1Flops + chain1Attn) / 1e9);
    std::printf("  speed-up %.2fx; FLOP ratio %.2fx (weights), %.2fx (with "
                "attention)\n",
                full / chain1, fullFlops / chain1Flops,
                (fullFlops + fullAttn) / (chain1Flops + chain1Attn));
  }
  if (decode) {
    std::printf("\ndecode after a %lld-token prompt, %lld tokens per "
                "sub-model\n",
                (long long)promptLen, (long long)decodeTokens);
    COLM_ASSIGN_OR_RETURN(Sequence base, generator->newSequence(context));
    COLM_TRY(generator->prefill(base, prompt, n, c.kvSharing).status());
    for (unsigned k = 1; k <= n; ++k) {
      double best = 1e300;
      for (int64_t r = 0; r < repeat; ++r) {
        COLM_ASSIGN_OR_RETURN(Sequence seq, generator->newSequence(context));
        COLM_TRY(generator->prefill(seq, prompt, k, c.kvSharing).status());
        double t0 = now();
        int32_t token = 1;
        for (int64_t i = 0; i < decodeTokens; ++i)
          COLM_TRY(generator->decode(seq, token, k).status());
        best = std::min(best, now() - t0);
      }
      int64_t weights = multipliedWeights(generator->stepModule(k));
      std::printf("  %u chain%s  %8.1f tokens/s  %8.3f MFLOP/token\n", k,
                  k == 1 ? " " : "s", decodeTokens / best, 2.0 * weights / 1e6);
    }
  }
  return Status::ok();
}

} // namespace colm::cli
