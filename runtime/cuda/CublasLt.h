//===- CublasLt.h - cuBLASLt's dense GEMM, loaded at run time ---*- C++ -*-===//
//
// The yardstick of the chain GEMM's efficiency: NVIDIA's own dense GEMM on
// the same shapes. libcublasLt.so (the CUDA toolkit's, $COLM_CUBLASLT to
// name another) through dlopen with the few entry points it needs and the
// types spelled here, as runtime/cuda/CudaDriver does for the driver: no
// CUDA header, no link-time dependency. It runs on the primary context of
// the device (the one the executor and the tuner use).
//
//===----------------------------------------------------------------------===//
#ifndef COLM_RUNTIME_CUDA_CUBLASLT_H
#define COLM_RUNTIME_CUDA_CUBLASLT_H

#include "runtime/KernelAbi.h"
#include "runtime/Status.h"
#include "runtime/cuda/CudaDriver.h"

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace colm::cuda {

/// What a dense GEMM measurement gives.
struct DenseGemmTiming {
  double ms = 0;     ///< median per GEMM
  double tflops = 0; ///< 2 M N K / time
};

/// One GEMM in colm's row-major terms: C[M, N] (ldc) = op(A) op(B), plus C
/// when accumulating; A is [M, K] (lda), stored [K, M] when aTransposed; B
/// is [K, N] (ldb), stored [N, K] when bTransposed. Inputs are bf16 in
/// memory (storedBf16), or fp32 rounded to bf16 on the way in (bf16:
/// CUBLAS_COMPUTE_32F_FAST_16BF), or fp32; C and the accumulation fp32.
struct LtGemm {
  int64_t m = 0, n = 0, k = 0, lda = 0, ldb = 0, ldc = 0;
  bool aTransposed = false, bTransposed = false;
  bool bf16 = false, storedBf16 = false, accumulate = false;
};

class CublasLt;

/// A cuBLASLt handle and workspace on the current context, with one plan
/// (descriptors and the heuristic's first algorithm) per GEMM shape.
class LtSession {
public:
  static Result<std::unique_ptr<LtSession>> create(const CublasLt &lt,
                                                   const Driver &driver);
  ~LtSession();
  LtSession(const LtSession &) = delete;
  LtSession &operator=(const LtSession &) = delete;
  /// Enqueues `g` on `stream` (asynchronous, capturable in a CUDA graph).
  Status run(const LtGemm &g, CUdeviceptr a, CUdeviceptr b, CUdeviceptr c,
             CUstream stream);
  /// A chain GEMM's launch: `layout`'s flags with the sizes, strides and
  /// device pointers of its argument struct (nothing for an empty one).
  Status run(const LtGemm &layout, const ColmGemmArgs &args, CUstream stream);

private:
  LtSession() = default;
  struct Plan {
    void *desc = nullptr, *layouts[3] = {};
    uint64_t algo[8] = {};
  };
  /// Sizes, strides and flags: no allocation per launch to look it up.
  using PlanKey = std::array<int64_t, 10>;
  Result<Plan *> plan(const LtGemm &g);
  const CublasLt *lt = nullptr;
  const Driver *driver = nullptr;
  void *handle = nullptr, *preference = nullptr;
  CUdeviceptr workspace = 0;
  std::vector<std::pair<PlanKey, Plan>> plans;
};

class CublasLt {
public:
  /// The library (loaded once per process); an error saying where it
  /// looked when it cannot be loaded.
  static Result<const CublasLt *> get();
  /// "13.1.0".
  std::string version() const;

  /// C[M, N] = A[M, K] W[N, K]^T (a linear's forward, row-major), inputs
  /// bf16 (else fp32), fp32 output and accumulation, on device `ordinal`:
  /// cuBLASLt's heuristic's first algorithm, timed with CUDA events after a
  /// warm-up; the median of `repeats` samples, each over enough GEMMs to
  /// last `minSampleSeconds`, on copies of the operands larger than the L2
  /// cache.
  Result<DenseGemmTiming> timeDenseGemm(int ordinal, int64_t m, int64_t n,
                                        int64_t k, bool bf16, int repeats = 5,
                                        double minSampleSeconds = 0.02) const;

private:
  friend class LtSession;
  CublasLt() = default;
  using Handle = void *;
  int (*create)(Handle *) = nullptr;
  int (*destroy)(Handle) = nullptr;
  size_t (*getVersion)() = nullptr;
  int (*descCreate)(void **, int, int) = nullptr;
  int (*descDestroy)(void *) = nullptr;
  int (*descSetAttribute)(void *, int, const void *, size_t) = nullptr;
  int (*layoutCreate)(void **, int, uint64_t, uint64_t, int64_t) = nullptr;
  int (*layoutDestroy)(void *) = nullptr;
  int (*preferenceCreate)(void **) = nullptr;
  int (*preferenceDestroy)(void *) = nullptr;
  int (*preferenceSetAttribute)(void *, int, const void *, size_t) = nullptr;
  int (*heuristic)(Handle, void *, void *, void *, void *, void *, void *, int,
                   void *, int *) = nullptr;
  int (*matmul)(Handle, void *, const void *, const void *, void *,
                const void *, void *, const void *, const void *, void *,
                void *, void *, const void *, void *, size_t,
                CUstream) = nullptr;
};

} // namespace colm::cuda

#endif // COLM_RUNTIME_CUDA_CUBLASLT_H
