//===- Demo.cpp - colm demo: the README's main job --------------*- C++ -*-===//
//
// Builds a small CoLM-Air with the DSL, writes its graph file, initialises
// it, and runs the prompt through every k-chain sub-model of that one model.
//
//===----------------------------------------------------------------------===//
#include "tools/colm/Commands.h"

#include "compiler/Graph.h"
#include "compiler/Pipeline.h"
#include "dialect/ChainDialect.h"
#include "runtime/Checkpoint.h"
#include "runtime/File.h"
#include "runtime/Model.h"
#include "tools/colm/Args.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include <chrono>
#include <cmath>
#include <cstdio>

namespace colm::cli {
namespace {

const char *kDemoConfig = R"({
  "vocab_size": 256,
  "hidden_size": 128,
  "intermediate_size": 352,
  "num_hidden_layers": 2,
  "num_attention_heads": 8,
  "num_key_value_heads": 2,
  "max_position_embeddings": 256,
  "chains": [2, 2, 4],
  "kv_sharing": true
})";

std::string printable(int token) {
  if (token >= 32 && token < 127)
    return std::string("'") + static_cast<char>(token) + "'";
  return "byte " + std::to_string(token);
}

} // namespace

Status runDemo(const std::vector<std::string> &argv) {
  Args args("demo", "[--out DIR] [--prompt TEXT] [--seed S]",
            "Builds a small CoLM-Air (chains [2, 2, 4]) with the C++ DSL, "
            "writes its graph file,\ninitialises it, and runs the prompt "
            "through every k-chain sub-model.");
  args.option("--out", "DIR",
              "where to write the model and graph "
              "(default colm-demo)")
      .option("--prompt", "TEXT", "prompt, tokenised as bytes")
      .option("--seed", "S", "initialisation seed (default 0)")
      .flag("--force", "replace a model that already exists in DIR (all of "
                       "it)");
  COLM_ASSIGN_OR_RETURN(bool helped, args.parseOrPrintHelp(argv));
  if (helped)
    return Status::ok();
  std::string out = args.get("--out", "colm-demo");
  std::string prompt = args.get("--prompt", "Chain-of-Model learning");
  COLM_ASSIGN_OR_RETURN(int64_t seed, args.getInt("--seed", 0, 0, INT64_MAX));
  if (prompt.empty())
    return Status::error("--prompt is empty");

  COLM_ASSIGN_OR_RETURN(ModelConfig config,
                        parseConfig(kDemoConfig, "<demo config>"));
  bool force = args.isSet("--force");
  COLM_TRY(checkModelDirectoryWritable(out, force));
  Model model = initModel(config, static_cast<uint64_t>(seed));

  mlir::MLIRContext context;
  dsl::loadDialects(context);
  COLM_ASSIGN_OR_RETURN(auto full, buildSubModel(context, config, 0));
  std::string graph = dsl::printGraph(*full);
  COLM_TRY(writeModelDirectory(out, force, [&](const std::string &tmp) {
    COLM_TRY(saveModel(tmp, model));
    COLM_TRY(saveTokenizer(tmp, Tokenizer()));
    return writeFileAtomic(tmp + "/colm_air.mlir", graph);
  }));
  // The graph file is the model: it must read back to the same text.
  auto reparsed = mlir::parseSourceString<mlir::ModuleOp>(graph, &context);
  if (!reparsed || dsl::printGraph(*reparsed) != graph)
    return Status::error("internal error: the graph file does not round-trip");

  std::vector<int32_t> tokens;
  for (unsigned char c : prompt)
    tokens.push_back(c);
  std::printf("CoLM-Air: D=%lld, %lld layers, %lld heads (%lld key/value), "
              "chains %s\n",
              (long long)config.hiddenSize, (long long)config.numLayers,
              (long long)config.numHeads, (long long)config.numKvHeads,
              formatChains(config.chains).c_str());
  std::printf(
      "model   %s/model.safetensors\ngraph   %s/colm_air.mlir (%zu bytes, "
      "round-trips exactly)\n",
      out.c_str(), out.c_str(), graph.size());
  std::printf("prompt  \"%s\" (%zu byte tokens)\n\n", prompt.c_str(),
              tokens.size());
  std::printf("%-7s %-6s %-6s %-16s %-14s %-12s %s\n", "chains", "width",
              "heads", "weights used", "fwd MFLOP/tok", "next token",
              "interpreter ms");
  int n = config.numChains();
  for (int k = 1; k <= n; ++k) {
    COLM_ASSIGN_OR_RETURN(auto sub, buildSubModel(context, config, k));
    int64_t weights = multipliedWeights(*sub);
    auto start = std::chrono::steady_clock::now();
    COLM_ASSIGN_OR_RETURN(HostTensor logits,
                          runForward(*sub, tokens, model.params));
    double ms = std::chrono::duration<double, std::milli>(
                    std::chrono::steady_clock::now() - start)
                    .count();
    int64_t vocab = logits.shape[1];
    const double *last = &logits.data[(logits.shape[0] - 1) * vocab];
    int best = 0;
    for (int64_t v = 1; v < vocab; ++v)
      if (last[v] > last[best])
        best = static_cast<int>(v);
    std::printf("%-7d %-6lld %-6lld %-16lld %-14.3f %-12s %.1f\n", k,
                (long long)config.prefixWidth(config.hiddenSize, k),
                (long long)config.prefixWidth(config.numHeads, k),
                (long long)weights, 2.0 * weights / 1e6,
                printable(best).c_str(), ms);
  }
  std::printf("\nEvery row is the same model: the k-chain sub-model uses "
              "the first k chains\nof every dimension and parameter. The "
              "weights are freshly initialised, so the\npredicted tokens "
              "are noise until the model is trained.\n");
  return Status::ok();
}

} // namespace colm::cli
