//===- Pointwise.cpp - The row-wise kernels of a CoLM layer ---------------===//

#include "compiler/codegen/Pointwise.h"
#include "compiler/codegen/SpecUtil.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <numeric>

namespace colm::codegen {
//===----------------------------------------------------------------------===//
// Chain norm
//===----------------------------------------------------------------------===//

std::string ChainNormSpec::name() const {
  NameHash h;
  for (int64_t b : groupBounds)
    h.mix(uint64_t(b));
  h.mix(eps);
  h.mix(uint64_t(dgainBegin));
  char buf[128];
  std::snprintf(buf, sizeof buf, "norm_%s_w%lld_g%zu_%04llx",
                backward ? "bwd" : "fwd", (long long)width,
                groupBounds.empty() ? size_t(0) : groupBounds.size() - 1,
                h.tag());
  return buf;
}

ChainNormSpec chainNorm(const std::vector<int64_t> &stats, int64_t width,
                        double eps, bool backward,
                        const std::vector<int64_t> &gainChains,
                        unsigned fromChain) {
  ChainNormSpec s;
  s.width = width;
  s.eps = eps;
  s.backward = backward;
  std::vector<int64_t> groups = stats.empty() ? std::vector<int64_t>{1} : stats;
  for (size_t k = 0; k <= groups.size(); ++k)
    s.groupBounds.push_back(prefixWidth(groups, width, k));
  // Interpreter::normGrad: dgain only for chains >= from_chain of the gain's
  // layout (an unchained gain is chain 1 throughout).
  if (backward && fromChain > 1) {
    if (gainChains.empty())
      s.dgainBegin = width;
    else
      s.dgainBegin =
          prefixWidth(gainChains, width,
                      std::min<size_t>(fromChain - 1, gainChains.size()));
  }
  return s;
}

Status validateChainNorm(const ChainNormSpec &s) {
  if (s.width <= 0)
    return Status::error("norm: width " + std::to_string(s.width));
  if (s.groupBounds.size() < 2 || s.groupBounds.front() != 0 ||
      s.groupBounds.back() != s.width)
    return Status::error("norm " + s.name() +
                         ": the groups must run from 0 to the width");
  for (size_t i = 1; i < s.groupBounds.size(); ++i)
    if (s.groupBounds[i] <= s.groupBounds[i - 1])
      return Status::error("norm " + s.name() + ": group " + std::to_string(i) +
                           " is empty or out of order");
  if (!(s.eps >= 0) || !std::isfinite(s.eps))
    return Status::error("norm " + s.name() + ": eps must be finite and >= 0");
  if (s.dgainBegin < 0 || s.dgainBegin > s.width ||
      (!s.backward && s.dgainBegin != 0))
    return Status::error("norm " + s.name() + ": dgainBegin " +
                         std::to_string(s.dgainBegin));
  return Status::ok();
}

void chainNormReference(const ChainNormSpec &s, const ColmNormArgs &a) {
  int64_t w = s.width;
  if (s.backward)
    for (int64_t j = 0; j < w; ++j)
      a.dgain[j] = 0;
  std::vector<double> dgain(w, 0.0);
  for (int64_t t = 0; t < a.rows; ++t)
    for (size_t g = 0; g + 1 < s.groupBounds.size(); ++g) {
      int64_t b = s.groupBounds[g], e = s.groupBounds[g + 1];
      const float *x = a.x + t * w;
      double sum = 0, dot = 0;
      for (int64_t j = b; j < e; ++j) {
        sum += double(x[j]) * x[j];
        if (s.backward)
          dot += double(a.dy[t * w + j]) * a.gain[j] * x[j];
      }
      double n = double(e - b), r = 1.0 / std::sqrt(sum / n + s.eps);
      for (int64_t j = b; j < e; ++j) {
        if (!s.backward) {
          a.y[t * w + j] = float(x[j] * r * a.gain[j]);
          continue;
        }
        double dy = a.dy[t * w + j];
        a.dx[t * w + j] =
            float(r * a.gain[j] * dy - r * r * r / n * x[j] * dot);
        dgain[j] += dy * x[j] * r;
      }
    }
  if (s.backward)
    for (int64_t j = s.dgainBegin; j < w; ++j)
      a.dgain[j] = float(dgain[j]);
}

//===----------------------------------------------------------------------===//
// RoPE
//===----------------------------------------------------------------------===//

std::string RopeSpec::name() const {
  NameHash h;
  h.mix(theta);
  char buf[128];
  std::snprintf(buf, sizeof buf, "rope_%s_w%lld_hd%lld_%04llx",
                inverse ? "inv" : "fwd", (long long)width, (long long)headDim,
                h.tag());
  return buf;
}

Status validateRope(const RopeSpec &s) {
  if (s.headDim <= 0 || s.headDim % 2 != 0)
    return Status::error("rope: head_dim " + std::to_string(s.headDim) +
                         " must be positive and even");
  if (s.width <= 0 || s.width % s.headDim != 0)
    return Status::error("rope: width " + std::to_string(s.width) +
                         " is not a multiple of head_dim " +
                         std::to_string(s.headDim));
  if (!(s.theta > 0) || !std::isfinite(s.theta))
    return Status::error("rope: theta must be positive");
  return Status::ok();
}

void ropeReference(const RopeSpec &s, const ColmRopeArgs &a) {
  int64_t hd = s.headDim, half = hd / 2, w = s.width;
  for (int64_t t = 0; t < a.rows; ++t) {
    double p = a.positions ? double(a.positions[t]) : double(t);
    for (int64_t h = 0; h < w / hd; ++h) {
      const float *src = a.x + t * w + h * hd;
      float *dst = a.y + t * w + h * hd;
      for (int64_t m = 0; m < half; ++m) {
        double angle = p * std::pow(s.theta, -2.0 * double(m) / double(hd));
        double c = std::cos(angle),
               sn = s.inverse ? -std::sin(angle) : std::sin(angle);
        double lo = src[m], hi = src[m + half]; // read both: y may be x
        dst[m] = float(lo * c - hi * sn);
        dst[m + half] = float(hi * c + lo * sn);
      }
    }
  }
}

//===----------------------------------------------------------------------===//
// SwiGLU
//===----------------------------------------------------------------------===//

std::string SwiGluSpec::name() const {
  return std::string("swiglu_") + (backward ? "bwd" : "fwd") + "_w" +
         std::to_string(width);
}

Status validateSwiGlu(const SwiGluSpec &s) {
  if (s.width <= 0)
    return Status::error("swiglu: width " + std::to_string(s.width));
  return Status::ok();
}

void swiGluReference(const SwiGluSpec &s, const ColmSwiGluArgs &a) {
  for (int64_t i = 0; i < a.rows * s.width; ++i) {
    double g = a.gate[i], u = a.up[i], sg = 1.0 / (1.0 + std::exp(-g));
    if (!s.backward) {
      a.y[i] = float(g / (1.0 + std::exp(-g)) * u);
      continue;
    }
    double dy = a.dy[i];
    a.dgate[i] = float(dy * u * sg * (1.0 + g * (1.0 - sg)));
    a.dup[i] = float(dy * g * sg);
  }
}

} // namespace colm::codegen
