//===- Commands.cpp - colm init, graph, forward, demo -----------*- C++ -*-===//
#include "tools/colm/Commands.h"

#include "compiler/BuildColm.h"
#include "compiler/CpuBackend.h"
#include "compiler/Graph.h"
#include "compiler/Pipeline.h"
#include "dialect/ChainDialect.h"
#include "runtime/Checkpoint.h"
#include "runtime/File.h"
#include "runtime/Model.h"
#include "runtime/Npy.h"
#include "runtime/Tokenizer.h"
#include "tools/colm/Args.h"

#include "mlir/IR/MLIRContext.h"

#include <cmath>
#include <cstdio>
#include <filesystem>

namespace colm::cli {
namespace {

Result<unsigned> chainsFlag(const Args &args, const ModelConfig &config) {
  int n = config.numChains();
  if (!args.has("--chains"))
    return static_cast<unsigned>(n);
  auto k = args.getInt("--chains", n, 1, n);
  if (!k)
    return Status::error(k.status().message() + " (the model has " +
                         countOf(n, "chain") + " " +
                         formatChains(config.chains) + ")");
  return static_cast<unsigned>(*k);
}

Result<std::vector<int32_t>> tokensFlag(const Args &args,
                                        const ModelConfig &config) {
  COLM_ASSIGN_OR_RETURN(auto ids,
                        parseIntList(args.get("--tokens"), "--tokens"));
  if (static_cast<int64_t>(ids.size()) > config.maxPositionEmbeddings)
    return Status::error("--tokens: " + std::to_string(ids.size()) +
                         " tokens are more than max_position_embeddings " +
                         std::to_string(config.maxPositionEmbeddings));
  std::vector<int32_t> tokens;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= config.vocabSize)
      return Status::error("--tokens: token id " + std::to_string(ids[i]) +
                           " at position " + std::to_string(i) +
                           " is outside the vocabulary [0, " +
                           std::to_string(config.vocabSize) + ")");
    tokens.push_back(static_cast<int32_t>(ids[i]));
  }
  return tokens;
}

} // namespace

Status runInit(const std::vector<std::string> &argv) {
  Args args("init", "--config FILE.json --out DIR [--seed S]",
            "Creates a model directory (config.json, model.safetensors) with "
            "fresh weights:\nlinears and embeddings normal(0, 0.02) with the "
            "blocks above the chain diagonal zero,\nnorm gains 1.");
  args.option("--config", "FILE.json", "model configuration", true)
      .option("--out", "DIR", "model directory to create", true)
      .option("--seed", "S", "random seed (default 0)")
      .flag("--force", "replace a model that already exists in DIR (all of "
                       "it, training state included)");
  COLM_ASSIGN_OR_RETURN(bool done, args.parseOrPrintHelp(argv));
  if (done)
    return Status::ok();
  COLM_ASSIGN_OR_RETURN(int64_t seed, args.getInt("--seed", 0, 0, INT64_MAX));
  COLM_ASSIGN_OR_RETURN(ModelConfig config, loadConfig(args.get("--config")));
  COLM_TRY(validateConfig(config).withContext(args.get("--config")));
  std::string out = args.get("--out");
  bool force = args.isSet("--force");
  COLM_TRY(checkModelDirectoryWritable(out, force));
  COLM_TRY(checkModelFits(config, 1, 0, "colm init"));
  Model model = initModel(config, static_cast<uint64_t>(seed));
  COLM_TRY(saveModelDirectory(out, model, Tokenizer(), force));
  std::printf("wrote %s: %d chains %s, %s\n", out.c_str(), config.numChains(),
              formatChains(config.chains).c_str(),
              config.kvSharing ? "CoLM-Air (shared keys/values)" : "CoLM");
  return Status::ok();
}

Status runGraph(const std::vector<std::string> &argv) {
  Args args("graph", "--model DIR [-o FILE.mlir] [--chains K]",
            "Writes the chain-dialect graph of a model (of its k-chain "
            "sub-model with --chains).");
  args.option("--model", "DIR", "model directory (or a config.json file)", true)
      .option("--output", "FILE.mlir", "output file (default: stdout)", false,
              "-o")
      .option("--chains", "K", "extract the K-chain sub-model")
      .flag("--no-locations", "omit source locations");
  COLM_ASSIGN_OR_RETURN(bool done, args.parseOrPrintHelp(argv));
  if (done)
    return Status::ok();
  std::string path = args.get("--model");
  if (std::filesystem::is_directory(path))
    path += "/config.json";
  COLM_ASSIGN_OR_RETURN(ModelConfig config, loadConfig(path));
  COLM_TRY(validateConfig(config).withContext(path));
  COLM_ASSIGN_OR_RETURN(unsigned k, chainsFlag(args, config));
  mlir::MLIRContext context;
  dsl::loadDialects(context);
  COLM_ASSIGN_OR_RETURN(auto module, buildSubModel(context, config, k));
  std::string text = dsl::printGraph(*module, !args.isSet("--no-locations"));
  if (!args.has("--output")) {
    std::fputs(text.c_str(), stdout);
    return Status::ok();
  }
  return writeFileAtomic(args.get("--output"), text);
}

const char *const kPrecisionHelp =
    "fp32 or bf16 (compiled backends): bf16 rounds the linears' GEMM inputs to "
    "bf16 and\naccumulates in fp32; attention, norms, LM head, loss and "
    "optimizer stay fp32 (default fp32)";

const char *const kBackendHelp =
    "cpu (generated kernels), cuda (CUDA kernels on an NVIDIA GPU), "
    "reference (the interpreter) or cuda-sim (the CUDA kernels on the host "
    "SIMT emulator, to check them without a GPU; slow) (default cpu)";

Result<Backend> backendFlags(const Args &args) {
  COLM_ASSIGN_OR_RETURN(Backend backend,
                        parseBackend(args.get("--backend", "cpu")));
  COLM_ASSIGN_OR_RETURN(codegen::Precision precision,
                        parsePrecision(args.get("--precision", "fp32")));
  if (precision == codegen::Precision::Bf16 && !isCompiled(backend))
    return Status::error("--precision bf16 needs --backend cpu or cuda-sim "
                         "(the reference interpreter computes in fp32 and "
                         "fp64)");
  setCpuPrecision(precision);
  return backend;
}

Status runForward(const std::vector<std::string> &argv) {
  Args args("forward",
            "--model DIR --tokens 3,1,4,1 [--chains K] --logits-out FILE.npy",
            "Runs the K-chain sub-model (default: all chains) over the tokens "
            "and writes float32\nlogits of shape [T, V].");
  args.option("--model", "DIR", "model directory", true)
      .option("--tokens", "IDS", "comma-separated token ids", true)
      .option("--chains", "K", "number of chains to run, 1..n (default n)")
      .option("--logits-out", "FILE.npy", "where to write the logits", true,
              "-o")
      .option("--backend", "NAME", kBackendHelp)
      .option("--precision", "P", kPrecisionHelp);
  COLM_ASSIGN_OR_RETURN(bool done, args.parseOrPrintHelp(argv));
  if (done)
    return Status::ok();
  COLM_ASSIGN_OR_RETURN(Backend backend, backendFlags(args));
  COLM_ASSIGN_OR_RETURN(Model model, loadModel(args.get("--model")));
  COLM_ASSIGN_OR_RETURN(unsigned k, chainsFlag(args, model.config));
  COLM_ASSIGN_OR_RETURN(auto tokens, tokensFlag(args, model.config));
  mlir::MLIRContext context;
  dsl::loadDialects(context);
  COLM_ASSIGN_OR_RETURN(auto module, buildSubModel(context, model.config, k));
  if (isCompiled(backend)) {
    COLM_ASSIGN_OR_RETURN(
        Tensor logits, runForwardOnCpu(*module, tokens, model.params, backend));
    return writeNpy(args.get("--logits-out"), logits.data.data(), logits.shape);
  }
  COLM_ASSIGN_OR_RETURN(HostTensor logits,
                        runForward(*module, tokens, model.params));
  std::vector<float> values = logits.toFloat();
  return writeNpy(args.get("--logits-out"), values.data(), logits.shape);
}

} // namespace colm::cli
