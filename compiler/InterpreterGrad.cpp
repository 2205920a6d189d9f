//===- InterpreterGrad.cpp - backward ops of the interpreter ----*- C++ -*-===//
//
// Plain loops, each a direct transcription of the derivative of its forward
// op. Weight gradients compute only the blocks the chain rule allows and only
// chains >= from_chain.
//
//===----------------------------------------------------------------------===//
#include "compiler/InterpreterImpl.h"

#include "llvm/ADT/TypeSwitch.h"

#include <cmath>

namespace colm::detail {

namespace {

/// Chains below `from` are frozen.
bool trainable(std::optional<uint64_t> from, unsigned chain) {
  return !from || chain >= *from;
}

int64_t headPrefix(LayoutAttr layout, int64_t width,
                   std::optional<uint64_t> chains) {
  if (!layout || !chains)
    return width;
  return layout.prefixWidth(width, *chains);
}

} // namespace

LogicalResult Interpreter::execGrad(Operation *op) {
  // For results of static shape (weight gradients).
  auto resultOf = [&](Operation *o) {
    return HostTensor::floats(std::vector<int64_t>(
        cast<RankedTensorType>(o->getResult(0).getType()).getShape().begin(),
        cast<RankedTensorType>(o->getResult(0).getType()).getShape().end()));
  };
  return llvm::TypeSwitch<Operation *, LogicalResult>(op)
      .Case([&](EmbedGradOp g) {
        const HostTensor &dy = in(g.getDy()), &tokens = in(g.getTokens());
        HostTensor r = resultOf(g);
        LayoutAttr layout = getLayout(g.getType());
        int64_t width = r.shape[1], dyWidth = dy.shape[1];
        for (int64_t t = 0; t < dy.shape[0]; ++t)
          for (int64_t j = 0; j < dyWidth; ++j)
            if (trainable(g.getFromChain(), chainAt(layout, width, j)))
              r.data[tokens.ints[t] * width + j] += dy.data[t * dyWidth + j];
        set(g.getResult(), std::move(r));
        return success();
      })
      .Case([&](NormGradOp g) { return normGrad(g); })
      .Case([&](LinearGradXOp g) {
        const HostTensor &dy = in(g.getDy()), &w = in(g.getWeight());
        BlocksAttr blocks = getBlocks(g.getWeight().getType());
        int64_t out = w.shape[0], inW = w.shape[1], rows = dy.shape[0];
        HostTensor r = HostTensor::floats({rows, inW});
        for (int64_t o = 0; o < out; ++o) {
          // Row o (output chain i) reads the columns of chains 1..i.
          int64_t limit = blocks.prefixWidth(inW, blocks.chainOf(out, o));
          for (int64_t t = 0; t < rows; ++t)
            for (int64_t c = 0; c < limit; ++c)
              r.data[t * inW + c] += dy.data[t * out + o] * w.data[o * inW + c];
        }
        set(g.getResult(), std::move(r));
        return success();
      })
      .Case([&](LinearGradWOp g) {
        const HostTensor &dy = in(g.getDy()), &x = in(g.getX());
        BlocksAttr blocks = getBlocks(g.getType());
        HostTensor r = resultOf(g);
        int64_t out = r.shape[0], inW = r.shape[1], rows = dy.shape[0];
        for (int64_t o = 0; o < out; ++o) {
          unsigned chain = blocks.chainOf(out, o);
          if (!trainable(g.getFromChain(), chain))
            continue;
          int64_t limit = blocks.prefixWidth(inW, chain);
          for (int64_t c = 0; c < limit; ++c) {
            double acc = 0;
            for (int64_t t = 0; t < rows; ++t)
              acc += dy.data[t * out + o] * x.data[t * inW + c];
            r.data[o * inW + c] = acc;
          }
        }
        set(g.getResult(), std::move(r));
        return success();
      })
      .Case([&](DenseGradXOp g) {
        const HostTensor &dy = in(g.getDy()), &w = in(g.getWeight());
        int64_t out = w.shape[0], inW = w.shape[1], rows = dy.shape[0];
        HostTensor r = HostTensor::floats({rows, inW});
        for (int64_t t = 0; t < rows; ++t)
          for (int64_t o = 0; o < out; ++o)
            for (int64_t c = 0; c < inW; ++c)
              r.data[t * inW + c] += dy.data[t * out + o] * w.data[o * inW + c];
        set(g.getResult(), std::move(r));
        return success();
      })
      .Case([&](DenseGradWOp g) {
        const HostTensor &dy = in(g.getDy()), &x = in(g.getX());
        HostTensor r = resultOf(g);
        int64_t out = r.shape[0], inW = r.shape[1], rows = dy.shape[0];
        for (int64_t t = 0; t < rows; ++t)
          for (int64_t o = 0; o < out; ++o)
            for (int64_t c = 0; c < inW; ++c)
              r.data[o * inW + c] += dy.data[t * out + o] * x.data[t * inW + c];
        set(g.getResult(), std::move(r));
        return success();
      })
      .Case([&](AttentionGradOp g) { return attentionGrad(g); })
      .Case([&](SwigluGradOp g) {
        const HostTensor &gate = in(g.getGate()), &up = in(g.getUp()),
                         &dy = in(g.getDy());
        HostTensor dgate = HostTensor::floats(gate.shape);
        HostTensor dup = HostTensor::floats(gate.shape);
        for (int64_t i = 0; i < gate.numel(); ++i) {
          double x = gate.data[i], s = 1.0 / (1.0 + std::exp(-x));
          dgate.data[i] = dy.data[i] * up.data[i] * s * (1.0 + x * (1.0 - s));
          dup.data[i] = dy.data[i] * x * s;
        }
        set(g.getDgate(), std::move(dgate));
        set(g.getDup(), std::move(dup));
        return success();
      })
      .Case([&](LmHeadGradXOp g) {
        const HostTensor &dl = in(g.getDlogits()), &w = in(g.getWeight());
        int64_t vocab = w.shape[0], width = w.shape[1], rows = dl.shape[0];
        HostTensor r = HostTensor::floats({rows, width});
        int64_t used = headPrefix(getLayout(g.getType()), width, g.getChains());
        for (int64_t t = 0; t < rows; ++t)
          for (int64_t v = 0; v < vocab; ++v)
            for (int64_t c = 0; c < used; ++c)
              r.data[t * width + c] +=
                  dl.data[t * vocab + v] * w.data[v * width + c];
        set(g.getResult(), std::move(r));
        return success();
      })
      .Case([&](LmHeadGradWOp g) {
        const HostTensor &dl = in(g.getDlogits()), &x = in(g.getX());
        HostTensor r = resultOf(g);
        LayoutAttr layout = getLayout(g.getType());
        int64_t vocab = r.shape[0], width = r.shape[1], rows = dl.shape[0];
        int64_t used = headPrefix(layout, width, g.getChains());
        for (int64_t v = 0; v < vocab; ++v)
          for (int64_t c = 0; c < used; ++c) {
            if (!trainable(g.getFromChain(), chainAt(layout, width, c)))
              continue;
            double acc = 0;
            for (int64_t t = 0; t < rows; ++t)
              acc += dl.data[t * vocab + v] * x.data[t * width + c];
            r.data[v * width + c] = acc;
          }
        set(g.getResult(), std::move(r));
        return success();
      })
      .Case([&](CrossEntropyGradOp g) {
        const HostTensor &logits = in(g.getLogits()),
                         &targets = in(g.getTargets());
        int64_t rows = logits.shape[0], vocab = logits.shape[1];
        HostTensor r = HostTensor::floats(logits.shape);
        double scale = g.getScale().convertToDouble() / double(rows);
        for (int64_t t = 0; t < rows; ++t) {
          const double *row = &logits.data[t * vocab];
          double m = -INFINITY, sum = 0;
          for (int64_t v = 0; v < vocab; ++v)
            m = std::max(m, row[v]);
          for (int64_t v = 0; v < vocab; ++v)
            sum += std::exp(row[v] - m);
          for (int64_t v = 0; v < vocab; ++v)
            r.data[t * vocab + v] =
                scale * (std::exp(row[v] - m) / sum -
                         (v == targets.ints[t] ? 1.0 : 0.0));
        }
        set(g.getResult(), std::move(r));
        return success();
      })
      .Case([&](ExtendOp g) {
        const HostTensor &x = in(g.getX());
        int64_t width = lastDim(g.getType()), w = x.shape[1];
        HostTensor r = HostTensor::floats({x.shape[0], width});
        for (int64_t t = 0; t < x.shape[0]; ++t)
          for (int64_t j = 0; j < w; ++j)
            r.data[t * width + j] = x.data[t * w + j];
        set(g.getResult(), std::move(r));
        return success();
      })
      .Case([&](WeightedSumOp g) {
        HostTensor r = HostTensor::floats({});
        r.data = {0.0};
        for (auto [v, w] : llvm::zip(g.getInputs(), g.getWeights()))
          r.data[0] += cast<FloatAttr>(w).getValueAsDouble() * in(v).data[0];
        set(g.getResult(), std::move(r));
        return success();
      })
      .Default([&](Operation *other) {
        return other->emitError("the reference interpreter does not support ")
               << other->getName();
      });
}

LogicalResult Interpreter::normGrad(NormGradOp op) {
  const HostTensor &x = in(op.getX()), &gain = in(op.getGain()),
                   &dy = in(op.getDy());
  LayoutAttr stats = op.getStatsLayout();
  LayoutAttr layout = getLayout(op.getGain().getType());
  int64_t width = x.shape.back(), rows = x.numel() / width;
  double eps = op.getEps().convertToDouble();
  HostTensor dx = HostTensor::floats(x.shape);
  HostTensor dgain = HostTensor::floats(gain.shape);
  for (int64_t t = 0; t < rows; ++t)
    for (unsigned g = 1; g <= stats.numChains(); ++g) {
      int64_t b = stats.chainBegin(width, g), e = stats.chainEnd(width, g);
      const double *xr = &x.data[t * width], *dyr = &dy.data[t * width];
      double sum = 0, dot = 0;
      for (int64_t j = b; j < e; ++j) {
        sum += xr[j] * xr[j];
        dot += dyr[j] * gain.data[j] * xr[j];
      }
      double n = double(e - b), r = 1.0 / std::sqrt(sum / n + eps);
      for (int64_t j = b; j < e; ++j) {
        dx.data[t * width + j] =
            r * gain.data[j] * dyr[j] - r * r * r / n * xr[j] * dot;
        if (trainable(op.getFromChain(), chainAt(layout, width, j)))
          dgain.data[j] += dyr[j] * xr[j] * r;
      }
    }
  set(op.getDx(), std::move(dx));
  set(op.getDgain(), std::move(dgain));
  return success();
}

LogicalResult Interpreter::attentionGrad(AttentionGradOp op) {
  const HostTensor &q = in(op.getQ()), &k = in(op.getK()), &v = in(op.getV()),
                   &dout = in(op.getDout());
  int64_t t = q.shape[0], hd = op.getHeadDim();
  int64_t qw = q.shape[1], kw = k.shape[1];
  int64_t heads = qw / hd, kvHeads = kw / hd;
  double scale = 1.0 / std::sqrt(double(hd));
  HostTensor dq = HostTensor::floats(q.shape), dk = HostTensor::floats(k.shape),
             dv = HostTensor::floats(v.shape);
  std::vector<double> p(t), dp(t);
  for (int64_t h = 0; h < heads; ++h) {
    int64_t kvh = op.getKvMapping() == KvMapping::tiled ? h % kvHeads
                                                        : h * kvHeads / heads;
    for (int64_t i = 0; i < t; ++i) {
      // Recompute the softmax row, then back through it.
      double m = -INFINITY, total = 0;
      for (int64_t j = 0; j <= i; ++j) {
        double dot = 0;
        for (int64_t d = 0; d < hd; ++d)
          dot += q.data[i * qw + h * hd + d] * k.data[j * kw + kvh * hd + d];
        p[j] = dot * scale;
        m = std::max(m, p[j]);
      }
      for (int64_t j = 0; j <= i; ++j) {
        p[j] = std::exp(p[j] - m);
        total += p[j];
      }
      double pdp = 0;
      for (int64_t j = 0; j <= i; ++j) {
        p[j] /= total;
        dp[j] = 0;
        for (int64_t d = 0; d < hd; ++d) {
          double g = dout.data[i * qw + h * hd + d];
          dp[j] += g * v.data[j * kw + kvh * hd + d];
          dv.data[j * kw + kvh * hd + d] += p[j] * g;
        }
        pdp += p[j] * dp[j];
      }
      for (int64_t j = 0; j <= i; ++j) {
        double ds = p[j] * (dp[j] - pdp) * scale;
        for (int64_t d = 0; d < hd; ++d) {
          dq.data[i * qw + h * hd + d] += ds * k.data[j * kw + kvh * hd + d];
          dk.data[j * kw + kvh * hd + d] += ds * q.data[i * qw + h * hd + d];
        }
      }
    }
  }
  set(op.getDq(), std::move(dq));
  set(op.getDk(), std::move(dk));
  set(op.getDv(), std::move(dv));
  return success();
}

} // namespace colm::detail
