//===- ShareKv.cpp - CoLM to CoLM-Air ---------------------------*- C++ -*-===//
#include "passes/CausalityAnalysis.h"
#include "passes/Passes.h"

#include "mlir/IR/Builders.h"

namespace colm::chain {
#define GEN_PASS_DEF_SHAREKV
#include "passes/Passes.h.inc"
} // namespace colm::chain

using namespace mlir;
using namespace colm::chain;

namespace {

/// The chain linear that produces `v`, looking through RoPE.
LinearOp findProjection(Value v) {
  if (auto rope = v.getDefiningOp<RopeOp>())
    v = rope.getX();
  return v.getDefiningOp<LinearOp>();
}

struct ShareKvPass : public colm::chain::impl::ShareKvBase<ShareKvPass> {
  void runOnOperation() override {
    SmallVector<AttentionOp> attentions;
    getOperation().walk([&](AttentionOp op) {
      if (op.getKvMapping() == KvMapping::grouped)
        attentions.push_back(op);
    });
    for (AttentionOp attn : attentions)
      if (failed(rewrite(attn)))
        return signalPassFailure();
    // Keys and values are replaced, so their old split does not matter (a
    // CoLM with too few key/value heads per chain still becomes a CoLM-Air);
    // the result must obey the rule.
    if (failed(proveCausality(getOperation(), "chain-share-kv")))
      return signalPassFailure();
  }

  LogicalResult rewrite(AttentionOp attn) {
    LinearOp kProj = findProjection(attn.getK());
    LinearOp vProj = findProjection(attn.getV());
    if (!kProj || !vProj || kProj.getX() != vProj.getX())
      return attn.emitError("chain-share-kv: keys and values must be chain "
                            "linears (keys optionally through chain.rope) of "
                            "one normalised input");
    if (kProj == vProj)
      return attn.emitError("chain-share-kv: keys and values come from the "
                            "same projection; CoLM has one for each");
    for (LinearOp proj : {kProj, vProj})
      if (!proj->hasOneUse())
        return proj.emitError("chain-share-kv: this key/value projection has "
                              "other uses than the attention");
    // The rope between projection and attention changes type with them.
    for (Value kv : {attn.getK(), attn.getV()})
      if (auto rope = kv.getDefiningOp<RopeOp>(); rope && !rope->hasOneUse())
        return rope.emitError("chain-share-kv: these rotated keys/values have "
                              "other uses than the attention");
    Value a = kProj.getX();
    LayoutAttr layout = getLayout(a.getType());
    LayoutAttr qLayout = getLayout(attn.getQ().getType());
    if (!qLayout || !layout)
      return attn.emitError("chain-share-kv: queries and the normalised input "
                            "must be chained");
    int64_t hd = attn.getHeadDim();
    int64_t qWidth = lastDim(attn.getQ().getType());
    int64_t kvWidth = lastDim(attn.getK().getType());
    int64_t hkv = kvWidth / hd;
    // Tiled sharing needs every chain's query heads to be whole copies of
    // the h_kv key/value heads.
    for (unsigned i = 1; i <= qLayout.numChains(); ++i) {
      int64_t heads =
          (qLayout.chainEnd(qWidth, i) - qLayout.chainBegin(qWidth, i)) / hd;
      if (heads % hkv != 0)
        return attn.emitError()
               << "chain-share-kv: chain " << i << " has " << heads
               << " query heads, not a multiple of num_kv_heads " << hkv
               << " (CoLM-Air needs every chain ratio to be a multiple of "
               << "num_key_value_heads)";
    }

    OpBuilder b(attn.getContext());
    b.setInsertionPointAfterValue(a);
    auto aType = cast<RankedTensorType>(a.getType());
    SmallVector<int64_t> a1Shape(aType.getShape());
    int64_t d1 = layout.prefixWidth(a1Shape.back(), 1);
    a1Shape.back() = d1;
    auto a1Type = RankedTensorType::get(a1Shape, aType.getElementType(),
                                        layout.prefix(1));
    std::string a1Name = "a_c1";
    if (auto name = dyn_cast<NameLoc>(a.getLoc()))
      a1Name = name.getName().str() + "_c1";
    Location a1Loc = NameLoc::get(b.getStringAttr(a1Name), a.getLoc());
    Value a1 = b.create<PrefixOp>(a1Loc, a1Type, a, 1);

    auto rewriteProjection = [&](LinearOp proj) -> LogicalResult {
      auto param = proj.getWeight().getDefiningOp<ParamOp>();
      if (!param)
        return proj.emitError("chain-share-kv: projection weight must be a "
                              "chain.param");
      OpBuilder pb(param);
      auto wType = RankedTensorType::get({kvWidth, d1}, b.getF32Type());
      Value w = pb.create<ParamOp>(param.getLoc(), wType, param.getNameAttr());
      OpBuilder db(proj);
      auto outType = RankedTensorType::get(
          cast<RankedTensorType>(proj.getType()).getShape(), b.getF32Type());
      Value out = db.create<DenseOp>(proj.getLoc(), outType, a1, w);
      for (OpOperand &use : llvm::make_early_inc_range(proj->getUses())) {
        use.set(out);
        if (auto rope = dyn_cast<RopeOp>(use.getOwner()))
          rope.getResult().setType(outType);
      }
      proj.erase();
      if (param->use_empty())
        param.erase();
      return success();
    };
    if (failed(rewriteProjection(kProj)) || failed(rewriteProjection(vProj)))
      return failure();
    attn.setKvMapping(KvMapping::tiled);
    return success();
  }
};

} // namespace
