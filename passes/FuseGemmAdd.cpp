//===- FuseGemmAdd.cpp - adds into the epilogue of GEMMs --------*- C++ -*-===//
//
// chain.add(product, r), where the product (a linear, dense or input-grad
// GEMM) has no other use, becomes one chain.fused gemm_add group: the GEMM
// adds r as it stores its result. The residual adds of a forward layer and
// the sums of input gradients of a backward layer take this form.
//
//===----------------------------------------------------------------------===//
#include "passes/Passes.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"

namespace colm::chain {
#define GEN_PASS_DEF_FUSEGEMMADD
#include "passes/Passes.h.inc"
} // namespace colm::chain

using namespace mlir;
using namespace colm::chain;

namespace {

/// The GEMM defining `v` if it can move into a group at `add`: defined in
/// the same block and used by nothing else.
Operation *fusableProduct(Value v, AddOp add) {
  Operation *def = v.getDefiningOp();
  if (!def || !isa<LinearOp, DenseOp, LinearGradXOp, DenseGradXOp>(def))
    return nullptr;
  if (def->getBlock() != add->getBlock() || !v.hasOneUse())
    return nullptr;
  return def;
}

void fuse(AddOp add) {
  // Either operand may be the product; with two candidates (dx_q + dx_k)
  // take the right one, computed last, so the left is already there.
  bool rhsIsProduct = fusableProduct(add.getRhs(), add) != nullptr;
  Operation *product = rhsIsProduct ? fusableProduct(add.getRhs(), add)
                                    : fusableProduct(add.getLhs(), add);
  if (!product)
    return;
  Value addend = rhsIsProduct ? add.getLhs() : add.getRhs();

  OpBuilder b(add);
  SmallVector<Value> inputs{product->getOperand(0), product->getOperand(1),
                            addend};
  auto group = b.create<FusedOp>(add.getLoc(), TypeRange{add.getType()}, inputs,
                                 FusionKind::gemm_add);
  Block *body = b.createBlock(&group.getBody());
  for (Value in : inputs)
    body->addArgument(in.getType(), in.getLoc());
  IRMapping map;
  map.map(product->getOperand(0), body->getArgument(0));
  map.map(product->getOperand(1), body->getArgument(1));
  b.setInsertionPointToStart(body);
  Operation *inner = b.clone(*product, map);
  Value y = inner->getResult(0), r = body->getArgument(2);
  auto sum = rhsIsProduct ? b.create<AddOp>(add.getLoc(), add.getType(), r, y)
                          : b.create<AddOp>(add.getLoc(), add.getType(), y, r);
  b.create<YieldOp>(add.getLoc(), ValueRange{sum});
  add.replaceAllUsesWith(group.getResult(0));
  add.erase();
  product->erase();
}

struct FuseGemmAddPass
    : public colm::chain::impl::FuseGemmAddBase<FuseGemmAddPass> {
  void runOnOperation() override {
    SmallVector<AddOp> adds;
    for (Operation &op : getOperation().getBody().front())
      if (auto add = dyn_cast<AddOp>(op))
        adds.push_back(add);
    for (AddOp add : adds)
      fuse(add);
  }
};

} // namespace
