//===- FakeCudaDriver.cpp - A libcuda.so.1 stand-in for tests -------------===//
//
// The driver entry points runtime/cuda/CudaDriver loads, on host memory, for
// testing the CUDA executor where there is no GPU ($COLM_CUDA_DRIVER points
// at this library). One device, "colm fake GPU", compute capability 9.0.
// Device memory is malloc'ed and every copy, set and launch argument is
// checked against the live allocations (a stray address is an error). A
// module image is either "colm-sim:PATH", a kernel library built for the
// SIMT emulator (its host entry `colm_X` runs `colm_X_kernel`'s launches:
// the launch dimensions given must be the ones it computes itself), or an
// ELF cubin: loadable and its functions found by name, but not runnable
// (CUDA_ERROR_NOT_SUPPORTED at launch). Streams run their work at once, or
// record it while capturing; a graph replays what was recorded (the
// argument structs by address: the executor keeps them unchanged while it
// replays). colm_fake_graph_launches() counts graph launches, for tests.
//
//===----------------------------------------------------------------------===//
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace {

using Fn = void (*)(const void *, int, int);

struct Module {
  void *library = nullptr; // null: a cubin
  std::string image;
};
struct Function {
  Module *module;
  Fn entry; // null: not runnable
};

std::mutex mutex;
std::map<uintptr_t, size_t> allocations;

struct Op {
  Function *fn = nullptr; // a launch, or a memset when null
  void *args = nullptr;
  unsigned long long ptr = 0;
  unsigned char value = 0;
  size_t bytes = 0;
};
struct Stream {
  bool capturing = false;
  std::vector<Op> ops;
};
struct Graph {
  std::vector<Op> ops;
};
int graphLaunches = 0;

bool inside(unsigned long long p, size_t n) {
  std::lock_guard<std::mutex> lock(mutex);
  auto it = allocations.upper_bound(uintptr_t(p));
  if (it == allocations.begin())
    return false;
  --it;
  return p >= it->first && p + n <= it->first + it->second;
}

constexpr int kSuccess = 0, kInvalidValue = 1, kNotFound = 500,
              kInvalidImage = 200, kNotSupported = 801;

} // namespace

extern "C" {

int cuInit(unsigned) { return kSuccess; }
int cuDriverGetVersion(int *v) {
  *v = 13000;
  return kSuccess;
}
int cuDeviceGetCount(int *n) {
  *n = 1;
  return kSuccess;
}
int cuDeviceGet(int *d, int ordinal) {
  if (ordinal != 0)
    return kInvalidValue;
  *d = 0;
  return kSuccess;
}
int cuDeviceGetName(char *name, int len, int) {
  std::strncpy(name, "colm fake GPU", size_t(len));
  return kSuccess;
}
int cuDeviceGetAttribute(int *v, int attribute, int) {
  // Compute capability 9.0, 4 SMs, 1 MiB of L2.
  *v = attribute == 75   ? 9
       : attribute == 76 ? 0
       : attribute == 16 ? 4
       : attribute == 38 ? 1 << 20
                         : 0;
  return kSuccess;
}
int cuDeviceTotalMem_v2(size_t *bytes, int) {
  *bytes = size_t(8) << 30;
  return kSuccess;
}
int cuDevicePrimaryCtxRetain(void **ctx, int) {
  static int context;
  *ctx = &context;
  return kSuccess;
}
int cuDevicePrimaryCtxRelease_v2(int) { return kSuccess; }
int cuCtxSetCurrent(void *) { return kSuccess; }
int cuCtxSynchronize() { return kSuccess; }
int cuMemAlloc_v2(unsigned long long *p, size_t n) {
  void *m = std::aligned_alloc(256, (n + 255) / 256 * 256);
  if (!m)
    return 2; // CUDA_ERROR_OUT_OF_MEMORY
  std::lock_guard<std::mutex> lock(mutex);
  allocations[uintptr_t(m)] = n;
  *p = uintptr_t(m);
  return kSuccess;
}
int cuMemFree_v2(unsigned long long p) {
  std::lock_guard<std::mutex> lock(mutex);
  auto it = allocations.find(uintptr_t(p));
  if (it == allocations.end())
    return kInvalidValue;
  allocations.erase(it);
  std::free(reinterpret_cast<void *>(p));
  return kSuccess;
}
int cuMemcpyHtoD_v2(unsigned long long d, const void *h, size_t n) {
  if (n && !inside(d, n))
    return kInvalidValue;
  std::memcpy(reinterpret_cast<void *>(d), h, n);
  return kSuccess;
}
int cuMemcpyDtoH_v2(void *h, unsigned long long d, size_t n) {
  if (n && !inside(d, n))
    return kInvalidValue;
  std::memcpy(h, reinterpret_cast<void *>(d), n);
  return kSuccess;
}
int cuMemcpyDtoD_v2(unsigned long long to, unsigned long long from, size_t n) {
  if (n && (!inside(to, n) || !inside(from, n)))
    return kInvalidValue;
  std::memmove(reinterpret_cast<void *>(to), reinterpret_cast<void *>(from), n);
  return kSuccess;
}
int cuMemsetD8_v2(unsigned long long d, unsigned char v, size_t n) {
  if (n && !inside(d, n))
    return kInvalidValue;
  std::memset(reinterpret_cast<void *>(d), v, n);
  return kSuccess;
}
int cuModuleLoadData(void **module, const void *image) {
  const char *text = static_cast<const char *>(image);
  auto *m = new Module();
  if (std::strncmp(text, "colm-sim:", 9) == 0) {
    m->library = dlopen(text + 9, RTLD_NOW | RTLD_LOCAL);
    if (!m->library) {
      delete m;
      return kInvalidImage;
    }
  } else if (std::memcmp(text,
                         "\x7f"
                         "ELF",
                         4) != 0) {
    delete m;
    return kInvalidImage;
  } else {
    // An ELF64 image, its size from the header (the section headers
    // come last in a cubin): kept to find the functions' names.
    uint64_t shoff;
    uint16_t shentsize, shnum;
    std::memcpy(&shoff, text + 0x28, 8);
    std::memcpy(&shentsize, text + 0x3a, 2);
    std::memcpy(&shnum, text + 0x3c, 2);
    m->image.assign(text, size_t(shoff + uint64_t(shentsize) * shnum));
  }
  *module = m;
  return kSuccess;
}
int cuModuleUnload(void *module) {
  auto *m = static_cast<Module *>(module);
  if (m->library)
    dlclose(m->library);
  delete m;
  return kSuccess;
}
int cuModuleGetFunction(void **fn, void *module, const char *name) {
  auto *m = static_cast<Module *>(module);
  std::string entry = name;
  const std::string suffix = "_kernel";
  if (entry.size() <= suffix.size() ||
      entry.compare(entry.size() - suffix.size(), suffix.size(), suffix))
    return kNotFound;
  Fn host = nullptr;
  if (m->library) {
    if (!dlsym(m->library, name)) // the kernel itself must be there
      return kNotFound;
    host = reinterpret_cast<Fn>(dlsym(
        m->library, entry.substr(0, entry.size() - suffix.size()).c_str()));
    if (!host)
      return kNotFound;
  } else if (m->image.find(entry + '\0') == std::string::npos) {
    return kNotFound;
  }
  *fn = new Function{m, host};
  return kSuccess;
}
int cuLaunchKernel(void *fn, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                   unsigned by, unsigned bz, unsigned shared, void *stream,
                   void **params, void **extra) {
  auto *f = static_cast<Function *>(fn);
  if (!f->entry)
    return kNotSupported;
  if (!gx || !gy || !gz || !bx || !by || !bz || bx * by * bz > 1024 || shared ||
      extra || !params)
    return kInvalidValue;
  if (stream && static_cast<Stream *>(stream)->capturing) {
    Op op;
    op.fn = f;
    op.args = params[0];
    static_cast<Stream *>(stream)->ops.push_back(op);
    return kSuccess;
  }
  // The emulator's entry computes the same dimensions from the arguments.
  f->entry(params[0], 0, 1);
  return kSuccess;
}
int cuStreamCreate(void **stream, unsigned) {
  *stream = new Stream();
  return kSuccess;
}
int cuStreamDestroy_v2(void *stream) {
  delete static_cast<Stream *>(stream);
  return kSuccess;
}
int cuStreamSynchronize(void *) { return kSuccess; }
int cuStreamQuery(void *) { return kSuccess; }
// CUDA_MEMCPY2D (v2), device to device only.
struct Memcpy2D {
  size_t srcXInBytes, srcY;
  unsigned srcMemoryType;
  const void *srcHost;
  unsigned long long srcDevice;
  void *srcArray;
  size_t srcPitch;
  size_t dstXInBytes, dstY;
  unsigned dstMemoryType;
  void *dstHost;
  unsigned long long dstDevice;
  void *dstArray;
  size_t dstPitch;
  size_t WidthInBytes, Height;
};
int cuMemcpy2DAsync_v2(const Memcpy2D *c, void *) {
  if (c->srcMemoryType != 2 || c->dstMemoryType != 2 ||
      c->WidthInBytes > c->srcPitch || c->WidthInBytes > c->dstPitch)
    return kInvalidValue;
  for (size_t y = 0; y < c->Height; ++y) {
    unsigned long long from =
        c->srcDevice + (c->srcY + y) * c->srcPitch + c->srcXInBytes;
    unsigned long long to =
        c->dstDevice + (c->dstY + y) * c->dstPitch + c->dstXInBytes;
    if (c->WidthInBytes &&
        (!inside(from, c->WidthInBytes) || !inside(to, c->WidthInBytes)))
      return kInvalidValue;
    std::memmove(reinterpret_cast<void *>(to), reinterpret_cast<void *>(from),
                 c->WidthInBytes);
  }
  return kSuccess;
}
int cuMemsetD8Async(unsigned long long d, unsigned char v, size_t n,
                    void *stream) {
  if (n && !inside(d, n))
    return kInvalidValue;
  if (stream && static_cast<Stream *>(stream)->capturing) {
    Op op;
    op.ptr = d;
    op.value = v;
    op.bytes = n;
    static_cast<Stream *>(stream)->ops.push_back(op);
    return kSuccess;
  }
  std::memset(reinterpret_cast<void *>(d), v, n);
  return kSuccess;
}
int cuStreamBeginCapture_v2(void *stream, int) {
  auto *s = static_cast<Stream *>(stream);
  if (!s || s->capturing)
    return kInvalidValue;
  s->capturing = true;
  s->ops.clear();
  return kSuccess;
}
int cuStreamEndCapture(void *stream, void **graph) {
  auto *s = static_cast<Stream *>(stream);
  if (!s || !s->capturing)
    return kInvalidValue;
  s->capturing = false;
  *graph = new Graph{std::move(s->ops)};
  s->ops.clear();
  return kSuccess;
}
int cuGraphInstantiateWithFlags(void **exec, void *graph, unsigned long long) {
  *exec = new Graph(*static_cast<Graph *>(graph));
  return kSuccess;
}
int cuGraphLaunch(void *exec, void *) {
  ++graphLaunches;
  for (const Op &op : static_cast<Graph *>(exec)->ops) {
    if (op.fn)
      op.fn->entry(op.args, 0, 1);
    else
      std::memset(reinterpret_cast<void *>(op.ptr), op.value, op.bytes);
  }
  return kSuccess;
}
int cuGraphExecDestroy(void *exec) {
  delete static_cast<Graph *>(exec);
  return kSuccess;
}
int cuGraphDestroy(void *graph) {
  delete static_cast<Graph *>(graph);
  return kSuccess;
}
int colm_fake_graph_launches() { return graphLaunches; }

int cuEventCreate(void **ev, unsigned) {
  *ev = new double(0);
  return kSuccess;
}
// Work runs at once, so an event holds the host's clock when recorded.
int cuEventRecord(void *ev, void *) {
  *static_cast<double *>(ev) =
      std::chrono::duration<double>(
          std::chrono::steady_clock::now().time_since_epoch())
          .count();
  return kSuccess;
}
int cuEventSynchronize(void *) { return kSuccess; }
int cuEventElapsedTime(float *ms, void *start, void *end) {
  double d = *static_cast<double *>(end) - *static_cast<double *>(start);
  *ms = float(std::max(d * 1e3, 1e-6));
  return kSuccess;
}
int cuEventDestroy_v2(void *ev) {
  delete static_cast<double *>(ev);
  return kSuccess;
}
int cuGetErrorString(int rc, const char **text) {
  *text = rc == kNotSupported   ? "operation not supported (fake driver)"
          : rc == kInvalidValue ? "invalid argument"
                                : "error";
  return kSuccess;
}

} // extern "C"
