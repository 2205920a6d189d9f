//===- FuseGemmRope.cpp - RoPE into the epilogue of GEMMs -------*- C++ -*-===//
//
// chain.rope of a product of a grouped GEMM (q and k of an attention block,
// k of CoLM-Air), where the rope is the product's only reader, moves into
// the group: the kernel rotates each head once its columns are final, with
// the RoPE kernel's own arithmetic, so the bits do not change and the
// unrotated product is never stored.
//
//===----------------------------------------------------------------------===//
#include "passes/Passes.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"

namespace colm::chain {
#define GEN_PASS_DEF_FUSEGEMMROPE
#include "passes/Passes.h.inc"
} // namespace colm::chain

using namespace mlir;
using namespace colm::chain;

namespace {

/// The rope that is the only reader of `v`, if it can join the group: a
/// forward rotation after the group, at positions defined before it.
RopeOp ropeOf(FusedOp group, Value v) {
  if (!v.hasOneUse())
    return {};
  auto rope = dyn_cast<RopeOp>(*v.getUsers().begin());
  if (!rope || rope.getInverse() || rope->getBlock() != group->getBlock())
    return {};
  if (Value p = rope.getPositions())
    if (Operation *def = p.getDefiningOp();
        def &&
        (def->getBlock() != group->getBlock() || !def->isBeforeInBlock(group)))
      return {};
  return rope;
}

void fuse(FusedOp group) {
  if (group.getKind() != FusionKind::grouped_gemm &&
      group.getKind() != FusionKind::norm_grouped_gemm)
    return;
  Block &old = group.getBody().front();
  if (llvm::any_of(old, [](Operation &op) { return isa<RopeOp>(op); }))
    return; // already fused
  auto yield = cast<YieldOp>(old.getTerminator());
  // The products' ropes: one head size, theta and positions for all (the
  // kernel's one epilogue).
  SmallVector<RopeOp> ropes(group.getNumResults());
  RopeOp any;
  for (unsigned i = 0; i < group.getNumResults(); ++i) {
    if (!isa_and_nonnull<LinearOp, DenseOp>(
            yield.getValues()[i].getDefiningOp()))
      continue; // the kept norm
    RopeOp r = ropeOf(group, group.getResult(i));
    if (!r)
      continue;
    if (any &&
        (r.getHeadDim() != any.getHeadDim() || r.getTheta() != any.getTheta() ||
         r.getPositions() != any.getPositions()))
      continue;
    ropes[i] = r;
    any = any ? any : r;
  }
  if (!any)
    return;
  OpBuilder b(group);
  SmallVector<Value> inputs(group.getInputs());
  if (any.getPositions())
    inputs.push_back(any.getPositions());
  auto fused = b.create<FusedOp>(group.getLoc(), group.getResultTypes(), inputs,
                                 group.getKind());
  Block *body = b.createBlock(&fused.getBody());
  for (Value in : inputs)
    body->addArgument(in.getType(), in.getLoc());
  b.setInsertionPointToStart(body);
  IRMapping map;
  for (unsigned i = 0; i < old.getNumArguments(); ++i)
    map.map(old.getArgument(i), body->getArgument(i));
  for (Operation &op : old.without_terminator())
    b.clone(op, map);
  SmallVector<Value> yields;
  for (Value v : yield.getValues())
    yields.push_back(map.lookup(v));
  for (unsigned i = 0; i < ropes.size(); ++i) {
    if (!ropes[i])
      continue;
    IRMapping ropeMap;
    ropeMap.map(group.getResult(i), yields[i]);
    if (any.getPositions())
      ropeMap.map(any.getPositions(), body->getArguments().back());
    yields[i] = b.clone(*ropes[i], ropeMap)->getResult(0);
  }
  b.create<YieldOp>(group.getLoc(), yields);
  for (unsigned i = 0; i < group.getNumResults(); ++i) {
    if (ropes[i]) {
      ropes[i].getResult().replaceAllUsesWith(fused.getResult(i));
      ropes[i].erase();
    } else {
      group.getResult(i).replaceAllUsesWith(fused.getResult(i));
    }
  }
  group.erase();
}

struct FuseGemmRopePass
    : public colm::chain::impl::FuseGemmRopeBase<FuseGemmRopePass> {
  void runOnOperation() override {
    for (FusedOp f : fusionGroups(getOperation()))
      fuse(f);
  }
};

} // namespace
