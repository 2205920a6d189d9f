//===- probe.cu - The emulator's twins against the hardware --------------===//
//
// Built with nvcc on the GPU (tools/gpu-check.sh): the kernels of the
// emulator's own tests (test/runtime/cuda/SimtKernels.cuh, through
// colm_cuda.h's CUDA branch) on the device, checked as SimtEmulatorTest
// checks them on the emulator: the warp collectives exactly, and the
// tensor-core tiles (ldmatrix.x4 for A, ldmatrix.x2 and .x2.trans for B,
// mma.sync m16n8k16) against plain loops. A fragment layout that the
// emulator and a kernel got wrong in the same way passes on the emulator and
// fails here. Prints one line per check and "probe: N checks, M failed".
//
//===----------------------------------------------------------------------===//
#include "runtime/cuda/colm_cuda.h"

#include "test/runtime/cuda/SimtKernels.cuh"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

namespace {

int checks = 0, failures = 0;

void check(bool ok, const char *what) {
  ++checks;
  if (!ok)
    ++failures;
  std::printf("%s: %s\n", ok ? "PASS" : "FAIL", what);
}

#define CUDA_OK(x)                                                             \
  do {                                                                         \
    cudaError_t e = (x);                                                       \
    if (e != cudaSuccess) {                                                    \
      std::printf("FAIL: %s: %s\n", #x, cudaGetErrorString(e));               \
      return 1;                                                                \
    }                                                                          \
  } while (0)

template <class T> T *upload(const std::vector<T> &v) {
  T *d = nullptr;
  cudaMalloc(&d, v.size() * sizeof(T));
  cudaMemcpy(d, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice);
  return d;
}
template <class T> std::vector<T> download(const T *d, size_t n) {
  std::vector<T> v(n);
  cudaMemcpy(v.data(), d, n * sizeof(T), cudaMemcpyDeviceToHost);
  return v;
}

uint16_t bf16Bits(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}
float bf16Value(uint16_t h) {
  uint32_t u = uint32_t(h) << 16;
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}

} // namespace

int main() {
  int device = 0;
  cudaDeviceProp prop;
  CUDA_OK(cudaGetDeviceProperties(&prop, device));
  std::printf("probe on %s (sm_%d%d)\n", prop.name, prop.major, prop.minor);

  // Warp collectives, exactly as SimtEmulatorTest checks them.
  {
    const unsigned threads = 64;
    std::vector<int> in(threads), out(8 * threads, 0);
    for (unsigned t = 0; t < threads; ++t)
      in[t] = int((t * 7 + 3) % 23);
    int *din = upload(in), *dout = upload(out);
    collectives<<<1, threads>>>(din, dout);
    CUDA_OK(cudaDeviceSynchronize());
    out = download(dout, out.size());
    bool ok = true;
    for (unsigned t = 0; t < threads; ++t) {
      unsigned w = t / 32 * 32, l = t % 32, seg = l / 16 * 16;
      auto lane = [&](unsigned x) { return in[w + x]; };
      uint32_t votes = 0;
      bool any7 = false, allPos = true;
      for (unsigned x = 0; x < 32; ++x) {
        votes |= uint32_t(lane(x) % 3 == 0) << x;
        any7 = any7 || lane(x) == 7;
        allPos = allPos && lane(x) >= 0;
      }
      const int *o = &out[8 * t];
      ok = ok && o[0] == lane(seg + 3) &&
           o[1] == (l - seg >= 2 ? lane(l - 2) : in[t]) &&
           o[2] == (l + 5 < 32 ? lane(l + 5) : in[t]) && o[3] == lane(l ^ 9) &&
           uint32_t(o[4]) == votes && o[5] == int(any7) &&
           o[6] == int(allPos) && o[7] == (l < 16 ? lane(l ^ 1) : -1);
    }
    check(ok, "warp collectives (shfl idx/up/down/xor, ballot, any, all, "
              "masked) as the emulator gives them");
  }

  // Block reduction: exact.
  {
    const long long n = 10007;
    std::vector<long long> x(n);
    std::mt19937_64 rng(1);
    for (long long &v : x)
      v = (long long)(rng() % 2000001) - 1000000;
    std::vector<long long> out(7, 0);
    long long *dx = upload(x), *dout = upload(out);
    blockSum<<<7, 96>>>(dx, n, dout);
    CUDA_OK(cudaDeviceSynchronize());
    out = download(dout, 7);
    bool ok = true;
    for (unsigned b = 0; b < 7; ++b) {
      long long want = 0;
      for (long long i = b * 96; i < n; i += 7 * 96)
        for (long long j = i; j < i + 96 && j < n; ++j)
          want += x[j];
      ok = ok && out[b] == want;
    }
    check(ok, "block reduction through shuffles and shared memory");
  }

  // Tensor-core tiles against loops, B both ways.
  {
    const int m = 32, n = 24, k = 48;
    std::vector<uint16_t> a(m * k), b(k * n), bt(n * k);
    std::mt19937 rng(3);
    std::normal_distribution<float> normal;
    for (uint16_t &v : a)
      v = bf16Bits(normal(rng));
    for (uint16_t &v : b)
      v = bf16Bits(normal(rng));
    for (int p = 0; p < k; ++p)
      for (int j = 0; j < n; ++j)
        bt[j * k + p] = b[p * n + j];
    std::vector<float> c(m * n, -1.0f);
    unsigned short *da = upload(a), *db = upload(b), *dbt = upload(bt);
    float *dc = upload(c), *dct = upload(c);
    dim3 grid(n / 8, m / 16);
    mmaGemm<<<grid, 32>>>(da, db, dc, n, k);
    mmaGemmBt<<<grid, 32>>>(da, dbt, dct, n, k);
    CUDA_OK(cudaDeviceSynchronize());
    std::vector<float> got = download(dc, c.size()),
                       gotT = download(dct, c.size());
    bool ok = true, okT = true;
    double worst = 0;
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < n; ++j) {
        double want = 0, scale = 0;
        for (int p = 0; p < k; ++p) {
          double x = double(bf16Value(a[i * k + p])) * bf16Value(b[p * n + j]);
          want += x;
          scale += std::fabs(x);
        }
        double tol = 1e-5 * scale + 1e-30;
        worst = std::fmax(worst, std::fabs(got[i * n + j] - want) / scale);
        ok = ok && std::fabs(got[i * n + j] - want) <= tol;
        okT = okT && std::fabs(gotT[i * n + j] - want) <= tol;
      }
    char what[200];
    std::snprintf(what, sizeof what,
                  "mma.sync m16n8k16 bf16, A by ldmatrix.x4, B by "
                  "ldmatrix.x2.trans: C against loops (worst %.1e of the "
                  "magnitudes)",
                  worst);
    check(ok, what);
    check(okT, "the same with B stored [n, k] by ldmatrix.x2 (the chain "
               "GEMM's layout)");
  }
  std::printf("probe: %d checks, %d failed\n", checks, failures);
  return failures ? 1 : 0;
}
