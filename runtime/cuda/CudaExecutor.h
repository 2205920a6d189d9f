//===- CudaExecutor.h - Runs a compiled program on a CUDA GPU ---*- C++ -*-===//
//
// The driver API (runtime/cuda/CudaDriver) on one device: the program's
// arena and the bound buffers in device memory (cuMemAlloc, no managed
// memory), one module per kernel (a cubin, or PTX for the driver's JIT),
// launches in program order on the default stream with the same argument
// structs as the CPU kernels (device pointers in them) and the launch
// dimensions from the kernels' geometry functions, evaluated on the host.
// Inputs are copied to the device at every run, Params when bound; outputs
// come back when read. With $COLM_CUDA_GRAPHS=1 a run's launches are
// captured once as a CUDA graph and replayed while their arguments stay the
// same (sizes, bindings), captured again when they change. No MLIR, no
// compiler, no CUDA header.
//
//===----------------------------------------------------------------------===//
#ifndef COLM_RUNTIME_CUDA_CUDAEXECUTOR_H
#define COLM_RUNTIME_CUDA_CUDAEXECUTOR_H

#include "runtime/DynamicLibrary.h"
#include "runtime/Executor.h"
#include "runtime/cuda/CublasLt.h"
#include "runtime/cuda/CudaDriver.h"

#include <array>
#include <memory>
#include <optional>

namespace colm {

/// The module image of a chain GEMM that cuBLASLt runs instead of a
/// kernel: "cublaslt:at=0,bt=1,bf16=1,acc=0" (its operands' layout, the
/// sizes and strides from its ColmGemmArgs at each launch).
constexpr const char *kCublasImagePrefix = "cublaslt:";

/// A kernel's launch dimensions from its argument struct.
using CudaGeometryFn = void (*)(const void *args, unsigned *grid,
                                unsigned *block);

class CudaExecutor final : public Executor {
public:
  /// `images[i]` is kernel i's module (cubin or PTX) with the function
  /// `<symbol>_kernel`; `geometry` holds `<symbol>_geometry` for every
  /// kernel. Device `ordinal` of the driver.
  static Result<std::unique_ptr<CudaExecutor>>
  create(Program program, std::vector<std::string> images,
         std::shared_ptr<DynamicLibrary> geometry, int ordinal);
  /// An artifact directory (`colmc --target cuda --compile-to binary`):
  /// program.json (target "cuda"), kernels/NAME.cubin, geometry.so.
  static Result<std::unique_ptr<CudaExecutor>> load(const std::string &dir,
                                                    int ordinal);
  ~CudaExecutor() override;

  const cuda::DeviceInfo &device() const { return info; }
  Status bind(const std::string &name, const void *data,
              int64_t bytes) override;
  /// Binds `name` (a Param or Input) to device memory the caller owns and
  /// keeps valid: nothing is copied, now or at runs (training keeps its
  /// parameters on the GPU this way). A later bind() copies again.
  Status bindDevice(const std::string &name, cuda::CUdeviceptr at,
                    int64_t bytes);
  /// Where output `name` of the last run lies on the device.
  Result<cuda::CUdeviceptr> deviceAddress(const std::string &name) const;
  const cuda::Driver &cudaDriver() const { return *driver; }
  /// Makes the executor's context (the device's primary one) current.
  Status makeCurrent() const;
  /// Profiling times every launch with CUDA events.
  Status run() override;
  Result<const void *> output(const std::string &name) override;

private:
  explicit CudaExecutor(Program program) : Executor(std::move(program)) {}
  void unbind(size_t i) override { host[i] = nullptr; }
  Status check(cuda::CUresult rc, const char *what) const {
    return driver->check(rc, what);
  }
  /// Device memory for bound buffer i, of at least `bytes`.
  Status reserve(size_t i, int64_t bytes);
  /// Issues the program's memsets and launches on `stream` (arguments and
  /// dimensions already filled in).
  Status issue();
  Status issueLaunch(size_t i);
  void dropGraph();

public:
  /// Runs so far that replayed a captured graph, and captures made.
  int64_t graphReplays() const { return replays; }
  int64_t graphCaptures() const { return captures; }

private:
  const cuda::Driver *driver = nullptr;
  cuda::DeviceInfo info;
  cuda::CUdevice dev = 0;
  cuda::CUcontext context = nullptr;
  std::shared_ptr<DynamicLibrary> geometryLibrary;
  std::vector<cuda::CUmodule> modules;
  std::vector<cuda::CUfunction> functions;
  std::vector<CudaGeometryFn> geometry;
  cuda::CUdeviceptr arena = 0;
  /// Per buffer: its device address (0 until bound, for bound ones).
  std::vector<cuda::CUdeviceptr> address;
  /// Per bound buffer: the host memory, and the device memory it owns.
  std::vector<const void *> host;
  /// Per bound buffer: bound by bindDevice (never copied).
  std::vector<bool> external;
  std::vector<cuda::CUdeviceptr> owned;
  std::vector<int64_t> ownedBytes;
  std::vector<std::vector<uint8_t>> argStructs;
  std::vector<std::vector<uint8_t>> downloaded;
  cuda::CUstream stream = nullptr;
  std::vector<std::array<unsigned, 6>> dims; // per launch: grid, block
  /// Per kernel: the GEMM cuBLASLt runs in its place, if so.
  std::vector<std::optional<cuda::LtGemm>> library;
  std::unique_ptr<cuda::LtSession> cublas;
  bool graphs = false;
  cuda::CUgraph graph = nullptr;
  cuda::CUgraphExec graphExec = nullptr;
  std::vector<uint8_t> graphKey; // what the captured graph was made from
  int64_t replays = 0, captures = 0;
};

} // namespace colm

#endif // COLM_RUNTIME_CUDA_CUDAEXECUTOR_H
