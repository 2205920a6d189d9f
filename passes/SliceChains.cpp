//===- SliceChains.cpp - extract the k-chain sub-model ----------*- C++ -*-===//
#include "passes/CausalityAnalysis.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Verifier.h"

#include <numeric>

namespace colm::chain {
#define GEN_PASS_DEF_SLICECHAINS
#include "passes/Passes.h.inc"
} // namespace colm::chain

using namespace mlir;
using namespace colm::chain;

namespace {

/// The type of a value in the k-chain sub-model.
Type sliceType(Type type, unsigned k) {
  auto ranked = dyn_cast<RankedTensorType>(type);
  if (!ranked)
    return type;
  SmallVector<int64_t> shape(ranked.getShape());
  if (LayoutAttr layout = getLayout(ranked)) {
    if (layout.numChains() <= k)
      return type;
    shape.back() = layout.prefixWidth(shape.back(), k);
    return RankedTensorType::get(shape, ranked.getElementType(),
                                 layout.prefix(k));
  }
  if (BlocksAttr blocks = getBlocks(ranked)) {
    if (blocks.numChains() <= k)
      return type;
    shape[0] = blocks.prefixWidth(shape[0], k);
    shape[1] = blocks.prefixWidth(shape[1], k);
    return RankedTensorType::get(shape, ranked.getElementType(),
                                 blocks.prefix(k));
  }
  return type;
}

unsigned numChainsOf(Type type) {
  if (LayoutAttr layout = getLayout(type))
    return layout.numChains();
  if (BlocksAttr blocks = getBlocks(type))
    return blocks.numChains();
  return 0;
}

/// Replaces the value of a constant by its leading `sliced` part (every
/// dimension a prefix of the old one).
LogicalResult sliceConstant(arith::ConstantOp constant,
                            RankedTensorType sliced) {
  auto values = dyn_cast<DenseElementsAttr>(constant.getValue());
  auto type = dyn_cast<RankedTensorType>(constant.getType());
  if (!values || !type || !type.hasStaticShape() ||
      !values.getElementType().isF32() || type.getRank() != sliced.getRank())
    return failure();
  if (values.isSplat()) {
    constant.setValueAttr(
        DenseElementsAttr::get(sliced, values.getSplatValue<Attribute>()));
    constant.getResult().setType(sliced);
    return success();
  }
  ArrayRef<int64_t> shape = type.getShape(), keep = sliced.getShape();
  SmallVector<float> kept;
  SmallVector<int64_t> index(shape.size(), 0);
  for (float v : values.getValues<float>()) {
    bool inside = true;
    for (size_t d = 0; d < shape.size(); ++d)
      inside &= index[d] < keep[d];
    if (inside)
      kept.push_back(v);
    // Row-major: advance the last index first.
    for (size_t d = shape.size(); d-- > 0;) {
      if (++index[d] < shape[d])
        break;
      index[d] = 0;
    }
  }
  constant.setValueAttr(DenseElementsAttr::get(sliced, ArrayRef(kept)));
  constant.getResult().setType(sliced);
  return success();
}

/// Shrinks an unchained weight (a parameter, a constant or a product of
/// them) to its leading [rows, cols] slice, as a sliced dense linear needs.
LogicalResult sliceWeight(Value weight, int64_t rows, int64_t cols) {
  auto type = cast<RankedTensorType>(weight.getType());
  if (type.getShape()[0] == rows && type.getShape()[1] == cols)
    return success();
  auto sliced = RankedTensorType::get({rows, cols}, type.getElementType(),
                                      type.getEncoding());
  Operation *def = weight.getDefiningOp();
  if (!def || !weight.hasOneUse())
    return failure();
  if (isa<ParamOp>(def)) {
    weight.setType(sliced);
    return success();
  }
  if (auto mul = dyn_cast<MulOp>(def)) {
    if (failed(sliceWeight(mul.getLhs(), rows, cols)) ||
        failed(sliceWeight(mul.getRhs(), rows, cols)))
      return failure();
    weight.setType(sliced);
    return success();
  }
  if (auto constant = dyn_cast<arith::ConstantOp>(def))
    return sliceConstant(constant, sliced);
  return failure();
}

/// Keeps the statistics groups of an explicit `stats` layout that lie inside
/// the sliced width; a group that crosses it cannot be sliced.
LogicalResult sliceStats(NormOp norm, int64_t oldWidth, int64_t newWidth) {
  LayoutAttr stats = norm.getStatsAttr();
  if (!stats || oldWidth == newWidth)
    return success();
  SmallVector<int64_t> kept;
  int64_t end = 0;
  for (unsigned g = 1; g <= stats.numChains(); ++g) {
    if (stats.chainEnd(oldWidth, g) > newWidth)
      break;
    end = stats.chainEnd(oldWidth, g);
    kept.push_back(end - stats.chainBegin(oldWidth, g));
  }
  if (end != newWidth)
    return norm.emitError() << "chain-slice: a normalisation statistics group "
                            << "crosses the sliced width " << newWidth;
  int64_t common = 0;
  for (int64_t w : kept)
    common = std::gcd(common, w);
  for (int64_t &w : kept)
    w /= common;
  norm.setStatsAttr(LayoutAttr::get(norm.getContext(), kept));
  return success();
}

bool isChained(Type type) { return getLayout(type) || getBlocks(type); }

/// The ops whose sub-model chain-slice knows how to form.
bool isSliceable(Operation *op) {
  return isa<ParamOp, EmbedOp, NormOp, AddOp, MulOp, SwigluOp, LinearOp,
             DenseOp, LmHeadOp, RopeOp, AttentionOp, AppendOp, CrossEntropyOp,
             PrefixOp, WeightBlockOp, ConcatOp, WeightedSumOp,
             arith::ConstantOp, func::ReturnOp>(op);
}

/// Whether chains reach `op`: through its operands, results, or the
/// arguments of blocks nested in it.
bool carriesChains(Operation *op) {
  auto chained = [](Value v) { return isChained(v.getType()); };
  if (llvm::any_of(op->getOperands(), chained) ||
      llvm::any_of(op->getResults(), chained))
    return true;
  for (Region &region : op->getRegions())
    for (Block &block : region)
      if (llvm::any_of(block.getArguments(), chained))
        return true;
  return false;
}

struct SliceChainsPass
    : public colm::chain::impl::SliceChainsBase<SliceChainsPass> {
  using SliceChainsBase::SliceChainsBase;

  void runOnOperation() override {
    func::FuncOp func = getOperation();
    if (func.isExternal())
      return;
    unsigned n = 0;
    func.walk([&](Operation *op) {
      for (Type t : op->getResultTypes())
        n = std::max(n, numChainsOf(t));
    });
    for (Type t : func.getArgumentTypes())
      n = std::max(n, numChainsOf(t));
    if (n == 0)
      return; // nothing chained: the function is its own sub-model
    if (chains < 1 || chains > n) {
      func.emitError() << "chain-slice: chains="
                       << static_cast<unsigned>(chains) << " is outside 1.."
                       << n;
      return signalPassFailure();
    }
    unsigned k = chains;
    // Arguments of later blocks would keep their chains.
    if (!func.getBody().hasOneBlock()) {
      func.emitError("chain-slice: cannot slice a function of several blocks");
      return signalPassFailure();
    }
    // The sub-model is exactly the first k chains only of a causal graph.
    FailureOr<ChainLevels> levels = proveCausality(func, "chain-slice");
    if (failed(levels))
      return signalPassFailure();
    WalkResult unknown = func.walk([&](Operation *op) -> WalkResult {
      if (op == func.getOperation() || isSliceable(op) || !carriesChains(op))
        return WalkResult::advance();
      if (isBackwardOp(op) || isa<ExtendOp>(op))
        op->emitError() << "chain-slice: cannot slice a training step ('"
                        << op->getName()
                        << "'); slice the forward function, then run "
                           "chain-autodiff";
      else
        op->emitError() << "chain-slice: cannot slice '" << op->getName()
                        << "', an op it does not know, whose operands or "
                           "results carry chains";
      return WalkResult::interrupt();
    });
    if (unknown.wasInterrupted())
      return signalPassFailure();
    // Values without chains are not sliced, so every one the sub-model
    // keeps must depend on chains 1..k only; logits (and what is computed
    // from them) are the exception: LM heads become the sub-model's.
    DenseSet<Value> logits;
    func.walk([&](Operation *op) {
      if (isa<LmHeadOp>(op) || llvm::any_of(op->getOperands(), [&](Value v) {
            return logits.contains(v);
          }))
        logits.insert(op->result_begin(), op->result_end());
    });
    // Which key/value head each kept query head reads, to check that
    // slicing does not change it.
    DenseMap<Operation *, SmallVector<int64_t>> kvHeads;
    func.walk([&](AttentionOp attn) {
      int64_t hd = attn.getHeadDim();
      int64_t kept = lastDim(sliceType(attn.getQ().getType(), k)) / hd;
      SmallVector<int64_t> &heads = kvHeads[attn];
      for (int64_t h = 0; h < kept; ++h)
        heads.push_back(attn.kvHeadOf(h));
    });

    for (BlockArgument arg : func.getArguments())
      arg.setType(sliceType(arg.getType(), k));

    SmallVector<Operation *> dead;
    WalkResult walk = func.walk([&](Operation *op) -> WalkResult {
      if (auto prefix = dyn_cast<PrefixOp>(op)) {
        if (prefix.getChains() >= k) {
          prefix.getResult().replaceAllUsesWith(prefix.getX());
          dead.push_back(op);
          return WalkResult::advance();
        }
      }
      if (auto norm = dyn_cast<NormOp>(op)) {
        Type sliced = sliceType(norm.getType(), k);
        if (failed(sliceStats(norm, lastDim(norm.getType()), lastDim(sliced))))
          return WalkResult::interrupt();
      }
      if (auto constant = dyn_cast<arith::ConstantOp>(op)) {
        auto sliced =
            dyn_cast<RankedTensorType>(sliceType(constant.getType(), k));
        if (sliced && sliced != constant.getType() &&
            failed(sliceConstant(constant, sliced))) {
          constant.emitError("chain-slice: cannot slice this constant");
          return WalkResult::interrupt();
        }
        return WalkResult::advance();
      }
      for (Value r : op->getResults())
        r.setType(sliceType(r.getType(), k));
      if (auto head = dyn_cast<LmHeadOp>(op)) {
        if (head.getChains() && *head.getChains() > k)
          head.setChains(k);
      } else if (auto concat = dyn_cast<ConcatOp>(op)) {
        if (concat.getInputs().size() > k)
          concat->eraseOperands(k, concat.getInputs().size() - k);
      } else if (auto dense = dyn_cast<DenseOp>(op)) {
        // Block rows of dropped chains die with their concat input.
        if (auto block = dense.getWeight().getDefiningOp<WeightBlockOp>())
          if (block.getOutChain() > k)
            return WalkResult::advance();
        int64_t rows = lastDim(dense.getType());
        int64_t cols = lastDim(dense.getX().getType());
        if (failed(sliceWeight(dense.getWeight(), rows, cols))) {
          dense.emitError()
              << "chain-slice: cannot shrink this dense "
              << "linear's weight to [" << rows << ", " << cols << "]";
          return WalkResult::interrupt();
        }
      }
      return WalkResult::advance();
    });
    if (walk.wasInterrupted())
      return signalPassFailure();
    for (Operation *op : dead)
      op->erase();
    // Ops that only fed dropped chains (weight blocks of chains > k).
    SmallVector<Operation *> ops;
    func.walk([&](Operation *op) { ops.push_back(op); });
    for (Operation *op : llvm::reverse(ops))
      if (op->getNumResults() && op->use_empty() && isPure(op))
        op->erase();
    WalkResult beyond = func.walk([&](Operation *op) -> WalkResult {
      for (Value r : op->getResults()) {
        if (isChained(r.getType()) || logits.contains(r) ||
            levels->isGradient(r))
          continue;
        int l = levels->maxLevel(r);
        if (l <= static_cast<int>(k))
          continue;
        op->emitError() << "chain-slice: this value has no chains but "
                        << "depends on chain " << l << ", so the " << k
                        << "-chain sub-model cannot compute it (slicing "
                        << "would drop what chains " << k + 1 << ".." << l
                        << " contribute)";
        return WalkResult::interrupt();
      }
      return WalkResult::advance();
    });
    if (beyond.wasInterrupted())
      return signalPassFailure();
    SmallVector<Type> results;
    if (auto ret = dyn_cast<func::ReturnOp>(func.front().getTerminator()))
      llvm::append_range(results, ret.getOperandTypes());
    else // another terminator: it carries no chains (checked above)
      for (Type t : func.getResultTypes())
        results.push_back(sliceType(t, k));
    func.setType(FunctionType::get(&getContext(),
                                   func.front().getArgumentTypes(), results));
    // Widths that were legal for n chains may not be for k (a head that now
    // straddles the cut): report that here rather than as broken IR.
    if (failed(verify(func))) {
      func.emitError() << "chain-slice: the " << k
                       << "-chain sub-model of this function is not "
                          "well-formed (see the error above)";
      return signalPassFailure();
    }
    // A grouped mapping over key/value heads that do not shrink with the
    // queries would pair the kept query heads with other key/value heads.
    WalkResult remapped = func.walk([&](AttentionOp attn) -> WalkResult {
      auto it = kvHeads.find(attn);
      if (it == kvHeads.end())
        return WalkResult::advance();
      for (auto [h, before] : llvm::enumerate(it->second)) {
        int64_t after = attn.kvHeadOf(h);
        if (after == before)
          continue;
        attn.emitError() << "chain-slice: in the " << k
                         << "-chain sub-model query head " << h
                         << " would read key/value head " << after
                         << " instead of " << before << " ("
                         << stringifyKvMapping(attn.getKvMapping())
                         << " mapping over key/value heads that do not "
                            "shrink with the queries)";
        return WalkResult::interrupt();
      }
      return WalkResult::advance();
    });
    if (remapped.wasInterrupted())
      return signalPassFailure();
  }
};

} // namespace
