//===- FuseGemmSwiglu.cpp - SwiGLU into the epilogue of GEMMs ---*- C++ -*-===//
//
// chain.swiglu(g, u), where u is the up projection (a linear or dense GEMM)
// and nothing reads u before the SwiGLU, becomes a chain.fused gemm_swiglu
// group: the up projection's GEMM applies the SwiGLU as it stores, and keeps
// u only if something else reads it (the backward pass). And
// chain.swiglu_grad(g, u, dh), where dh is an input-grad GEMM (the down
// projection's) with no other use, becomes a gemm_swiglu_grad group: dh is
// never stored, the GEMM writes dgate and dup.
//
//===----------------------------------------------------------------------===//
#include "passes/Passes.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"

namespace colm::chain {
#define GEN_PASS_DEF_FUSEGEMMSWIGLU
#include "passes/Passes.h.inc"
} // namespace colm::chain

using namespace mlir;
using namespace colm::chain;

namespace {

/// A group at `at` of `kind` over `product` (moved inside, taking inputs #0
/// and #1) followed by a clone of `at` whose other operands are `extra`
/// (inputs #2...). Yields `at`'s results, then `product`'s if `keepProduct`.
FusedOp buildGroup(Operation *at, Operation *product, ValueRange extra,
                   FusionKind kind, bool keepProduct) {
  OpBuilder b(at);
  SmallVector<Value> inputs{product->getOperand(0), product->getOperand(1)};
  inputs.append(extra.begin(), extra.end());
  SmallVector<Type> types(at->getResultTypes());
  if (keepProduct)
    types.push_back(product->getResult(0).getType());
  auto group = b.create<FusedOp>(at->getLoc(), types, inputs, kind);
  Block *body = b.createBlock(&group.getBody());
  for (Value in : inputs)
    body->addArgument(in.getType(), in.getLoc());
  b.setInsertionPointToStart(body);
  IRMapping productMap;
  productMap.map(inputs[0], body->getArgument(0));
  productMap.map(inputs[1], body->getArgument(1));
  Operation *inner = b.clone(*product, productMap);
  IRMapping epilogueMap;
  for (auto [i, v] : llvm::enumerate(extra))
    epilogueMap.map(v, body->getArgument(2 + i));
  epilogueMap.map(product->getResult(0), inner->getResult(0));
  Operation *epilogue = b.clone(*at, epilogueMap);
  SmallVector<Value> yields(epilogue->getResults());
  if (keepProduct)
    yields.push_back(inner->getResult(0));
  b.create<YieldOp>(at->getLoc(), yields);
  return group;
}

void fuseForward(SwigluOp swiglu) {
  Value up = swiglu.getUp();
  Operation *product = up.getDefiningOp();
  if (!product || !isa<LinearOp, DenseOp>(product) ||
      product->getBlock() != swiglu->getBlock() || up == swiglu.getGate())
    return;
  // The group replaces u where the SwiGLU is: every other reader must come
  // after it.
  bool keep = false;
  for (OpOperand &use : up.getUses()) {
    if (use.getOwner() == swiglu)
      continue;
    if (use.getOwner()->getBlock() != swiglu->getBlock() ||
        !swiglu->isBeforeInBlock(use.getOwner()))
      return;
    keep = true;
  }
  FusedOp group = buildGroup(swiglu, product, ValueRange{swiglu.getGate()},
                             FusionKind::gemm_swiglu, keep);
  swiglu.getResult().replaceAllUsesWith(group.getResult(0));
  if (keep)
    up.replaceAllUsesWith(group.getResult(1));
  swiglu.erase();
  product->erase();
}

void fuseBackward(SwigluGradOp grad) {
  Value dh = grad.getDy();
  Operation *product = dh.getDefiningOp();
  if (!product || !isa<LinearGradXOp, DenseGradXOp>(product) ||
      product->getBlock() != grad->getBlock() || !dh.hasOneUse())
    return;
  FusedOp group =
      buildGroup(grad, product, ValueRange{grad.getGate(), grad.getUp()},
                 FusionKind::gemm_swiglu_grad, false);
  grad.getDgate().replaceAllUsesWith(group.getResult(0));
  grad.getDup().replaceAllUsesWith(group.getResult(1));
  grad.erase();
  product->erase();
}

struct FuseGemmSwigluPass
    : public colm::chain::impl::FuseGemmSwigluBase<FuseGemmSwigluPass> {
  void runOnOperation() override {
    SmallVector<Operation *> candidates;
    for (Operation &op : getOperation().getBody().front())
      if (isa<SwigluOp, SwigluGradOp>(op))
        candidates.push_back(&op);
    for (Operation *op : candidates) {
      if (auto swiglu = dyn_cast<SwigluOp>(op))
        fuseForward(swiglu);
      else
        fuseBackward(cast<SwigluGradOp>(op));
    }
  }
};

} // namespace
