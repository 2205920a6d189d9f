//===- CudaSource.h - What every rendered CUDA source starts with -*- C++
//-*-===//
//
// A CUDA renderer writes one kernel body; the build decides what surrounds
// it. For NVRTC: integer typedefs and runtime/cuda/colm_cuda.h (no CUDA
// header, no include path). For the host SIMT emulator (--backend cuda-sim,
// and CI without a GPU): the emulator, the same colm_cuda.h, and a host
// entry point with the CPU backend's ABI (fn(args, thread, threads)) that
// runs the kernel's grid on the calling host threads. The kernel text
// between them is the same in both builds.
//
//===----------------------------------------------------------------------===//
#ifndef COLM_COMPILER_CODEGEN_CUDA_CUDASOURCE_H
#define COLM_COMPILER_CODEGEN_CUDA_CUDASOURCE_H

#include <string>
#include <vector>

namespace colm::codegen::cuda {

enum class CudaBuild {
  Nvrtc,    ///< CUDA C++ for NVRTC
  HostSim,  ///< host C++ against the SIMT emulator
  Geometry, ///< host C++: only `<symbol>_geometry(args, grid[3], block[3])`,
            ///< the launch dimensions the GPU runtime needs (the same
            ///< expressions as HostSim's); no kernel
};

/// How a rendered kernel is launched: the grid and block, as C++
/// expressions of the kernel's argument struct `a` (evaluated on the host).
struct CudaLaunch {
  std::string grid = "1", block = "256";
};

/// The complete source of one kernel: the prelude for `build`, the
/// argument struct (its ABI macro's text), `body` (which defines
/// `__global__ void <symbol>_kernel(const ArgsType a)`), and for HostSim the
/// host entry point `extern "C" void <symbol>(const void *, int, int)`.
/// The emulator's schedule comes from $COLM_SIMT_SCHEDULE (round-robin,
/// greedy or reversed; round-robin by default); a kernel error (a divergent
/// barrier, a deadlock) is printed with the kernel's line and aborts: it is
/// a bug in generated code.
std::string assembleCuda(CudaBuild build, const std::string &name,
                         const std::string &symbol, const char *argsStruct,
                         const std::string &argsType, const std::string &body,
                         const CudaLaunch &launch);

/// The extra host-compiler flags a HostSim source needs (CpuJit's
/// extraFlags): strict aliasing off, no FMA contraction (NVRTC gets
/// --fmad=false), boost.context linked.
std::vector<std::string> hostSimFlags();

} // namespace colm::codegen::cuda

#endif // COLM_COMPILER_CODEGEN_CUDA_CUDASOURCE_H
