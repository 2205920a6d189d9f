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
__device__ __forceinline__ bool colm_all(bool p,
                                         unsigned mask = COLM_FULL_MASK) {
  return __all_sync(mask, p);
}

#else // the host SIMT emulator

#include "SimtEmulator.h"

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
// One host thread runs one block at a time and its fibers never migrate,
// so a block's shared memory is the host thread's.
#define __shared__ static thread_local

#define threadIdx (::colm::simt::self().idx)
#define blockIdx (::colm::simt::tlBlock->blockIdx)
#define blockDim (::colm::simt::tlBlock->blockDim)
#define gridDim (::colm::simt::tlBlock->gridDim)
#define __syncthreads() ::colm::simt::syncthreads(__LINE__)

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
} // namespace colm::simt

// Macros, so that an error names the kernel's line.
#define colm_shfl_idx(...) ::colm::simt::shflIdx(__LINE__, __VA_ARGS__)
#define colm_shfl_up(...) ::colm::simt::shflUp(__LINE__, __VA_ARGS__)
#define colm_shfl_down(...) ::colm::simt::shflDown(__LINE__, __VA_ARGS__)
#define colm_shfl_xor(...) ::colm::simt::shflXor(__LINE__, __VA_ARGS__)
#define colm_ballot(...) ::colm::simt::ballot(__LINE__, __VA_ARGS__)
#define colm_any(...) ::colm::simt::any(__LINE__, __VA_ARGS__)
#define colm_all(...) ::colm::simt::all(__LINE__, __VA_ARGS__)

#endif

#endif // COLM_CUDA_H
