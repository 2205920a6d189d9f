//===- Executor.h - What runs a compiled program ----------------*- C++ -*-===//
//
// The interface the trainer, the generator and `colm run` drive, whatever
// the device: runtime/cpu/CpuExecutor (kernels on the host's threads, also
// the CUDA kernels built for the SIMT emulator) and runtime/cuda/
// CudaExecutor (the driver API). The caller binds inputs and parameters by
// name, runs, and reads the outputs in host memory.
//
//===----------------------------------------------------------------------===//
#ifndef COLM_RUNTIME_EXECUTOR_H
#define COLM_RUNTIME_EXECUTOR_H

#include "runtime/Program.h"
#include "runtime/Status.h"

#include <map>
#include <string>
#include <vector>

namespace colm {

/// Time and work of one launch, summed over the runs since the last reset.
struct LaunchProfile {
  std::string label;
  std::string kernel;
  double seconds = 0;
  double flops = 0;
  int64_t calls = 0;
};

class Executor {
public:
  virtual ~Executor() = default;
  virtual const Program &program() const = 0;
  /// The dynamic sizes of the next runs, by name (each at most the
  /// program's maximum); a program without any needs none.
  virtual Status setSizes(const std::map<std::string, int64_t> &sizes) = 0;
  /// A buffer's shape at the current sizes.
  virtual Result<std::vector<int64_t>>
  shapeOf(const std::string &name) const = 0;
  /// Binds an Input or Param buffer to caller memory of exactly its size at
  /// the current sizes (the memory must outlive the runs that use it; a
  /// device executor copies Inputs at every run and Params when bound).
  virtual Status bind(const std::string &name, const void *data,
                      int64_t bytes) = 0;
  /// True when the program has a buffer of that name and role.
  virtual bool has(const std::string &name, BufferRole role) const = 0;
  /// Runs every launch; every Input and Param must be bound.
  virtual Status run() = 0;
  /// An Output (or any arena) buffer's contents after a run, in host memory.
  virtual Result<const void *> output(const std::string &name) = 0;
  /// Profiling (off by default): times every launch.
  virtual void setProfiling(bool on) = 0;
  /// Per launch, in program order.
  virtual const std::vector<LaunchProfile> &profile() const = 0;
  virtual void resetProfile() = 0;
};

} // namespace colm

#endif // COLM_RUNTIME_EXECUTOR_H
