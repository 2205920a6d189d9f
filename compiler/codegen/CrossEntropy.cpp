//===- CrossEntropy.cpp - The LM head fused with cross-entropy ------------===//

#include "compiler/codegen/CrossEntropy.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

namespace colm::codegen {

std::string CrossEntropySpec::name() const {
  char buf[128];
  std::snprintf(buf, sizeof buf, "xent_%s_v%lld_d%lld_dw%lld_c%lld_acc%d",
                phase == CrossEntropyPhase::Rows ? "rows" : "vocab",
                (long long)vocab, (long long)width, (long long)dwBegin,
                (long long)chunkRows, accumulate ? 1 : 0);
  return gradients ? std::string(buf) : std::string(buf) + "_loss";
}

CrossEntropySpec crossEntropyRows(CrossEntropySpec spec) {
  spec.phase = CrossEntropyPhase::Rows;
  return spec;
}

CrossEntropySpec crossEntropyVocab(CrossEntropySpec spec) {
  spec.phase = CrossEntropyPhase::Vocab;
  return spec;
}

Status validateCrossEntropy(const CrossEntropySpec &s) {
  auto bad = [&](const std::string &what) {
    return Status::error(s.name() + ": " + what);
  };
  if (s.vocab <= 0)
    return bad("the vocabulary must be non-empty");
  if (s.width <= 0)
    return bad("the width must be positive");
  // dwBegin == width: every chain the head reads is frozen, no column
  // trains (the lowering then launches no vocabulary phase).
  if (s.dwBegin < 0 || s.dwBegin > s.width)
    return bad("the first trained dW column must lie in [0, width]");
  if (s.chunkRows <= 0)
    return bad("the chunk must hold at least one row");
  return Status::ok();
}

Status crossEntropyReference(const CrossEntropySpec &s,
                             const ColmCrossEntropyArgs &a) {
  int64_t T = a.t, V = s.vocab, D = s.width;
  std::vector<double> logits(static_cast<size_t>(T * V));
  for (int64_t i = 0; i < T; ++i) {
    if (a.targets[i] < 0 || a.targets[i] >= V)
      return Status::error("target " + std::to_string(a.targets[i]) +
                           " at position " + std::to_string(i) +
                           " is outside the vocabulary [0, " +
                           std::to_string(V) + ")");
    for (int64_t v = 0; v < V; ++v) {
      double acc = 0;
      for (int64_t c = 0; c < D; ++c)
        acc += double(a.x[i * a.ldx + c]) * a.w[v * a.ldw + c];
      logits[i * V + v] = acc;
    }
  }
  // cross_entropy and cross_entropy_grad, term for term.
  double total = 0;
  std::vector<double> dl(logits.size());
  double coef = T ? a.scale / double(T) : 0.0;
  for (int64_t i = 0; i < T; ++i) {
    const double *row = &logits[i * V];
    double m = -INFINITY, sum = 0;
    for (int64_t v = 0; v < V; ++v)
      m = std::max(m, row[v]);
    for (int64_t v = 0; v < V; ++v)
      sum += std::exp(row[v] - m);
    total += m + std::log(sum) - row[a.targets[i]];
    for (int64_t v = 0; v < V; ++v)
      dl[i * V + v] =
          coef * (std::exp(row[v] - m) / sum - (v == a.targets[i] ? 1.0 : 0.0));
  }
  *a.loss = T ? total / double(T) : 0.0;
  if (!s.gradients)
    return Status::ok();
  // lm_head_grad_x and lm_head_grad_w.
  for (int64_t i = 0; i < T; ++i)
    for (int64_t c = 0; c < D; ++c) {
      double acc = s.accumulate ? double(a.dx[i * a.lddx + c]) : 0.0;
      for (int64_t v = 0; v < V; ++v)
        acc += dl[i * V + v] * a.w[v * a.ldw + c];
      a.dx[i * a.lddx + c] = static_cast<float>(acc);
    }
  for (int64_t v = 0; v < V; ++v)
    for (int64_t c = s.dwBegin; c < D; ++c) {
      double acc = s.accumulate ? double(a.dw[v * a.lddw + c]) : 0.0;
      for (int64_t i = 0; i < T; ++i)
        acc += dl[i * V + v] * a.x[i * a.ldx + c];
      a.dw[v * a.lddw + c] = static_cast<float>(acc);
    }
  return Status::ok();
}

} // namespace colm::codegen
