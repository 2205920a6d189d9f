//===- Commands.h - the colm commands ---------------------------*- C++ -*-===//
#ifndef COLM_TOOLS_COMMANDS_H
#define COLM_TOOLS_COMMANDS_H

#include "compiler/CpuBackend.h"
#include "runtime/Status.h"

#include <string>
#include <vector>

namespace colm::cli {

/// Entry point of the `colm` tool: returns the process exit code.
int colmMain(int argc, char **argv);

Status runInit(const std::vector<std::string> &args);
Status runGraph(const std::vector<std::string> &args);
Status runForward(const std::vector<std::string> &args);
Status runDemo(const std::vector<std::string> &args);
Status runTrain(const std::vector<std::string> &args);
Status runEval(const std::vector<std::string> &args);
Status runExpand(const std::vector<std::string> &args);
Status runGenerate(const std::vector<std::string> &args);
Status runServe(const std::vector<std::string> &args);
Status runBench(const std::vector<std::string> &args);
Status runTune(const std::vector<std::string> &args);
Status runRun(const std::vector<std::string> &args);

class Args;
/// --backend and --precision of a command that runs a model: the backend,
/// with the precision set for every compilation that follows (bf16 only on
/// the cpu backend).
Result<Backend> backendFlags(const Args &args);
/// The help text of --precision.
extern const char *const kPrecisionHelp;
/// --backend's help: reference, cpu or cuda-sim.
extern const char *const kBackendHelp;

} // namespace colm::cli

#endif // COLM_TOOLS_COMMANDS_H
