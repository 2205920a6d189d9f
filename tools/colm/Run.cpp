//===- Run.cpp - colm run: a compiled artifact, with the runtime alone ----===//
//
// Loads what `colmc -o DIR` wrote (program.json and the kernels' shared
// objects, or for --target cuda their cubins and the geometry library)
// into the runtime's CpuExecutor or CudaExecutor: no MLIR, no compiler.
//
//===----------------------------------------------------------------------===//
#include "tools/colm/Commands.h"

#include "compiler/CpuBackend.h"
#include "runtime/CpuInfo.h"
#include "runtime/File.h"
#include "runtime/Model.h"
#include "runtime/Npy.h"
#include "runtime/cpu/CpuExecutor.h"
#include "runtime/cuda/CudaExecutor.h"
#include "tools/colm/Args.h"

#include <cstdio>

namespace colm::cli {

namespace {

Result<std::vector<int32_t>> idsFlag(const Args &args, const std::string &flag,
                                     int64_t count, int64_t vocab) {
  COLM_ASSIGN_OR_RETURN(auto ids, parseIntList(args.get(flag), flag));
  if (static_cast<int64_t>(ids.size()) != count)
    return Status::error(flag + ": the artifact was compiled for " +
                         std::to_string(count) + " ids, got " +
                         std::to_string(ids.size()));
  std::vector<int32_t> out;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= vocab)
      return Status::error(flag + ": id " + std::to_string(ids[i]) +
                           " at position " + std::to_string(i) +
                           " is outside the vocabulary [0, " +
                           std::to_string(vocab) + ")");
    out.push_back(static_cast<int32_t>(ids[i]));
  }
  return out;
}

} // namespace

Status runRun(const std::vector<std::string> &argv) {
  Args args("run",
            "--artifact DIR --model DIR --tokens IDS [--targets IDS] "
            "[--out DIR]",
            "Runs an artifact compiled by colmc (its program.json and kernels) "
            "on the runtime\nalone, with the weights of a model directory: "
            "prints scalar outputs (losses) and\nwrites tensor outputs "
            "(logits, gradients) as .npy files into --out.");
  args.option("--artifact", "DIR", "what `colmc -o DIR` wrote", true)
      .option("--model", "DIR", "model directory with the weights", true)
      .option("--tokens", "IDS",
              "comma-separated token ids (all sequences "
              "of the batch, one after another)",
              true)
      .option("--targets", "IDS", "target ids (train and eval steps)")
      .option("--out", "DIR", "write every tensor output as DIR/NAME.npy");
  COLM_ASSIGN_OR_RETURN(bool done, args.parseOrPrintHelp(argv));
  if (done)
    return Status::ok();
  // A CUDA artifact (colmc --target cuda) runs on the GPU, with the driver.
  COLM_ASSIGN_OR_RETURN(Program program, loadProgram(args.get("--artifact")));
  std::unique_ptr<Executor> executor;
  if (program.target == "cuda") {
    COLM_ASSIGN_OR_RETURN(executor,
                          CudaExecutor::load(args.get("--artifact"),
                                             cuda::defaultDeviceOrdinal()));
  } else {
    COLM_ASSIGN_OR_RETURN(executor, CpuExecutor::load(args.get("--artifact"),
                                                      CpuInfo::host().threads));
  }
  const Program &p = executor->program();
  COLM_ASSIGN_OR_RETURN(Model model, loadModel(args.get("--model")));
  int64_t S = p.sizes.count("sequences") ? p.sizes.at("sequences") : 1;
  int64_t T =
      p.sizes.count("sequence_length") ? p.sizes.at("sequence_length") : 1;
  COLM_ASSIGN_OR_RETURN(
      auto tokens, idsFlag(args, "--tokens", S * T, model.config.vocabSize));
  std::vector<int32_t> targets, positions = sequencePositions(S, T);
  int64_t bytes = S * T * 4;
  COLM_TRY(executor->bind("arg0", tokens.data(), bytes));
  if (executor->has("arg1", BufferRole::Input)) {
    if (!args.has("--targets"))
      return Status::error("this artifact (@" + p.function +
                           ") needs --targets");
    COLM_ASSIGN_OR_RETURN(
        targets, idsFlag(args, "--targets", S * T, model.config.vocabSize));
    COLM_TRY(executor->bind("arg1", targets.data(), bytes));
  }
  if (executor->has("positions", BufferRole::Input))
    COLM_TRY(executor->bind("positions", positions.data(), bytes));
  BoundParams slices;
  COLM_TRY(bindParams(*executor, model.params, slices));
  COLM_TRY(executor->run());
  if (args.has("--out"))
    COLM_TRY(makeDirectories(args.get("--out")));
  for (const ProgramBuffer &b : p.buffers) {
    if (b.role != BufferRole::Output || b.name.rfind("losses.", 0) == 0)
      continue;
    COLM_ASSIGN_OR_RETURN(const void *data, executor->output(b.name));
    COLM_ASSIGN_OR_RETURN(std::vector<int64_t> shape,
                          executor->shapeOf(b.name));
    if (b.type == ElementType::F64 && shape.empty()) {
      std::printf("%s = %.9g\n", b.name.c_str(),
                  *static_cast<const double *>(data));
    } else if (b.type == ElementType::F32) {
      std::printf("%s: %s\n", b.name.c_str(), formatShape(shape).c_str());
      if (args.has("--out"))
        COLM_TRY(writeNpy(args.get("--out") + "/" + b.name + ".npy",
                          static_cast<const float *>(data), shape));
    }
  }
  return Status::ok();
}

} // namespace colm::cli
