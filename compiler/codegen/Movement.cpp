//===- Movement.cpp - The data-movement kernels of a training graph -------===//

#include "compiler/codegen/Movement.h"
#include "compiler/codegen/SpecUtil.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <numeric>

namespace colm::codegen {
//===----------------------------------------------------------------------===//
// Embedding
//===----------------------------------------------------------------------===//

std::string EmbedSpec::name() const {
  char buf[128];
  if (backward)
    std::snprintf(buf, sizeof buf, "embed_bwd_v%lld_w%lld_d%lld",
                  (long long)vocab, (long long)width, (long long)dBegin);
  else
    std::snprintf(buf, sizeof buf, "embed_fwd_v%lld_w%lld", (long long)vocab,
                  (long long)width);
  return buf;
}

EmbedSpec embedGrad(int64_t vocab, int64_t width,
                    const std::vector<int64_t> &chains, unsigned fromChain) {
  EmbedSpec s{vocab, width, true, 0};
  // InterpreterGrad's trainable(from_chain, chainAt(layout, width, j)): an
  // unchained table is chain 1 throughout.
  if (fromChain > 1)
    s.dBegin =
        chains.empty()
            ? width
            : prefixWidth(chains, width,
                          std::min<size_t>(fromChain - 1, chains.size()));
  return s;
}

Status validateEmbed(const EmbedSpec &s) {
  if (s.vocab <= 0 || s.vocab > std::numeric_limits<int32_t>::max())
    return Status::error("embed: vocabulary " + std::to_string(s.vocab));
  if (s.width <= 0)
    return Status::error("embed: width " + std::to_string(s.width));
  if (s.dBegin < 0 || s.dBegin > s.width || (!s.backward && s.dBegin != 0))
    return Status::error("embed " + s.name() + ": dBegin " +
                         std::to_string(s.dBegin));
  return Status::ok();
}

void embedReference(const EmbedSpec &s, const ColmEmbedArgs &a) {
  int64_t w = s.width;
  if (!s.backward) {
    for (int64_t r = 0; r < a.rows; ++r) {
      int64_t id = a.tokens[r];
      for (int64_t j = 0; j < w; ++j)
        a.y[r * w + j] = id >= 0 && id < s.vocab
                             ? a.table[id * w + j]
                             : std::numeric_limits<float>::quiet_NaN();
    }
    return;
  }
  std::vector<double> acc(s.vocab * w, 0.0);
  for (int64_t r = 0; r < a.rows; ++r) {
    int64_t id = a.tokens[r];
    if (id < 0 || id >= s.vocab)
      continue;
    for (int64_t j = s.dBegin; j < w; ++j)
      acc[id * w + j] += a.dy[r * w + j];
  }
  for (int64_t i = 0; i < s.vocab * w; ++i)
    a.dtable[i] = float(acc[i]);
}

//===----------------------------------------------------------------------===//
// Add and mul
//===----------------------------------------------------------------------===//

std::string ElementwiseSpec::name() const {
  return std::string(op == Op::Mul ? "mul" : "add") + "_w" +
         std::to_string(width);
}

Status validateElementwise(const ElementwiseSpec &s) {
  if (s.op != ElementwiseSpec::Op::Add && s.op != ElementwiseSpec::Op::Mul)
    return Status::error("elementwise: unknown op");
  if (s.width <= 0)
    return Status::error("elementwise: width " + std::to_string(s.width));
  return Status::ok();
}

void elementwiseReference(const ElementwiseSpec &s,
                          const ColmElementwiseArgs &a) {
  bool mul = s.op == ElementwiseSpec::Op::Mul;
  for (int64_t i = 0; i < a.rows * s.width; ++i) {
    double x = a.a[i], y = a.b[i];
    a.y[i] = float(mul ? x * y : x + y);
  }
}

//===----------------------------------------------------------------------===//
// Strided copy
//===----------------------------------------------------------------------===//

std::string CopySpec::name() const {
  char buf[128];
  std::snprintf(buf, sizeof buf, "copy_w%lld_s%lld_d%lld_o%lld%s",
                (long long)width, (long long)srcStride, (long long)dstStride,
                (long long)dstOffset, zeroRest ? "_z" : "");
  return buf;
}

Status validateCopy(const CopySpec &s) {
  if (s.width <= 0)
    return Status::error("copy: width " + std::to_string(s.width));
  if (s.srcStride < s.width)
    return Status::error("copy " + s.name() +
                         ": the source stride is below the width");
  int64_t end = 0;
  if (s.dstOffset < 0 || __builtin_add_overflow(s.dstOffset, s.width, &end) ||
      s.dstStride < end)
    return Status::error("copy " + s.name() +
                         ": the columns do not fit the destination stride");
  return Status::ok();
}

void copyReference(const CopySpec &s, const ColmCopyArgs &a) {
  for (int64_t r = 0; r < a.rows; ++r) {
    float *dst = a.y + r * s.dstStride;
    if (s.zeroRest)
      for (int64_t j = 0; j < s.dstStride; ++j)
        dst[j] = 0.0f;
    for (int64_t j = 0; j < s.width; ++j)
      dst[s.dstOffset + j] = a.x[r * s.srcStride + j];
  }
}

//===----------------------------------------------------------------------===//
// Weighted sum
//===----------------------------------------------------------------------===//

std::string WeightedSumSpec::name() const {
  NameHash h;
  for (double w : weights)
    h.mix(w);
  char buf[64];
  std::snprintf(buf, sizeof buf, "wsum_n%zu_%04llx", weights.size(), h.tag());
  return buf;
}

Status validateWeightedSum(const WeightedSumSpec &s) {
  if (s.weights.empty())
    return Status::error("weighted sum: no inputs");
  for (double w : s.weights)
    if (!std::isfinite(w))
      return Status::error("weighted sum " + s.name() +
                           ": a weight is not finite");
  return Status::ok();
}

void weightedSumReference(const WeightedSumSpec &s,
                          const ColmWeightedSumArgs &a) {
  double sum = 0;
  for (size_t i = 0; i < s.weights.size(); ++i) {
    double term = s.weights[i] * a.inputs[i]; // own statement: no FMA
    sum += term;
  }
  if (a.out)
    a.out[0] = float(sum);
  if (a.outDouble)
    a.outDouble[0] = sum;
}

} // namespace colm::codegen
