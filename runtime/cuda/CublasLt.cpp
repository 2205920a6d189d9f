//===- CublasLt.cpp - cuBLASLt's dense GEMM, loaded at run time -----------===//
#include "runtime/cuda/CublasLt.h"

#include "runtime/Median.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <dlfcn.h>
#include <mutex>
#include <type_traits>
#include <vector>

namespace colm::cuda {
namespace {

// The values of cublasLt.h, cublas_api.h and library_types.h (CUDA 13).
constexpr int kComputeF32 = 68;   // CUBLAS_COMPUTE_32F
constexpr int kDataF32 = 0;       // CUDA_R_32F
constexpr int kDataBf16 = 14;     // CUDA_R_16BF
constexpr int kDescTransA = 3;    // CUBLASLT_MATMUL_DESC_TRANSA
constexpr int kDescTransB = 4;    // CUBLASLT_MATMUL_DESC_TRANSB
constexpr int kPrefWorkspace = 1; // CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES
constexpr int kOpN = 0, kOpT = 1;
constexpr size_t kWorkspaceBytes = 32 << 20;

/// cublasLtMatmulHeuristicResult_t: the algorithm (64 bytes), then the
/// workspace size, state, waves and reserved words.
struct HeuristicResult {
  uint64_t algo[8];
  size_t workspaceSize;
  int state;
  float wavesCount;
  int reserved[4];
};
static_assert(sizeof(HeuristicResult) == 96);

std::string cudaHome() {
  const char *h = std::getenv("CUDA_HOME");
  return h && *h ? h : "/usr/local/cuda";
}

/// cublasStatus_t's names (cublas_api.h).
const char *statusName(int rc) {
  switch (rc) {
  case 1:
    return "CUBLAS_STATUS_NOT_INITIALIZED: the CUDA runtime found no usable "
           "GPU";
  case 3:
    return "CUBLAS_STATUS_ALLOC_FAILED";
  case 7:
    return "CUBLAS_STATUS_INVALID_VALUE";
  case 8:
    return "CUBLAS_STATUS_ARCH_MISMATCH";
  case 13:
    return "CUBLAS_STATUS_EXECUTION_FAILED";
  case 14:
    return "CUBLAS_STATUS_INTERNAL_ERROR";
  case 15:
    return "CUBLAS_STATUS_NOT_SUPPORTED";
  default:
    return "cublasStatus_t";
  }
}

} // namespace

Result<const CublasLt *> CublasLt::get() {
  static std::once_flag once;
  static CublasLt *instance = nullptr;
  static Status failure;
  std::call_once(once, [] {
    std::vector<std::string> names;
    if (const char *p = std::getenv("COLM_CUBLASLT"); p && *p)
      names.push_back(p);
    else
      names = {cudaHome() + "/lib64/libcublasLt.so.13",
               cudaHome() + "/lib64/libcublasLt.so", "libcublasLt.so.13",
               "libcublasLt.so.12", "libcublasLt.so"};
    void *lib = nullptr;
    for (const std::string &n : names)
      if ((lib = dlopen(n.c_str(), RTLD_NOW | RTLD_LOCAL)))
        break;
    if (!lib) {
      failure = Status::error(
          "cuBLASLt (libcublasLt.so) not found: looked in " + cudaHome() +
          "/lib64 ($CUDA_HOME), $COLM_CUBLASLT and the "
          "loader's path");
      return;
    }
    auto *c = new CublasLt();
    bool ok = true;
    auto sym = [&](auto &fn, const char *name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(
          dlsym(lib, name));
      ok = ok && fn != nullptr;
    };
    sym(c->create, "cublasLtCreate");
    sym(c->destroy, "cublasLtDestroy");
    sym(c->getVersion, "cublasLtGetVersion");
    sym(c->descCreate, "cublasLtMatmulDescCreate");
    sym(c->descDestroy, "cublasLtMatmulDescDestroy");
    sym(c->descSetAttribute, "cublasLtMatmulDescSetAttribute");
    sym(c->layoutCreate, "cublasLtMatrixLayoutCreate");
    sym(c->layoutDestroy, "cublasLtMatrixLayoutDestroy");
    sym(c->preferenceCreate, "cublasLtMatmulPreferenceCreate");
    sym(c->preferenceDestroy, "cublasLtMatmulPreferenceDestroy");
    sym(c->preferenceSetAttribute, "cublasLtMatmulPreferenceSetAttribute");
    sym(c->heuristic, "cublasLtMatmulAlgoGetHeuristic");
    sym(c->matmul, "cublasLtMatmul");
    if (!ok) {
      failure = Status::error("libcublasLt.so lacks an entry point colm uses "
                              "(CUDA 11 or newer is needed)");
      delete c;
      return;
    }
    instance = c;
  });
  if (!instance)
    return failure;
  return static_cast<const CublasLt *>(instance);
}

std::string CublasLt::version() const {
  size_t v = getVersion(); // 130100
  return std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100) + "." +
         std::to_string(v % 100);
}

Result<DenseGemmTiming> CublasLt::timeDenseGemm(int ordinal, int64_t m,
                                                int64_t n, int64_t k, bool bf16,
                                                int repeats,
                                                double minSampleSeconds) const {
  if (m < 1 || n < 1 || k < 1 || repeats < 1)
    return Status::error("cuBLASLt: a GEMM needs positive sizes and repeats");
  COLM_ASSIGN_OR_RETURN(const Driver *driver, Driver::get());
  COLM_ASSIGN_OR_RETURN(DeviceInfo info, driver->device(ordinal));
  const DriverApi &f = driver->api();
  auto lt = [](int rc, const char *what) {
    return rc == 0 ? Status::ok()
                   : Status::error(std::string("cuBLASLt: ") + what +
                                   " failed (" + statusName(rc) + ", " +
                                   std::to_string(rc) + ")");
  };

  // Everything made below is released on every path.
  struct Held {
    const CublasLt *lt;
    const DriverApi *f;
    CUdevice dev = 0;
    bool retained = false;
    Handle handle = nullptr;
    void *desc = nullptr, *pref = nullptr, *layouts[3] = {};
    std::vector<CUdeviceptr> memory;
    CUevent start = nullptr, stop = nullptr;
    ~Held() {
      if (start)
        f->cuEventDestroy(start);
      if (stop)
        f->cuEventDestroy(stop);
      for (void *l : layouts)
        if (l)
          lt->layoutDestroy(l);
      if (pref)
        lt->preferenceDestroy(pref);
      if (desc)
        lt->descDestroy(desc);
      if (handle)
        lt->destroy(handle);
      for (CUdeviceptr p : memory)
        f->cuMemFree(p);
      if (retained)
        f->cuDevicePrimaryCtxRelease(dev);
    }
  } h{this, &f};
  COLM_TRY(driver->check(f.cuDeviceGet(&h.dev, ordinal), "cuDeviceGet"));
  CUcontext context = nullptr;
  COLM_TRY(driver->check(f.cuDevicePrimaryCtxRetain(&context, h.dev),
                         "cuDevicePrimaryCtxRetain"));
  h.retained = true;
  COLM_TRY(driver->check(f.cuCtxSetCurrent(context), "cuCtxSetCurrent"));
  COLM_TRY(lt(create(&h.handle), "cublasLtCreate"));

  // Row-major C[M,N] = A[M,K] W[N,K]^T is column-major C^T = W A^T: the
  // first operand is W^T stored [K, N] (transposed), the second A^T [K, M].
  int type = bf16 ? kDataBf16 : kDataF32;
  COLM_TRY(lt(descCreate(&h.desc, kComputeF32, kDataF32),
              "cublasLtMatmulDescCreate"));
  int opT = kOpT, opN = kOpN;
  COLM_TRY(lt(descSetAttribute(h.desc, kDescTransA, &opT, sizeof opT),
              "setting TRANSA"));
  COLM_TRY(lt(descSetAttribute(h.desc, kDescTransB, &opN, sizeof opN),
              "setting TRANSB"));
  COLM_TRY(lt(layoutCreate(&h.layouts[0], type, uint64_t(k), uint64_t(n), k),
              "the layout of W"));
  COLM_TRY(lt(layoutCreate(&h.layouts[1], type, uint64_t(k), uint64_t(m), k),
              "the layout of A"));
  COLM_TRY(
      lt(layoutCreate(&h.layouts[2], kDataF32, uint64_t(n), uint64_t(m), n),
         "the layout of C"));
  COLM_TRY(lt(preferenceCreate(&h.pref), "cublasLtMatmulPreferenceCreate"));
  uint64_t workspace = kWorkspaceBytes;
  COLM_TRY(lt(preferenceSetAttribute(h.pref, kPrefWorkspace, &workspace,
                                     sizeof workspace),
              "setting the workspace"));
  HeuristicResult algo{};
  int found = 0;
  COLM_TRY(lt(heuristic(h.handle, h.desc, h.layouts[0], h.layouts[1],
                        h.layouts[2], h.layouts[2], h.pref, 1, &algo, &found),
              "cublasLtMatmulAlgoGetHeuristic"));
  if (found < 1)
    return Status::error("cuBLASLt has no algorithm for a " +
                         std::to_string(m) + "x" + std::to_string(n) + "x" +
                         std::to_string(k) + " GEMM");

  // Operand copies that together exceed twice the L2 cache.
  int64_t elem = bf16 ? 2 : 4;
  int64_t setBytes = (m * k + n * k) * elem + m * n * 4;
  int64_t sets = std::clamp<int64_t>(
      (2 * std::max<int64_t>(info.l2Bytes, 1) + setBytes - 1) / setBytes, 1,
      16);
  sets = std::max<int64_t>(1, std::min(sets, info.memoryBytes / 4 / setBytes));
  auto alloc = [&](int64_t bytes) -> Result<CUdeviceptr> {
    CUdeviceptr p = 0;
    COLM_TRY(driver->check(
        f.cuMemAlloc(&p, size_t(std::max<int64_t>(bytes, 256))), "cuMemAlloc"));
    h.memory.push_back(p);
    // Zeros: the values do not change the time of a dense GEMM much, and
    // they are never NaN.
    COLM_TRY(driver->check(f.cuMemsetD8(p, 0, size_t(bytes)), "cuMemsetD8"));
    return p;
  };
  COLM_ASSIGN_OR_RETURN(CUdeviceptr ws, alloc(int64_t(kWorkspaceBytes)));
  std::vector<std::array<CUdeviceptr, 3>> ops;
  for (int64_t s = 0; s < sets; ++s) {
    COLM_ASSIGN_OR_RETURN(CUdeviceptr w, alloc(n * k * elem));
    COLM_ASSIGN_OR_RETURN(CUdeviceptr a, alloc(m * k * elem));
    COLM_ASSIGN_OR_RETURN(CUdeviceptr c, alloc(m * n * 4));
    ops.push_back({w, a, c});
  }
  const float alpha = 1.0f, beta = 0.0f;
  int64_t next = 0;
  auto gemm = [&]() -> Status {
    const auto &o = ops[size_t(next)];
    next = (next + 1) % sets;
    return lt(matmul(h.handle, h.desc, &alpha, reinterpret_cast<void *>(o[0]),
                     h.layouts[0], reinterpret_cast<void *>(o[1]), h.layouts[1],
                     &beta, reinterpret_cast<void *>(o[2]), h.layouts[2],
                     reinterpret_cast<void *>(o[2]), h.layouts[2], algo.algo,
                     reinterpret_cast<void *>(ws), kWorkspaceBytes, nullptr),
              "cublasLtMatmul");
  };
  COLM_TRY(driver->check(f.cuEventCreate(&h.start, 0), "cuEventCreate"));
  COLM_TRY(driver->check(f.cuEventCreate(&h.stop, 0), "cuEventCreate"));
  auto timed = [&](int64_t count) -> Result<double> {
    COLM_TRY(driver->check(f.cuEventRecord(h.start, nullptr), "cuEventRecord"));
    for (int64_t i = 0; i < count; ++i)
      COLM_TRY(gemm());
    COLM_TRY(driver->check(f.cuEventRecord(h.stop, nullptr), "cuEventRecord"));
    COLM_TRY(driver->check(f.cuEventSynchronize(h.stop), "cuEventSynchronize"));
    float ms = 0;
    COLM_TRY(driver->check(f.cuEventElapsedTime(&ms, h.start, h.stop),
                           "cuEventElapsedTime"));
    return double(ms) / double(count);
  };
  // Warm-up (clocks, the library's own first-call work), then samples.
  COLM_ASSIGN_OR_RETURN(double perGemm, timed(3));
  int64_t count = std::clamp<int64_t>(
      int64_t(minSampleSeconds * 1e3 / std::max(perGemm, 1e-6)) + 1, 1, 100000);
  std::vector<double> samples;
  for (int r = 0; r < repeats; ++r) {
    COLM_ASSIGN_OR_RETURN(double ms, timed(count));
    samples.push_back(ms);
  }
  DenseGemmTiming t;
  t.ms = median(samples);
  t.tflops = 2.0 * double(m) * double(n) * double(k) / (t.ms * 1e-3) / 1e12;
  return t;
}

} // namespace colm::cuda
