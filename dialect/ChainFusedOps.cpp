//===- ChainFusedOps.cpp - verifier of the fusion groups --------*- C++ -*-===//
#include "dialect/ChainDialect.h"

using namespace mlir;
using namespace colm::chain;

namespace {

bool isGemm(Operation *op) {
  return isa<LinearOp, DenseOp, LinearGradXOp, DenseGradXOp>(op);
}

const char *const kBlockArgNames[][5] = {
    {"a", "b", "addend", nullptr, nullptr},
    {"a", "b", "gate", nullptr, nullptr},
    {"a", "b", "gate", "up", nullptr},
    {"a", "b0", "b1", "b2", "b3"},
    {"a", "b_gate", "b_up", nullptr, nullptr},
    {"x", "gain", "b0", "b1", "b2"},
    {"x", "gain", "b_gate", "b_up", nullptr}};

} // namespace

void FusedOp::getAsmResultNames(OpAsmSetValueNameFn setNameFn) {
  nameResultFromLoc(getOperation(), setNameFn);
}

void FusedOp::getAsmBlockArgumentNames(Region &region,
                                       OpAsmSetValueNameFn setNameFn) {
  unsigned kind = static_cast<unsigned>(getKind());
  if (kind >= std::size(kBlockArgNames))
    return;
  for (auto [i, arg] : llvm::enumerate(region.front().getArguments())) {
    auto type = dyn_cast<RankedTensorType>(arg.getType());
    if (type && type.getElementType().isInteger(32))
      setNameFn(arg, "positions"); // a RoPE epilogue's
    else if (i < 5 && kBlockArgNames[kind][i])
      setNameFn(arg, kBlockArgNames[kind][i]);
  }
}

Operation *FusedOp::getProduct() {
  Block &body = getBody().front();
  return body.empty() ? nullptr : &body.front();
}

Operation *FusedOp::getEpilogue() {
  Block &body = getBody().front();
  if (body.getOperations().size() < 2)
    return nullptr;
  return &*std::next(body.begin());
}

AddOp FusedOp::getAdd() { return dyn_cast_or_null<AddOp>(getEpilogue()); }

NormOp FusedOp::getPrologue() {
  Block &body = getBody().front();
  return body.empty() ? NormOp() : dyn_cast<NormOp>(body.front());
}

// What a grouped kind's products read: input #0, or the chain.norm of
// inputs #0 and #1 that starts a norm_* body.
FailureOr<Value> FusedOp::verifySharedInput(bool norm, const char *name) {
  Block &body = getBody().front();
  if (!norm)
    return Value(body.getArgument(0));
  NormOp normOp = getPrologue();
  if (!normOp || normOp.getX() != body.getArgument(0) ||
      normOp.getGain() != body.getArgument(1))
    return emitOpError() << name
                         << " must start with chain.norm of inputs #0 and #1";
  return Value(normOp.getResult());
}

// The grouped kinds: [norm(arg0, arg1);] products of the shared input (the
// norm's result, or arg0) by the weights from input #(norm ? 2 : 1) on.
LogicalResult FusedOp::verifyGrouped(bool norm) {
  Block &body = getBody().front();
  auto yield = cast<YieldOp>(body.getTerminator());
  size_t first = norm ? 2 : 1;
  const char *name = norm ? "norm_grouped_gemm" : "grouped_gemm";
  // [norm;] products; ropes of some of them; yield.
  auto it = std::next(body.begin(), norm && getPrologue() ? 1 : 0);
  SmallVector<Operation *> products;
  for (; it != body.end() && isa<LinearOp, DenseOp>(*it); ++it)
    products.push_back(&*it);
  SmallVector<RopeOp> ropes;
  for (; it != body.end() && isa<RopeOp>(*it); ++it)
    ropes.push_back(cast<RopeOp>(*it));
  bool positions = llvm::any_of(
      ropes, [](RopeOp r) { return static_cast<bool>(r.getPositions()); });
  size_t n = products.size(), weights = getInputs().size() - first;
  if (n < 2 || n > 4 || weights != n + (positions ? 1 : 0) ||
      &*it != yield.getOperation() || getNumResults() < n ||
      getNumResults() > n + (norm ? 1 : 0))
    return emitOpError() << name
                         << (norm ? " takes x, the gain"
                                  : " takes the shared "
                                    "input")
                         << " and 2 to 4 weights (then the positions of its "
                            "RoPE, if any), holds "
                         << (norm ? "the chain.norm, " : "")
                         << "one product per weight, a chain.rope of some of "
                            "them and the yield, and yields the products"
                         << (norm ? " (and the norm, when kept)" : "");
  FailureOr<Value> input = verifySharedInput(norm, name);
  if (failed(input))
    return failure();
  Value shared = *input;
  for (auto [i, product] : llvm::enumerate(products))
    if (product->getOperand(0) != shared ||
        product->getOperand(1) != body.getArgument(first + i))
      return emitOpError() << name << "'s product #" << i << " must take "
                           << (norm ? "the norm" : "input #0") << " and input #"
                           << first + i;
  // What each product yields: itself, or its rotation.
  SmallVector<Value> outputs;
  for (Operation *p : products)
    outputs.push_back(p->getResult(0));
  for (RopeOp r : ropes) {
    auto at = llvm::find(products, r.getX().getDefiningOp());
    if (at == products.end() || outputs[at - products.begin()] != r.getX() ||
        r.getInverse() ||
        (r.getPositions() && r.getPositions() != body.getArgument(first + n)))
      return emitOpError() << name
                           << "'s chain.rope must rotate (not inversely) one "
                              "product each, at the last input's positions "
                              "or at none";
    outputs[at - products.begin()] = r.getResult();
  }
  for (size_t i = 0; i < n; ++i)
    if (yield.getValues()[i] != outputs[i])
      return emitOpError() << name
                           << " must yield its products (or their rotations) "
                              "in order";
  if (getNumResults() == n + 1 && yield.getValues()[n] != shared)
    return emitOpError() << name << " may yield the norm after the products";
  return success();
}

// [norm(arg0, arg1);] gate; up; swiglu(gate, up);
// yield swiglu, gate [, up] [, norm].
LogicalResult FusedOp::verifyGroupedSwiglu(bool norm) {
  Block &body = getBody().front();
  auto yield = cast<YieldOp>(body.getTerminator());
  size_t first = norm ? 2 : 1;
  const char *name = norm ? "norm_grouped_gemm_swiglu" : "grouped_gemm_swiglu";
  if (getInputs().size() != first + 2 ||
      body.getOperations().size() != first + 3)
    return emitOpError() << name << " takes "
                         << (norm ? "x, the gain" : "the shared input")
                         << " and the gate's and the up projection's weights, "
                            "and holds "
                         << (norm ? "the chain.norm, " : "")
                         << "two products, a chain.swiglu and the yield";
  FailureOr<Value> input = verifySharedInput(norm, name);
  if (failed(input))
    return failure();
  Value shared = *input;
  auto it = std::next(body.begin(), norm ? 1 : 0);
  Operation *gate = &*it++, *up = &*it++;
  auto swiglu = dyn_cast<SwigluOp>(&*it);
  if (!isa<LinearOp, DenseOp>(gate) || !isa<LinearOp, DenseOp>(up) || !swiglu)
    return emitOpError() << name
                         << " must hold two chain.linear or chain.dense "
                            "products, then chain.swiglu";
  if (gate->getName() != up->getName() ||
      gate->getOperand(1).getType() != up->getOperand(1).getType())
    return emitOpError() << name
                         << "'s products must be of one kind and weight type "
                            "(the same chain blocks)";
  if (gate->getOperand(0) != shared || up->getOperand(0) != shared ||
      gate->getOperand(1) != body.getArgument(first) ||
      up->getOperand(1) != body.getArgument(first + 1))
    return emitOpError() << name << "'s products must take "
                         << (norm ? "the norm" : "input #0") << " and inputs #"
                         << first << " (the gate) and #" << first + 1
                         << " (up)";
  if (swiglu.getGate() != gate->getResult(0) ||
      swiglu.getUp() != up->getResult(0))
    return emitOpError() << name
                         << "'s chain.swiglu must take the first product as "
                            "the gate and the second as up";
  // The SwiGLU and the gate, then up and (norm) the normalised input, each
  // when kept, in that order.
  ValueRange yields = yield.getValues();
  SmallVector<Value> allowed{up->getResult(0)};
  if (norm)
    allowed.push_back(shared);
  bool ok = yields.size() >= 2 && yields[0] == swiglu &&
            yields[1] == gate->getResult(0);
  size_t next = 0;
  for (size_t i = 2; ok && i < yields.size(); ++i) {
    while (next < allowed.size() && allowed[next] != yields[i])
      ++next;
    ok = next < allowed.size();
    ++next;
  }
  if (!ok)
    return emitOpError() << name
                         << " must yield the SwiGLU and the gate, and may "
                            "yield up"
                         << (norm ? " and the norm" : "") << " after them";
  return success();
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
  case FusionKind::gemm_swiglu: {
    // product(arg0, arg1); swiglu(arg2, product); yield swiglu [, product].
    if (getInputs().size() != 3 || body.getOperations().size() != 3)
      return emitOpError("gemm_swiglu takes 3 inputs (the up projection's "
                         "two and the gate) and holds a product, a "
                         "chain.swiglu and the yield");
    Operation *product = getProduct();
    auto swiglu = dyn_cast<SwigluOp>(getEpilogue());
    if (!isa<LinearOp, DenseOp>(product) || !swiglu)
      return emitOpError("gemm_swiglu must hold chain.linear or chain.dense, "
                         "then chain.swiglu");
    if (product->getOperand(0) != body.getArgument(0) ||
        product->getOperand(1) != body.getArgument(1))
      return emitOpError("gemm_swiglu's product must take inputs #0 and #1");
    if (swiglu.getGate() != body.getArgument(2) ||
        swiglu.getUp() != product->getResult(0))
      return emitOpError("gemm_swiglu's chain.swiglu must take input #2 as "
                         "the gate and the product as up");
    ValueRange yields = yield.getValues();
    if (yields.empty() || yields.size() > 2 || yields[0] != swiglu ||
        (yields.size() == 2 && yields[1] != product->getResult(0)))
      return emitOpError("gemm_swiglu must yield the SwiGLU, and may yield "
                         "the product after it");
    return success();
  }
  case FusionKind::gemm_swiglu_grad: {
    // product(arg0, arg1); swiglu_grad(arg2, arg3, product); yield both.
    if (getInputs().size() != 4 || body.getOperations().size() != 3)
      return emitOpError("gemm_swiglu_grad takes 4 inputs (the product's "
                         "two, gate and up) and holds a product, a "
                         "chain.swiglu_grad and the yield");
    Operation *product = getProduct();
    auto grad = dyn_cast<SwigluGradOp>(getEpilogue());
    if (!isa<LinearGradXOp, DenseGradXOp>(product) || !grad)
      return emitOpError("gemm_swiglu_grad must hold chain.linear_grad_x or "
                         "chain.dense_grad_x, then chain.swiglu_grad");
    if (product->getOperand(0) != body.getArgument(0) ||
        product->getOperand(1) != body.getArgument(1))
      return emitOpError(
          "gemm_swiglu_grad's product must take inputs #0 and #1");
    if (grad.getGate() != body.getArgument(2) ||
        grad.getUp() != body.getArgument(3) ||
        grad.getDy() != product->getResult(0))
      return emitOpError("gemm_swiglu_grad's chain.swiglu_grad must take "
                         "inputs #2 and #3 as gate and up and the product "
                         "as dy");
    ValueRange yields = yield.getValues();
    if (yields.size() != 2 || yields[0] != grad.getDgate() ||
        yields[1] != grad.getDup())
      return emitOpError("gemm_swiglu_grad must yield dgate and dup");
    return success();
  }
  case FusionKind::grouped_gemm:
  case FusionKind::norm_grouped_gemm:
    return verifyGrouped(getKind() == FusionKind::norm_grouped_gemm);
  case FusionKind::grouped_gemm_swiglu:
  case FusionKind::norm_grouped_gemm_swiglu:
    return verifyGroupedSwiglu(getKind() ==
                               FusionKind::norm_grouped_gemm_swiglu);
  }
  return emitOpError("unknown fusion kind");
}
