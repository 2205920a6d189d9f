//===- Colm.cpp - the colm driver -------------------------------*- C++ -*-===//
#include "tools/colm/Commands.h"
#include "tools/colm/Experiment.h"

#include "compiler/codegen/cuda/Nvrtc.h"
#include "runtime/cuda/CudaDriver.h"

#include "runtime/Memory.h"

#include "llvm/Config/llvm-config.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>

namespace colm::cli {
namespace {

struct Command {
  const char *name;
  const char *summary;
  std::function<Status(const std::vector<std::string> &)> run;
};

const Command commands[] = {
    {"init", "create a freshly initialised model directory", runInit},
    {"graph", "write the chain-dialect graph file of a model", runGraph},
    {"forward", "run a sub-model over tokens and write its logits", runForward},
    {"run", "run an artifact compiled by colmc (runtime only)", runRun},
    {"train", "train with the chain loss; checkpoints resume exactly",
     runTrain},
    {"eval", "loss and perplexity of every sub-model", runEval},
    {"expand", "append chains to a model (progressive scaling)", runExpand},
    {"generate", "generate text with a KV cache and elastic chains",
     runGenerate},
    {"serve", "serve OpenAI-style completions over HTTP", runServe},
    {"bench", "prefill and decode speed, side by side", runBench},
    {"experiment", "reproduce a claim of the paper: runs, tables, plots",
     runExperiment},
    {"tune", "measure kernel knobs on this device, store the fastest", runTune},
    {"demo", "build a small CoLM-Air, run every sub-model, summarise", runDemo},
};

#ifndef COLM_VERSION
#define COLM_VERSION "0.0.0"
#endif

void printVersion() {
  std::printf("colm %s\n", COLM_VERSION);
  std::printf("  built with  %s\n",
#ifdef __clang__
              "clang " __clang_version__
#else
              "gcc " __VERSION__
#endif
  );
  std::printf("  MLIR        %s\n", LLVM_VERSION_STRING);
  std::printf("  backends    cpu (generated kernels, the default), reference "
              "(interpreter),\n              cuda-sim (CUDA kernels on the "
              "host SIMT emulator), cuda (an NVIDIA GPU)\n");
  // What the cuda backend would find here.
  auto nvrtc = codegen::cuda::Nvrtc::get();
  std::printf("  NVRTC       %s\n",
              nvrtc ? (*nvrtc)->version().c_str()
                    : "not found (colmc --target cuda and --backend cuda "
                      "need the CUDA toolkit)");
  auto driver = cuda::Driver::get();
  if (!driver) {
    std::printf("  GPU         none: no NVIDIA driver (libcuda.so.1)\n");
  } else if (auto device = (*driver)->device(cuda::defaultDeviceOrdinal())) {
    std::printf("  GPU         %s\n", device->describe().c_str());
  } else {
    std::printf("  GPU         none: %s\n", device.status().message().c_str());
  }
}

/// Output that could not be written is a failure of the command: a full
/// disk behind `> file` must not look like success.
int checkStdout(int code) {
  errno = 0;
  if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
    std::fprintf(stderr, "error: cannot write to standard output: %s\n",
                 errno ? std::strerror(errno)
                       : "a write failed (is the disk full?)");
    return code == 0 ? 1 : code;
  }
  return code;
}

void printUsage(FILE *out) {
  std::fprintf(out, "usage: colm <command> [flags]\n\n"
                    "colm compiles and runs Chain-of-Model language models.\n\n"
                    "commands:\n");
  for (const Command &c : commands)
    std::fprintf(out, "  %-10s %s\n", c.name, c.summary);
  std::fprintf(out, "\nRun 'colm <command> --help' for the flags of a "
                    "command, 'colm --version' for the build.\n");
}

} // namespace

int colmMain(int argc, char **argv) {
  installOutOfMemoryHandler();
  if (argc < 2) {
    printUsage(stderr);
    return 2;
  }
  std::string name = argv[1];
  if (name == "--help" || name == "-h" || name == "help") {
    printUsage(stdout);
    return checkStdout(0);
  }
  if (name == "--version" || name == "version") {
    printVersion();
    return checkStdout(0);
  }
  for (const Command &c : commands) {
    if (name != c.name)
      continue;
    std::vector<std::string> args(argv + 2, argv + argc);
    Status status = c.run(args);
    if (!status.isOk()) {
      // (An empty message: another rank of a distributed run reports it.)
      if (!status.message().empty())
        std::fprintf(stderr, "error: %s\n", status.message().c_str());
      return checkStdout(1);
    }
    return checkStdout(0);
  }
  std::fprintf(stderr, "error: unknown command '%s' (see colm --help)\n",
               name.c_str());
  return 2;
}

} // namespace colm::cli
