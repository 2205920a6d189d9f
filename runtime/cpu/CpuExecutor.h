//===- CpuExecutor.h - Runs a compiled program on the host CPU --*- C++ -*-===//
//
// Owns the arena of a Program, the loaded kernel libraries and a thread
// pool; the caller binds inputs and parameters by name, runs, and reads the
// outputs. Launches run in program order, each on every thread of the pool.
// No MLIR and no compiler: the kernels arrive as loaded libraries or as the
// shared objects of an artifact directory.
//
//===----------------------------------------------------------------------===//
#ifndef COLM_RUNTIME_CPU_CPUEXECUTOR_H
#define COLM_RUNTIME_CPU_CPUEXECUTOR_H

#include "runtime/DynamicLibrary.h"
#include "runtime/Executor.h"
#include "runtime/KernelAbi.h"
#include "runtime/Program.h"
#include "runtime/ThreadPool.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace colm {

class CpuExecutor final : public Executor {
public:
  /// `libraries[i]` holds kernel i's symbol. `threads` >= 1.
  static Result<std::unique_ptr<CpuExecutor>>
  create(Program program,
         std::vector<std::shared_ptr<DynamicLibrary>> libraries, int threads);
  /// An artifact directory: program.json and kernels/NAME.so.
  static Result<std::unique_ptr<CpuExecutor>> load(const std::string &dir,
                                                   int threads);

  Status bind(const std::string &name, const void *data,
              int64_t bytes) override;
  Status run() override;
  /// An Output (or any arena) buffer's memory after a run (no copy).
  Result<const void *> output(const std::string &name) override;

private:
  CpuExecutor(Program program, int threads);
  void unbind(size_t i) override { bound[i] = nullptr; }

  std::vector<std::shared_ptr<DynamicLibrary>> libraries;
  std::vector<ColmKernelFn> entries;
  std::unique_ptr<ThreadPool> pool;
  /// 64-byte aligned.
  std::unique_ptr<uint8_t[], void (*)(void *)> arena{nullptr, nullptr};
  std::vector<void *> bound;
  std::vector<std::vector<uint8_t>> argStructs;
};

} // namespace colm

#endif // COLM_RUNTIME_CPU_CPUEXECUTOR_H
