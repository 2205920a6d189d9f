//===- Eval.cpp - colm eval -------------------------------------*- C++ -*-===//
#include "tools/colm/Commands.h"

#include "compiler/Graph.h"
#include "compiler/Trainer.h"
#include "runtime/Data.h"
#include "runtime/Json.h"
#include "runtime/Model.h"
#include "tools/colm/Args.h"
#include "tools/colm/Progress.h"
#include "tools/colm/RunSettings.h"

#include "mlir/IR/MLIRContext.h"

#include <cmath>
#include <cstdio>

namespace colm::cli {

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
      .flag("--json", "print JSON instead of a table")
      .option("--backend", "NAME", kBackendHelp)
      .option("--precision", "P", kPrecisionHelp);
  COLM_ASSIGN_OR_RETURN(bool helped, args.parseOrPrintHelp(argv));
  if (helped)
    return Status::ok();
  COLM_ASSIGN_OR_RETURN(Backend backend, backendFlags(args));
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
      StepProgram::compile(context, model.config, "all", 0, false, backend));
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

} // namespace colm::cli
