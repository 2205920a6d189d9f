//===- RenderAdamW.cpp - AdamW over flat memory as host C++ ---------------===//

#include "compiler/codegen/cpu/RenderAdamW.h"
#include "compiler/codegen/cpu/RenderUtil.h"

#include <string>

namespace colm::codegen::cpu {
namespace {

// The segment table arrives as constants. Contraction is off: the host
// compiler would otherwise fuse b1 * m + (1 - b1) * g into an FMA under
// -march=native, and the bits would no longer be runtime/Optimizer's.
const char *kBody = R"CPP(
#include <math.h>

namespace {

struct Segment {
  int64_t offset, size;
  bool decay, masked;
  int64_t start;      // index in the segments' concatenation
  int64_t firstBlock; // SumSquares: the index of its first block
};

static const Segment kSegments[] = {@SEGMENTS@};
constexpr int kNumSegments = sizeof(kSegments) / sizeof(kSegments[0]);
constexpr int64_t kEntries = @ENTRIES@, kBlocks = @BLOCKS@, kBlock = @BLOCK@;

#pragma clang fp contract(off)

// Entries [j0, j1) of segment s.
template <bool Masked, bool Decay>
void update(const ColmAdamWArgs &a, const Segment &s, const uint8_t *mask,
            int64_t j0, int64_t j1) {
  float *p = a.param + s.offset;
  const float *g = a.grad + s.offset;
  float *ma = a.exp_avg + s.offset;
  float *va = a.exp_avg_sq + s.offset;
  const double lr = a.lr, b1 = a.beta1, b2 = a.beta2, eps = a.eps;
  const double wd = Decay ? a.weight_decay : 0.0;
  const double scale = a.grad_scale, bc1 = a.bias_correction1,
               bc2 = a.bias_correction2;
  for (int64_t j = j0; j < j1; ++j) {
    if (Masked && !mask[j])
      continue;
    double pj = p[j];
    double gj = (double)g[j] * scale;
    pj -= lr * wd * pj;
    float m = (float)(b1 * ma[j] + (1.0 - b1) * gj);
    float v = (float)(b2 * va[j] + (1.0 - b2) * gj * gj);
    ma[j] = m;
    va[j] = v;
    double mHat = m / bc1;
    double vHat = v / bc2;
    pj -= lr * mHat / (sqrt(vHat) + eps);
    p[j] = (float)pj;
  }
}

template <bool Masked>
double blockSum(const float *g, const uint8_t *mask, int64_t n) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t j = 0;
  for (; j + 8 <= n; j += 8)
    for (int l = 0; l < 8; ++l) {
      double x = g[j + l];
      if (!Masked || mask[j + l])
        acc[l] += x * x;
    }
  for (int l = 0; j + l < n; ++l) {
    double x = g[j + l];
    if (!Masked || mask[j + l])
      acc[l] += x * x;
  }
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) +
         ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

} // namespace

extern "C" void @SYMBOL@(const void *argp, int thread, int threads) {
  const ColmAdamWArgs &a = *(const ColmAdamWArgs *)argp;
  if (@SUMSQ@) {
    // Blocks [B t / T, B (t+1) / T): each partial has one writer.
    int64_t b0 = kBlocks * thread / threads,
            b1 = kBlocks * (thread + 1) / threads;
    for (int si = 0; si < kNumSegments; ++si) {
      const Segment &s = kSegments[si];
      int64_t nb = (s.size + kBlock - 1) / kBlock;
      int64_t lo = b0 > s.firstBlock ? b0 : s.firstBlock;
      int64_t hi = b1 < s.firstBlock + nb ? b1 : s.firstBlock + nb;
      for (int64_t b = lo; b < hi; ++b) {
        int64_t j0 = (b - s.firstBlock) * kBlock;
        int64_t n = s.size - j0 < kBlock ? s.size - j0 : kBlock;
        const float *g = a.grad + s.offset + j0;
        a.partials[b] = s.masked ? blockSum<true>(g, a.masks[si] + j0, n)
                                 : blockSum<false>(g, nullptr, n);
      }
    }
    return;
  }
  // Contiguous shares of the concatenation, in whole 16-entry pieces.
  int64_t pieces = (kEntries + 15) / 16;
  int64_t e0 = pieces * thread / threads * 16,
          e1 = pieces * (thread + 1) / threads * 16;
  if (e1 > kEntries)
    e1 = kEntries;
  for (int si = 0; si < kNumSegments; ++si) {
    const Segment &s = kSegments[si];
    int64_t j0 = e0 - s.start, j1 = e1 - s.start;
    if (j0 < 0)
      j0 = 0;
    if (j1 > s.size)
      j1 = s.size;
    if (j0 >= j1)
      continue;
    const uint8_t *mask = s.masked ? a.masks[si] : nullptr;
    if (s.masked)
      s.decay ? update<true, true>(a, s, mask, j0, j1)
              : update<true, false>(a, s, mask, j0, j1);
    else
      s.decay ? update<false, true>(a, s, mask, j0, j1)
              : update<false, false>(a, s, mask, j0, j1);
  }
}
)CPP";

} // namespace

std::string adamWSymbol(const AdamWSpec &spec) { return "colm_" + spec.name(); }

std::string renderAdamW(const AdamWSpec &spec) {
  std::string segments;
  int64_t start = 0, block = 0;
  for (const AdamWSegment &s : spec.segments) {
    segments += "{" + std::to_string(s.offset) + "LL, " +
                std::to_string(s.size) + "LL, " + (s.decay ? "true" : "false") +
                ", " + (s.masked ? "true" : "false") + ", " +
                std::to_string(start) + "LL, " + std::to_string(block) +
                "LL}, ";
    start += s.size;
    block += (s.size + spec.blockSize - 1) / spec.blockSize;
  }
  std::string body = kBody;
  replaceAll(body, "@SYMBOL@", adamWSymbol(spec));
  replaceAll(body, "@SEGMENTS@", segments);
  replaceAll(body, "@ENTRIES@", std::to_string(start) + "LL");
  replaceAll(body, "@BLOCKS@", std::to_string(block) + "LL");
  replaceAll(body, "@BLOCK@", std::to_string(spec.blockSize) + "LL");
  replaceAll(body, "@SUMSQ@",
             spec.mode == AdamWMode::SumSquares ? "true" : "false");
  return "// Generated by colm: " + spec.name() +
         "\n#include <stdint.h>\n#include <stddef.h>\n" +
         COLM_STRINGIFY(COLM_ADAMW_ARGS_STRUCT) + "\n" + body;
}

} // namespace colm::codegen::cpu
