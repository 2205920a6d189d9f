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

#include <cstdint>
#include <cstring>
#include <functional>
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

/// What every executor shares: the program, its current sizes, the
/// profile, and the checks of binding; a device adds its memory, bind, run
/// and output.
class Executor {
public:
  virtual ~Executor() = default;
  const Program &program() const { return prog; }
  /// The dynamic sizes of the next runs, by name (each at most the
  /// program's maximum); a program without any needs none. Inputs whose
  /// shape depends on a size must be bound again.
  Status setSizes(const std::map<std::string, int64_t> &sizes);
  /// A buffer's shape at the current sizes.
  Result<std::vector<int64_t>> shapeOf(const std::string &name) const;
  /// True when the program has a buffer of that name and role.
  bool has(const std::string &name, BufferRole role) const;
  /// Binds an Input or Param buffer to caller memory of exactly its size at
  /// the current sizes (the memory must outlive the runs that use it; a
  /// device executor copies Inputs at every run and Params when bound).
  virtual Status bind(const std::string &name, const void *data,
                      int64_t bytes) = 0;
  /// Runs every launch; every Input and Param must be bound.
  virtual Status run() = 0;
  /// An Output (or any arena) buffer's contents after a run, in host memory.
  virtual Result<const void *> output(const std::string &name) = 0;
  /// Called with each launch's index once it has finished (its writes are
  /// visible), on the thread that called run(): data-parallel training
  /// starts a gradient's exchange there. Only host executors call it (the
  /// CUDA executor's launches finish on the device, asynchronously).
  void setLaunchHook(std::function<void(size_t)> hook) {
    launchHook = std::move(hook);
  }
  /// Profiling (off by default): times every launch.
  void setProfiling(bool on) { profiling = on; }
  /// Per launch, in program order.
  const std::vector<LaunchProfile> &profile() const { return launchProfile; }
  void resetProfile();

protected:
  explicit Executor(Program program);
  /// Buffer `i` must be bound again (its size changed).
  virtual void unbind(size_t i) = 0;
  /// The index of the Input or Param `name` that `bytes` fit, or why not.
  Result<size_t> bindable(const std::string &name, int64_t bytes) const;
  /// Fills launch `l`'s argument struct `s`: each pointer is
  /// address(buffer) plus its element offset (an 8-byte host or device
  /// address), integers and floats from the program at the current sizes.
  template <class Address>
  void fillArguments(const ProgramLaunch &l, uint8_t *s,
                     Address address) const {
    for (const ProgramArg &a : l.args) {
      uint64_t v = 0;
      switch (a.kind) {
      case ProgramArg::Kind::Pointer:
        if (a.buffer >= 0)
          v = uint64_t(address(a.buffer)) +
              uint64_t(a.element.eval(sizes) *
                       elementBytes(prog.buffers[size_t(a.buffer)].type));
        break;
      case ProgramArg::Kind::Int: {
        int64_t x = a.intValue.eval(sizes);
        std::memcpy(&v, &x, 8);
        break;
      }
      case ProgramArg::Kind::Float:
        std::memcpy(&v, &a.floatValue, 8);
        break;
      }
      std::memcpy(s + a.offset, &v, 8);
    }
  }

  Program prog;
  std::vector<int64_t> sizes;
  bool profiling = false;
  std::vector<LaunchProfile> launchProfile;
  std::function<void(size_t)> launchHook;
};

} // namespace colm

#endif // COLM_RUNTIME_EXECUTOR_H
