//===- Interpreter.cpp - the reference interpreter --------------*- C++ -*-===//
#include "compiler/InterpreterImpl.h"

#include "dialect/ChainDialect.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/TypeSwitch.h"

#include <cmath>

using namespace mlir;
using namespace colm::chain;

namespace colm {

int64_t HostTensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

HostTensor HostTensor::tokens(std::vector<int32_t> ids) {
  HostTensor t;
  t.shape = {static_cast<int64_t>(ids.size())};
  t.ints = std::move(ids);
  t.isInt = true;
  return t;
}

HostTensor HostTensor::floats(std::vector<int64_t> shape) {
  HostTensor t;
  t.shape = std::move(shape);
  t.data.assign(t.numel(), 0.0);
  return t;
}

std::shared_ptr<const HostTensor> ParamCache::find(const std::string &key) {
  std::lock_guard<std::mutex> lock(mutex);
  auto it = bound.find(key);
  return it == bound.end() ? nullptr : it->second;
}

void ParamCache::insert(const std::string &key,
                        std::shared_ptr<const HostTensor> value) {
  std::lock_guard<std::mutex> lock(mutex);
  bound.emplace(key, std::move(value));
}

std::vector<float> HostTensor::toFloat() const {
  return std::vector<float>(data.begin(), data.end());
}

namespace detail {

FailureOr<std::vector<HostTensor>>
Interpreter::run(func::FuncOp func, const std::vector<HostTensor> &args) {
  if (func.getNumArguments() != args.size())
    return func.emitError() << "expects " << func.getNumArguments()
                            << " arguments, got " << args.size();
  for (auto [arg, value] : llvm::zip(func.getArguments(), args)) {
    auto type = cast<RankedTensorType>(arg.getType());
    bool wantInt = type.getElementType().isInteger(32);
    if (wantInt != value.isInt ||
        value.shape.size() != static_cast<size_t>(type.getRank()))
      return func.emitError()
             << "argument #" << arg.getArgNumber() << " must be " << type;
    for (auto [d, s] : llvm::zip(type.getShape(), value.shape))
      if (!ShapedType::isDynamic(d) && d != s)
        return func.emitError()
               << "argument #" << arg.getArgNumber() << " must be " << type;
    set(arg, value);
  }
  for (Operation &op : func.getBody().front()) {
    if (auto ret = dyn_cast<func::ReturnOp>(op)) {
      std::vector<HostTensor> results;
      for (mlir::Value v : ret.getOperands())
        results.push_back(in(v));
      return results;
    }
    if (failed(execRounded(&op)))
      return failure();
  }
  return func.emitError("function has no return");
}

LogicalResult Interpreter::execRounded(Operation *op) {
  if (failed(exec(op)))
    return failure();
  // Parameters come from float storage (or are shared from the cache):
  // only computed results need rounding, and they are not shared yet. A
  // fusion group's results are its body's, rounded already.
  if (!options.fp64 && !isa<ParamOp, FusedOp>(op))
    for (mlir::Value r : op->getResults())
      for (double &v : const_cast<HostTensor &>(*env[r]).data)
        v = static_cast<float>(v);
  return success();
}

LogicalResult Interpreter::exec(Operation *op) {
  auto elementwise = [&](auto fn) {
    const HostTensor &a = in(op->getOperand(0)), &b = in(op->getOperand(1));
    HostTensor r = HostTensor::floats(a.shape);
    for (int64_t i = 0; i < r.numel(); ++i)
      r.data[i] = fn(a.data[i], b.data[i]);
    set(op->getResult(0), std::move(r));
    return success();
  };
  return llvm::TypeSwitch<Operation *, LogicalResult>(op)
      .Case([&](ParamOp p) { return param(p); })
      .Case([&](arith::ConstantOp c) -> LogicalResult {
        auto values = dyn_cast<DenseElementsAttr>(c.getValue());
        auto type = dyn_cast<RankedTensorType>(c.getType());
        if (!values || !type || !type.getElementType().isF32())
          return c.emitError("only dense f32 tensor constants are supported");
        HostTensor r;
        r.shape.assign(type.getShape().begin(), type.getShape().end());
        for (float v : values.getValues<float>())
          r.data.push_back(v);
        set(c.getResult(), std::move(r));
        return success();
      })
      .Case([&](EmbedOp e) { return embed(e); })
      .Case([&](FusedOp f) -> LogicalResult {
        // A group computes what its body computes, op by op.
        Block &body = f.getBody().front();
        for (auto [arg, input] : llvm::zip(body.getArguments(), f.getInputs()))
          env[arg] = env.find(input)->second;
        for (Operation &inner : body.without_terminator())
          if (failed(execRounded(&inner)))
            return failure();
        auto yield = cast<YieldOp>(body.getTerminator());
        for (auto [r, v] : llvm::zip(f.getResults(), yield.getValues()))
          env[r] = env.find(v)->second;
        return success();
      })
      .Case([&](NormOp n) { return norm(n); })
      .Case([&](AddOp) {
        return elementwise([](double a, double b) { return a + b; });
      })
      .Case([&](MulOp) {
        return elementwise([](double a, double b) { return a * b; });
      })
      .Case([&](SwigluOp) {
        return elementwise(
            [](double g, double u) { return (g / (1.0 + std::exp(-g)) * u); });
      })
      .Case([&](LinearOp l) {
        return matmul(l, l.getX(), l.getWeight(), true,
                      lastDim(l.getX().getType()));
      })
      .Case([&](DenseOp d) {
        return matmul(d, d.getX(), d.getWeight(), false,
                      lastDim(d.getX().getType()));
      })
      .Case([&](LmHeadOp h) {
        LayoutAttr layout = getLayout(h.getX().getType());
        int64_t width = lastDim(h.getX().getType());
        int64_t used =
            layout ? layout.prefixWidth(width, h.getNumHeadChains()) : width;
        return matmul(h, h.getX(), h.getWeight(), false, used);
      })
      .Case([&](RopeOp r) { return rope(r); })
      .Case([&](AttentionOp a) { return attention(a); })
      .Case([&](CrossEntropyOp c) { return crossEntropy(c); })
      .Case([&](AppendOp a) {
        HostTensor r = in(a.getPast());
        const HostTensor &rows = in(a.getRows());
        r.shape[0] += rows.shape[0];
        r.data.insert(r.data.end(), rows.data.begin(), rows.data.end());
        set(a.getResult(), std::move(r));
        return success();
      })
      .Case([&](PrefixOp p) {
        const HostTensor &x = in(p.getX());
        int64_t width = x.shape.back(), keep = lastDim(p.getType());
        HostTensor r = x;
        r.shape.back() = keep;
        r.data.clear();
        for (int64_t i = 0; i < x.numel() / width; ++i)
          r.data.insert(r.data.end(), x.data.begin() + i * width,
                        x.data.begin() + i * width + keep);
        set(p.getResult(), std::move(r));
        return success();
      })
      .Case([&](WeightBlockOp b) {
        const HostTensor &w = in(b.getWeight());
        BlocksAttr blocks = getBlocks(b.getWeight().getType());
        unsigned i = b.getOutChain();
        int64_t r0 = blocks.chainBegin(w.shape[0], i),
                r1 = blocks.chainEnd(w.shape[0], i),
                cols = blocks.prefixWidth(w.shape[1], i);
        HostTensor r = HostTensor::floats({r1 - r0, cols});
        for (int64_t row = r0; row < r1; ++row)
          for (int64_t c = 0; c < cols; ++c)
            r.data[(row - r0) * cols + c] = w.data[row * w.shape[1] + c];
        set(b.getResult(), std::move(r));
        return success();
      })
      .Case([&](ConcatOp c) {
        int64_t rows = in(c.getInputs()[0]).shape[0];
        int64_t width = lastDim(c.getType());
        HostTensor r = HostTensor::floats({rows, width});
        int64_t offset = 0;
        for (mlir::Value v : c.getInputs()) {
          const HostTensor &part = in(v);
          int64_t w = part.shape.back();
          for (int64_t t = 0; t < rows; ++t)
            for (int64_t j = 0; j < w; ++j)
              r.data[t * width + offset + j] = part.data[t * w + j];
          offset += w;
        }
        set(c.getResult(), std::move(r));
        return success();
      })
      .Default([&](Operation *other) { return execGrad(other); });
}

LogicalResult Interpreter::param(ParamOp op) {
  std::string name = op.getName().str();
  const std::vector<int64_t> *stored = nullptr;
  const float *floats = nullptr;
  const double *doubles = nullptr;
  if (options.paramOverrides && options.paramOverrides->count(name)) {
    const HostTensor &t = options.paramOverrides->at(name);
    stored = &t.shape;
    doubles = t.data.data();
  } else if (auto it = params.find(name); it != params.end()) {
    stored = &it->second.shape;
    floats = it->second.data.data();
  } else {
    return op.emitError() << "parameter '" << op.getName()
                          << "' is not in the model";
  }
  auto shape = cast<RankedTensorType>(op.getType()).getShape();
  std::string key;
  if (options.paramCache && !doubles) {
    key = name + formatShape(std::vector<int64_t>(shape.begin(), shape.end()));
    if (auto hit = options.paramCache->find(key)) {
      env[op.getResult()] = std::move(hit);
      return success();
    }
  }
  if (stored->size() != shape.size())
    return op.emitError() << "parameter '" << op.getName() << "' is stored as "
                          << formatShape(*stored) << " but used with rank "
                          << shape.size();
  if (shape.size() > 2 || shape.empty())
    return op.emitError("parameters must have rank 1 or 2");
  for (size_t d = 0; d < shape.size(); ++d)
    if (shape[d] > (*stored)[d])
      return op.emitError() << "parameter '" << op.getName()
                            << "' is stored as " << formatShape(*stored)
                            << ", smaller than its use as " << op.getType();
  // The leading slice (how a sub-model uses the full model's parameters),
  // copied a row at a time.
  HostTensor r;
  r.shape.assign(shape.begin(), shape.end());
  int64_t rows = shape.size() == 2 ? shape[0] : 1, cols = shape.back();
  int64_t stride = stored->back();
  r.data.resize(rows * cols);
  for (int64_t i = 0; i < rows; ++i) {
    double *dst = r.data.data() + i * cols;
    if (doubles)
      std::copy(doubles + i * stride, doubles + i * stride + cols, dst);
    else
      std::copy(floats + i * stride, floats + i * stride + cols, dst);
  }
  auto bound = std::make_shared<const HostTensor>(std::move(r));
  if (!key.empty())
    options.paramCache->insert(key, bound);
  env[op.getResult()] = std::move(bound);
  return success();
}

LogicalResult Interpreter::embed(EmbedOp op) {
  const HostTensor &table = in(op.getTable());
  const HostTensor &tokens = in(op.getTokens());
  int64_t vocab = table.shape[0], dim = table.shape[1];
  int64_t width = lastDim(op.getType());
  int64_t t = tokens.shape[0];
  HostTensor r = HostTensor::floats({t, width});
  for (int64_t i = 0; i < t; ++i) {
    int64_t id = tokens.ints[i];
    if (id < 0 || id >= vocab)
      return op.emitError()
             << "token id " << id << " at position " << i
             << " is outside the vocabulary [0, " << vocab << ")";
    for (int64_t j = 0; j < width; ++j)
      r.data[i * width + j] = table.data[id * dim + j];
  }
  set(op.getResult(), std::move(r));
  return success();
}

LogicalResult Interpreter::norm(NormOp op) {
  const HostTensor &x = in(op.getX());
  const HostTensor &gain = in(op.getGain());
  LayoutAttr stats = op.getStatsLayout();
  int64_t width = x.shape.back(), rows = x.numel() / width;
  double eps = op.getEps().convertToDouble();
  HostTensor r = HostTensor::floats(x.shape);
  for (int64_t t = 0; t < rows; ++t)
    for (unsigned g = 1; g <= stats.numChains(); ++g) {
      int64_t b = stats.chainBegin(width, g), e = stats.chainEnd(width, g);
      double sum = 0;
      for (int64_t j = b; j < e; ++j)
        sum += double(x.data[t * width + j]) * x.data[t * width + j];
      double inv = 1.0 / std::sqrt(sum / double(e - b) + eps);
      for (int64_t j = b; j < e; ++j)
        r.data[t * width + j] = (x.data[t * width + j] * inv * gain.data[j]);
    }
  set(op.getResult(), std::move(r));
  return success();
}

LogicalResult Interpreter::matmul(Operation *op, mlir::Value xv, mlir::Value wv,
                                  bool blockLowerTriangular, int64_t inWidth) {
  const HostTensor &x = in(xv);
  const HostTensor &w = in(wv);
  int64_t rows = x.shape[0], xWidth = x.shape[1];
  int64_t out = w.shape[0], wIn = w.shape[1];
  BlocksAttr blocks = getBlocks(wv.getType());
  HostTensor r = HostTensor::floats({rows, out});
  for (int64_t o = 0; o < out; ++o) {
    // A chain linear's output chain i reads input chains 1..i only.
    int64_t limit = inWidth;
    if (blockLowerTriangular)
      limit = blocks.prefixWidth(wIn, chainAt(blocks, out, o));
    for (int64_t t = 0; t < rows; ++t) {
      double acc = 0;
      for (int64_t c = 0; c < limit; ++c)
        acc += double(x.data[t * xWidth + c]) * w.data[o * wIn + c];
      r.data[t * out + o] = (acc);
    }
  }
  set(op->getResult(0), std::move(r));
  return success();
}

LogicalResult Interpreter::rope(RopeOp op) {
  const HostTensor &x = in(op.getX());
  int64_t hd = op.getHeadDim(), width = x.shape[1], half = hd / 2;
  double theta = op.getTheta().convertToDouble();
  const HostTensor *positions =
      op.getPositions() ? &in(op.getPositions()) : nullptr;
  HostTensor r = HostTensor::floats(x.shape);
  for (int64_t t = 0; t < x.shape[0]; ++t)
    for (int64_t h = 0; h < width / hd; ++h) {
      const double *src = &x.data[t * width + h * hd];
      double *dst = &r.data[t * width + h * hd];
      double p = positions ? double(positions->ints[t]) : double(t);
      for (int64_t m = 0; m < half; ++m) {
        double angle = p * std::pow(theta, -2.0 * double(m) / hd);
        // The inverse rotation (by -angle) is RoPE's gradient.
        double c = std::cos(angle),
               s = op.getInverse() ? -std::sin(angle) : std::sin(angle);
        dst[m] = (src[m] * c - src[m + half] * s);
        dst[m + half] = (src[m + half] * c + src[m] * s);
      }
    }
  set(op.getResult(), std::move(r));
  return success();
}

LogicalResult Interpreter::attention(AttentionOp op) {
  const HostTensor &q = in(op.getQ()), &k = in(op.getK()), &v = in(op.getV());
  int64_t t = q.shape[0], hd = op.getHeadDim();
  int64_t qw = q.shape[1], kw = k.shape[1];
  // Queries are the last t of the key positions.
  int64_t offset = k.shape[0] - t;
  if (offset < 0)
    return op.emitError() << t << " queries but only " << k.shape[0] << " keys";
  double scale = 1.0 / std::sqrt(double(hd));
  HostTensor r = HostTensor::floats(q.shape);
  std::vector<double> scores(k.shape[0]);
  for (int64_t h = 0; h < op.getNumHeads(); ++h) {
    int64_t kvh = op.kvHeadOf(h);
    for (int64_t qi = 0; qi < t; ++qi) {
      double maxScore = -INFINITY;
      int64_t i = qi + offset; // the query's position among the keys
      for (int64_t j = 0; j <= i; ++j) {
        double dot = 0;
        for (int64_t d = 0; d < hd; ++d)
          dot += double(q.data[qi * qw + h * hd + d]) *
                 k.data[j * kw + kvh * hd + d];
        scores[j] = dot * scale;
        maxScore = std::max(maxScore, scores[j]);
      }
      double total = 0;
      for (int64_t j = 0; j <= i; ++j) {
        scores[j] = std::exp(scores[j] - maxScore);
        total += scores[j];
      }
      for (int64_t d = 0; d < hd; ++d) {
        double acc = 0;
        for (int64_t j = 0; j <= i; ++j)
          acc += scores[j] * v.data[j * kw + kvh * hd + d];
        r.data[qi * qw + h * hd + d] = (acc / total);
      }
    }
  }
  set(op.getResult(), std::move(r));
  return success();
}

LogicalResult Interpreter::crossEntropy(CrossEntropyOp op) {
  const HostTensor &logits = in(op.getLogits());
  const HostTensor &targets = in(op.getTargets());
  int64_t t = logits.shape[0], vocab = logits.shape[1];
  double total = 0;
  for (int64_t i = 0; i < t; ++i) {
    int64_t target = targets.ints[i];
    if (target < 0 || target >= vocab)
      return op.emitError()
             << "target " << target << " at position " << i
             << " is outside the vocabulary [0, " << vocab << ")";
    const double *row = &logits.data[i * vocab];
    double m = -INFINITY;
    for (int64_t j = 0; j < vocab; ++j)
      m = std::max(m, double(row[j]));
    double sum = 0;
    for (int64_t j = 0; j < vocab; ++j)
      sum += std::exp(row[j] - m);
    total += m + std::log(sum) - row[target];
  }
  HostTensor r = HostTensor::floats({});
  r.data = {(t ? total / t : 0.0)};
  set(op.getResult(), std::move(r));
  return success();
}

} // namespace detail

FailureOr<std::vector<HostTensor>>
interpret(func::FuncOp func, const std::vector<HostTensor> &args,
          const TensorMap &params, const InterpretOptions &options) {
  return detail::Interpreter(params, options).run(func, args);
}

} // namespace colm
