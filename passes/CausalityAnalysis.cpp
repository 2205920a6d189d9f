//===- CausalityAnalysis.cpp - prove the chain causal rule ------*- C++ -*-===//
//
// A forward walk over the function computes the levels of every value (see
// CausalityAnalysis.h) with one transfer function per chain op. Ops it does
// not know may mix every chain of their operands; where that could break
// the rule the op is reported as unsupported, not as a violation.
//
//===----------------------------------------------------------------------===//
#include "passes/CausalityAnalysis.h"

#include "dialect/ChainDialect.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "llvm/Support/FormatVariadic.h"

#include <algorithm>
#include <limits>

using namespace mlir;

namespace colm::chain {

namespace {

using Range = std::pair<int64_t, int64_t>;

/// A level with the reason it is that high, kept for the error message.
struct Level {
  int level = 0;
  std::string why;
  void raise(int l, llvm::function_ref<std::string()> reason) {
    if (l > level) {
      level = l;
      why = reason();
    }
  }
};

bool isChained(Type type) { return getLayout(type) || getBlocks(type); }

/// Chain boundaries of the last dimension of a type: one range per chain of
/// its layout (or, for a chain-block weight, of its columns), or one range
/// for a value without chains. A dynamic width spans everything.
SmallVector<Range> rangesOf(ArrayRef<int64_t> ratios, int64_t width) {
  constexpr int64_t kAll = std::numeric_limits<int64_t>::max();
  SmallVector<Range> ranges;
  if (ShapedType::isDynamic(width) || width < 0) {
    ranges.assign(std::max<size_t>(ratios.size(), 1), Range{0, kAll});
    return ranges;
  }
  if (ratios.empty()) {
    ranges.push_back({0, width});
    return ranges;
  }
  int64_t sum = 0;
  for (int64_t c : ratios)
    sum += c;
  // The ratio attribute bounds the sum (2^20) and the encodings the width
  // (2^40), so width * prefix stays in range.
  int64_t prefix = 0;
  for (int64_t c : ratios) {
    int64_t begin = width * prefix / sum;
    prefix += c;
    ranges.push_back({begin, width * prefix / sum});
  }
  return ranges;
}

SmallVector<Range> chainRanges(Type type) {
  auto ranked = dyn_cast<RankedTensorType>(type);
  int64_t width = 1;
  if (ranked && ranked.getRank() > 0)
    width = ranked.getShape().back();
  if (LayoutAttr layout = getLayout(type))
    return rangesOf(layout.getRatios(), width);
  if (BlocksAttr blocks = getBlocks(type))
    return rangesOf(blocks.getRatios(), width);
  return rangesOf({}, width);
}

/// Index of the range holding position `pos` (ranges are sorted and
/// contiguous), or ranges.size().
size_t rangeOf(ArrayRef<Range> ranges, int64_t pos) {
  auto it =
      std::partition_point(ranges.begin(), ranges.end(),
                           [&](const Range &r) { return r.second <= pos; });
  if (it == ranges.end() || it->first > pos)
    return ranges.size();
  return it - ranges.begin();
}

/// Levels of a function argument or parameter: chain i belongs to chain i.
SmallVector<int> ownLevels(Type type, int unchained) {
  SmallVector<int> l;
  size_t n = chainRanges(type).size();
  if (!isChained(type)) {
    l.push_back(unchained);
    return l;
  }
  for (size_t i = 1; i <= n; ++i)
    l.push_back(i);
  return l;
}

} // namespace

bool isBackwardOp(Operation *op) {
  return isa<EmbedGradOp, NormGradOp, LinearGradXOp, LinearGradWOp,
             DenseGradXOp, DenseGradWOp, AttentionGradOp, SwigluGradOp,
             LmHeadGradXOp, LmHeadGradWOp, CrossEntropyGradOp>(op);
}

SmallVector<int> ChainLevels::levels(Value v) const {
  auto it = map.find(v);
  if (it != map.end())
    return it->second;
  return SmallVector<int>(chainRanges(v.getType()).size(), highest);
}

int ChainLevels::maxLevel(Value v) const {
  int m = 0;
  for (int l : levels(v))
    m = std::max(m, l);
  return m;
}

class CausalityAnalysis {
public:
  explicit CausalityAnalysis(StringRef pass) : pass(pass) {}

  FailureOr<ChainLevels> run(func::FuncOp func) {
    func.walk([&](Operation *op) {
      for (Type t : op->getResultTypes())
        result.highest = std::max<int>(result.highest, chainRanges(t).size());
      for (Region &region : op->getRegions())
        for (Block &block : region)
          for (Type t : block.getArgumentTypes())
            result.highest =
                std::max<int>(result.highest, chainRanges(t).size());
    });
    // Unchained inputs (token ids, features) belong to no chain.
    for (BlockArgument arg : func.getArguments())
      result.map[arg] = ownLevels(arg.getType(), 0);
    WalkResult walk = func.walk([&](Operation *op) {
      if (op == func.getOperation())
        return WalkResult::advance();
      if (failed(visit(op)))
        return WalkResult::interrupt();
      return WalkResult::advance();
    });
    if (walk.wasInterrupted())
      return failure();
    return std::move(result);
  }

private:
  StringRef pass;
  ChainLevels result;

  SmallVector<int> lookup(Value v) { return result.levels(v); }
  int maxOf(Value v) { return result.maxLevel(v); }

  /// Highest level among the chains of `v` that overlap `range`; `chain`
  /// gets the chain it comes from.
  int levelOver(Value v, Range range, int *chain = nullptr);

  LogicalResult visit(Operation *op);
  /// Levels of the single result of `op`; `known` is false for ops the
  /// analysis does not know.
  SmallVector<Level> transfer(Operation *op, bool &known);
  SmallVector<Level> denseLevels(DenseOp op);
  /// Which [row chain][column chain] blocks of a dense weight may be
  /// non-zero.
  SmallVector<SmallVector<bool>> blockPattern(Value weight,
                                              ArrayRef<Range> rows,
                                              ArrayRef<Range> cols,
                                              unsigned depth = 0);

  InFlightDiagnostic violation(Operation *op, int chain, const Level &lv,
                               std::string result);
  InFlightDiagnostic unsupported(Operation *op, int chain, const Level &lv,
                                 std::string result);
};

int CausalityAnalysis::levelOver(Value v, Range range, int *chain) {
  SmallVector<int> lv = lookup(v);
  SmallVector<Range> ranges = chainRanges(v.getType());
  int m = 0;
  if (lv.size() != ranges.size() || lv.size() == 1) {
    for (auto [j, l] : llvm::enumerate(lv))
      if (l > m) {
        m = l;
        if (chain)
          *chain = j + 1;
      }
    return m;
  }
  auto it =
      std::partition_point(ranges.begin(), ranges.end(), [&](const Range &r) {
        return r.second <= range.first;
      });
  for (; it != ranges.end() && it->first < range.second; ++it) {
    size_t j = it - ranges.begin();
    if (it->first < it->second && lv[j] > m) {
      m = lv[j];
      if (chain)
        *chain = j + 1;
    }
  }
  return m;
}

InFlightDiagnostic CausalityAnalysis::violation(Operation *op, int chain,
                                                const Level &lv,
                                                std::string result) {
  InFlightDiagnostic diag = op->emitError();
  if (!pass.empty())
    diag << pass << ": refusing an op that ";
  diag << "breaks the chain causal rule: chain " << chain << " of " << result
       << " depends on chain " << lv.level
       << (lv.why.empty() ? "" : " (" + lv.why + ")");
  return diag;
}

InFlightDiagnostic CausalityAnalysis::unsupported(Operation *op, int chain,
                                                  const Level &lv,
                                                  std::string result) {
  InFlightDiagnostic diag = op->emitError();
  if (!pass.empty())
    diag << pass << ": refusing a graph whose causality it cannot prove: ";
  else
    diag << "cannot prove the chain causal rule: ";
  diag << "'" << op->getName()
       << "' is an op the causality analysis does not support (chain " << chain
       << " of " << result << " may depend on chain " << lv.level
       << (lv.why.empty() ? "" : ", " + lv.why) << ")";
  return diag;
}

LogicalResult CausalityAnalysis::visit(Operation *op) {
  // A fusion group's body (visited before the group) reads the group's
  // inputs through its arguments; the group yields what its body computes.
  if (auto group = dyn_cast<FusedOp>(op->getParentOp())) {
    for (auto [arg, input] :
         llvm::zip(group.getBody().getArguments(), group.getInputs())) {
      if (result.map.count(arg))
        continue;
      result.map[arg] = lookup(input);
      if (result.isGradient(input))
        result.gradients.insert(arg);
    }
  }
  if (auto group = dyn_cast<FusedOp>(op)) {
    auto yield = cast<YieldOp>(group.getBody().front().getTerminator());
    for (auto [r, v] : llvm::zip(group.getResults(), yield.getValues())) {
      result.map[r] = lookup(v);
      if (result.isGradient(v))
        result.gradients.insert(r);
    }
    return success();
  }
  if (op->getNumResults() == 0)
    return success();
  // Gradients flow from later chains to earlier ones; the rule is about
  // the forward values.
  if (isBackwardOp(op) || llvm::any_of(op->getOperands(), [&](Value v) {
        return result.isGradient(v);
      })) {
    for (Value r : op->getResults()) {
      result.map[r].assign(chainRanges(r.getType()).size(), result.highest);
      result.gradients.insert(r);
    }
    return success();
  }
  if (op->getNumResults() > 1) {
    // Not a chain op: each chain of each result may read everything.
    Level all;
    for (auto [idx, operand] : llvm::enumerate(op->getOperands()))
      all.raise(maxOf(operand), [&, idx = idx] {
        return "through operand #" + std::to_string(idx);
      });
    for (Value r : op->getResults()) {
      result.map[r].assign(chainRanges(r.getType()).size(), all.level);
      if (isChained(r.getType()) && all.level > 1)
        return unsupported(
            op, 1, all,
            "result #" + std::to_string(cast<OpResult>(r).getResultNumber()));
    }
    return success();
  }
  Value res = op->getResult(0);
  bool known = true;
  SmallVector<Level> out = transfer(op, known);
  SmallVector<int> &l = result.map[res];
  l.clear();
  for (Level &lv : out)
    l.push_back(lv.level);
  if (!isChained(res.getType()))
    return success();
  for (auto [i, lv] : llvm::enumerate(out)) {
    int chain = i + 1;
    if (lv.level <= chain)
      continue;
    if (known)
      return violation(op, chain, lv, "the result");
    return unsupported(op, chain, lv, "its result");
  }
  return success();
}

SmallVector<Level> CausalityAnalysis::transfer(Operation *op, bool &known) {
  Value res = op->getResult(0);
  SmallVector<Range> resultRanges = chainRanges(res.getType());
  unsigned n = resultRanges.size();
  SmallVector<Level> out(n);
  auto describeOperand = [](unsigned idx, int chain) {
    return std::string(
        llvm::formatv("through chain {0} of operand #{1}", chain, idx));
  };
  // Level i of `v`, or its highest level where its chains are not the
  // result's.
  auto at = [&](ArrayRef<int> lv, unsigned i) {
    if (lv.size() == n && i < lv.size())
      return lv[i];
    int m = 0;
    for (int x : lv)
      m = std::max(m, x);
    return m;
  };

  // Element-wise: chain i of the result reads chain i of each operand.
  auto elementwise = [&]() {
    for (auto [idx, operand] : llvm::enumerate(op->getOperands())) {
      SmallVector<int> lv = lookup(operand);
      for (unsigned i = 0; i < n; ++i)
        out[i].raise(at(lv, i),
                     [&, idx = idx] { return describeOperand(idx, i + 1); });
    }
  };

  if (auto param = dyn_cast<ParamOp>(op)) {
    // Unchained parameters belong to chain 1, as CoLM-Air's key/value
    // projections do.
    SmallVector<int> own = ownLevels(param.getType(), 1);
    for (unsigned i = 0; i < n && i < own.size(); ++i)
      out[i].level = own[i];
    return out;
  }
  if (isa<arith::ConstantOp>(op))
    return out;
  if (isa<AddOp, MulOp, SwigluOp, AppendOp>(op)) {
    elementwise();
    return out;
  }
  if (auto extend = dyn_cast<ExtendOp>(op)) {
    // The chains past the input's are zero.
    SmallVector<int> x = lookup(extend.getX());
    bool aligned = x.size() <= n;
    for (unsigned i = 0; i < n; ++i)
      if (!aligned || i < x.size())
        out[i].raise(aligned ? x[i] : at(x, i),
                     [&] { return describeOperand(0, i + 1); });
    return out;
  }
  if (auto embed = dyn_cast<EmbedOp>(op)) {
    SmallVector<int> table = lookup(embed.getTable());
    for (unsigned i = 0; i < n; ++i) {
      out[i].level = i < table.size() && table.size() >= n
                         ? table[i]
                         : maxOf(embed.getTable());
      out[i].raise(maxOf(embed.getTokens()), [] { return "token ids"; });
    }
    return out;
  }
  if (auto norm = dyn_cast<NormOp>(op)) {
    LayoutAttr stats = norm.getStatsLayout();
    SmallVector<Range> groups =
        rangesOf(stats.getRatios(), lastDim(norm.getType()));
    // The statistics of every group overlapping chain i feed chain i.
    for (Range group : groups) {
      int chain = 0;
      int l = levelOver(norm.getX(), group, &chain);
      if (l == 0)
        continue;
      size_t first = rangeOf(resultRanges, group.first);
      for (size_t i = first; i < n && resultRanges[i].first < group.second; ++i)
        out[i].raise(l, [&] {
          return std::string(llvm::formatv(
              "its normalisation statistics span entries [{0}, {1}), which "
              "include chain {2}",
              group.first, group.second, chain));
        });
      if (first == n) // no range holds the group: be conservative
        for (Level &o : out)
          o.raise(l, [] { return "through its normalisation statistics"; });
    }
    for (unsigned i = 0; i < n; ++i) {
      int chain = 0;
      out[i].raise(levelOver(norm.getGain(), resultRanges[i], &chain),
                   [&] { return describeOperand(1, chain); });
    }
    return out;
  }
  if (auto linear = dyn_cast<LinearOp>(op)) {
    SmallVector<int> x = lookup(linear.getX());
    SmallVector<int> w = lookup(linear.getWeight());
    Level prefixMax;
    for (unsigned i = 0; i < n; ++i) {
      if (x.size() == n)
        prefixMax.raise(x[i], [&] { return describeOperand(0, i + 1); });
      else
        prefixMax.raise(at(x, i), [&] { return describeOperand(0, 1); });
      out[i] = prefixMax;
      out[i].raise(at(w, i), [&] { return describeOperand(1, i + 1); });
    }
    return out;
  }
  if (auto dense = dyn_cast<DenseOp>(op))
    return denseLevels(dense);
  if (auto head = dyn_cast<LmHeadOp>(op)) {
    SmallVector<int> x = lookup(head.getX());
    SmallVector<int> w = lookup(head.getWeight());
    unsigned k = head.getNumHeadChains();
    for (unsigned i = 0; i < n; ++i)
      for (unsigned j = 0; j < k; ++j) {
        int lx = j < x.size() ? x[j] : maxOf(head.getX());
        int lw = j < w.size() ? w[j] : maxOf(head.getWeight());
        out[i].raise(lx, [&] { return describeOperand(0, j + 1); });
        out[i].raise(lw, [&] { return describeOperand(1, j + 1); });
      }
    return out;
  }
  // Per-head ops: chain i of the result is made of the heads overlapping it.
  auto forEachHead = [&](int64_t hd, auto fn) {
    for (unsigned i = 0; i < n; ++i) {
      Range r = resultRanges[i];
      if (r.first >= r.second)
        continue;
      int64_t last = (r.second - 1) / hd;
      if (r.second == std::numeric_limits<int64_t>::max())
        last = r.first / hd; // dynamic: the verifiers require static widths
      for (int64_t h = r.first / hd; h <= last; ++h)
        fn(i, h);
    }
  };
  if (auto rope = dyn_cast<RopeOp>(op)) {
    int64_t hd = rope.getHeadDim();
    forEachHead(hd, [&](unsigned i, int64_t h) {
      int chain = 0;
      int l = levelOver(rope.getX(), {h * hd, (h + 1) * hd}, &chain);
      out[i].raise(l, [&] {
        return std::string(
            llvm::formatv("head {0} rotates entries of chain {1}", h, chain));
      });
    });
    if (Value positions = rope.getPositions())
      for (Level &o : out)
        o.raise(maxOf(positions), [] { return "through the positions"; });
    return out;
  }
  if (auto attn = dyn_cast<AttentionOp>(op)) {
    int64_t hd = attn.getHeadDim();
    forEachHead(hd, [&](unsigned i, int64_t h) {
      Range qRange{h * hd, (h + 1) * hd};
      int64_t kvHead = attn.kvHeadOf(h);
      Range kvRange{kvHead * hd, (kvHead + 1) * hd};
      int chain = 0;
      out[i].raise(levelOver(attn.getQ(), qRange, &chain), [&] {
        return std::string(llvm::formatv(
            "attention head {0} reads queries of chain {1}", h, chain));
      });
      for (Value kv : {attn.getK(), attn.getV()}) {
        int l = levelOver(kv, kvRange, &chain);
        out[i].raise(l, [&] {
          return std::string(llvm::formatv(
              "query head {0} reads key/value head {1} ({2} mapping), "
              "which depends on chain {3}",
              h, kvHead, stringifyKvMapping(attn.getKvMapping()), l));
        });
      }
    });
    return out;
  }
  if (auto prefixOp = dyn_cast<PrefixOp>(op)) {
    SmallVector<int> x = lookup(prefixOp.getX());
    for (unsigned i = 0; i < n; ++i)
      out[i].level = i < x.size() ? x[i] : maxOf(prefixOp.getX());
    return out;
  }
  if (auto block = dyn_cast<WeightBlockOp>(op)) {
    SmallVector<int> w = lookup(block.getWeight());
    uint64_t i = block.getOutChain() - 1;
    for (Level &o : out)
      o.level = i < w.size() ? w[i] : maxOf(block.getWeight());
    return out;
  }
  if (auto concat = dyn_cast<ConcatOp>(op)) {
    for (auto [i, in] : llvm::enumerate(concat.getInputs())) {
      unsigned slot = std::min<unsigned>(i, n - 1);
      out[slot].raise(maxOf(in),
                      [&, i = i] { return describeOperand(i, i + 1); });
    }
    return out;
  }
  if (isa<CrossEntropyOp, WeightedSumOp>(op)) {
    for (auto [idx, operand] : llvm::enumerate(op->getOperands()))
      for (Level &o : out)
        o.raise(maxOf(operand), [&, idx = idx] {
          return "through operand #" + std::to_string(idx);
        });
    return out;
  }
  // Unknown ops: every result chain may depend on everything.
  known = false;
  for (auto [idx, operand] : llvm::enumerate(op->getOperands()))
    for (Level &o : out)
      o.raise(maxOf(operand), [&, idx = idx] {
        return "through operand #" + std::to_string(idx);
      });
  return out;
}

SmallVector<Level> CausalityAnalysis::denseLevels(DenseOp dense) {
  SmallVector<Range> rows = chainRanges(dense.getType());
  SmallVector<Range> cols = chainRanges(dense.getX().getType());
  auto pattern = blockPattern(dense.getWeight(), rows, cols);
  SmallVector<int> x = lookup(dense.getX());
  int w = maxOf(dense.getWeight());
  SmallVector<Level> out(rows.size());
  for (unsigned i = 0; i < rows.size(); ++i) {
    out[i].raise(w, [] { return "through the weight"; });
    for (unsigned j = 0; j < cols.size(); ++j)
      if (pattern[i][j])
        out[i].raise(j < x.size() ? x[j] : maxOf(dense.getX()), [&] {
          return std::string(llvm::formatv(
              "weight block ({0}, {1}) of this dense linear is not masked "
              "to zero",
              i + 1, j + 1));
        });
  }
  return out;
}

SmallVector<SmallVector<bool>>
CausalityAnalysis::blockPattern(Value weight, ArrayRef<Range> rows,
                                ArrayRef<Range> cols, unsigned depth) {
  SmallVector<SmallVector<bool>> all(rows.size(),
                                     SmallVector<bool>(cols.size(), true));
  // A weight inside a fusion group is the group's input.
  while (auto arg = dyn_cast<BlockArgument>(weight)) {
    auto group = dyn_cast_or_null<FusedOp>(arg.getOwner()->getParentOp());
    if (!group)
      break;
    weight = group.getInputs()[arg.getArgNumber()];
  }
  Operation *def = weight.getDefiningOp();
  // Deeper chains of masks are rare; assume the worst rather than recurse.
  if (auto mul = dyn_cast_or_null<MulOp>(def); mul && depth < 16) {
    auto a = blockPattern(mul.getLhs(), rows, cols, depth + 1);
    auto b = blockPattern(mul.getRhs(), rows, cols, depth + 1);
    for (unsigned i = 0; i < rows.size(); ++i)
      for (unsigned j = 0; j < cols.size(); ++j)
        all[i][j] = a[i][j] && b[i][j];
    return all;
  }
  auto constant = dyn_cast_or_null<arith::ConstantOp>(def);
  auto values = constant ? dyn_cast<DenseElementsAttr>(constant.getValue())
                         : DenseElementsAttr();
  auto type = dyn_cast<RankedTensorType>(weight.getType());
  if (!values || !values.getElementType().isF32() || !type ||
      type.getRank() != 2 || !type.hasStaticShape())
    return all;
  if (values.isSplat()) {
    if (values.getSplatValue<float>() == 0.0f)
      for (auto &row : all)
        row.assign(cols.size(), false);
    return all;
  }
  int64_t inWidth = type.getShape()[1];
  for (auto &row : all)
    row.assign(cols.size(), false);
  int64_t idx = 0;
  for (float v : values.getValues<float>()) {
    int64_t r = idx / inWidth, c = idx % inWidth;
    ++idx;
    if (v == 0.0f)
      continue;
    size_t i = rangeOf(rows, r), j = rangeOf(cols, c);
    if (i == rows.size() || j == cols.size()) {
      // Outside the chains (a shape the verifiers reject): the worst.
      for (auto &row : all)
        row.assign(cols.size(), true);
      return all;
    }
    all[i][j] = true;
  }
  return all;
}

FailureOr<ChainLevels> proveCausality(func::FuncOp func, StringRef pass) {
  return CausalityAnalysis(pass).run(func);
}

} // namespace colm::chain
