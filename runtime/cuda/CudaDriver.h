//===- CudaDriver.h - The CUDA driver API, loaded at run time ---*- C++ -*-===//
//
// libcuda.so.1 through dlopen (or $COLM_CUDA_DRIVER, a path, for tests):
// no link-time dependency and no CUDA header, so one colm binary runs where
// there is no driver and says so when the cuda backend is asked for. Only
// the entry points the executor uses, with the driver's C types spelled as
// plain integers and pointers.
//
//===----------------------------------------------------------------------===//
#ifndef COLM_RUNTIME_CUDA_CUDADRIVER_H
#define COLM_RUNTIME_CUDA_CUDADRIVER_H

#include "runtime/Status.h"

#include <cstddef>
#include <cstdint>
#include <string>

namespace colm::cuda {

using CUresult = int;
using CUdevice = int;
using CUdeviceptr = unsigned long long;
using CUcontext = void *;
using CUmodule = void *;
using CUfunction = void *;
using CUstream = void *;
using CUevent = void *;
using CUgraph = void *;
using CUgraphExec = void *;

/// CUDA_MEMCPY2D (v2) field for field; memory types: 1 host, 2 device.
struct Memcpy2D {
  size_t srcXInBytes = 0, srcY = 0;
  unsigned srcMemoryType = 2;
  const void *srcHost = nullptr;
  CUdeviceptr srcDevice = 0;
  void *srcArray = nullptr;
  size_t srcPitch = 0;
  size_t dstXInBytes = 0, dstY = 0;
  unsigned dstMemoryType = 2;
  void *dstHost = nullptr;
  CUdeviceptr dstDevice = 0;
  void *dstArray = nullptr;
  size_t dstPitch = 0;
  size_t WidthInBytes = 0, Height = 0;
};

/// The driver's entry points (the _v2 ones where the API has them).
struct DriverApi {
  CUresult (*cuInit)(unsigned);
  CUresult (*cuDriverGetVersion)(int *);
  CUresult (*cuDeviceGetCount)(int *);
  CUresult (*cuDeviceGet)(CUdevice *, int);
  CUresult (*cuDeviceGetName)(char *, int, CUdevice);
  CUresult (*cuDeviceGetAttribute)(int *, int, CUdevice);
  CUresult (*cuDeviceTotalMem)(size_t *, CUdevice);
  CUresult (*cuDevicePrimaryCtxRetain)(CUcontext *, CUdevice);
  CUresult (*cuDevicePrimaryCtxRelease)(CUdevice);
  CUresult (*cuCtxSetCurrent)(CUcontext);
  CUresult (*cuCtxSynchronize)();
  CUresult (*cuMemAlloc)(CUdeviceptr *, size_t);
  CUresult (*cuMemFree)(CUdeviceptr);
  CUresult (*cuMemcpyHtoD)(CUdeviceptr, const void *, size_t);
  CUresult (*cuMemcpyDtoH)(void *, CUdeviceptr, size_t);
  CUresult (*cuMemcpyDtoD)(CUdeviceptr, CUdeviceptr, size_t);
  CUresult (*cuMemsetD8)(CUdeviceptr, unsigned char, size_t);
  CUresult (*cuModuleLoadData)(CUmodule *, const void *);
  CUresult (*cuModuleUnload)(CUmodule);
  CUresult (*cuModuleGetFunction)(CUfunction *, CUmodule, const char *);
  CUresult (*cuLaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned,
                             unsigned, unsigned, unsigned, CUstream, void **,
                             void **);
  CUresult (*cuEventCreate)(CUevent *, unsigned);
  CUresult (*cuEventRecord)(CUevent, CUstream);
  CUresult (*cuEventSynchronize)(CUevent);
  CUresult (*cuEventElapsedTime)(float *, CUevent, CUevent);
  CUresult (*cuEventDestroy)(CUevent);
  CUresult (*cuGetErrorString)(CUresult, const char **);
  // Streams and graphs (CUDA graphs: COLM_CUDA_GRAPHS=1).
  CUresult (*cuStreamCreate)(CUstream *, unsigned);
  CUresult (*cuStreamDestroy)(CUstream);
  CUresult (*cuStreamSynchronize)(CUstream);
  CUresult (*cuMemsetD8Async)(CUdeviceptr, unsigned char, size_t, CUstream);
  CUresult (*cuStreamQuery)(CUstream);
  /// Strided copies (data-parallel training packs the trainable blocks).
  CUresult (*cuMemcpy2DAsync)(const Memcpy2D *, CUstream);
  // Optional: null where the driver lacks them (no graphs then).
  CUresult (*cuStreamBeginCapture)(CUstream, int);
  CUresult (*cuStreamEndCapture)(CUstream, CUgraph *);
  CUresult (*cuGraphInstantiateWithFlags)(CUgraphExec *, CUgraph,
                                          unsigned long long);
  CUresult (*cuGraphLaunch)(CUgraphExec, CUstream);
  CUresult (*cuGraphExecDestroy)(CUgraphExec);
  CUresult (*cuGraphDestroy)(CUgraph);
  bool graphs() const {
    return cuStreamBeginCapture && cuStreamEndCapture &&
           cuGraphInstantiateWithFlags && cuGraphLaunch && cuGraphExecDestroy &&
           cuGraphDestroy;
  }
};

/// One GPU as the driver describes it.
struct DeviceInfo {
  int ordinal = 0;
  std::string name;
  int major = 0, minor = 0;
  int64_t memoryBytes = 0;
  int multiprocessors = 0;
  int64_t l2Bytes = 0;   ///< the L2 cache
  int driverVersion = 0; ///< e.g. 13000
  /// "sm_90": what NVRTC compiles for.
  std::string arch() const {
    return "sm_" + std::to_string(major) + std::to_string(minor);
  }
  /// "NVIDIA H200 (sm_90, 139.8 GiB, 132 SMs, driver 13.0)".
  std::string describe() const;
};

class Driver {
public:
  /// The process's driver, initialised (cuInit); an error that says what is
  /// missing (no libcuda.so.1: no NVIDIA driver; cuInit failing: no usable
  /// device or a driver too old).
  static Result<const Driver *> get();
  const DriverApi &api() const { return fns; }
  /// "what: CUDA_ERROR_... (message)" for a failed call, ok for success.
  Status check(CUresult rc, const char *what) const;
  /// Device `ordinal` ($COLM_CUDA_DEVICE, else 0 by default); an error when
  /// there is none.
  Result<DeviceInfo> device(int ordinal) const;
  int deviceCount() const;

private:
  DriverApi fns{};
};

/// $COLM_CUDA_DEVICE, else 0.
int defaultDeviceOrdinal();

/// The CUDA toolkit: $CUDA_HOME, else /usr/local/cuda (where NVRTC and
/// cuBLASLt are looked for first).
std::string cudaToolkitDir();

} // namespace colm::cuda

#endif // COLM_RUNTIME_CUDA_CUDADRIVER_H
