//===- FoldMasks.cpp - masks to chain linears to block matmuls --*- C++ -*-===//
#include "passes/CausalityAnalysis.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Builders.h"

namespace colm::chain {
#define GEN_PASS_DEF_FOLDMASKS
#include "passes/Passes.h.inc"
} // namespace colm::chain

using namespace mlir;
using namespace colm::chain;

namespace {

/// True when `mask` is a constant that is 1 in every block (i, j <= i) and 0
/// in every block above the diagonal, for rows split by `out` and columns by
/// `in` (both in the ratios of `layout`).
bool isCausalChainMask(Value mask, LayoutAttr layout) {
  auto constant = mask.getDefiningOp<arith::ConstantOp>();
  if (!constant)
    return false;
  auto values = dyn_cast<DenseElementsAttr>(constant.getValue());
  auto type = cast<RankedTensorType>(mask.getType());
  if (!values || !values.getElementType().isF32() || type.getRank() != 2)
    return false;
  int64_t rows = type.getShape()[0], cols = type.getShape()[1];
  if (!layout.divides(rows) || !layout.divides(cols))
    return false;
  int64_t idx = 0;
  for (float v : values.getValues<float>()) {
    int64_t r = idx / cols, c = idx % cols;
    ++idx;
    bool below = layout.chainOf(cols, c) <= layout.chainOf(rows, r);
    if (v != (below ? 1.0f : 0.0f))
      return false;
  }
  return true;
}

/// (a) dense(x, param * mask) -> linear(x, param as chain blocks).
LogicalResult foldMaskedDense(DenseOp dense) {
  LayoutAttr in = getLayout(dense.getX().getType());
  LayoutAttr out = getLayout(dense.getType());
  auto mul = dense.getWeight().getDefiningOp<MulOp>();
  if (!in || !out || in.getRatios() != out.getRatios() || !mul)
    return failure();
  Value weight = mul.getLhs(), mask = mul.getRhs();
  if (!isCausalChainMask(mask, in))
    std::swap(weight, mask);
  auto param = weight.getDefiningOp<ParamOp>();
  if (!param || !isCausalChainMask(mask, in))
    return failure();
  OpBuilder b(dense);
  auto wType = cast<RankedTensorType>(param.getType());
  auto blocksType =
      RankedTensorType::get(wType.getShape(), wType.getElementType(),
                            BlocksAttr::get(b.getContext(), in.getRatios()));
  Value blocks =
      b.create<ParamOp>(param.getLoc(), blocksType, param.getNameAttr());
  Value linear =
      b.create<LinearOp>(dense.getLoc(), dense.getType(), dense.getX(), blocks);
  dense.getResult().replaceAllUsesWith(linear);
  dense.erase();
  for (Operation *op :
       {mul.getOperation(), param.getOperation(), mask.getDefiningOp()})
    if (op->use_empty())
      op->erase();
  return success();
}

/// Appends "_c<i>" to a NameLoc so lowered values stay readable.
Location chainLoc(Location loc, unsigned i) {
  if (auto name = dyn_cast<NameLoc>(loc))
    return NameLoc::get(
        StringAttr::get(loc.getContext(),
                        name.getName().str() + "_c" + std::to_string(i)),
        name.getChildLoc());
  return loc;
}

/// (b) linear(x, W) -> concat_i dense(prefix(x, i), block_i(W)).
void lowerLinear(LinearOp linear) {
  OpBuilder b(linear);
  LayoutAttr layout = getLayout(linear.getType());
  auto outType = cast<RankedTensorType>(linear.getType());
  auto xType = cast<RankedTensorType>(linear.getX().getType());
  auto wShape = cast<RankedTensorType>(linear.getWeight().getType()).getShape();
  unsigned n = layout.numChains();
  SmallVector<Value> parts;
  for (unsigned i = 1; i <= n; ++i) {
    Location loc = chainLoc(linear.getLoc(), i);
    Value xi = linear.getX();
    if (i < n) {
      SmallVector<int64_t> shape(xType.getShape());
      shape.back() = layout.prefixWidth(shape.back(), i);
      xi = b.create<PrefixOp>(loc,
                              RankedTensorType::get(shape,
                                                    xType.getElementType(),
                                                    layout.prefix(i)),
                              linear.getX(), i);
    }
    int64_t rows =
        layout.chainEnd(wShape[0], i) - layout.chainBegin(wShape[0], i);
    int64_t cols = layout.prefixWidth(wShape[1], i);
    Value wi = b.create<WeightBlockOp>(
        loc, RankedTensorType::get({rows, cols}, outType.getElementType()),
        linear.getWeight(), i);
    SmallVector<int64_t> yShape(outType.getShape());
    yShape.back() = rows;
    parts.push_back(b.create<DenseOp>(
        loc, RankedTensorType::get(yShape, outType.getElementType()), xi, wi));
  }
  Value joined = b.create<ConcatOp>(linear.getLoc(), outType, parts);
  linear.getResult().replaceAllUsesWith(joined);
  linear.erase();
}

struct FoldMasksPass : public colm::chain::impl::FoldMasksBase<FoldMasksPass> {
  using FoldMasksBase::FoldMasksBase;

  void runOnOperation() override {
    // Lowering keeps every block on and below the diagonal; only in a
    // causal graph is that all the graph computes.
    if (failed(proveCausality(getOperation(), "chain-fold-masks")))
      return signalPassFailure();
    SmallVector<DenseOp> denses;
    getOperation().walk([&](DenseOp op) { denses.push_back(op); });
    for (DenseOp op : denses)
      (void)foldMaskedDense(op);
    if (!lowerLinears)
      return;
    SmallVector<LinearOp> linears;
    getOperation().walk([&](LinearOp op) { linears.push_back(op); });
    for (LinearOp op : linears)
      lowerLinear(op);
  }
};

} // namespace
