//===- colm_cuda.h - the one header generated CUDA kernels include -*- C++
//-*-===//
//
// Every CUDA feature a kernel uses beyond plain C++ sits behind this header:
// under NVRTC the real builtins (and, later, inline PTX for mma and
// ldmatrix), on the host their twins in the SIMT emulator
// (SimtEmulator.h). Kernels never test __CUDA_ARCH__ or __CUDACC__, never
// write asm, and include no CUDA header: the same source is valid CUDA and
// valid host C++ (built with -x c++ -fno-strict-aliasing).
//
// Warp collectives are colm_* functions with the mask last and optional:
//   colm_shfl_idx(v, lane[, width[, mask]])   colm_shfl_up(v, delta, ...)
//   colm_shfl_down(v, delta, ...)             colm_shfl_xor(v, laneMask, ...)
//   colm_ballot(pred[, mask])  colm_any(pred[, mask])  colm_all(pred[, mask])
//   colm_syncwarp([mask])      (the lanes meet: shared memory written
//                               before is visible to them after)
// tensor-core products and shared-memory matrix loads (sm_80+; fragment
// layouts as the PTX ISA gives them, see SimtEmulator.h):
//   colm_mma_bf16_16816(d[4], a[4], b[2], c[4])   (mma.sync m16n8k16,
//       row.col, bf16 inputs packed two per word, f32 accumulators)
//   colm_ldmatrix_x1/x2/x4(r, rowAddress), colm_ldmatrix_x2_trans(r, row)
//       (ldmatrix.sync m8n8 .b16 from shared memory; rows 16-byte aligned)
// bit casts and bf16 rounding:
//   colm_float_bits(x), colm_bits_float(u), COLM_INF, colm_bf16_bits(x) (the
//   nearest bf16, ties to even, NaN stays NaN: codegen::toBf16Bits's bits)
// and __syncthreads(), threadIdx, blockIdx, blockDim, gridDim, __shared__,
// __global__, __device__ keep their CUDA meaning.
//
//===----------------------------------------------------------------------===//
#ifndef COLM_CUDA_H
#define COLM_CUDA_H

#define COLM_FULL_MASK 0xffffffffu

#if defined(__CUDACC__) || defined(__CUDACC_RTC__)

__device__ __forceinline__ unsigned colm_lane_id() { return threadIdx.x & 31u; }

template <class T>
__device__ __forceinline__ T colm_shfl_idx(T v, int lane, int width = 32,
                                           unsigned mask = COLM_FULL_MASK) {
  return __shfl_sync(mask, v, lane, width);
}
template <class T>
__device__ __forceinline__ T colm_shfl_up(T v, unsigned delta, int width = 32,
                                          unsigned mask = COLM_FULL_MASK) {
  return __shfl_up_sync(mask, v, delta, width);
}
template <class T>
__device__ __forceinline__ T colm_shfl_down(T v, unsigned delta, int width = 32,
                                            unsigned mask = COLM_FULL_MASK) {
  return __shfl_down_sync(mask, v, delta, width);
}
template <class T>
__device__ __forceinline__ T colm_shfl_xor(T v, int laneMask, int width = 32,
                                           unsigned mask = COLM_FULL_MASK) {
  return __shfl_xor_sync(mask, v, laneMask, width);
}
__device__ __forceinline__ unsigned
colm_ballot(bool p, unsigned mask = COLM_FULL_MASK) {
  return __ballot_sync(mask, p);
}
__device__ __forceinline__ bool colm_any(bool p,
                                         unsigned mask = COLM_FULL_MASK) {
  return __any_sync(mask, p);
}
__device__ __forceinline__ void colm_syncwarp(unsigned mask = COLM_FULL_MASK) {
  __syncwarp(mask);
}
__device__ __forceinline__ bool colm_all(bool p,
                                         unsigned mask = COLM_FULL_MASK) {
  return __all_sync(mask, p);
}

__device__ __forceinline__ unsigned colm_float_bits(float x) {
  return __float_as_uint(x);
}
__device__ __forceinline__ float colm_bits_float(unsigned u) {
  return __uint_as_float(u);
}

__device__ __forceinline__ void colm_mma_bf16_16816(float d[4],
                                                    const unsigned a[4],
                                                    const unsigned b[2],
                                                    const float c[4]) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
               "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
               "{%10, %11, %12, %13};\n"
               : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]),
                 "r"(b[1]), "f"(c[0]), "f"(c[1]), "f"(c[2]), "f"(c[3]));
}
__device__ __forceinline__ unsigned colm_shared_address(const void *p) {
  return static_cast<unsigned>(__cvta_generic_to_shared(p));
}
__device__ __forceinline__ void colm_ldmatrix_x1(unsigned r[1],
                                                 const void *row) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x1.shared.b16 {%0}, [%1];\n"
               : "=r"(r[0])
               : "r"(colm_shared_address(row))
               : "memory"); // reads shared memory the compiler must not cache
}
__device__ __forceinline__ void colm_ldmatrix_x2(unsigned r[2],
                                                 const void *row) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0, %1}, [%2];\n"
               : "=r"(r[0]), "=r"(r[1])
               : "r"(colm_shared_address(row))
               : "memory"); // reads shared memory the compiler must not cache
}
__device__ __forceinline__ void colm_ldmatrix_x4(unsigned r[4],
                                                 const void *row) {
  asm volatile(
      "ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
      : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
      : "r"(colm_shared_address(row))
      : "memory"); // reads shared memory the compiler must not cache
}
__device__ __forceinline__ void colm_ldmatrix_x2_trans(unsigned r[2],
                                                       const void *row) {
  asm volatile(
      "ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0, %1}, [%2];\n"
      : "=r"(r[0]), "=r"(r[1])
      : "r"(colm_shared_address(row))
      : "memory"); // reads shared memory the compiler must not cache
}

#else // the host SIMT emulator

#ifndef COLM_RUNTIME_CUDA_SIMTEMULATOR_H // pasted before, in rendered sources
#include "SimtEmulator.h"
#endif

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __align__(n) __attribute__((aligned(n)))
// One host thread runs one block at a time and its fibers never migrate,
// so a block's shared memory is the host thread's.
#ifdef COLM_SIMT_TSAN
// TSan instruments no thread_local access: shared memory is a plain static
// there, and the emulator runs one block at a time (SimtEmulator.h).
#define __shared__ static
#else
#define __shared__ static thread_local
#endif

#define threadIdx (::colm::simt::self().idx)
#define blockIdx (::colm::simt::tlBlock->blockIdx)
#define blockDim (::colm::simt::tlBlock->blockDim)
#define gridDim (::colm::simt::tlBlock->gridDim)
#define __syncthreads() ::colm::simt::syncthreads(__LINE__)

inline unsigned colm_float_bits(float x) {
  unsigned u;
  __builtin_memcpy(&u, &x, 4);
  return u;
}
inline float colm_bits_float(unsigned u) {
  float x;
  __builtin_memcpy(&x, &u, 4);
  return x;
}

inline unsigned colm_lane_id() {
  return ::colm::simt::self().linear % ::colm::simt::kWarpSize;
}

namespace colm::simt {
template <class T>
T shflIdx(int line, T v, int lane, int width = 32,
          unsigned mask = COLM_FULL_MASK) {
  return collective(line, Collective::ShflIdx, mask, v, lane, width);
}
template <class T>
T shflUp(int line, T v, unsigned delta, int width = 32,
         unsigned mask = COLM_FULL_MASK) {
  return collective(line, Collective::ShflUp, mask, v, int(delta), width);
}
template <class T>
T shflDown(int line, T v, unsigned delta, int width = 32,
           unsigned mask = COLM_FULL_MASK) {
  return collective(line, Collective::ShflDown, mask, v, int(delta), width);
}
template <class T>
T shflXor(int line, T v, int laneMask, int width = 32,
          unsigned mask = COLM_FULL_MASK) {
  return collective(line, Collective::ShflXor, mask, v, laneMask, width);
}
inline unsigned ballot(int line, bool p, unsigned mask = COLM_FULL_MASK) {
  return unsigned(
      collective(line, Collective::Ballot, mask, uint32_t(p), 0, 32));
}
inline bool any(int line, bool p, unsigned mask = COLM_FULL_MASK) {
  return collective(line, Collective::Any, mask, uint32_t(p), 0, 32) != 0;
}
inline bool all(int line, bool p, unsigned mask = COLM_FULL_MASK) {
  return collective(line, Collective::All, mask, uint32_t(p), 0, 32) != 0;
}
inline void syncwarp(int line, unsigned mask = COLM_FULL_MASK) {
  // A release/acquire pair for TSan builds (SimtEmulator.h): memory written
  // before is visible to the lanes after.
  BlockState &b = *tlBlock;
  unsigned episode;
  char *token;
  {
    TsanIgnore ignore;
    Fiber &f = self();
    episode = f.warpSyncs++ % 2;
    token = b.tsanWarp.empty()
                ? nullptr
                : &b.tsanWarp[2 * (f.linear / kWarpSize) + episode];
  }
  if (token)
    tsanRelease(token);
  collective(line, Collective::Ballot, mask, uint32_t(0), 0, 32);
  if (token)
    tsanAcquire(token);
}
} // namespace colm::simt

// Macros, so that an error names the kernel's line.
#define colm_shfl_idx(...) ::colm::simt::shflIdx(__LINE__, __VA_ARGS__)
#define colm_shfl_up(...) ::colm::simt::shflUp(__LINE__, __VA_ARGS__)
#define colm_shfl_down(...) ::colm::simt::shflDown(__LINE__, __VA_ARGS__)
#define colm_shfl_xor(...) ::colm::simt::shflXor(__LINE__, __VA_ARGS__)
#define colm_ballot(...) ::colm::simt::ballot(__LINE__, __VA_ARGS__)
#define colm_any(...) ::colm::simt::any(__LINE__, __VA_ARGS__)
#define colm_all(...) ::colm::simt::all(__LINE__, __VA_ARGS__)
#define colm_syncwarp(...) ::colm::simt::syncwarp(__LINE__, ##__VA_ARGS__)
#define colm_mma_bf16_16816(d, a, b, c)                                        \
  ::colm::simt::mma16816(__LINE__, d, a, b, c)
#define colm_ldmatrix_x1(r, row)                                               \
  ::colm::simt::ldmatrix(__LINE__, r, row, 1, false)
#define colm_ldmatrix_x2(r, row)                                               \
  ::colm::simt::ldmatrix(__LINE__, r, row, 2, false)
#define colm_ldmatrix_x4(r, row)                                               \
  ::colm::simt::ldmatrix(__LINE__, r, row, 4, false)
#define colm_ldmatrix_x2_trans(r, row)                                         \
  ::colm::simt::ldmatrix(__LINE__, r, row, 2, true)

#endif

// Infinity without math.h (NVRTC has none).
#define COLM_INF colm_bits_float(0x7f800000u)

__device__ __forceinline__ unsigned short colm_bf16_bits(float x) {
  unsigned u = colm_float_bits(x);
  if ((u & 0x7fffffffu) > 0x7f800000u)
    u |= 0x00400000u; // quiet: truncation must not make a NaN infinite
  else
    u += 0x7fffu + ((u >> 16) & 1u);
  return (unsigned short)(u >> 16);
}

#endif // COLM_CUDA_H
