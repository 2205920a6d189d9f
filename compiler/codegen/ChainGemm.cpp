//===- ChainGemm.cpp - The block-skipping chain GEMM kernel ---------------===//

#include "compiler/codegen/ChainGemm.h"
#include "compiler/codegen/Pointwise.h"
#include "compiler/codegen/SpecUtil.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <numeric>

namespace colm::codegen {
namespace {

/// Where chain i (0-based) of a dimension split by `chains` begins.
int64_t prefix(const std::vector<int64_t> &chains, int64_t dim, size_t i) {
  return prefixWidth(chains, dim, i);
}

const char *useName(GemmUse use) {
  switch (use) {
  case GemmUse::Forward:
    return "fwd";
  case GemmUse::InputGrad:
    return "dx";
  case GemmUse::WeightGrad:
    return "dw";
  case GemmUse::Dense:
    return "dense";
  }
  return "?";
}

} // namespace

std::string ChainGemmSpec::name() const {
  // The blocks are summarised by a short hash: the name stays readable and
  // still differs whenever the structure does.
  NameHash hash;
  auto mix = [&hash](int64_t v) { hash.mix(v); };
  for (const GemmBlock &b : blocks)
    for (int64_t v : {b.nBegin, b.nEnd, b.kBegin, b.kEnd, b.mBegin, b.mEnd,
                      int64_t(b.group)})
      mix(v);
  for (int64_t v : groupColumns)
    mix(v);
  for (int64_t v : normBounds)
    mix(v);
  if (ropeProducts) {
    int64_t bits;
    std::memcpy(&bits, &ropeTheta, sizeof bits);
    for (int64_t v : {int64_t(ropeProducts), ropeHeadDim, bits})
      mix(v);
  }
  if (!normBounds.empty()) {
    int64_t bits;
    std::memcpy(&bits, &normEps, sizeof bits);
    mix(bits);
  }
  for (int64_t v :
       {m, int64_t(aTransposed), int64_t(bTransposed), int64_t(accumulate)})
    mix(v);
  if (addend)
    mix(0xadd);
  if (swiglu != SwiGluEpilogue::None)
    mix(swiglu == SwiGluEpilogue::Forward ? 0x5e1 : 0x5e2);
  if (bf16)
    mix(0xbf16);
  if (bBf16)
    mix(0xb16);
  auto dim = [](int64_t v) {
    return v < 0 ? std::string("d") : std::to_string(v);
  };
  std::string grouped =
      std::string(normBounds.empty() ? "" : "_norm") +
      (ropeProducts ? "_rope" : "") +
      (groupColumns.empty() ? std::string()
                            : "_g" + std::to_string(groupColumns.size()));
  // The CUDA tile only when it is not the default (older names unchanged).
  std::string tile;
  if (knobs.cuda.cublas)
    tile = "_cublaslt";
  else if (knobs.cuda != CudaGemmTile{})
    tile = "_t" + std::to_string(knobs.cuda.bm) + "x" +
           std::to_string(knobs.cuda.bn) + "x" + std::to_string(knobs.cuda.bk);
  char buf[192];
  std::snprintf(buf, sizeof buf,
                "gemm_%s%s%s%s%s_m%s_n%lld_k%s_b%zu_%dx%d_kc%d_mc%d%s_%04llx",
                useName(use), grouped.c_str(), addend ? "_add" : "",
                swiglu == SwiGluEpilogue::Forward    ? "_swiglu"
                : swiglu == SwiGluEpilogue::Backward ? "_swiglu_grad"
                                                     : "",
                bBf16  ? "_bf16w"
                : bf16 ? "_bf16"
                       : "",
                dim(m).c_str(), (long long)n, dim(k).c_str(), blocks.size(),
                knobs.mr, knobs.nr, knobs.kc, knobs.mc, tile.c_str(),
                hash.tag());
  return buf;
}

std::string ChainGemmSpec::shapeKey() const {
  // Written out in full (no hash): two specs share tuned knobs only if they
  // are the same kernel, and a person can read what was tuned.
  auto dim = [](int64_t v) {
    return v < 0 ? std::string("d") : std::to_string(v);
  };
  std::string key = std::string(useName(use)) + " m=" + dim(m) +
                    " n=" + std::to_string(n) + " k=" + dim(k) +
                    " at=" + (aTransposed ? "1" : "0") +
                    " bt=" + (bTransposed ? "1" : "0") +
                    " acc=" + (accumulate ? "1" : "0") + " blocks=";
  for (size_t i = 0; i < blocks.size(); ++i) {
    const GemmBlock &b = blocks[i];
    key += (i ? "," : "") + std::to_string(b.nBegin) + "-" +
           std::to_string(b.nEnd) + ":" + std::to_string(b.kBegin) + "-" +
           dim(b.kEnd) + ":" + std::to_string(b.mBegin) + "-" + dim(b.mEnd);
  }
  for (size_t g = 0; g < groupColumns.size(); ++g)
    key += (g ? "," : " groups=") + std::to_string(groupColumns[g]);
  return key;
}

double ChainGemmSpec::multiplyAddsPerRow() const {
  double total = 0;
  for (const GemmBlock &b : blocks) {
    double cols = double(b.nEnd - b.nBegin);
    double red = b.kEnd < 0 ? 1.0 : double(b.kEnd - b.kBegin);
    double rows = b.mEnd < 0 ? 1.0 : double(b.mEnd - b.mBegin);
    total += cols * red * rows;
  }
  return total;
}

ChainGemmSpec chainLinearForward(const std::vector<int64_t> &chains, int64_t in,
                                 int64_t out) {
  ChainGemmSpec s;
  s.use = GemmUse::Forward;
  s.m = -1;
  s.n = out;
  s.k = in;
  s.bTransposed = true; // W is [out, in]
  for (size_t i = 0; i < chains.size(); ++i)
    s.blocks.push_back({prefix(chains, out, i), prefix(chains, out, i + 1), 0,
                        prefix(chains, in, i + 1), 0, -1});
  return s;
}

ChainGemmSpec chainLinearInputGrad(const std::vector<int64_t> &chains,
                                   int64_t in, int64_t out) {
  ChainGemmSpec s;
  s.use = GemmUse::InputGrad;
  s.m = -1;
  s.n = in;
  s.k = out;
  s.bTransposed = false; // W[out, in] is B[K, N]
  for (size_t j = 0; j < chains.size(); ++j)
    s.blocks.push_back({prefix(chains, in, j), prefix(chains, in, j + 1),
                        prefix(chains, out, j), out, 0, -1});
  return s;
}

ChainGemmSpec chainLinearWeightGrad(const std::vector<int64_t> &chains,
                                    int64_t in, int64_t out,
                                    unsigned fromChain) {
  size_t frozen =
      std::min<size_t>(fromChain > 1 ? fromChain - 1 : 0, chains.size());
  int64_t frozenRows = prefix(chains, out, frozen);
  ChainGemmSpec s;
  s.use = GemmUse::WeightGrad;
  s.m = out;
  s.n = in;
  s.k = -1;              // the tokens
  s.aTransposed = true;  // dY[tokens, out] is A^T
  s.bTransposed = false; // X[tokens, in] is B[K, N]
  for (size_t j = 0; j < chains.size(); ++j)
    s.blocks.push_back({prefix(chains, in, j), prefix(chains, in, j + 1), 0, -1,
                        std::max(prefix(chains, out, j), frozenRows), out});
  return s;
}

ChainGemmSpec denseGemm(int64_t n, int64_t k, bool bTransposed) {
  ChainGemmSpec s;
  s.use = GemmUse::Dense;
  s.m = -1;
  s.n = n;
  s.k = k;
  s.bTransposed = bTransposed;
  s.blocks.push_back({0, n, 0, k, 0, -1});
  return s;
}

ChainGemmSpec groupGemms(const std::vector<ChainGemmSpec> &products) {
  ChainGemmSpec s = products.front();
  s.n = 0;
  s.blocks.clear();
  for (size_t g = 0; g < products.size(); ++g) {
    for (GemmBlock b : products[g].blocks) {
      b.nBegin += s.n;
      b.nEnd += s.n;
      b.group = static_cast<int>(g);
      s.blocks.push_back(b);
    }
    s.groupColumns.push_back(products[g].n);
    s.n += products[g].n;
  }
  return s;
}

int64_t groupStart(const ChainGemmSpec &spec, int g) {
  int64_t start = 0;
  for (int i = 0; i < g && i < static_cast<int>(spec.groupColumns.size()); ++i)
    start += spec.groupColumns[i];
  return start;
}

void setContiguousGroups(const ChainGemmSpec &spec, ColmGemmArgs &args) {
  for (size_t g = 1; g < spec.groupColumns.size(); ++g) {
    int64_t start = groupStart(spec, static_cast<int>(g));
    args.gb[g - 1] = args.b + start * args.ldb;
    args.gc[g - 1] = args.c + start;
    args.gldb[g - 1] = args.ldb;
    args.gldc[g - 1] = args.ldc;
  }
}

namespace {

Status validateGroups(const ChainGemmSpec &s) {
  auto bad = [&](const std::string &what) {
    return Status::error(s.name() + ": " + what);
  };
  if (s.groupColumns.empty()) {
    for (const GemmBlock &b : s.blocks)
      if (b.group != 0)
        return bad("a block of a product other than the first in a GEMM "
                   "that is not grouped");
    return Status::ok();
  }
  size_t groups = s.groupColumns.size();
  if (groups < 2 || groups > COLM_GEMM_MAX_GROUPS)
    return bad("a grouped GEMM holds 2 to " +
               std::to_string(COLM_GEMM_MAX_GROUPS) + " products");
  int64_t total = 0;
  for (int64_t cols : s.groupColumns) {
    if (cols <= 0)
      return bad("a product of a grouped GEMM has no columns");
    if (__builtin_add_overflow(total, cols, &total))
      return bad("the products' columns do not add up to N");
  }
  if (total != s.n)
    return bad("the products' columns do not add up to N");
  for (const GemmBlock &b : s.blocks) {
    if (b.group < 0 || b.group >= static_cast<int>(groups))
      return bad("a block's product is out of range");
    int64_t start = groupStart(s, b.group);
    if (b.nBegin < start || b.nEnd > start + s.groupColumns[b.group])
      return bad("a block crosses the columns of its product");
  }
  if (!s.bTransposed || s.aTransposed || s.accumulate || s.addend ||
      s.swiglu == SwiGluEpilogue::Backward)
    return bad("a grouped GEMM is a forward product (B stored [N, K]) "
               "without accumulate, an addend or a SwiGLU gradient");
  if (s.swiglu == SwiGluEpilogue::Forward) {
    // Gate and up: the same blocks, shifted by the gate's columns.
    std::vector<GemmBlock> gate, up;
    for (const GemmBlock &b : s.blocks)
      (b.group == 0 ? gate : up).push_back(b);
    bool same = groups == 2 && gate.size() == up.size() &&
                s.groupColumns[0] == s.groupColumns[1];
    for (size_t i = 0; same && i < gate.size(); ++i) {
      GemmBlock shifted = gate[i];
      shifted.nBegin += s.groupColumns[0];
      shifted.nEnd += s.groupColumns[0];
      shifted.group = 1;
      same = shifted == up[i];
    }
    if (!same)
      return bad("a grouped SwiGLU needs two products (gate and up) of the "
                 "same blocks");
  }
  return Status::ok();
}

} // namespace

Status validateChainGemm(const ChainGemmSpec &s) {
  auto bad = [&](const std::string &what) {
    return Status::error(s.name() + ": " + what);
  };
  if (s.n <= 0)
    return bad("N must be positive");
  if ((s.m < 0) == (s.k < 0) && !(s.m > 0 && s.k > 0))
    return bad("exactly one of M and K may be dynamic (-1)");
  if (s.m == 0 || s.k == 0)
    return bad("M and K must be positive or dynamic");
  if (s.blocks.empty())
    return bad("no blocks");
  int64_t next = 0;
  for (const GemmBlock &b : s.blocks) {
    if (b.nBegin != next || b.nEnd <= b.nBegin)
      return bad("blocks must cover the columns in order without gaps");
    next = b.nEnd;
    if (b.kBegin < 0 || (s.k < 0 && b.kBegin != 0) ||
        (s.k >= 0 && b.kBegin > (b.kEnd < 0 ? s.k : b.kEnd)) ||
        (s.k >= 0 && b.kEnd > s.k) || (s.k < 0 && b.kEnd >= 0))
      return bad("a block's reduction range is outside K (a dynamic K is "
                 "reduced whole)");
    if (b.mBegin < 0 || (s.m < 0 && b.mBegin != 0) ||
        (s.m >= 0 && b.mBegin > (b.mEnd < 0 ? s.m : b.mEnd)) ||
        (s.m >= 0 && b.mEnd > s.m) || (s.m < 0 && b.mEnd >= 0))
      return bad("a block's row range is outside M (a dynamic M is kept "
                 "whole)");
  }
  if (next != s.n)
    return bad("blocks must cover all N columns");
  if (s.bBf16 && (!s.bf16 || !s.bTransposed))
    return bad("bf16 weights need a bf16 spec with B stored [N, K]");
  bool epilogue = s.addend || s.swiglu != SwiGluEpilogue::None;
  if (s.addend && s.swiglu != SwiGluEpilogue::None)
    return bad("an addend and a SwiGLU epilogue exclude each other");
  if (epilogue && s.accumulate)
    return bad("an epilogue and accumulate exclude each other");
  if (epilogue)
    for (const GemmBlock &b : s.blocks)
      if (b.mBegin != 0 || (b.mEnd >= 0 && b.mEnd != s.m))
        return bad("an epilogue needs every block to write every row");
  if (Status g = validateGroups(s); !g)
    return g;
  if (!s.normBounds.empty()) {
    bool ordered = s.normBounds.size() >= 2 && s.normBounds.front() == 0 &&
                   s.normBounds.back() == s.k;
    for (size_t i = 1; ordered && i < s.normBounds.size(); ++i)
      ordered = s.normBounds[i] > s.normBounds[i - 1];
    if (s.aTransposed || s.k <= 0 || !ordered || !(s.normEps >= 0))
      return bad("a norm prologue needs A stored [M, K], a static K, "
                 "statistics groups from 0 to K in order and eps >= 0");
  }
  if (s.ropeProducts) {
    size_t products = std::max<size_t>(1, s.groupColumns.size());
    bool fits = s.ropeHeadDim > 0 && s.ropeHeadDim % 2 == 0 &&
                s.ropeTheta > 0 && (s.ropeProducts >> products) == 0;
    for (size_t g = 0; fits && g < products; ++g)
      if (s.ropeProducts >> g & 1)
        fits = (s.groupColumns.empty() ? s.n : s.groupColumns[g]) %
                   s.ropeHeadDim ==
               0;
    if (!fits || !s.bTransposed || s.aTransposed || epilogue || s.accumulate)
      return bad("a RoPE epilogue needs an even head size that divides the "
                 "rotated products' columns, a positive theta, a forward "
                 "product and no other epilogue");
    for (const GemmBlock &b : s.blocks)
      if (b.mBegin != 0 || b.mEnd >= 0)
        return bad("a RoPE epilogue needs every block to write every row");
  }
  const GemmKnobs &k = s.knobs;
  if (k.mr < 1 || k.mr > 16 || k.nr < 8 || k.nr > 64 || k.nr % 8 != 0 ||
      k.kc < 16 || k.kc > 4096 || k.mc < k.mr || k.mc % k.mr != 0)
    return bad("unsupported knobs (mr 1..16, nr a multiple of 8 up to 64, kc "
               "16..4096, mc a multiple of mr)");
  const CudaGemmTile &t = k.cuda;
  if ((t.bm != 64 && t.bm != 128) || t.bn < 16 || t.bn > 128 ||
      t.bn % 16 != 0 || (t.bk != 16 && t.bk != 32 && t.bk != 64))
    return bad("unsupported CUDA tile " + std::to_string(t.bm) + "x" +
               std::to_string(t.bn) + "x" + std::to_string(t.bk) +
               " (rows 64 or 128, columns a multiple of 16 up to 128, "
               "reduction step 16, 32 or 64)");
  if (t.cublas && !libraryEligible(s))
    return bad("cuBLASLt runs dense products without prologue or epilogue "
               "only");
  return Status::ok();
}

bool libraryEligible(const ChainGemmSpec &s) {
  if (s.blocks.size() != 1 || !s.groupColumns.empty() ||
      !s.normBounds.empty() || s.ropeProducts || s.addend ||
      s.swiglu != SwiGluEpilogue::None || s.bBf16)
    return false;
  const GemmBlock &b = s.blocks[0];
  auto whole = [](int64_t begin, int64_t end, int64_t size) {
    return begin == 0 && (end < 0 || end == size);
  };
  return b.nBegin == 0 && b.nEnd == s.n && whole(b.kBegin, b.kEnd, s.k) &&
         whole(b.mBegin, b.mEnd, s.m);
}

float roundToBf16(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) {
    u |= 0x00400000u; // quiet: truncation must not make a NaN infinite
  } else {
    u += 0x7fffu + ((u >> 16) & 1u);
  }
  u &= 0xffff0000u;
  std::memcpy(&x, &u, 4);
  return x;
}

uint16_t toBf16Bits(float x) {
  float r = roundToBf16(x);
  uint32_t u;
  std::memcpy(&u, &r, 4);
  return static_cast<uint16_t>(u >> 16);
}

float fromBf16Bits(uint16_t h) {
  uint32_t u = uint32_t(h) << 16;
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}

void chainGemmReference(const ChainGemmSpec &s, const ColmGemmArgs &args) {
  int64_t M = s.m < 0 ? args.m : s.m, K = s.k < 0 ? args.k : s.k;
  auto read = [&](float v) { return double(s.bf16 ? roundToBf16(v) : v); };
  // A norm prologue: the normalised rows, as the norm's reference makes them.
  std::vector<float> normalised;
  if (!s.normBounds.empty()) {
    normalised.resize(size_t(M * K));
    ChainNormSpec norm;
    norm.width = K;
    norm.groupBounds = s.normBounds;
    norm.eps = s.normEps;
    std::vector<float> x(size_t(M * K));
    for (int64_t i = 0; i < M; ++i)
      std::memcpy(&x[i * K], args.a + i * args.lda, size_t(K) * sizeof(float));
    ColmNormArgs n{x.data(), args.gain, nullptr, normalised.data(),
                   nullptr,  nullptr,   M};
    chainNormReference(norm, n);
    if (args.an)
      std::memcpy(args.an, normalised.data(),
                  normalised.size() * sizeof(float));
  }
  auto a = [&](int64_t i, int64_t p) {
    if (!normalised.empty())
      return read(normalised[i * K + p]);
    return read(s.aTransposed ? args.a[p * args.lda + i]
                              : args.a[i * args.lda + p]);
  };
  for (const GemmBlock &blk : s.blocks) {
    // The block's product: its B and C, columns from its first.
    const float *B = blk.group ? args.gb[blk.group - 1] : args.b;
    float *C = blk.group ? args.gc[blk.group - 1] : args.c;
    int64_t ldb = blk.group ? args.gldb[blk.group - 1] : args.ldb;
    int64_t ldc = blk.group ? args.gldc[blk.group - 1] : args.ldc;
    int64_t start = groupStart(s, blk.group);
    auto b = [&](int64_t p, int64_t j) {
      if (s.bBf16)
        return double(
            fromBf16Bits(reinterpret_cast<const uint16_t *>(B)[j * ldb + p]));
      return read(s.bTransposed ? B[j * ldb + p] : B[p * ldb + j]);
    };
    int64_t kEnd = blk.kEnd < 0 ? K : blk.kEnd;
    int64_t mEnd = blk.mEnd < 0 ? M : blk.mEnd;
    for (int64_t i = blk.mBegin; i < mEnd; ++i)
      for (int64_t j = blk.nBegin - start; j < blk.nEnd - start; ++j) {
        double acc = s.accumulate ? double(C[i * ldc + j]) : 0.0;
        for (int64_t p = blk.kBegin; p < kEnd; ++p)
          acc += a(i, p) * b(p, j);
        float product = static_cast<float>(acc);
        float *c = C + i * ldc + j;
        if (!s.groupColumns.empty() && s.swiglu != SwiGluEpilogue::None &&
            blk.group == 0) {
          *c = product; // the gate, read by up's epilogue
          continue;
        }
        *c = s.addend ? product + args.r[i * args.ldr + j] : product;
        if (s.swiglu == SwiGluEpilogue::None)
          continue;
        int64_t e = i * args.lde + j;
        double p = product, g = args.g[e], sg = 1.0 / (1.0 + std::exp(-g));
        if (s.swiglu == SwiGluEpilogue::Forward) {
          if (args.c2)
            args.c2[e] = product;
          *c = static_cast<float>(g * sg * p);
        } else {
          double u = args.u[e];
          *c = static_cast<float>(p * u * sg * (1.0 + g * (1.0 - sg)));
          args.c2[e] = static_cast<float>(p * g * sg);
        }
      }
  }
  // A RoPE epilogue: the rotated products' finished rows through the RoPE
  // reference.
  for (int g = 0; g < std::max<int>(1, int(s.groupColumns.size())); ++g) {
    if (!(s.ropeProducts >> g & 1))
      continue;
    float *C = g ? args.gc[g - 1] : args.c;
    int64_t ldc = g ? args.gldc[g - 1] : args.ldc;
    RopeSpec rope;
    rope.width = s.groupColumns.empty() ? s.n : s.groupColumns[g];
    rope.headDim = s.ropeHeadDim;
    rope.theta = s.ropeTheta;
    std::vector<float> rows(size_t(M * rope.width));
    for (int64_t i = 0; i < M; ++i)
      std::memcpy(&rows[i * rope.width], C + i * ldc,
                  size_t(rope.width) * sizeof(float));
    ColmRopeArgs ra{rows.data(), args.positions, rows.data(), M};
    ropeReference(rope, ra);
    for (int64_t i = 0; i < M; ++i)
      std::memcpy(C + i * ldc, &rows[i * rope.width],
                  size_t(rope.width) * sizeof(float));
  }
}

} // namespace colm::codegen
