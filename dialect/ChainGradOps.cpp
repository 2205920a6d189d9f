//===- ChainGradOps.cpp - verifiers of the backward ops ---------*- C++ -*-===//
#include "dialect/ChainDialect.h"

using namespace mlir;
using namespace colm::chain;

namespace {

ArrayRef<int64_t> shapeOf(Value v) {
  return cast<RankedTensorType>(v.getType()).getShape();
}

/// `v` must have exactly the type of `like` (a gradient has its value's type).
LogicalResult expectSameType(Operation *op, Value v, Value like,
                             StringRef what) {
  if (v.getType() != like.getType())
    return op->emitOpError() << what << " must have type " << like.getType()
                             << ", got " << v.getType();
  return success();
}

bool sameDim(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b;
}

LogicalResult expectRank2(Operation *op, Value v, StringRef what) {
  if (shapeOf(v).size() != 2)
    return op->emitOpError()
           << what << " must have rank 2, got " << v.getType();
  return success();
}

/// `v` is `[width of rowsOf, width of colsOf]` (a weight gradient); a
/// dynamic size matches anything, as in the forward ops.
LogicalResult expectMatrix(Operation *op, Value v, Value rowsOf, Value colsOf,
                           StringRef what) {
  if (failed(expectRank2(op, v, what)) ||
      failed(expectRank2(op, rowsOf, "operand")) ||
      failed(expectRank2(op, colsOf, "operand")))
    return failure();
  int64_t rows = shapeOf(rowsOf)[1], cols = shapeOf(colsOf)[1];
  auto s = shapeOf(v);
  if (!sameDim(s[0], rows) || !sameDim(s[1], cols))
    return op->emitOpError() << what << " must be [" << rows << ", " << cols
                             << "], got " << v.getType();
  return success();
}

/// `v` is `[T, width]` where width is dimension `dim` of `of`.
LogicalResult expectWidth(Operation *op, Value v, Value of, unsigned dim,
                          StringRef what) {
  if (failed(expectRank2(op, v, what)) ||
      failed(expectRank2(op, of, "operand")))
    return failure();
  int64_t width = shapeOf(of)[dim];
  if (!sameDim(shapeOf(v)[1], width))
    return op->emitOpError()
           << what << " must be [T, " << width << "], got " << v.getType();
  return success();
}

} // namespace

#define COLM_NAME_FROM_LOC(Op)                                                 \
  void Op::getAsmResultNames(OpAsmSetValueNameFn setNameFn) {                  \
    nameResultFromLoc(getOperation(), setNameFn);                              \
  }
COLM_NAME_FROM_LOC(EmbedGradOp)
COLM_NAME_FROM_LOC(NormGradOp)
COLM_NAME_FROM_LOC(LinearGradXOp)
COLM_NAME_FROM_LOC(LinearGradWOp)
COLM_NAME_FROM_LOC(DenseGradXOp)
COLM_NAME_FROM_LOC(DenseGradWOp)
COLM_NAME_FROM_LOC(AttentionGradOp)
COLM_NAME_FROM_LOC(SwigluGradOp)
COLM_NAME_FROM_LOC(LmHeadGradXOp)
COLM_NAME_FROM_LOC(LmHeadGradWOp)
COLM_NAME_FROM_LOC(CrossEntropyGradOp)
COLM_NAME_FROM_LOC(ExtendOp)
COLM_NAME_FROM_LOC(WeightedSumOp)
#undef COLM_NAME_FROM_LOC

LogicalResult EmbedGradOp::verify() {
  auto r = shapeOf(getResult()), dy = shapeOf(getDy());
  if (r.size() != 2 || dy.size() != 2 || ShapedType::isDynamic(r[1]) ||
      ShapedType::isDynamic(dy[1]) || dy[1] > r[1])
    return emitOpError() << "result must be a [V, D] table at least as wide "
                         << "as the gradient " << getDy().getType();
  return success();
}

LayoutAttr NormGradOp::getStatsLayout() {
  if (auto stats = getStatsAttr())
    return stats;
  if (auto layout = getLayout(getX().getType()))
    return layout;
  return LayoutAttr::get(getContext(), {1});
}

LogicalResult NormGradOp::verify() {
  if (failed(expectSameType(*this, getDy(), getX(), "dy")) ||
      failed(expectSameType(*this, getDx(), getX(), "dx")))
    return failure();
  return expectSameType(*this, getDgain(), getGain(), "dgain");
}

LogicalResult LinearGradXOp::verify() {
  BlocksAttr blocks = getBlocks(getWeight().getType());
  if (!blocks)
    return emitOpError("weight carries no #chain.blocks encoding");
  if (failed(expectWidth(*this, getDy(), getWeight(), 0, "dy")))
    return failure();
  return expectWidth(*this, getResult(), getWeight(), 1, "dx");
}

LogicalResult LinearGradWOp::verify() {
  if (!getBlocks(getResult().getType()))
    return emitOpError("result must carry #chain.blocks");
  return expectMatrix(*this, getResult(), getDy(), getX(), "dW");
}

LogicalResult DenseGradXOp::verify() {
  if (failed(expectWidth(*this, getDy(), getWeight(), 0, "dy")))
    return failure();
  return expectWidth(*this, getResult(), getWeight(), 1, "dx");
}

LogicalResult DenseGradWOp::verify() {
  return expectMatrix(*this, getResult(), getDy(), getX(), "dW");
}

LogicalResult AttentionGradOp::verify() {
  if (failed(expectSameType(*this, getDout(), getQ(), "dout")) ||
      failed(expectSameType(*this, getDq(), getQ(), "dq")) ||
      failed(expectSameType(*this, getDk(), getK(), "dk")))
    return failure();
  return expectSameType(*this, getDv(), getV(), "dv");
}

LogicalResult SwigluGradOp::verify() {
  for (Value v : {getUp(), getDy(), getDgate(), getDup()})
    if (failed(expectSameType(*this, v, getGate(), "every operand and result")))
      return failure();
  return success();
}

LogicalResult LmHeadGradXOp::verify() {
  return expectWidth(*this, getResult(), getWeight(), 1, "dx");
}

LogicalResult LmHeadGradWOp::verify() {
  return expectMatrix(*this, getResult(), getDlogits(), getX(), "dW");
}

LogicalResult CrossEntropyGradOp::verify() {
  return expectSameType(*this, getResult(), getLogits(), "dlogits");
}

LogicalResult ExtendOp::verify() {
  LayoutAttr in = getLayout(getX().getType()),
             out = getLayout(getResult().getType());
  if (!in || !out || in.numChains() > out.numChains() ||
      out.prefix(in.numChains()) != in ||
      out.prefixWidth(lastDim(getResult().getType()), in.numChains()) !=
          lastDim(getX().getType()))
    return emitOpError() << getX().getType()
                         << " is not a chain prefix of the result "
                         << getResult().getType();
  return success();
}

LogicalResult WeightedSumOp::verify() {
  if (getWeights().size() != getInputs().size())
    return emitOpError() << "has " << getInputs().size() << " inputs but "
                         << getWeights().size() << " weights";
  return success();
}
