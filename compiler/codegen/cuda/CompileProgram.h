//===- CompileProgram.h - A kernel program as CUDA --------------*- C++ -*-===//
//
// Every kernel of a KernelProgram through the CUDA renderers: as NVRTC
// sources (for colmc --target cuda and the GPU runtime), or as host builds
// against the SIMT emulator compiled by the CPU JIT, which the CPU
// executor runs unchanged (the same ABI): the cuda-sim backend, with which
// a whole model runs through the CUDA kernels on a machine without a GPU.
//
//===----------------------------------------------------------------------===//
#ifndef COLM_COMPILER_CODEGEN_CUDA_COMPILEPROGRAM_H
#define COLM_COMPILER_CODEGEN_CUDA_COMPILEPROGRAM_H

#include "compiler/codegen/KernelProgram.h"
#include "compiler/codegen/cpu/CpuJit.h"
#include "compiler/codegen/cuda/CudaSource.h"
#include "runtime/cuda/CudaExecutor.h"

#include <functional>
#include <memory>
#include <vector>

namespace colm::codegen::cuda {

/// The CUDA source of one kernel for `build`; its kernel is
/// `kernelSymbol(spec)` ("colm_<name>_kernel"), its HostSim entry point
/// "colm_<name>".
std::string renderKernel(const KernelSpec &spec, CudaBuild build);
std::string kernelSymbol(const KernelSpec &spec);

/// Every kernel of `program` as a host build on the emulator, compiled by
/// `jit` (in parallel, cached), in kernel order.
Result<std::vector<std::shared_ptr<DynamicLibrary>>>
compileForSimulator(const KernelProgram &program, CpuJit &jit);

/// One host library with every kernel's launch geometry,
/// `colm_<name>_geometry` (runtime/cuda/CudaExecutor.h's
/// CudaGeometryFn), compiled by `jit`.
Result<std::shared_ptr<DynamicLibrary>>
compileGeometry(const KernelProgram &program, CpuJit &jit);

/// The module image of a GEMM cuBLASLt runs (knobs.cuda.cublas):
/// "cublaslt:at=A,bt=B,bf16=F,acc=C", which CudaExecutor reads (the sizes
/// and strides come from the argument struct at each launch).
std::string cublasImage(const ChainGemmSpec &spec);

/// $COLM_CUDA_SIM_IMAGES=1: device modules are the kernels' emulator
/// builds ("colm-sim:PATH") instead of cubins. Only the test suite's fake
/// driver (test/runtime/cuda) runs them; it lets the whole cuda backend
/// (executor, resident training, tuning) run in CI without a GPU.
bool simulatorModules();

/// One kernel to build for a device: its name (the file stem in the
/// caches) and its source in each build. A non-empty `image` is the module
/// itself (a GEMM cuBLASLt runs) and nothing is compiled for it.
struct DeviceKernel {
  std::string name;
  std::function<std::string(CudaBuild)> render;
  std::string image;
};

struct DeviceModules {
  std::vector<std::string> images; ///< per kernel, in order
  std::shared_ptr<DynamicLibrary> geometry;
};

/// The kernels' modules for `device`: cubins from NVRTC for its
/// architecture (in parallel, cached), or emulator builds under
/// simulatorModules(); and one geometry library with every kernel's
/// `<symbol>_geometry` (`what` names it in the source). What the cuda
/// backend, the tuner and the GPU optimizer build with.
Result<DeviceModules> buildModules(const std::vector<DeviceKernel> &kernels,
                                   CpuJit &jit,
                                   const colm::cuda::DeviceInfo &device,
                                   const std::string &what);

/// The whole program on CUDA device `ordinal`: cubins from NVRTC for its
/// architecture (emulator builds under simulatorModules()), the geometry
/// library, a CudaExecutor.
Result<std::unique_ptr<CudaExecutor>>
compileForDevice(const KernelProgram &program, CpuJit &jit, int ordinal);

} // namespace colm::codegen::cuda

#endif // COLM_COMPILER_CODEGEN_CUDA_COMPILEPROGRAM_H
