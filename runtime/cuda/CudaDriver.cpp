//===- CudaDriver.cpp - The CUDA driver API, loaded at run time -----------===//
#include "runtime/cuda/CudaDriver.h"

#include "runtime/DynamicLibrary.h"

#include <cstdio>
#include <cstdlib>
#include <dlfcn.h>
#include <map>
#include <mutex>
#include <type_traits>

namespace colm::cuda {

namespace {
// cuDeviceGetAttribute's attributes (cuda.h's CUdevice_attribute).
constexpr int kMultiprocessorCount = 16;
constexpr int kL2CacheSize = 38;
constexpr int kComputeCapabilityMajor = 75;
constexpr int kComputeCapabilityMinor = 76;
} // namespace

std::string DeviceInfo::describe() const {
  char buf[256];
  std::snprintf(
      buf, sizeof buf, "%s (%s, %.1f GiB, %d SMs, driver %d.%d)", name.c_str(),
      arch().c_str(), double(memoryBytes) / (1024.0 * 1024.0 * 1024.0),
      multiprocessors, driverVersion / 1000, driverVersion % 1000 / 10);
  return buf;
}

std::string cudaToolkitDir() {
  const char *h = std::getenv("CUDA_HOME");
  return h && *h ? h : "/usr/local/cuda";
}

int defaultDeviceOrdinal() {
  const char *v = std::getenv("COLM_CUDA_DEVICE");
  return v && *v ? std::atoi(v) : 0;
}

Result<const Driver *> Driver::get() {
  // Per library path (tests load a fake driver), loaded once each.
  static std::mutex mutex;
  static std::map<std::string, std::pair<Driver *, Status>> loaded;
  const char *given = std::getenv("COLM_CUDA_DRIVER");
  std::string name = given && *given ? given : "libcuda.so.1";
  std::lock_guard<std::mutex> lock(mutex);
  auto it = loaded.find(name);
  if (it == loaded.end()) {
    Driver *instance = nullptr;
    Status failure;
    [&] {
      void *lib = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (!lib) {
        failure = Status::error(
            "the cuda backend needs the NVIDIA driver, and " + name +
            " cannot be loaded (" + dlerror() +
            "); without a GPU, --backend cpu runs the model and --backend "
            "cuda-sim runs its CUDA kernels on the CPU");
        return;
      }
      auto *d = new Driver();
      SymbolBinder sym(lib);
      DriverApi &f = d->fns;
      sym(f.cuInit, "cuInit");
      sym(f.cuDriverGetVersion, "cuDriverGetVersion");
      sym(f.cuDeviceGetCount, "cuDeviceGetCount");
      sym(f.cuDeviceGet, "cuDeviceGet");
      sym(f.cuDeviceGetName, "cuDeviceGetName");
      sym(f.cuDeviceGetAttribute, "cuDeviceGetAttribute");
      sym(f.cuDeviceTotalMem, "cuDeviceTotalMem_v2");
      sym(f.cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain");
      sym(f.cuDevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2");
      sym(f.cuCtxSetCurrent, "cuCtxSetCurrent");
      sym(f.cuCtxSynchronize, "cuCtxSynchronize");
      sym(f.cuMemAlloc, "cuMemAlloc_v2");
      sym(f.cuMemFree, "cuMemFree_v2");
      sym(f.cuMemcpyHtoD, "cuMemcpyHtoD_v2");
      sym(f.cuMemcpyDtoH, "cuMemcpyDtoH_v2");
      sym(f.cuMemcpyDtoD, "cuMemcpyDtoD_v2");
      sym(f.cuMemsetD8, "cuMemsetD8_v2");
      sym(f.cuModuleLoadData, "cuModuleLoadData");
      sym(f.cuModuleUnload, "cuModuleUnload");
      sym(f.cuModuleGetFunction, "cuModuleGetFunction");
      sym(f.cuLaunchKernel, "cuLaunchKernel");
      sym(f.cuEventCreate, "cuEventCreate");
      sym(f.cuEventRecord, "cuEventRecord");
      sym(f.cuEventSynchronize, "cuEventSynchronize");
      sym(f.cuEventElapsedTime, "cuEventElapsedTime");
      sym(f.cuEventDestroy, "cuEventDestroy_v2");
      sym(f.cuGetErrorString, "cuGetErrorString");
      sym(f.cuStreamCreate, "cuStreamCreate");
      sym(f.cuStreamDestroy, "cuStreamDestroy_v2");
      sym(f.cuStreamSynchronize, "cuStreamSynchronize");
      sym(f.cuMemsetD8Async, "cuMemsetD8Async");
      sym(f.cuStreamQuery, "cuStreamQuery");
      sym(f.cuMemcpy2DAsync, "cuMemcpy2DAsync_v2");
      sym(f.cuStreamBeginCapture, "cuStreamBeginCapture_v2", true);
      sym(f.cuStreamEndCapture, "cuStreamEndCapture", true);
      sym(f.cuGraphInstantiateWithFlags, "cuGraphInstantiateWithFlags", true);
      sym(f.cuGraphLaunch, "cuGraphLaunch", true);
      sym(f.cuGraphExecDestroy, "cuGraphExecDestroy", true);
      sym(f.cuGraphDestroy, "cuGraphDestroy", true);
      if (!sym.ok()) {
        failure = Status::error(name + " lacks " + sym.missing() +
                                " (a driver older than colm supports?)");
        delete d;
        return;
      }
      if (Status s = d->check(f.cuInit(0), "cuInit"); !s) {
        failure = s.withContext("the NVIDIA driver is installed but does not "
                                "start (no usable GPU?)");
        delete d;
        return;
      }
      instance = d;
    }();
    it = loaded.emplace(name, std::make_pair(instance, failure)).first;
  }
  if (!it->second.first)
    return it->second.second;
  return static_cast<const Driver *>(it->second.first);
}

Status Driver::check(CUresult rc, const char *what) const {
  if (rc == 0)
    return Status::ok();
  const char *text = nullptr;
  if (fns.cuGetErrorString)
    fns.cuGetErrorString(rc, &text);
  return Status::error(std::string(what) + " failed: CUDA error " +
                       std::to_string(rc) +
                       (text ? std::string(" (") + text + ")" : ""));
}

int Driver::deviceCount() const {
  int n = 0;
  if (fns.cuDeviceGetCount(&n) != 0)
    return 0;
  return n;
}

Result<DeviceInfo> Driver::device(int ordinal) const {
  int count = deviceCount();
  if (count == 0)
    return Status::error("the NVIDIA driver reports no CUDA device");
  if (ordinal < 0 || ordinal >= count)
    return Status::error("CUDA device " + std::to_string(ordinal) +
                         " does not exist (the driver reports " +
                         std::to_string(count) + "; $COLM_CUDA_DEVICE)");
  CUdevice dev = 0;
  COLM_TRY(check(fns.cuDeviceGet(&dev, ordinal), "cuDeviceGet"));
  DeviceInfo info;
  info.ordinal = ordinal;
  char name[256] = {};
  COLM_TRY(check(fns.cuDeviceGetName(name, sizeof name - 1, dev),
                 "cuDeviceGetName"));
  info.name = name;
  COLM_TRY(
      check(fns.cuDeviceGetAttribute(&info.major, kComputeCapabilityMajor, dev),
            "cuDeviceGetAttribute"));
  COLM_TRY(
      check(fns.cuDeviceGetAttribute(&info.minor, kComputeCapabilityMinor, dev),
            "cuDeviceGetAttribute"));
  COLM_TRY(check(fns.cuDeviceGetAttribute(&info.multiprocessors,
                                          kMultiprocessorCount, dev),
                 "cuDeviceGetAttribute"));
  int l2 = 0;
  COLM_TRY(check(fns.cuDeviceGetAttribute(&l2, kL2CacheSize, dev),
                 "cuDeviceGetAttribute"));
  info.l2Bytes = l2;
  size_t bytes = 0;
  COLM_TRY(check(fns.cuDeviceTotalMem(&bytes, dev), "cuDeviceTotalMem"));
  info.memoryBytes = int64_t(bytes);
  COLM_TRY(
      check(fns.cuDriverGetVersion(&info.driverVersion), "cuDriverGetVersion"));
  return info;
}

} // namespace colm::cuda
