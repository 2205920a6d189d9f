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

  const Program &program() const override { return prog; }

  /// The dynamic sizes of the next runs, by name (each at most the
  /// program's maximum); a program without any needs none.
  Status setSizes(const std::map<std::string, int64_t> &sizes) override;
  /// A buffer's shape at the current sizes.
  Result<std::vector<int64_t>> shapeOf(const std::string &name) const override;

  /// Binds an Input or Param buffer to caller memory of exactly its size at
  /// the current sizes (the memory must outlive the runs that use it).
  Status bind(const std::string &name, const void *data,
              int64_t bytes) override;
  /// True when the program has a buffer of that name and role.
  bool has(const std::string &name, BufferRole role) const override;
  /// Runs every launch; every Input and Param must be bound.
  Status run() override;
  /// An Output (or any arena) buffer's memory after a run.
  Result<const void *> output(const std::string &name) override;

  /// Profiling (off by default): times every launch.
  void setProfiling(bool on) override { profiling = on; }
  /// Per launch, in program order.
  const std::vector<LaunchProfile> &profile() const override {
    return launchProfile;
  }
  void resetProfile() override;

private:
  CpuExecutor(Program program, int threads);

  Program prog;
  std::vector<std::shared_ptr<DynamicLibrary>> libraries;
  std::vector<ColmKernelFn> entries;
  std::unique_ptr<ThreadPool> pool;
  /// 64-byte aligned.
  std::unique_ptr<uint8_t[], void (*)(void *)> arena{nullptr, nullptr};
  std::vector<void *> bound;
  std::vector<std::vector<uint8_t>> argStructs;
  std::vector<int64_t> sizes;
  bool profiling = false;
  std::vector<LaunchProfile> launchProfile;
};

} // namespace colm

#endif // COLM_RUNTIME_CPU_CPUEXECUTOR_H
