//===- ChainFusedOps.cpp - verifier of the fusion groups --------*- C++ -*-===//
#include "dialect/ChainDialect.h"

using namespace mlir;
using namespace colm::chain;

namespace {

bool isGemm(Operation *op) {
  return isa<LinearOp, DenseOp, LinearGradXOp, DenseGradXOp>(op);
}

} // namespace

void FusedOp::getAsmResultNames(OpAsmSetValueNameFn setNameFn) {
  nameResultFromLoc(getOperation(), setNameFn);
}

void FusedOp::getAsmBlockArgumentNames(Region &region,
                                       OpAsmSetValueNameFn setNameFn) {
  if (getKind() != FusionKind::gemm_add ||
      region.front().getNumArguments() != 3)
    return;
  setNameFn(region.front().getArgument(0), "a");
  setNameFn(region.front().getArgument(1), "b");
  setNameFn(region.front().getArgument(2), "addend");
}

Operation *FusedOp::getProduct() {
  Block &body = getBody().front();
  return body.empty() ? nullptr : &body.front();
}

AddOp FusedOp::getAdd() {
  Block &body = getBody().front();
  if (body.getOperations().size() < 2)
    return nullptr;
  return dyn_cast<AddOp>(*std::next(body.begin()));
}

LogicalResult FusedOp::verify() {
  Block &body = getBody().front();
  if (body.getNumArguments() != getInputs().size())
    return emitOpError() << "body takes " << body.getNumArguments()
                         << " arguments for " << getInputs().size()
                         << " inputs";
  for (auto [i, arg, input] : llvm::enumerate(body.getArguments(), getInputs()))
    if (arg.getType() != input.getType())
      return emitOpError() << "body argument #" << i << " has type "
                           << arg.getType() << ", input #" << i << " has type "
                           << input.getType();
  auto yield = dyn_cast<YieldOp>(body.getTerminator());
  if (!yield)
    return emitOpError("body must end with chain.yield");
  if (yield.getValues().getTypes() != getResultTypes())
    return emitOpError("body yields types that differ from the results");

  switch (getKind()) {
  case FusionKind::gemm_add: {
    // Exactly: product(arg0, arg1); add(product, arg2); yield.
    if (getInputs().size() != 3 || getNumResults() != 1 ||
        body.getOperations().size() != 3)
      return emitOpError("gemm_add takes 3 inputs (the product's two and "
                         "the addend) and holds a product, a chain.add and "
                         "the yield");
    Operation *product = getProduct();
    AddOp add = getAdd();
    if (!isGemm(product) || !add)
      return emitOpError("gemm_add must hold chain.linear, chain.dense, "
                         "chain.linear_grad_x or chain.dense_grad_x, then "
                         "chain.add");
    if (product->getOperand(0) != body.getArgument(0) ||
        product->getOperand(1) != body.getArgument(1))
      return emitOpError("gemm_add's product must take inputs #0 and #1");
    Value y = product->getResult(0), r = body.getArgument(2);
    bool order = (add.getLhs() == y && add.getRhs() == r) ||
                 (add.getLhs() == r && add.getRhs() == y);
    if (!order)
      return emitOpError("gemm_add's chain.add must add the product and "
                         "input #2");
    if (yield.getValues().size() != 1 || yield.getValues()[0] != add)
      return emitOpError("gemm_add must yield the sum");
    return success();
  }
  }
  return emitOpError("unknown fusion kind");
}
