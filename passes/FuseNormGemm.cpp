//===- FuseNormGemm.cpp - RMSNorm into the prologue of GEMMs ----*- C++ -*-===//
//
// A grouped GEMM (chain.fused grouped_gemm or grouped_gemm_swiglu, from
// chain-group-gemms) whose shared input is a chain.norm becomes the norm_*
// group: the kernel normalises the rows as it packs them, with the norm
// kernel's arithmetic, so the bits do not change. When something else reads
// the norm (a weight gradient in training, CoLM-Air's chain-1 prefix), the
// group yields it last.
//
//===----------------------------------------------------------------------===//
#include "passes/Passes.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"

namespace colm::chain {
#define GEN_PASS_DEF_FUSENORMGEMM
#include "passes/Passes.h.inc"
} // namespace colm::chain

using namespace mlir;
using namespace colm::chain;

namespace {

void fuse(FusedOp group) {
  FusionKind kind;
  if (group.getKind() == FusionKind::grouped_gemm)
    kind = FusionKind::norm_grouped_gemm;
  else if (group.getKind() == FusionKind::grouped_gemm_swiglu)
    kind = FusionKind::norm_grouped_gemm_swiglu;
  else
    return;
  Value y = group.getInputs()[0];
  auto norm = y.getDefiningOp<NormOp>();
  if (!norm || norm->getBlock() != group->getBlock())
    return;
  // The group computes the norm where it is: every other reader must come
  // after it.
  bool keep = false;
  for (Operation *user : y.getUsers()) {
    if (user == group)
      continue;
    if (user->getBlock() != group->getBlock() || !group->isBeforeInBlock(user))
      return;
    keep = true;
  }
  OpBuilder b(group);
  SmallVector<Value> inputs{norm.getX(), norm.getGain()};
  inputs.append(group.getInputs().begin() + 1, group.getInputs().end());
  SmallVector<Type> types(group.getResultTypes());
  if (keep)
    types.push_back(y.getType());
  auto fused = b.create<FusedOp>(group.getLoc(), types, inputs, kind);
  Block *body = b.createBlock(&fused.getBody());
  for (Value in : inputs)
    body->addArgument(in.getType(), in.getLoc());
  b.setInsertionPointToStart(body);
  IRMapping map;
  map.map(norm.getX(), body->getArgument(0));
  map.map(norm.getGain(), body->getArgument(1));
  Operation *inner = b.clone(*norm, map);
  // The old body, its shared input now the norm and its weights shifted.
  Block &old = group.getBody().front();
  IRMapping bodyMap;
  bodyMap.map(old.getArgument(0), inner->getResult(0));
  for (unsigned i = 1; i < old.getNumArguments(); ++i)
    bodyMap.map(old.getArgument(i), body->getArgument(i + 1));
  for (Operation &op : old.without_terminator())
    b.clone(op, bodyMap);
  SmallVector<Value> yields;
  for (Value v : cast<YieldOp>(old.getTerminator()).getValues())
    yields.push_back(bodyMap.lookup(v));
  if (keep)
    yields.push_back(inner->getResult(0));
  b.create<YieldOp>(group.getLoc(), yields);
  for (unsigned i = 0; i < group.getNumResults(); ++i)
    group.getResult(i).replaceAllUsesWith(fused.getResult(i));
  if (keep)
    y.replaceAllUsesExcept(fused.getResults().back(), group);
  group.erase();
  norm.erase();
}

struct FuseNormGemmPass
    : public colm::chain::impl::FuseNormGemmBase<FuseNormGemmPass> {
  void runOnOperation() override {
    for (FusedOp f : fusionGroups(getOperation()))
      fuse(f);
  }
};

} // namespace
