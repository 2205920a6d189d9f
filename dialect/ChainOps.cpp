//===- ChainOps.cpp - verifiers of the chain ops ----------------*- C++ -*-===//
//
// Verifiers check what makes one op well formed: ranks, shapes, and that
// every chained dimension splits exactly. Whether a whole graph obeys the
// causal rule is proven by the chain-verify-causality pass.
//
//===----------------------------------------------------------------------===//
#include "dialect/ChainDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"

#include <cmath>

using namespace mlir;
using namespace colm::chain;

#define GET_OP_CLASSES
#include "dialect/ChainOps.cpp.inc"

void colm::chain::nameResultFromLoc(Operation *op,
                                    OpAsmSetValueNameFn setNameFn) {
  if (op->getNumResults() != 1)
    return;
  Location loc = op->getLoc();
  if (auto fused = dyn_cast<FusedLoc>(loc))
    for (Location inner : fused.getLocations())
      if (isa<NameLoc>(inner))
        loc = inner;
  if (auto name = dyn_cast<NameLoc>(loc))
    setNameFn(op->getResult(0), name.getName().strref());
}

namespace {

// More heads than this is not a model; the bound keeps per-head loops short.
constexpr int64_t kMaxHeads = 1 << 20;

RankedTensorType ranked(Value v) { return cast<RankedTensorType>(v.getType()); }

/// Rank check with a message that names the operand.
LogicalResult expectRank(Operation *op, Value v, StringRef what, int64_t rank) {
  if (ranked(v).getRank() != rank)
    return op->emitOpError()
           << what << " must have rank " << rank << ", got " << v.getType();
  return success();
}

bool sameDim(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b;
}

/// Both layouts absent, or both present with equal ratios.
bool sameRatios(Attribute a, Attribute b) {
  auto ratiosOf = [](Attribute attr) -> std::optional<ArrayRef<int64_t>> {
    if (auto l = dyn_cast_or_null<LayoutAttr>(attr))
      return l.getRatios();
    if (auto bl = dyn_cast_or_null<BlocksAttr>(attr))
      return bl.getRatios();
    return std::nullopt;
  };
  return ratiosOf(a) == ratiosOf(b);
}

std::string describeLayout(Attribute attr) {
  if (auto l = dyn_cast_or_null<LayoutAttr>(attr))
    return "chains " + formatRatios(l.getRatios());
  if (auto b = dyn_cast_or_null<BlocksAttr>(attr))
    return "chain blocks " + formatRatios(b.getRatios());
  return "no chains";
}

/// `[T, in] x [out, in] -> [T, out]` shape rule of both linears.
LogicalResult verifyMatmulShapes(Operation *op, Value x, Value weight,
                                 Value result) {
  if (failed(expectRank(op, x, "input", 2)) ||
      failed(expectRank(op, weight, "weight", 2)) ||
      failed(expectRank(op, result, "result", 2)))
    return failure();
  auto xs = ranked(x).getShape(), ws = ranked(weight).getShape(),
       rs = ranked(result).getShape();
  if (!sameDim(xs[1], ws[1]))
    return op->emitOpError() << "input width " << xs[1]
                             << " does not match the weight's input dimension "
                             << ws[1] << " (weights are [out, in])";
  if (!sameDim(rs[1], ws[0]))
    return op->emitOpError()
           << "result width " << rs[1]
           << " does not match the weight's output dimension " << ws[0];
  if (!sameDim(rs[0], xs[0]))
    return op->emitOpError() << "result has " << rs[0]
                             << " positions but the input has " << xs[0];
  return success();
}

} // namespace

#define COLM_NAME_FROM_LOC(Op)                                                 \
  void Op::getAsmResultNames(OpAsmSetValueNameFn setNameFn) {                  \
    nameResultFromLoc(getOperation(), setNameFn);                              \
  }
COLM_NAME_FROM_LOC(EmbedOp)
COLM_NAME_FROM_LOC(NormOp)
COLM_NAME_FROM_LOC(AddOp)
COLM_NAME_FROM_LOC(MulOp)
COLM_NAME_FROM_LOC(SwigluOp)
COLM_NAME_FROM_LOC(LinearOp)
COLM_NAME_FROM_LOC(DenseOp)
COLM_NAME_FROM_LOC(LmHeadOp)
COLM_NAME_FROM_LOC(RopeOp)
COLM_NAME_FROM_LOC(AttentionOp)
COLM_NAME_FROM_LOC(CrossEntropyOp)
COLM_NAME_FROM_LOC(PrefixOp)
COLM_NAME_FROM_LOC(WeightBlockOp)
COLM_NAME_FROM_LOC(ConcatOp)
COLM_NAME_FROM_LOC(AppendOp)
#undef COLM_NAME_FROM_LOC

//===----------------------------------------------------------------------===//
// ParamOp
//===----------------------------------------------------------------------===//

void ParamOp::getAsmResultNames(OpAsmSetValueNameFn setNameFn) {
  if (isa<NameLoc>(getLoc())) {
    nameResultFromLoc(getOperation(), setNameFn);
    return;
  }
  // "model.layers.3.self_attn.q_proj.weight" -> "l3.q_proj",
  // "blocks.0.norm.weight" -> "b0.norm".
  SmallVector<StringRef> parts;
  getName().split(parts, '.');
  std::string hint =
      (parts.size() >= 2 && parts.back() == "weight" ? parts[parts.size() - 2]
                                                     : parts.back())
          .str();
  for (size_t i = 1; i + 1 < parts.size(); ++i)
    if (!parts[i].empty() && llvm::all_of(parts[i], llvm::isDigit) &&
        !parts[i - 1].empty()) {
      hint = parts[i - 1].take_front(1).str() + parts[i].str() + "." + hint;
      break;
    }
  setNameFn(getResult(), hint);
}

LogicalResult ParamOp::verify() {
  if (getName().empty())
    return emitOpError("needs a non-empty parameter name");
  if (!ranked(getResult()).hasStaticShape())
    return emitOpError() << "parameter '" << getName()
                         << "' must have a static shape, got "
                         << getResult().getType();
  return success();
}

//===----------------------------------------------------------------------===//
// EmbedOp
//===----------------------------------------------------------------------===//

LogicalResult EmbedOp::verify() {
  if (failed(expectRank(*this, getTable(), "table", 2)) ||
      failed(expectRank(*this, getTokens(), "tokens", 1)) ||
      failed(expectRank(*this, getResult(), "result", 2)))
    return failure();
  auto ts = ranked(getTable()).getShape(), rs = ranked(getResult()).getShape();
  if (!sameDim(rs[0], ranked(getTokens()).getShape()[0]))
    return emitOpError("result must have one row per token");
  LayoutAttr table = getLayout(getTable().getType()),
             result = getLayout(getResult().getType());
  if (!table) {
    if (result || rs[1] != ts[1])
      return emitOpError() << "result must be [T, " << ts[1]
                           << "] with no chains, like the table";
    return success();
  }
  for (unsigned k = 1; k <= table.numChains(); ++k)
    if (rs[1] == table.prefixWidth(ts[1], k) && result == table.prefix(k))
      return success();
  return emitOpError() << "result " << getResult().getType()
                       << " is not a chain prefix of the table "
                       << getTable().getType();
}

//===----------------------------------------------------------------------===//
// NormOp
//===----------------------------------------------------------------------===//

LayoutAttr NormOp::getStatsLayout() {
  if (auto stats = getStatsAttr())
    return stats;
  if (auto layout = getLayout(getX().getType()))
    return layout;
  return LayoutAttr::get(getContext(), {1});
}

LogicalResult NormOp::verify() {
  if (failed(expectRank(*this, getGain(), "gain", 1)))
    return failure();
  int64_t width = lastDim(getX().getType());
  if (ranked(getGain()).getShape()[0] != width)
    return emitOpError() << "gain has " << ranked(getGain()).getShape()[0]
                         << " entries but the input width is " << width;
  if (!sameRatios(getLayout(getGain().getType()), getLayout(getX().getType())))
    return emitOpError() << "gain has "
                         << describeLayout(getLayout(getGain().getType()))
                         << " but the input has "
                         << describeLayout(getLayout(getX().getType()));
  if (!getStatsLayout().divides(width))
    return emitOpError() << "width " << width
                         << " does not split into the statistics groups "
                         << formatRatios(getStatsLayout().getRatios());
  if (!(getEps().convertToDouble() >= 0) ||
      !std::isfinite(getEps().convertToDouble()))
    return emitOpError("eps must be a non-negative number");
  return success();
}

//===----------------------------------------------------------------------===//
// Element-wise ops
//===----------------------------------------------------------------------===//

LogicalResult AddOp::verify() { return success(); }
LogicalResult AppendOp::verify() {
  if (ranked(getResult()).getRank() != 2)
    return emitOpError("appends rows of [T, width] values");
  return success();
}
LogicalResult MulOp::verify() { return success(); }
LogicalResult SwigluOp::verify() { return success(); }

//===----------------------------------------------------------------------===//
// LinearOp, DenseOp
//===----------------------------------------------------------------------===//

LogicalResult LinearOp::verify() {
  if (failed(verifyMatmulShapes(*this, getX(), getWeight(), getResult())))
    return failure();
  BlocksAttr blocks = getBlocks(getWeight().getType());
  if (!blocks)
    return emitOpError() << "weight must carry #chain.blocks<...>, got "
                         << getWeight().getType()
                         << " (use chain.dense for a dense matmul)";
  LayoutAttr in = getLayout(getX().getType()),
             out = getLayout(getResult().getType());
  if (!in || in.getRatios() != blocks.getRatios())
    return emitOpError() << "input has " << describeLayout(in)
                         << " but the weight has " << describeLayout(blocks);
  if (!out || out.getRatios() != blocks.getRatios())
    return emitOpError() << "result has " << describeLayout(out)
                         << " but the weight has " << describeLayout(blocks);
  return success();
}

LogicalResult DenseOp::verify() {
  if (failed(verifyMatmulShapes(*this, getX(), getWeight(), getResult())))
    return failure();
  if (getBlocks(getWeight().getType()))
    return emitOpError("weight carries chain blocks; use chain.linear");
  return success();
}

//===----------------------------------------------------------------------===//
// LmHeadOp
//===----------------------------------------------------------------------===//

unsigned LmHeadOp::getNumHeadChains() {
  if (auto k = getChains())
    return *k;
  LayoutAttr layout = getLayout(getX().getType());
  return layout ? layout.numChains() : 1;
}

LogicalResult LmHeadOp::verify() {
  if (failed(verifyMatmulShapes(*this, getX(), getWeight(), getResult())))
    return failure();
  LayoutAttr x = getLayout(getX().getType()),
             w = getLayout(getWeight().getType());
  if (!sameRatios(x, w))
    return emitOpError() << "input has " << describeLayout(x)
                         << " but the head weight has " << describeLayout(w);
  uint64_t n = x ? x.numChains() : 1;
  if (getChains() && *getChains() > n)
    return emitOpError() << "uses " << *getChains()
                         << " chains but the input has only " << n;
  if (getResult().getType() !=
      RankedTensorType::get(ranked(getResult()).getShape(),
                            ranked(getResult()).getElementType()))
    return emitOpError("logits carry no chain layout");
  return success();
}

//===----------------------------------------------------------------------===//
// RopeOp, AttentionOp
//===----------------------------------------------------------------------===//

LogicalResult RopeOp::verify() {
  if (failed(expectRank(*this, getX(), "input", 2)))
    return failure();
  if (getPositions() && (ranked(getPositions()).getRank() != 1 ||
                         !sameDim(ranked(getPositions()).getShape()[0],
                                  ranked(getX()).getShape()[0])))
    return emitOpError("needs positions [T]: one per row");
  int64_t hd = getHeadDim(), width = lastDim(getX().getType());
  if (hd % 2 != 0)
    return emitOpError() << "head_dim " << hd << " must be even for RoPE";
  if (width % hd != 0)
    return emitOpError() << "width " << width
                         << " is not a whole number of heads of size " << hd;
  if (!(getTheta().convertToDouble() > 0) ||
      !std::isfinite(getTheta().convertToDouble()))
    return emitOpError("theta must be a positive number");
  if (ShapedType::isDynamic(width) || width / hd > kMaxHeads)
    return emitOpError() << "width " << width << " must be static and at most "
                         << kMaxHeads << " heads";
  return success();
}

int64_t AttentionOp::getNumHeads() {
  return lastDim(getQ().getType()) / getHeadDim();
}
int64_t AttentionOp::getNumKvHeads() {
  return lastDim(getK().getType()) / getHeadDim();
}
int64_t AttentionOp::kvHeadOf(int64_t j) {
  if (getKvMapping() == KvMapping::tiled)
    return j % getNumKvHeads();
  return j * getNumKvHeads() / getNumHeads();
}

LogicalResult AttentionOp::verify() {
  for (auto [v, name] :
       {std::pair{getQ(), "query"}, {getK(), "key"}, {getV(), "value"}})
    if (failed(expectRank(*this, v, name, 2)))
      return failure();
  if (getK().getType() != getV().getType())
    return emitOpError() << "keys " << getK().getType() << " and values "
                         << getV().getType() << " must have the same type";
  int64_t hd = getHeadDim();
  int64_t qw = lastDim(getQ().getType()), kw = lastDim(getK().getType());
  if (qw % hd != 0 || kw % hd != 0)
    return emitOpError() << "query width " << qw << " and key/value width "
                         << kw << " must be whole numbers of heads of size "
                         << hd;
  int64_t tq = ranked(getQ()).getShape()[0], tk = ranked(getK()).getShape()[0];
  if (!ShapedType::isDynamic(tq) && !ShapedType::isDynamic(tk) && tq > tk)
    return emitOpError() << tq << " queries but only " << tk
                         << " keys: queries are the last positions of the keys";
  int64_t h = qw / hd, hkv = kw / hd;
  if (ShapedType::isDynamic(qw) || ShapedType::isDynamic(kw) || h > kMaxHeads ||
      hkv > kMaxHeads)
    return emitOpError() << "query and key widths must be static and at most "
                         << kMaxHeads << " heads";
  if (h == 0 || hkv == 0)
    return emitOpError("needs at least one query head and one key/value head");
  if (h % hkv != 0)
    return emitOpError() << "num_heads " << h
                         << " is not a multiple of num_kv_heads " << hkv;
  return success();
}

//===----------------------------------------------------------------------===//
// CrossEntropyOp
//===----------------------------------------------------------------------===//

LogicalResult CrossEntropyOp::verify() {
  if (failed(expectRank(*this, getLogits(), "logits", 2)) ||
      failed(expectRank(*this, getTargets(), "targets", 1)))
    return failure();
  if (!sameDim(ranked(getLogits()).getShape()[0],
               ranked(getTargets()).getShape()[0]))
    return emitOpError("needs one target per row of logits");
  return success();
}

//===----------------------------------------------------------------------===//
// PrefixOp, WeightBlockOp, ConcatOp
//===----------------------------------------------------------------------===//

LogicalResult PrefixOp::verify() {
  LayoutAttr in = getLayout(getX().getType());
  if (!in)
    return emitOpError("input carries no chain layout");
  if (getChains() > uint64_t(in.numChains()))
    return emitOpError() << "takes " << getChains()
                         << " chains of a value with " << in.numChains();
  auto xs = ranked(getX()).getShape();
  SmallVector<int64_t> shape(xs);
  shape.back() = in.prefixWidth(xs.back(), getChains());
  auto expected = RankedTensorType::get(shape, ranked(getX()).getElementType(),
                                        in.prefix(getChains()));
  if (getResult().getType() != expected)
    return emitOpError() << "result must be " << expected;
  return success();
}

LogicalResult WeightBlockOp::verify() {
  BlocksAttr blocks = getBlocks(getWeight().getType());
  if (!blocks)
    return emitOpError("weight carries no #chain.blocks encoding");
  if (getOutChain() > blocks.numChains())
    return emitOpError() << "out_chain " << getOutChain()
                         << " of a weight with " << blocks.numChains()
                         << " chains";
  unsigned i = static_cast<unsigned>(getOutChain());
  auto ws = ranked(getWeight()).getShape();
  auto expected = RankedTensorType::get(
      {blocks.chainEnd(ws[0], i) - blocks.chainBegin(ws[0], i),
       blocks.prefixWidth(ws[1], i)},
      ranked(getWeight()).getElementType());
  if (getResult().getType() != expected)
    return emitOpError() << "result must be " << expected;
  return success();
}

LogicalResult ConcatOp::verify() {
  LayoutAttr out = getLayout(getResult().getType());
  if (!out)
    return emitOpError("result carries no chain layout");
  if (getInputs().size() != out.numChains())
    return emitOpError() << "needs one input per chain (" << out.numChains()
                         << "), got " << getInputs().size();
  auto rs = ranked(getResult()).getShape();
  for (auto [i, in] : llvm::enumerate(getInputs())) {
    auto s = ranked(in).getShape();
    int64_t want =
        out.chainEnd(rs.back(), i + 1) - out.chainBegin(rs.back(), i + 1);
    if (s.size() != rs.size() || s.back() != want ||
        !sameDim(s.front(), rs.front()))
      return emitOpError() << "input " << i + 1 << " is " << in.getType()
                           << " but chain " << i + 1 << " of the result is "
                           << want << " wide";
  }
  return success();
}
