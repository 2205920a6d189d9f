//===- SliceChains.cpp - extract the k-chain sub-model ----------*- C++ -*-===//
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
  if (auto constant = dyn_cast<arith::ConstantOp>(def)) {
    auto values = dyn_cast<DenseElementsAttr>(constant.getValue());
    if (!values)
      return failure();
    int64_t inWidth = type.getShape()[1];
    SmallVector<float> kept;
    int64_t idx = 0;
    for (float v : values.getValues<float>()) {
      if (idx / inWidth < rows && idx % inWidth < cols)
        kept.push_back(v);
      ++idx;
    }
    constant.setValueAttr(DenseElementsAttr::get(sliced, ArrayRef(kept)));
    weight.setType(sliced);
    return success();
  }
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
    auto ret = cast<func::ReturnOp>(func.getBody().back().getTerminator());
    func.setType(FunctionType::get(
        &getContext(), func.front().getArgumentTypes(), ret.getOperandTypes()));
    // Widths that were legal for n chains may not be for k (a head that now
    // straddles the cut): report that here rather than as broken IR.
    if (failed(verify(func))) {
      func.emitError() << "chain-slice: the " << k
                       << "-chain sub-model of this function is not "
                          "well-formed (see the error above)";
      return signalPassFailure();
    }
  }
};

} // namespace
