//===- GroupGemms.cpp - linears that read one input as one GEMM -*- C++ -*-===//
//
// Forward products (chain.linear, chain.dense) of one input become one
// chain.fused grouped_gemm: the kernel packs the input once for all of them
// (q/k/v of an attention block; k/v of CoLM-Air). A gemm_swiglu group whose
// gate is another product of the same input becomes a grouped_gemm_swiglu:
// gate and up in one GEMM, the SwiGLU in its epilogue. Each product keeps
// its own output and chain blocks, so the bits do not change.
//
//===----------------------------------------------------------------------===//
#include "passes/Passes.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"

namespace colm::chain {
#define GEN_PASS_DEF_GROUPGEMMS
#include "passes/Passes.h.inc"
} // namespace colm::chain

using namespace mlir;
using namespace colm::chain;

namespace {

constexpr size_t kMaxGroup = 4; // what the kernel ABI holds

bool isForwardProduct(Operation *op) { return isa<LinearOp, DenseOp>(op); }

/// A group at `at` over clones of `products` (each of inputs #0 and #i+1),
/// then of `tail` (ops of the body after the products, reading only their
/// results), yielding `yields` (values of the originals, mapped).
FusedOp buildGroup(Operation *at, ArrayRef<Operation *> products,
                   ArrayRef<Operation *> tail, ArrayRef<Value> yields,
                   FusionKind kind) {
  OpBuilder b(at);
  SmallVector<Value> inputs{products.front()->getOperand(0)};
  for (Operation *p : products)
    inputs.push_back(p->getOperand(1));
  SmallVector<Type> types;
  for (Value v : yields)
    types.push_back(v.getType());
  auto group = b.create<FusedOp>(at->getLoc(), types, inputs, kind);
  Block *body = b.createBlock(&group.getBody());
  for (Value in : inputs)
    body->addArgument(in.getType(), in.getLoc());
  b.setInsertionPointToStart(body);
  IRMapping map;
  for (auto [i, p] : llvm::enumerate(products)) {
    IRMapping operands;
    operands.map(inputs[0], body->getArgument(0));
    operands.map(p->getOperand(1), body->getArgument(i + 1));
    Operation *inner = b.clone(*p, operands);
    map.map(p->getResult(0), inner->getResult(0));
  }
  for (Operation *op : tail) {
    Operation *inner = b.clone(*op, map);
    map.map(op->getResults(), inner->getResults());
  }
  SmallVector<Value> mapped;
  for (Value v : yields)
    mapped.push_back(map.lookup(v));
  b.create<YieldOp>(at->getLoc(), mapped);
  return group;
}

/// gemm_swiglu(x, wu, g) with g = product(x, wg) of the same kind and
/// weight type -> grouped_gemm_swiglu(x, wg, wu) yielding (h, g [, u]).
void groupGateAndUp(FusedOp swiglu) {
  if (swiglu.getKind() != FusionKind::gemm_swiglu)
    return;
  Operation *up = swiglu.getProduct();
  Value gate = swiglu.getInputs()[2], x = swiglu.getInputs()[0];
  Operation *gateOp = gate.getDefiningOp();
  if (!gateOp || !isForwardProduct(gateOp) ||
      gateOp->getBlock() != swiglu->getBlock() || gateOp->getOperand(0) != x ||
      gateOp->getName() != up->getName() ||
      gateOp->getOperand(1).getType() != up->getOperand(1).getType())
    return;
  // The new group replaces the gate where the SwiGLU group is: every other
  // reader of the gate must come after it.
  for (Operation *user : gate.getUsers())
    if (user != swiglu && (user->getBlock() != swiglu->getBlock() ||
                           !swiglu->isBeforeInBlock(user)))
      return;
  // Stand-ins with the group's inputs, so that buildGroup sees products of
  // x by wg and by wu.
  OpBuilder b(swiglu);
  IRMapping upMap;
  upMap.map(up->getOperand(0), x);
  upMap.map(up->getOperand(1), swiglu.getInputs()[1]);
  Operation *upOuter = b.clone(*up, upMap);
  Operation *epilogue = swiglu.getEpilogue();
  IRMapping m;
  m.map(epilogue->getOperand(0), gate);
  m.map(epilogue->getOperand(1), upOuter->getResult(0));
  Operation *swigluOuter = b.clone(*epilogue, m);
  SmallVector<Value> yields{swigluOuter->getResult(0), gate};
  bool keepUp = swiglu.getNumResults() == 2;
  if (keepUp)
    yields.push_back(upOuter->getResult(0));
  FusedOp group = buildGroup(swiglu, {gateOp, upOuter}, {swigluOuter}, yields,
                             FusionKind::grouped_gemm_swiglu);
  swiglu.getResult(0).replaceAllUsesWith(group.getResult(0));
  if (keepUp)
    swiglu.getResult(1).replaceAllUsesWith(group.getResult(2));
  gate.replaceAllUsesExcept(group.getResult(1),
                            SmallPtrSet<Operation *, 2>{swigluOuter});
  swigluOuter->erase();
  upOuter->erase();
  swiglu.erase();
  gateOp->erase();
}

/// Forward products of one input, in order, grouped at the first: the
/// later ones' weights must be defined before it (parameters, which read
/// nothing, are moved there).
void groupProducts(SmallVector<Operation *> products) {
  Operation *first = products.front();
  SmallVector<Operation *> members{first};
  for (Operation *p : llvm::drop_begin(products)) {
    if (members.size() == kMaxGroup)
      break;
    Operation *w = p->getOperand(1).getDefiningOp();
    if (w && w->getBlock() == first->getBlock() && first->isBeforeInBlock(w)) {
      if (!isa<ParamOp>(w))
        continue;
      w->moveBefore(first);
    }
    members.push_back(p);
  }
  if (members.size() < 2)
    return;
  SmallVector<Value> yields;
  for (Operation *p : members)
    yields.push_back(p->getResult(0));
  FusedOp group =
      buildGroup(first, members, {}, yields, FusionKind::grouped_gemm);
  for (auto [i, p] : llvm::enumerate(members)) {
    p->getResult(0).replaceAllUsesWith(group.getResult(i));
    p->erase();
  }
}

struct GroupGemmsPass
    : public colm::chain::impl::GroupGemmsBase<GroupGemmsPass> {
  void runOnOperation() override {
    Block &block = getOperation().getBody().front();
    for (FusedOp f : fusionGroups(getOperation()))
      groupGateAndUp(f);
    // The products left, by input, in order.
    llvm::MapVector<Value, SmallVector<Operation *>> byInput;
    for (Operation &op : block)
      if (isForwardProduct(&op))
        byInput[op.getOperand(0)].push_back(&op);
    for (auto &[x, products] : byInput)
      if (products.size() > 1)
        groupProducts(products);
  }
};

} // namespace
