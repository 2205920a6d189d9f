//===- CublasLt.cpp - cuBLASLt's dense GEMM, loaded at run time -----------===//
#include "runtime/cuda/CublasLt.h"

#include "runtime/cuda/EventTimer.h"

#include "runtime/Median.h"

#include "runtime/DynamicLibrary.h"

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
constexpr int kComputeF32 = 68;         // CUBLAS_COMPUTE_32F
constexpr int kComputeF32FastBf16 = 75; // CUBLAS_COMPUTE_32F_FAST_16BF
constexpr int kDataF32 = 0;             // CUDA_R_32F
constexpr int kDataBf16 = 14;           // CUDA_R_16BF
constexpr int kDescTransA = 3;          // CUBLASLT_MATMUL_DESC_TRANSA
constexpr int kDescTransB = 4;          // CUBLASLT_MATMUL_DESC_TRANSB
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
      names = {colm::cuda::cudaToolkitDir() + "/lib64/libcublasLt.so.13",
               colm::cuda::cudaToolkitDir() + "/lib64/libcublasLt.so",
               "libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so"};
    void *lib = nullptr;
    for (const std::string &n : names)
      if ((lib = dlopen(n.c_str(), RTLD_NOW | RTLD_LOCAL)))
        break;
    if (!lib) {
      failure =
          Status::error("cuBLASLt (libcublasLt.so) not found: looked in " +
                        colm::cuda::cudaToolkitDir() +
                        "/lib64 ($CUDA_HOME), $COLM_CUBLASLT and the "
                        "loader's path");
      return;
    }
    auto *c = new CublasLt();
    SymbolBinder sym(lib);
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
    if (!sym.ok()) {
      failure = Status::error("libcublasLt.so lacks " + sym.missing() +
                              " (CUDA 11 or newer is needed)");
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

namespace {
Status ltCheck(int rc, const char *what) {
  return rc == 0
             ? Status::ok()
             : Status::error(std::string("cuBLASLt: ") + what + " failed (" +
                             statusName(rc) + ", " + std::to_string(rc) + ")");
}
} // namespace

Result<std::unique_ptr<LtSession>> LtSession::create(const CublasLt &lt,
                                                     const Driver &driver) {
  std::unique_ptr<LtSession> s(new LtSession());
  s->lt = &lt;
  s->driver = &driver;
  COLM_TRY(ltCheck(lt.create(&s->handle), "cublasLtCreate"));
  COLM_TRY(ltCheck(lt.preferenceCreate(&s->preference),
                   "cublasLtMatmulPreferenceCreate"));
  uint64_t bytes = kWorkspaceBytes;
  COLM_TRY(ltCheck(lt.preferenceSetAttribute(s->preference, kPrefWorkspace,
                                             &bytes, sizeof bytes),
                   "setting the workspace"));
  COLM_TRY(driver.check(driver.api().cuMemAlloc(&s->workspace, kWorkspaceBytes),
                        "cuMemAlloc for cuBLASLt's workspace"));
  return s;
}

LtSession::~LtSession() {
  for (auto &[key, p] : plans) {
    for (void *l : p.layouts)
      if (l)
        lt->layoutDestroy(l);
    if (p.desc)
      lt->descDestroy(p.desc);
  }
  if (preference)
    lt->preferenceDestroy(preference);
  if (handle)
    lt->destroy(handle);
  if (workspace)
    driver->api().cuMemFree(workspace);
}

Result<LtSession::Plan *> LtSession::plan(const LtGemm &g) {
  PlanKey key = {g.m,   g.n,           g.k,           g.lda,  g.ldb,
                 g.ldc, g.aTransposed, g.bTransposed, g.bf16, g.storedBf16};
  for (auto &[k, p] : plans)
    if (k == key)
      return &p;
  if (g.m < 1 || g.n < 1 || g.k < 1)
    return Status::error("cuBLASLt: a GEMM needs positive sizes");
  // Column-major, cuBLAS computes C^T[N, M] = op(X) op(Y) with X from B
  // and Y from A: a row-major matrix is its transpose in column-major.
  Plan p;
  int type = g.storedBf16 ? kDataBf16 : kDataF32;
  int compute = g.bf16 && !g.storedBf16 ? kComputeF32FastBf16 : kComputeF32;
  COLM_TRY(ltCheck(lt->descCreate(&p.desc, compute, kDataF32),
                   "cublasLtMatmulDescCreate"));
  int opX = g.bTransposed ? kOpT : kOpN, opY = g.aTransposed ? kOpT : kOpN;
  COLM_TRY(ltCheck(lt->descSetAttribute(p.desc, kDescTransA, &opX, sizeof opX),
                   "setting TRANSA"));
  COLM_TRY(ltCheck(lt->descSetAttribute(p.desc, kDescTransB, &opY, sizeof opY),
                   "setting TRANSB"));
  uint64_t xRows = uint64_t(g.bTransposed ? g.k : g.n),
           xCols = uint64_t(g.bTransposed ? g.n : g.k),
           yRows = uint64_t(g.aTransposed ? g.m : g.k),
           yCols = uint64_t(g.aTransposed ? g.k : g.m);
  COLM_TRY(ltCheck(lt->layoutCreate(&p.layouts[0], type, xRows, xCols, g.ldb),
                   "the layout of B"));
  COLM_TRY(ltCheck(lt->layoutCreate(&p.layouts[1], type, yRows, yCols, g.lda),
                   "the layout of A"));
  COLM_TRY(ltCheck(lt->layoutCreate(&p.layouts[2], kDataF32, uint64_t(g.n),
                                    uint64_t(g.m), g.ldc),
                   "the layout of C"));
  HeuristicResult found{};
  int count = 0;
  COLM_TRY(ltCheck(lt->heuristic(handle, p.desc, p.layouts[0], p.layouts[1],
                                 p.layouts[2], p.layouts[2], preference, 1,
                                 &found, &count),
                   "cublasLtMatmulAlgoGetHeuristic"));
  if (count < 1)
    return Status::error("cuBLASLt has no algorithm for a " +
                         std::to_string(g.m) + "x" + std::to_string(g.n) + "x" +
                         std::to_string(g.k) + " GEMM");
  std::copy(std::begin(found.algo), std::end(found.algo), p.algo);
  plans.emplace_back(std::move(key), p);
  return &plans.back().second;
}

Status LtSession::run(const LtGemm &g, CUdeviceptr a, CUdeviceptr b,
                      CUdeviceptr c, CUstream stream) {
  COLM_ASSIGN_OR_RETURN(Plan * p, plan(g));
  const float alpha = 1.0f, beta = g.accumulate ? 1.0f : 0.0f;
  return ltCheck(
      lt->matmul(handle, p->desc, &alpha, reinterpret_cast<void *>(b),
                 p->layouts[0], reinterpret_cast<void *>(a), p->layouts[1],
                 &beta, reinterpret_cast<void *>(c), p->layouts[2],
                 reinterpret_cast<void *>(c), p->layouts[2], p->algo,
                 reinterpret_cast<void *>(workspace), kWorkspaceBytes, stream),
      "cublasLtMatmul");
}

Status LtSession::run(const LtGemm &layout, const ColmGemmArgs &args,
                      CUstream stream) {
  LtGemm g = layout;
  g.m = args.m;
  g.n = args.n;
  g.k = args.k;
  g.lda = args.lda;
  g.ldb = args.ldb;
  g.ldc = args.ldc;
  if (g.m < 1 || g.n < 1 || g.k < 1)
    return Status::ok();
  return run(g, CUdeviceptr(args.a), CUdeviceptr(args.b), CUdeviceptr(args.c),
             stream);
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

  // Everything made below is released on every path (the session and the
  // events first).
  struct Held {
    const DriverApi *f;
    CUdevice dev = 0;
    bool retained = false;
    std::vector<CUdeviceptr> memory;
    std::unique_ptr<LtSession> session;
    std::unique_ptr<EventTimer> timer;
    ~Held() {
      session.reset();
      timer.reset();
      for (CUdeviceptr p : memory)
        f->cuMemFree(p);
      if (retained)
        f->cuDevicePrimaryCtxRelease(dev);
    }
  } h{&f};
  COLM_TRY(driver->check(f.cuDeviceGet(&h.dev, ordinal), "cuDeviceGet"));
  CUcontext context = nullptr;
  COLM_TRY(driver->check(f.cuDevicePrimaryCtxRetain(&context, h.dev),
                         "cuDevicePrimaryCtxRetain"));
  h.retained = true;
  COLM_TRY(driver->check(f.cuCtxSetCurrent(context), "cuCtxSetCurrent"));
  COLM_ASSIGN_OR_RETURN(h.session, LtSession::create(*this, *driver));
  COLM_ASSIGN_OR_RETURN(h.timer, EventTimer::create(*driver));

  // A linear's forward, C[M,N] = A[M,K] W[N,K]^T, inputs stored as bf16
  // (cuBLAS's own bf16 rate) or fp32.
  LtGemm g;
  g.m = m;
  g.n = n;
  g.k = k;
  g.lda = k;
  g.ldb = k;
  g.ldc = n;
  g.bTransposed = true;
  g.storedBf16 = bf16;
  g.bf16 = bf16;

  int64_t elem = bf16 ? 2 : 4;
  int64_t sets = copiesBeyondL2(info, (m * k + n * k) * elem + m * n * 4, 16);
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
  std::vector<std::array<CUdeviceptr, 3>> ops;
  for (int64_t s = 0; s < sets; ++s) {
    COLM_ASSIGN_OR_RETURN(CUdeviceptr w, alloc(n * k * elem));
    COLM_ASSIGN_OR_RETURN(CUdeviceptr a, alloc(m * k * elem));
    COLM_ASSIGN_OR_RETURN(CUdeviceptr c, alloc(m * n * 4));
    ops.push_back({w, a, c});
  }
  int64_t next = 0;
  auto gemm = [&]() -> Status {
    const auto &o = ops[size_t(next)];
    next = (next + 1) % sets;
    return h.session->run(g, o[1], o[0], o[2], nullptr);
  };
  // Warm-up (clocks, the library's own first-call work), then samples.
  COLM_ASSIGN_OR_RETURN(double perGemm, h.timer->msPerCall(3, gemm));
  int64_t count = std::clamp<int64_t>(
      int64_t(minSampleSeconds * 1e3 / std::max(perGemm, 1e-6)) + 1, 1, 100000);
  std::vector<double> samples;
  for (int r = 0; r < repeats; ++r) {
    COLM_ASSIGN_OR_RETURN(double ms, h.timer->msPerCall(count, gemm));
    samples.push_back(ms);
  }
  DenseGemmTiming t;
  t.ms = median(samples);
  t.tflops = 2.0 * double(m) * double(n) * double(k) / (t.ms * 1e-3) / 1e12;
  return t;
}

} // namespace colm::cuda
