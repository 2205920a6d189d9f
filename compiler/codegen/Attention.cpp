//===- Attention.cpp - Fused causal attention -----------------------------===//

#include "compiler/codegen/Attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace colm::codegen {

std::string AttentionSpec::name() const {
  return std::string("attn_") +
         (pass == AttentionPass::Forward    ? "fwd"
          : pass == AttentionPass::Backward ? "bwd"
                                            : "paged") +
         "_h" + std::to_string(numHeads) + "_kv" + std::to_string(numKvHeads) +
         "_hd" + std::to_string(headDim) +
         (mapping == KvMap::Tiled ? "_tiled" : "_grouped") +
         (causal ? "_causal" : "_full") + "_q" + std::to_string(knobs.blockQ) +
         "_k" + std::to_string(knobs.blockK);
}

Status validateAttention(const AttentionSpec &s) {
  auto bad = [&](const std::string &what) {
    return Status::error(s.name() + ": " + what);
  };
  if (s.numHeads <= 0 || s.numKvHeads <= 0)
    return bad("needs at least one query head and one key/value head");
  if (s.numHeads % s.numKvHeads != 0)
    return bad("num_heads is not a multiple of num_kv_heads");
  if (s.pass == AttentionPass::Paged && !s.causal)
    return bad("paged attention is causal (decoding over a cache)");
  if (s.headDim < 1 || s.headDim > 256)
    return bad("head_dim must be in [1, 256]");
  // The tiles live in per-thread scratch sized by them.
  if (s.knobs.blockQ < 1 || s.knobs.blockQ > 256 || s.knobs.blockK < 1 ||
      s.knobs.blockK > 256)
    return bad("tile sizes must be in [1, 256]");
  return Status::ok();
}

namespace {

/// Row i's softmax over its keys in double: the probabilities (zero past the
/// causal limit) and the log-sum-exp of the scaled scores.
double softmaxRow(const AttentionSpec &s, const float *q, const float *k,
                  int64_t tk, int64_t ldk, int64_t limit,
                  std::vector<double> &p) {
  double scale = 1.0 / std::sqrt(double(s.headDim));
  double m = -INFINITY;
  for (int64_t j = 0; j < tk; ++j) {
    if (j > limit) {
      p[j] = -INFINITY;
      continue;
    }
    double dot = 0;
    for (int64_t d = 0; d < s.headDim; ++d)
      dot += double(q[d]) * k[j * ldk + d];
    p[j] = dot * scale;
    m = std::max(m, p[j]);
  }
  if (m == -INFINITY) {
    std::fill(p.begin(), p.end(), 0.0);
    return -INFINITY;
  }
  double total = 0;
  for (int64_t j = 0; j < tk; ++j) {
    p[j] = std::exp(p[j] - m);
    total += p[j];
  }
  for (double &x : p)
    x /= total;
  return m + std::log(total);
}

} // namespace

void attentionReference(const AttentionSpec &s, const ColmAttentionArgs &a) {
  int64_t hd = s.headDim, offset = a.tk - a.tq;
  std::vector<double> p(a.tk);
  for (int64_t h = 0; h < s.numHeads; ++h) {
    int64_t g = s.kvHeadOf(h);
    for (int64_t i = 0; i < a.tq; ++i) {
      int64_t limit = s.causal ? i + offset : a.tk - 1;
      double lse = softmaxRow(s, a.q + i * a.ldq + h * hd, a.k + g * hd, a.tk,
                              a.ldk, limit, p);
      for (int64_t d = 0; d < hd; ++d) {
        double acc = 0;
        for (int64_t j = 0; j < a.tk; ++j)
          acc += p[j] * a.v[j * a.ldk + g * hd + d];
        a.out[i * a.ldq + h * hd + d] = float(acc);
      }
      a.lse[h * a.tq + i] = float(lse);
    }
  }
}

void attentionGradReference(const AttentionSpec &s,
                            const ColmAttentionGradArgs &a) {
  int64_t hd = s.headDim, offset = a.tk - a.tq;
  double scale = 1.0 / std::sqrt(double(hd));
  int64_t qw = s.numHeads * hd, kw = s.numKvHeads * hd;
  std::vector<double> dq(a.tq * qw, 0.0), dk(a.tk * kw, 0.0),
      dv(a.tk * kw, 0.0), p(a.tk), dp(a.tk);
  for (int64_t h = 0; h < s.numHeads; ++h) {
    int64_t g = s.kvHeadOf(h);
    for (int64_t i = 0; i < a.tq; ++i) {
      int64_t limit = s.causal ? i + offset : a.tk - 1;
      const float *qi = a.q + i * a.ldq + h * hd;
      const float *gi = a.dout + i * a.ldq + h * hd;
      softmaxRow(s, qi, a.k + g * hd, a.tk, a.ldk, limit, p);
      // As the interpreter: dp = dout.v, ds = p (dp - sum p dp) / sqrt(hd).
      double pdp = 0;
      for (int64_t j = 0; j < a.tk; ++j) {
        dp[j] = 0;
        for (int64_t d = 0; d < hd; ++d) {
          dp[j] += double(gi[d]) * a.v[j * a.ldk + g * hd + d];
          dv[j * kw + g * hd + d] += p[j] * gi[d];
        }
        pdp += p[j] * dp[j];
      }
      for (int64_t j = 0; j < a.tk; ++j) {
        double ds = p[j] * (dp[j] - pdp) * scale;
        for (int64_t d = 0; d < hd; ++d) {
          dq[i * qw + h * hd + d] += ds * a.k[j * a.ldk + g * hd + d];
          dk[j * kw + g * hd + d] += ds * qi[d];
        }
      }
    }
  }
  for (int64_t i = 0; i < a.tq; ++i)
    for (int64_t c = 0; c < qw; ++c)
      a.dq[i * a.ldq + c] = float(dq[i * qw + c]);
  for (int64_t j = 0; j < a.tk; ++j)
    for (int64_t c = 0; c < kw; ++c) {
      a.dk[j * a.ldk + c] = float(dk[j * kw + c]);
      a.dv[j * a.ldk + c] = float(dv[j * kw + c]);
    }
}

void pagedAttentionReference(const AttentionSpec &s,
                             const ColmPagedAttentionArgs &a) {
  int64_t tk = a.past + a.tq;
  std::vector<float> k(size_t(tk * a.ldk)), v(size_t(tk * a.ldk));
  for (int64_t p = 0; p < tk; ++p) {
    const float *kr = a.k + (p - a.past) * a.ldk;
    const float *vr = a.v + (p - a.past) * a.ldk;
    if (p < a.past) {
      int64_t row =
          int64_t(a.blocks[p / a.block_size]) * a.block_size + p % a.block_size;
      kr = a.k_cache + row * a.ld_cache;
      vr = a.v_cache + row * a.ld_cache;
    }
    std::copy(kr, kr + a.ldk, k.begin() + p * a.ldk);
    std::copy(vr, vr + a.ldk, v.begin() + p * a.ldk);
  }
  ColmAttentionArgs f{a.q,  k.data(), v.data(), a.out, a.lse,
                      a.tq, tk,       a.ldq,    a.ldk};
  AttentionSpec forward = s;
  forward.pass = AttentionPass::Forward;
  attentionReference(forward, f);
}

} // namespace colm::codegen
