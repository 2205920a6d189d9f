//===- AdamW.cpp - AdamW over flat parameter memory -----------------------===//

#include "compiler/codegen/AdamW.h"
#include "compiler/codegen/SpecUtil.h"

#include <cmath>
#include <cstdio>

namespace colm::codegen {

std::string AdamWSpec::name() const {
  // The segments are summarised by a short hash: readable, and different
  // whenever the layout is.
  NameHash hash;
  auto mix = [&hash](int64_t v) { hash.mix(v); };
  for (const AdamWSegment &s : segments)
    for (int64_t v : {s.offset, s.size, int64_t(s.decay), int64_t(s.masked)})
      mix(v);
  char buf[128];
  if (mode == AdamWMode::Update)
    std::snprintf(buf, sizeof buf, "adamw_update_s%zu_n%lld_%04llx",
                  segments.size(), (long long)numEntries(), hash.tag());
  else
    std::snprintf(buf, sizeof buf, "adamw_sumsq_s%zu_n%lld_b%lld_%04llx",
                  segments.size(), (long long)numEntries(),
                  (long long)blockSize, hash.tag());
  return buf;
}

int64_t AdamWSpec::numEntries() const {
  int64_t n = 0;
  for (const AdamWSegment &s : segments)
    n += s.size;
  return n;
}

int64_t AdamWSpec::numBlocks() const {
  int64_t n = 0;
  if (blockSize <= 0)
    return 0;
  for (const AdamWSegment &s : segments)
    n += (s.size + blockSize - 1) / blockSize;
  return n;
}

Status validateAdamW(const AdamWSpec &spec) {
  auto bad = [&](const std::string &what) {
    return Status::error(spec.name() + ": " + what);
  };
  if (spec.segments.empty())
    return bad("no segments");
  if (spec.blockSize <= 0)
    return bad("the block size must be positive");
  int64_t next = 0;
  for (size_t i = 0; i < spec.segments.size(); ++i) {
    const AdamWSegment &s = spec.segments[i];
    if (s.size <= 0)
      return bad("segment " + std::to_string(i) + " is empty");
    if (s.offset < next)
      return bad("segment " + std::to_string(i) +
                 " overlaps the one before or is out of order (offset " +
                 std::to_string(s.offset) + ")");
    next = s.offset + s.size;
  }
  return Status::ok();
}

void adamWReference(const AdamWSpec &spec, const ColmAdamWArgs &a) {
  if (spec.mode == AdamWMode::SumSquares) {
    int64_t b = 0;
    for (size_t si = 0; si < spec.segments.size(); ++si) {
      const AdamWSegment &s = spec.segments[si];
      const uint8_t *mask = s.masked ? a.masks[si] : nullptr;
      for (int64_t j0 = 0; j0 < s.size; j0 += spec.blockSize, ++b) {
        double sum = 0;
        for (int64_t j = j0; j < std::min(s.size, j0 + spec.blockSize); ++j)
          if (!mask || mask[j]) {
            double x = a.grad[s.offset + j];
            sum += x * x;
          }
        a.partials[b] = sum;
      }
    }
    return;
  }
  // Optimizer::step's loop, term for term.
  for (size_t si = 0; si < spec.segments.size(); ++si) {
    const AdamWSegment &s = spec.segments[si];
    const uint8_t *mask = s.masked ? a.masks[si] : nullptr;
    double wd = s.decay ? a.weight_decay : 0.0;
    for (int64_t j = 0; j < s.size; ++j) {
      if (mask && !mask[j])
        continue;
      int64_t e = s.offset + j;
      double pj = a.param[e];
      double gj = static_cast<double>(a.grad[e]) * a.grad_scale;
      pj -= a.lr * wd * pj;
      float m =
          static_cast<float>(a.beta1 * a.exp_avg[e] + (1.0 - a.beta1) * gj);
      float v = static_cast<float>(a.beta2 * a.exp_avg_sq[e] +
                                   (1.0 - a.beta2) * gj * gj);
      a.exp_avg[e] = m;
      a.exp_avg_sq[e] = v;
      double mHat = m / a.bias_correction1;
      double vHat = v / a.bias_correction2;
      pj -= a.lr * mHat / (std::sqrt(vHat) + a.eps);
      a.param[e] = static_cast<float>(pj);
    }
  }
}

double adamWSumSquaresReference(const AdamWSpec &spec, const ColmAdamWArgs &a) {
  double sum = 0;
  for (size_t si = 0; si < spec.segments.size(); ++si) {
    const AdamWSegment &s = spec.segments[si];
    const uint8_t *mask = s.masked ? a.masks[si] : nullptr;
    for (int64_t j = 0; j < s.size; ++j)
      if (!mask || mask[j]) {
        double x = a.grad[s.offset + j];
        sum += x * x;
      }
  }
  return sum;
}

std::string adamWSegmentTable(const AdamWSpec &spec, int64_t &entries,
                              int64_t &blocks) {
  std::string table;
  entries = blocks = 0;
  for (const AdamWSegment &s : spec.segments) {
    table += "{" + std::to_string(s.offset) + "LL, " + std::to_string(s.size) +
             "LL, " + (s.decay ? "true" : "false") + ", " +
             (s.masked ? "true" : "false") + ", " + std::to_string(entries) +
             "LL, " + std::to_string(blocks) + "LL}, ";
    entries += s.size;
    blocks += (s.size + spec.blockSize - 1) / spec.blockSize;
  }
  return table;
}

} // namespace colm::codegen
