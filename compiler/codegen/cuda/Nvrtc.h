//===- Nvrtc.h - CUDA kernels compiled with NVRTC ---------------*- C++ -*-===//
//
// NVRTC (libnvrtc.so from the CUDA toolkit) loaded with dlopen: no link-time
// dependency, so colm builds and runs where there is no toolkit, and says so
// when a CUDA compile is asked for. Kernels compile for one exact
// architecture (--gpu-architecture=sm_XX) to PTX and, for a real device,
// a cubin (nvrtcGetCUBIN); ptxas reports each kernel's registers and
// spills. Compiles run in parallel and are cached under
// $COLM_KERNEL_CACHE_DIR (else $COLM_CACHE_DIR)/kernels/cuda, keyed by the
// source, the options, the architecture, NVRTC's version and colm's;
// $COLM_DUMP_KERNELS=DIR writes every source, $COLM_KERNEL_OVERRIDE_DIR=DIR
// compiles DIR/<name>.cu instead of a rendered source, as on the CPU.
//
//===----------------------------------------------------------------------===//
#ifndef COLM_COMPILER_CODEGEN_CUDA_NVRTC_H
#define COLM_COMPILER_CODEGEN_CUDA_NVRTC_H

#include "runtime/Status.h"

#include <string>
#include <vector>

namespace colm::codegen::cuda {

/// What ptxas said about one kernel (from NVRTC's log with -v).
struct PtxasInfo {
  int registers = -1;
  int64_t spillStores = 0, spillLoads = 0, stackBytes = 0, sharedBytes = 0;
  bool spills() const { return spillStores || spillLoads; }
};

struct CudaSource {
  std::string name;   ///< file stem, e.g. the spec's name
  std::string source; ///< the NVRTC build's text
};

struct CudaBinary {
  std::string name;
  std::string ptx;   ///< with no terminating NUL
  std::string cubin; ///< empty unless asked for
  PtxasInfo info;
  bool cacheHit = false;
  /// NVRTC's log with ptxas's report (compile() only; not cached).
  std::string log;
};

/// "sm_80", "sm_90", "sm_90a", "sm_100": the architectures NVRTC gets.
Status validateCudaArch(const std::string &arch);

class Nvrtc {
public:
  /// The process's NVRTC ($CUDA_HOME, else /usr/local/cuda, lib64, then the
  /// loader's path); an error naming where it looked when there is none.
  static Result<const Nvrtc *> get();
  /// "13.0".
  const std::string &version() const { return versionText; }

  /// One source for `arch`: PTX, and the cubin when `cubin`; ptxas's
  /// report. An error carries NVRTC's log.
  Result<CudaBinary> compile(const CudaSource &source, const std::string &arch,
                             bool cubin) const;

  /// Every source, in parallel on `threads` host threads (0: every core),
  /// through the kernel cache; `driver` (the device's driver version, when
  /// compiling for one) is part of the entries' key.
  Result<std::vector<CudaBinary>>
  compileAll(const std::vector<CudaSource> &, const std::string &arch,
             bool cubin, int threads = 0, const std::string &driver = "") const;

private:
  Nvrtc() = default;
  using Program = void *;
  int (*create)(Program *, const char *, const char *, int, const char *const *,
                const char *const *) = nullptr;
  int (*compileProgram)(Program, int, const char *const *) = nullptr;
  int (*logSize)(Program, size_t *) = nullptr;
  int (*log)(Program, char *) = nullptr;
  int (*ptxSize)(Program, size_t *) = nullptr;
  int (*ptx)(Program, char *) = nullptr;
  int (*cubinSize)(Program, size_t *) = nullptr;
  int (*cubinData)(Program, char *) = nullptr;
  int (*destroy)(Program *) = nullptr;
  const char *(*errorString)(int) = nullptr;
  std::string versionText;
};

/// ptxas -v's lines in `log` about `entry`.
PtxasInfo parsePtxasInfo(const std::string &log, const std::string &entry);

} // namespace colm::codegen::cuda

#endif // COLM_COMPILER_CODEGEN_CUDA_NVRTC_H
