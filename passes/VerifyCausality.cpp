//===- VerifyCausality.cpp - prove the chain causal rule --------*- C++ -*-===//
//
// For each value, `levels[i]` is the highest chain (1-based; 0 = none) of the
// inputs and parameters that chain i+1 of the value depends on. A value
// without a chain layout has a single level. The rule holds when
// levels[i] <= i+1 for every chained value.
//
//===----------------------------------------------------------------------===//
#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/Support/FormatVariadic.h"

namespace colm::chain {
#define GEN_PASS_DEF_VERIFYCAUSALITY
#include "passes/Passes.h.inc"
} // namespace colm::chain

using namespace mlir;
using namespace colm::chain;

namespace {

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

/// Chain boundaries of the last dimension of a value's type: one range per
/// chain, or one range for an unchained value.
SmallVector<std::pair<int64_t, int64_t>> chainRanges(Type type) {
  int64_t width = lastDim(type);
  SmallVector<std::pair<int64_t, int64_t>> ranges;
  if (LayoutAttr layout = getLayout(type)) {
    for (unsigned i = 1; i <= layout.numChains(); ++i)
      ranges.push_back(
          {layout.chainBegin(width, i), layout.chainEnd(width, i)});
  } else {
    ranges.push_back({0, width});
  }
  return ranges;
}

bool overlaps(std::pair<int64_t, int64_t> a, std::pair<int64_t, int64_t> b) {
  return a.first < b.second && b.first < a.second;
}

class CausalityAnalysis {
public:
  /// Returns failure after reporting the first op that breaks the rule.
  LogicalResult run(func::FuncOp func) {
    func.walk([&](Operation *op) {
      for (Type t : op->getResultTypes())
        highest = std::max<int>(highest, argumentLevels(t).size());
    });
    for (BlockArgument arg : func.getArguments())
      levels[arg] = argumentLevels(arg.getType());
    WalkResult result = func.walk([&](Operation *op) {
      if (isa<func::FuncOp>(op))
        return WalkResult::advance();
      if (failed(visit(op)))
        return WalkResult::interrupt();
      return WalkResult::advance();
    });
    return failure(result.wasInterrupted());
  }

private:
  DenseMap<Value, SmallVector<int>> levels;
  /// The most chains any value has: what an unknown value may depend on.
  int highest = 1;

  /// Levels of a value; one the walk has not seen (a block argument of a
  /// nested region) may depend on every chain.
  SmallVector<int> lookupLevels(Value v) {
    auto it = levels.find(v);
    if (it != levels.end())
      return it->second;
    return SmallVector<int>(argumentLevels(v.getType()).size(), highest);
  }

  static SmallVector<int> argumentLevels(Type type) {
    SmallVector<int> l;
    if (BlocksAttr blocks = getBlocks(type)) {
      for (unsigned i = 1; i <= blocks.numChains(); ++i)
        l.push_back(i);
    } else if (LayoutAttr layout = getLayout(type)) {
      for (unsigned i = 1; i <= layout.numChains(); ++i)
        l.push_back(i);
    } else {
      l.push_back(0); // token ids and plain features belong to no chain
    }
    return l;
  }

  int maxLevel(Value v) {
    int m = 0;
    for (int l : lookupLevels(v))
      m = std::max(m, l);
    return m;
  }

  /// Highest level among the chains of `v` that overlap [range).
  int levelOver(Value v, std::pair<int64_t, int64_t> range, int *chain) {
    int m = 0;
    auto ranges = chainRanges(v.getType());
    auto lv = lookupLevels(v);
    for (auto [j, r] : llvm::enumerate(ranges))
      if (overlaps(r, range) && j < lv.size() && lv[j] > m) {
        m = lv[j];
        if (chain)
          *chain = j + 1;
      }
    return m;
  }

  LogicalResult visit(Operation *op);
  SmallVector<Level> transfer(Operation *op);
  SmallVector<Level> denseLevels(DenseOp op);
  /// Which [row chain][column chain] blocks of a dense weight may be non-zero.
  SmallVector<SmallVector<bool>> blockPattern(Value weight, Type rowsType,
                                              Type colsType);
};

LogicalResult CausalityAnalysis::visit(Operation *op) {
  if (op->getNumResults() == 0)
    return success();
  if (op->getNumResults() > 1) {
    // Not a chain op: each chain of each result may read everything.
    int all = 0;
    for (Value operand : op->getOperands())
      all = std::max(all, maxLevel(operand));
    for (Value r : op->getResults()) {
      unsigned n = argumentLevels(r.getType()).size();
      levels[r].assign(n, all);
      if ((getLayout(r.getType()) || getBlocks(r.getType())) && all > 1)
        return op->emitError()
               << "breaks the chain causal rule: chain 1 of result #"
               << cast<OpResult>(r).getResultNumber() << " depends on chain "
               << all << " (through an op the analysis does not know)";
    }
    return success();
  }
  Value result = op->getResult(0);
  SmallVector<Level> out = transfer(op);
  SmallVector<int> &l = levels[result];
  for (Level &lv : out)
    l.push_back(lv.level);
  if (!getLayout(result.getType()) && !getBlocks(result.getType()))
    return success();
  for (auto [i, lv] : llvm::enumerate(out)) {
    int chain = i + 1;
    if (lv.level <= chain)
      continue;
    op->emitError() << "breaks the chain causal rule: chain " << chain
                    << " of the result depends on chain " << lv.level
                    << (lv.why.empty() ? "" : " (" + lv.why + ")");
    return failure();
  }
  return success();
}

SmallVector<Level> CausalityAnalysis::transfer(Operation *op) {
  Value result = op->getResult(0);
  auto resultRanges = chainRanges(result.getType());
  unsigned n = getBlocks(result.getType())
                   ? getBlocks(result.getType()).numChains()
                   : resultRanges.size();
  SmallVector<Level> out(n);
  auto describeOperand = [](unsigned idx, int chain) {
    return std::string(
        llvm::formatv("through chain {0} of operand #{1}", chain, idx));
  };

  // Element-wise: chain i of the result reads chain i of each operand.
  auto elementwise = [&]() {
    for (auto [idx, operand] : llvm::enumerate(op->getOperands())) {
      auto lv = lookupLevels(operand);
      for (unsigned i = 0; i < n; ++i) {
        int l = lv.size() == n ? lv[i] : maxLevel(operand);
        out[i].raise(l, [&] { return describeOperand(idx, i + 1); });
      }
    }
  };

  if (auto param = dyn_cast<ParamOp>(op)) {
    if (getLayout(param.getType()) || getBlocks(param.getType())) {
      for (unsigned i = 0; i < n; ++i)
        out[i].level = i + 1;
    } else {
      out[0].level = 1; // unchained parameters belong to chain 1
    }
    return out;
  }
  if (isa<arith::ConstantOp>(op))
    return out;
  if (isa<AddOp, MulOp, SwigluOp, AppendOp>(op)) {
    elementwise();
    return out;
  }
  if (auto embed = dyn_cast<EmbedOp>(op)) {
    auto table = lookupLevels(embed.getTable());
    for (unsigned i = 0; i < n; ++i) {
      out[i].level = i < table.size() ? table[i] : maxLevel(embed.getTable());
      out[i].raise(maxLevel(embed.getTokens()), [] { return "token ids"; });
    }
    return out;
  }
  if (auto norm = dyn_cast<NormOp>(op)) {
    LayoutAttr stats = norm.getStatsLayout();
    int64_t width = lastDim(norm.getType());
    for (unsigned i = 0; i < n; ++i) {
      // The statistics of every group overlapping chain i feed chain i.
      for (unsigned g = 1; g <= stats.numChains(); ++g) {
        std::pair<int64_t, int64_t> group{stats.chainBegin(width, g),
                                          stats.chainEnd(width, g)};
        if (!overlaps(group, resultRanges[i]))
          continue;
        int chain = 0;
        int l = levelOver(norm.getX(), group, &chain);
        out[i].raise(l, [&] {
          return std::string(llvm::formatv(
              "its normalisation statistics span entries [{0}, {1}), which "
              "include chain {2}",
              group.first, group.second, chain));
        });
      }
      int chain = 0;
      out[i].raise(levelOver(norm.getGain(), resultRanges[i], &chain),
                   [&] { return describeOperand(1, chain); });
    }
    return out;
  }
  if (auto linear = dyn_cast<LinearOp>(op)) {
    auto x = lookupLevels(linear.getX());
    auto w = lookupLevels(linear.getWeight());
    for (unsigned i = 0; i < n; ++i) {
      for (unsigned j = 0; j <= i && j < x.size(); ++j)
        out[i].raise(x[j], [&] { return describeOperand(0, j + 1); });
      if (i < w.size())
        out[i].raise(w[i], [&] { return describeOperand(1, i + 1); });
    }
    return out;
  }
  if (auto dense = dyn_cast<DenseOp>(op))
    return denseLevels(dense);
  if (auto head = dyn_cast<LmHeadOp>(op)) {
    auto x = lookupLevels(head.getX());
    auto w = lookupLevels(head.getWeight());
    for (unsigned j = 0; j < head.getNumHeadChains(); ++j) {
      if (j < x.size())
        out[0].raise(x[j], [&] { return describeOperand(0, j + 1); });
      if (j < w.size())
        out[0].raise(w[j], [&] { return describeOperand(1, j + 1); });
    }
    return out;
  }
  if (auto rope = dyn_cast<RopeOp>(op)) {
    int64_t hd = rope.getHeadDim();
    for (unsigned i = 0; i < n; ++i)
      for (int64_t h = resultRanges[i].first / hd;
           h * hd < resultRanges[i].second; ++h) {
        int chain = 0;
        int l = levelOver(rope.getX(), {h * hd, (h + 1) * hd}, &chain);
        out[i].raise(l, [&] {
          return std::string(
              llvm::formatv("head {0} rotates entries of chain {1}", h, chain));
        });
      }
    return out;
  }
  if (auto attn = dyn_cast<AttentionOp>(op)) {
    int64_t hd = attn.getHeadDim();
    for (unsigned i = 0; i < n; ++i)
      for (int64_t h = resultRanges[i].first / hd;
           h * hd < resultRanges[i].second; ++h) {
        std::pair<int64_t, int64_t> qRange{h * hd, (h + 1) * hd};
        int64_t kvHead = attn.kvHeadOf(h);
        std::pair<int64_t, int64_t> kvRange{kvHead * hd, (kvHead + 1) * hd};
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
      }
    return out;
  }
  if (auto prefix = dyn_cast<PrefixOp>(op)) {
    auto x = lookupLevels(prefix.getX());
    for (unsigned i = 0; i < n; ++i)
      out[i].level = i < x.size() ? x[i] : maxLevel(prefix.getX());
    return out;
  }
  if (auto block = dyn_cast<WeightBlockOp>(op)) {
    auto w = lookupLevels(block.getWeight());
    unsigned i = block.getOutChain() - 1;
    out[0].level = i < w.size() ? w[i] : maxLevel(block.getWeight());
    return out;
  }
  if (auto concat = dyn_cast<ConcatOp>(op)) {
    for (auto [i, in] : llvm::enumerate(concat.getInputs()))
      out[i].raise(maxLevel(in), [&] { return describeOperand(i, i + 1); });
    return out;
  }
  // Unknown ops: every result chain may depend on everything.
  for (auto [idx, operand] : llvm::enumerate(op->getOperands()))
    for (unsigned i = 0; i < n; ++i)
      out[i].raise(maxLevel(operand), [&] {
        return "through operand #" + std::to_string(idx) + " of an op " +
               "the analysis does not know";
      });
  return out;
}

SmallVector<Level> CausalityAnalysis::denseLevels(DenseOp dense) {
  Type resultType = dense.getType();
  auto rows = chainRanges(resultType);
  auto cols = chainRanges(dense.getX().getType());
  auto pattern =
      blockPattern(dense.getWeight(), resultType, dense.getX().getType());
  auto x = lookupLevels(dense.getX());
  int w = maxLevel(dense.getWeight());
  SmallVector<Level> out(rows.size());
  for (unsigned i = 0; i < rows.size(); ++i) {
    out[i].raise(w, [] { return "through the weight"; });
    for (unsigned j = 0; j < cols.size(); ++j)
      if (pattern[i][j])
        out[i].raise(x[j], [&] {
          return std::string(llvm::formatv(
              "weight block ({0}, {1}) of this dense linear is not masked "
              "to zero",
              i + 1, j + 1));
        });
  }
  return out;
}

SmallVector<SmallVector<bool>>
CausalityAnalysis::blockPattern(Value weight, Type rowsType, Type colsType) {
  auto rows = chainRanges(rowsType), cols = chainRanges(colsType);
  SmallVector<SmallVector<bool>> all(rows.size(),
                                     SmallVector<bool>(cols.size(), true));
  Operation *def = weight.getDefiningOp();
  if (auto mul = dyn_cast_or_null<MulOp>(def)) {
    auto a = blockPattern(mul.getLhs(), rowsType, colsType);
    auto b = blockPattern(mul.getRhs(), rowsType, colsType);
    for (unsigned i = 0; i < rows.size(); ++i)
      for (unsigned j = 0; j < cols.size(); ++j)
        all[i][j] = a[i][j] && b[i][j];
    return all;
  }
  auto constant = dyn_cast_or_null<arith::ConstantOp>(def);
  auto values = constant ? dyn_cast<DenseElementsAttr>(constant.getValue())
                         : DenseElementsAttr();
  if (!values || !values.getElementType().isF32())
    return all;
  int64_t inWidth = cast<RankedTensorType>(weight.getType()).getShape()[1];
  for (unsigned i = 0; i < rows.size(); ++i)
    for (unsigned j = 0; j < cols.size(); ++j)
      all[i][j] = false;
  int64_t idx = 0;
  for (float v : values.getValues<float>()) {
    int64_t r = idx / inWidth, c = idx % inWidth;
    ++idx;
    if (v == 0.0f)
      continue;
    for (unsigned i = 0; i < rows.size(); ++i)
      for (unsigned j = 0; j < cols.size(); ++j)
        if (r >= rows[i].first && r < rows[i].second && c >= cols[j].first &&
            c < cols[j].second)
          all[i][j] = true;
  }
  return all;
}

struct VerifyCausalityPass
    : public colm::chain::impl::VerifyCausalityBase<VerifyCausalityPass> {
  void runOnOperation() override {
    CausalityAnalysis analysis;
    if (failed(analysis.run(getOperation())))
      signalPassFailure();
    markAllAnalysesPreserved();
  }
};

} // namespace
