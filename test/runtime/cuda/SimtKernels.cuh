//===- SimtKernels.cuh - CUDA kernels for the emulator's tests -*- CUDA -*-===//
//
// Valid CUDA (NVRTC compiles them, with colm_cuda.h before them) and valid
// host C++ against the SIMT emulator: the emulator's tests run them on the
// CPU. Each *_LINE constant is the line of the statement a test expects an
// error report to name.
//
//===----------------------------------------------------------------------===//

// Sums each block's share of x: a warp reduction with shuffles, the warps'
// partial sums through shared memory, then warp 0 again.
__global__ void blockSum(const long long *x, long long n, long long *out) {
  __shared__ long long partial[32];
  long long s = 0;
  for (long long i = blockIdx.x * blockDim.x + threadIdx.x; i < n;
       i += gridDim.x * blockDim.x)
    s += x[i];
  for (int d = 16; d > 0; d /= 2)
    s += colm_shfl_down(s, d);
  unsigned warp = threadIdx.x / 32, warps = (blockDim.x + 31) / 32;
  if (colm_lane_id() == 0)
    partial[warp] = s;
  __syncthreads();
  if (warp == 0) {
    s = colm_lane_id() < warps ? partial[colm_lane_id()] : 0;
    for (int d = 16; d > 0; d /= 2)
      s += colm_shfl_down(s, d);
    if (threadIdx.x == 0)
      out[blockIdx.x] = s;
  }
}

// Every warp collective, once per lane: out[8 * t + k].
__global__ void collectives(const int *in, int *out) {
  unsigned t = threadIdx.x;
  int v = in[t];
  out[8 * t + 0] = colm_shfl_idx(v, 3, 16);
  out[8 * t + 1] = colm_shfl_up(v, 2, 16);
  out[8 * t + 2] = colm_shfl_down(v, 5);
  out[8 * t + 3] = colm_shfl_xor(v, 9);
  out[8 * t + 4] = int(colm_ballot(v % 3 == 0));
  out[8 * t + 5] = colm_any(v == 7);
  out[8 * t + 6] = colm_all(v >= 0);
  // Lanes 0-15 only, with their own mask.
  if (colm_lane_id() < 16)
    out[8 * t + 7] = colm_shfl_xor(v, 1, 32, 0x0000ffffu);
  else
    out[8 * t + 7] = -1;
}

// C[n, n] = A[n, n] B[n, n], T x T tiles through shared memory (n a
// multiple of T). With `racy`, the barrier before a tile is overwritten is
// missing: a write-after-read race that a schedule can expose.
template <bool racy, int T = 16>
__device__ void tiledMatmul(const float *a, const float *b, float *c, int n) {
  __shared__ float as[T][T], bs[T][T];
  int row = blockIdx.y * T + threadIdx.y, col = blockIdx.x * T + threadIdx.x;
  float acc = 0.0f;
  for (int k0 = 0; k0 < n; k0 += T) {
    as[threadIdx.y][threadIdx.x] = a[row * n + k0 + threadIdx.x];
    bs[threadIdx.y][threadIdx.x] = b[(k0 + threadIdx.y) * n + col];
    __syncthreads();
    for (int k = 0; k < T; ++k)
      acc += as[threadIdx.y][k] * bs[k][threadIdx.x];
    if (!racy)
      __syncthreads();
  }
  c[row * n + col] = acc;
}
__global__ void matmul(const float *a, const float *b, float *c, int n) {
  tiledMatmul<false>(a, b, c, n);
}
__global__ void matmulRacy(const float *a, const float *b, float *c, int n) {
  tiledMatmul<true>(a, b, c, n);
}
// With 8 x 8 tiles: 64 threads a block, what ThreadSanitizer tracks fully
// (its vector clocks have 256 slots, shared by every thread and fiber).
__global__ void matmulRacy8(const float *a, const float *b, float *c, int n) {
  tiledMatmul<true, 8>(a, b, c, n);
}

// A barrier that only threads 0-15 reach.
constexpr int DIVERGENT_BARRIER_LINE = __LINE__ + 4;
__global__ void divergentBarrier(int *out) {
  out[threadIdx.x] = 1;
  if (threadIdx.x < 16)
    __syncthreads();
}

// Barriers at two lines.
constexpr int SPLIT_BARRIER_LINE = __LINE__ + 4;
__global__ void splitBarrier(int *out) {
  if (threadIdx.x < 32) {
    out[threadIdx.x] = 1;
    __syncthreads();
  } else {
    __syncthreads();
  }
}

// A full-mask shuffle after lanes 16-31 returned.
constexpr int SHUFFLE_DEADLOCK_LINE = __LINE__ + 5;
__global__ void shuffleDeadlock(int *out) {
  int v = threadIdx.x;
  if (colm_lane_id() >= 16)
    return;
  out[threadIdx.x] = colm_shfl_xor(v, 1);
}

// C[m, n] = A[m, k] B[k, n] on tensor cores, bf16 inputs (stored as their
// bit patterns), f32 accumulators: one warp per 16 x 8 tile of C, A and B
// staged through shared memory, A's fragments by ldmatrix.x4, B's by
// ldmatrix.x2.trans (B is row-major [k, n]). `skew` shifts the shared tiles'
// rows by that many elements (a multiple of 8 keeps them 16-byte aligned).
template <int skew>
__device__ void mmaTile(const unsigned short *a, const unsigned short *b,
                        float *c, int n, int k) {
  __shared__ __align__(16) unsigned short as[16][16 + 8 + skew];
  __shared__ __align__(16) unsigned short bs[16][8 + 8 + skew];
  int row0 = blockIdx.y * 16, col0 = blockIdx.x * 8;
  unsigned lane = colm_lane_id();
  float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  for (int k0 = 0; k0 < k; k0 += 16) {
    for (unsigned e = lane; e < 16 * 16; e += 32)
      as[e / 16][e % 16] = a[(row0 + e / 16) * k + k0 + e % 16];
    for (unsigned e = lane; e < 16 * 8; e += 32)
      bs[e / 8][e % 8] = b[(k0 + e / 8) * n + col0 + e % 8];
    __syncthreads();
    // ldmatrix.x4 rows: lanes 0-7 rows 0-7 (k 0-7), 8-15 rows 8-15, 16-23
    // rows 0-7 (k 8-15), 24-31 rows 8-15 (k 8-15): a0..a3's order.
    unsigned af[4], bf[2];
    colm_ldmatrix_x4(af, &as[lane % 16][lane / 16 * 8]);
    colm_ldmatrix_x2_trans(bf, &bs[lane % 16][0]);
    colm_mma_bf16_16816(acc, af, bf, acc);
    __syncthreads();
  }
  unsigned g = lane / 4, t = lane % 4;
  c[(row0 + g) * n + col0 + 2 * t] = acc[0];
  c[(row0 + g) * n + col0 + 2 * t + 1] = acc[1];
  c[(row0 + g + 8) * n + col0 + 2 * t] = acc[2];
  c[(row0 + g + 8) * n + col0 + 2 * t + 1] = acc[3];
}
__global__ void mmaGemm(const unsigned short *a, const unsigned short *b,
                        float *c, int n, int k) {
  mmaTile<0>(a, b, c, n, k);
}
// Rows 2 bytes off a 16-byte boundary: ldmatrix must refuse them.
__global__ void mmaGemmMisaligned(const unsigned short *a,
                                  const unsigned short *b, float *c, int n,
                                  int k) {
  mmaTile<1>(a, b, c, n, k);
}
// Thread 1 uses more stack than a fiber has (it runs into the stack below
// its own, which thread 0 has finished with).
__global__ void stackOverflow(int *out) {
  if (threadIdx.x == 1) {
    volatile char big[72 * 1024];
    for (unsigned i = 0; i < sizeof big; i += 64)
      big[i] = char(i);
    out[0] = big[4096];
  }
}
// The chain GEMM's B operand: stored [n, k] (k contiguous, as its [n][k]
// shared tiles), its fragments by ldmatrix.x2 without .trans.
__global__ void mmaGemmBt(const unsigned short *a, const unsigned short *bt,
                          float *c, int n, int k) {
  __shared__ __align__(16) unsigned short as[16][16 + 8];
  __shared__ __align__(16) unsigned short bs[8][16 + 8];
  int row0 = blockIdx.y * 16, col0 = blockIdx.x * 8;
  unsigned lane = colm_lane_id();
  float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  for (int k0 = 0; k0 < k; k0 += 16) {
    for (unsigned e = lane; e < 16 * 16; e += 32)
      as[e / 16][e % 16] = a[(row0 + e / 16) * k + k0 + e % 16];
    for (unsigned e = lane; e < 8 * 16; e += 32)
      bs[e / 16][e % 16] = bt[(col0 + e / 16) * k + k0 + e % 16];
    __syncthreads();
    // ldmatrix.x2 rows: lanes 0-7 give columns 0-7 at k 0-7 (b0, b1),
    // lanes 8-15 the same columns at k 8-15 (b2, b3).
    unsigned af[4], bf[2];
    colm_ldmatrix_x4(af, &as[lane % 16][lane / 16 * 8]);
    colm_ldmatrix_x2(bf, &bs[lane % 8][(lane / 8) % 2 * 8]);
    colm_mma_bf16_16816(acc, af, bf, acc);
    __syncthreads();
  }
  unsigned g = lane / 4, t = lane % 4;
  c[(row0 + g) * n + col0 + 2 * t] = acc[0];
  c[(row0 + g) * n + col0 + 2 * t + 1] = acc[1];
  c[(row0 + g + 8) * n + col0 + 2 * t] = acc[2];
  c[(row0 + g + 8) * n + col0 + 2 * t + 1] = acc[3];
}
