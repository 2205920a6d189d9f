//===- FakeCublasLt.cpp - A libcublasLt.so stand-in on host memory --------===//
//
// The cuBLASLt entry points runtime/cuda/CublasLt loads, for the cuda
// backend's tests on the fake driver (FakeCudaDriver.cpp, whose device
// memory is host memory): cublasLtMatmul computes D = alpha op(A) op(B) +
// beta C with cuBLAS's column-major conventions in plain loops (inputs
// rounded to bf16 under CUBLAS_COMPUTE_32F_FAST_16BF), so that colm's
// row-major to column-major mapping is checked without a GPU. Only what
// colm uses: fp32 or bf16 inputs, fp32 output, TRANSA/TRANSB.
//
//===----------------------------------------------------------------------===//
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace {

struct Desc {
  int compute = 68, transA = 0, transB = 0;
};
struct Layout {
  int type = 0;
  uint64_t rows = 0, cols = 0;
  int64_t ld = 0;
};

float bf16Round(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u)
    return x;
  u += 0x7fffu + ((u >> 16) & 1u);
  u &= 0xffff0000u;
  std::memcpy(&x, &u, 4);
  return x;
}

/// Element (r, c) of the column-major matrix at `p`.
float at(const void *p, const Layout &l, uint64_t r, uint64_t c) {
  size_t i = size_t(c) * size_t(l.ld) + size_t(r);
  if (l.type == 14) { // CUDA_R_16BF
    uint32_t u = uint32_t(static_cast<const uint16_t *>(p)[i]) << 16;
    float x;
    std::memcpy(&x, &u, 4);
    return x;
  }
  return static_cast<const float *>(p)[i];
}

} // namespace

extern "C" {

int cublasLtCreate(void **handle) {
  static int h;
  *handle = &h;
  return 0;
}
int cublasLtDestroy(void *) { return 0; }
size_t cublasLtGetVersion() { return 130100; }
int cublasLtMatmulDescCreate(void **desc, int compute, int) {
  auto *d = new Desc;
  d->compute = compute;
  *desc = d;
  return 0;
}
int cublasLtMatmulDescDestroy(void *desc) {
  delete static_cast<Desc *>(desc);
  return 0;
}
int cublasLtMatmulDescSetAttribute(void *desc, int attribute, const void *buf,
                                   size_t size) {
  if (size != sizeof(int))
    return 7; // CUBLAS_STATUS_INVALID_VALUE
  auto *d = static_cast<Desc *>(desc);
  if (attribute == 3)
    std::memcpy(&d->transA, buf, 4);
  else if (attribute == 4)
    std::memcpy(&d->transB, buf, 4);
  else
    return 7;
  return 0;
}
int cublasLtMatrixLayoutCreate(void **layout, int type, uint64_t rows,
                               uint64_t cols, int64_t ld) {
  if (ld < int64_t(rows) || (type != 0 && type != 14))
    return 7;
  *layout = new Layout{type, rows, cols, ld};
  return 0;
}
int cublasLtMatrixLayoutDestroy(void *layout) {
  delete static_cast<Layout *>(layout);
  return 0;
}
int cublasLtMatmulPreferenceCreate(void **pref) {
  static int p;
  *pref = &p;
  return 0;
}
int cublasLtMatmulPreferenceDestroy(void *) { return 0; }
int cublasLtMatmulPreferenceSetAttribute(void *, int, const void *, size_t) {
  return 0;
}
int cublasLtMatmulAlgoGetHeuristic(void *, void *, void *, void *, void *,
                                   void *, void *, int requested, void *results,
                                   int *count) {
  if (requested < 1)
    return 7;
  std::memset(results, 0, 96);
  *count = 1;
  return 0;
}
int cublasLtMatmul(void *, void *desc, const void *alpha, const void *a,
                   void *aDesc, const void *b, void *bDesc, const void *beta,
                   const void *c, void *cDesc, void *d, void *dDesc,
                   const void *, void *, size_t, void *) {
  const Desc &op = *static_cast<Desc *>(desc);
  const Layout &la = *static_cast<Layout *>(aDesc),
               &lb = *static_cast<Layout *>(bDesc),
               &lc = *static_cast<Layout *>(cDesc),
               &ld = *static_cast<Layout *>(dDesc);
  uint64_t m = op.transA ? la.cols : la.rows, k = op.transA ? la.rows : la.cols;
  uint64_t kb = op.transB ? lb.cols : lb.rows,
           n = op.transB ? lb.rows : lb.cols;
  if (k != kb || lc.rows != m || lc.cols != n || ld.rows != m || ld.cols != n)
    return 7;
  float al, be;
  std::memcpy(&al, alpha, 4);
  std::memcpy(&be, beta, 4);
  bool round = op.compute == 75; // CUBLAS_COMPUTE_32F_FAST_16BF
  for (uint64_t j = 0; j < n; ++j)
    for (uint64_t i = 0; i < m; ++i) {
      double sum = 0;
      for (uint64_t p = 0; p < k; ++p) {
        float x = op.transA ? at(a, la, p, i) : at(a, la, i, p);
        float y = op.transB ? at(b, lb, j, p) : at(b, lb, p, j);
        if (round) {
          x = bf16Round(x);
          y = bf16Round(y);
        }
        sum += double(x) * double(y);
      }
      float prior = be != 0 ? at(c, lc, i, j) : 0.0f;
      static_cast<float *>(d)[size_t(j) * size_t(ld.ld) + size_t(i)] =
          float(al * sum + double(be) * prior);
    }
  return 0;
}

} // extern "C"
