//===- Autodiff.cpp - the training step by reverse-mode AD ------*- C++ -*-===//
#include "passes/CausalityAnalysis.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSet.h"

#include <cmath>

namespace colm::chain {
#define GEN_PASS_DEF_AUTODIFF
#include "passes/Passes.h.inc"
} // namespace colm::chain

using namespace mlir;
using namespace colm::chain;

namespace {

/// Parses "full", "all" or "w1,...,wn" into one weight per sub-model.
FailureOr<SmallVector<double>> parseChainLoss(StringRef spec, unsigned n,
                                              Location loc) {
  SmallVector<double> w(n, 0.0);
  if (spec == "full") {
    w[n - 1] = 1.0;
    return w;
  }
  if (spec == "all") {
    for (double &x : w)
      x = 1.0 / n;
    return w;
  }
  SmallVector<StringRef> parts;
  spec.split(parts, ',');
  if (parts.size() != n)
    return emitError(loc) << "chain-autodiff: chain-loss '" << spec
                          << "' gives " << parts.size()
                          << " weights for a model with " << n << " chains";
  bool any = false;
  for (auto [i, p] : llvm::enumerate(parts)) {
    if (p.trim().getAsDouble(w[i]) || !(w[i] >= 0) || !std::isfinite(w[i]))
      return emitError(loc) << "chain-autodiff: chain-loss weight '" << p
                            << "' is not a finite non-negative number";
    any |= w[i] > 0;
  }
  if (!any)
    return emitError(loc) << "chain-autodiff: chain-loss '" << spec
                          << "' weighs every sub-model 0";
  return w;
}

/// Reverse-mode differentiation of one function body.
class Differentiator {
public:
  Differentiator(OpBuilder &b, unsigned frozen) : b(b), frozen(frozen) {}

  /// Adds `g` to the gradient of `v`. `frozenZero`: `g` is zero on the
  /// frozen chains (a backward op with `from_chain`, or such a gradient
  /// passed on unchanged).
  void accumulate(Value v, Value g, bool frozenZero = false) {
    auto it = grads.find(v);
    if (it == grads.end()) {
      grads[v] = g;
      clean[v] = frozenZero;
      return;
    }
    it->second = b.create<AddOp>(g.getLoc(), it->second, g);
    clean[v] = clean[v] && frozenZero;
  }

  /// Emits the backward of `op` given the gradient of its result.
  LogicalResult backward(Operation *op);

  /// Gradients of parameters, by parameter name, in forward order.
  llvm::MapVector<StringRef, Value> paramGrads;
  DenseMap<Value, Value> grads;
  /// Whether grads[v] is zero on the frozen chains.
  DenseMap<Value, bool> clean;

private:
  OpBuilder &b;
  unsigned frozen;

  IntegerAttr fromChain() {
    return frozen ? b.getI64IntegerAttr(frozen + 1) : IntegerAttr();
  }
  /// A parameter with no chain structure belongs to chain 1.
  bool wholyFrozen(Value weight) {
    return frozen > 0 && !getLayout(weight.getType()) &&
           !getBlocks(weight.getType());
  }
  Location gradLoc(Operation *op, StringRef suffix) {
    if (auto name = dyn_cast<NameLoc>(op->getLoc()))
      return NameLoc::get(b.getStringAttr(name.getName().str() + suffix),
                          name.getChildLoc());
    return op->getLoc();
  }
};

LogicalResult Differentiator::backward(Operation *op) {
  if (op->getNumResults() != 1) {
    // Gradients must not stop silently at an op with several results.
    for (Value r : op->getResults())
      if (grads.count(r))
        return op->emitError()
               << "chain-autodiff: cannot differentiate " << op->getName();
    return success();
  }
  Value g = grads.lookup(op->getResult(0));
  if (!g)
    return success();
  bool gClean = clean.lookup(op->getResult(0));
  Location loc = gradLoc(op, ".grad");
  if (isa<arith::ConstantOp>(op))
    return success(); // constants are not trained
  if (auto param = dyn_cast<ParamOp>(op)) {
    if (wholyFrozen(param.getResult()))
      return success();
    // A chained parameter keeps its frozen chains only if every part of
    // its gradient leaves them out.
    if (frozen > 0 && !gClean)
      return param.emitError()
             << "chain-autodiff: freeze-chains=" << frozen
             << " cannot keep chains 1.." << frozen << " of parameter '"
             << param.getName()
             << "' fixed: part of its gradient comes through an op that does "
                "not freeze per chain (only chain.linear weights, chain.embed "
                "tables, chain.norm gains and chain.lm_head weights do)";
    // The same parameter may be referenced by several chain.param ops.
    Value &sum = paramGrads[param.getName()];
    if (sum && sum.getType() != g.getType())
      return param.emitError()
             << "chain-autodiff: parameter '" << param.getName()
             << "' is also used as " << sum.getType()
             << "; the gradients of different slices of one parameter "
                "cannot be summed";
    sum = sum ? b.create<AddOp>(g.getLoc(), sum, g).getResult() : g;
    return success();
  }
  if (auto add = dyn_cast<AddOp>(op)) {
    accumulate(add.getLhs(), g, gClean);
    accumulate(add.getRhs(), g, gClean);
    return success();
  }
  if (auto head = dyn_cast<LmHeadOp>(op)) {
    accumulate(head.getX(),
               b.create<LmHeadGradXOp>(loc, head.getX().getType(), g,
                                       head.getWeight(), head.getChainsAttr()));
    accumulate(head.getWeight(),
               b.create<LmHeadGradWOp>(loc, head.getWeight().getType(), g,
                                       head.getX(), head.getChainsAttr(),
                                       fromChain()),
               true);
    return success();
  }
  if (auto norm = dyn_cast<NormOp>(op)) {
    auto grad = b.create<NormGradOp>(loc, norm.getX(), norm.getGain(), g,
                                     norm.getEpsAttr(), norm.getStatsAttr(),
                                     fromChain());
    accumulate(norm.getX(), grad.getDx());
    accumulate(norm.getGain(), grad.getDgain(), true);
    return success();
  }
  if (auto linear = dyn_cast<LinearOp>(op)) {
    accumulate(linear.getX(),
               b.create<LinearGradXOp>(loc, linear.getX().getType(), g,
                                       linear.getWeight()));
    accumulate(linear.getWeight(),
               b.create<LinearGradWOp>(loc, linear.getWeight().getType(), g,
                                       linear.getX(), fromChain()),
               true);
    return success();
  }
  if (auto dense = dyn_cast<DenseOp>(op)) {
    // The rows of a dense weight with a chained result belong to every
    // chain: it cannot be frozen for some of them.
    LayoutAttr rows = getLayout(dense.getType());
    if (frozen > 0 && rows && rows.numChains() > 1)
      return dense.emitError()
             << "chain-autodiff: freeze-chains=" << frozen
             << " cannot freeze part of this dense linear's weight: its rows "
                "belong to chains 1.."
             << rows.numChains()
             << " (a chain.linear freezes per chain; chain-fold-masks "
                "lower-linears=false makes one of a masked dense linear)";
    accumulate(dense.getX(), b.create<DenseGradXOp>(loc, dense.getX().getType(),
                                                    g, dense.getWeight()));
    if (!wholyFrozen(dense.getWeight()))
      accumulate(dense.getWeight(),
                 b.create<DenseGradWOp>(loc, dense.getWeight().getType(), g,
                                        dense.getX()));
    return success();
  }
  if (auto rope = dyn_cast<RopeOp>(op)) {
    accumulate(rope.getX(),
               b.create<RopeOp>(loc, rope.getType(), g, rope.getPositions(),
                                rope.getHeadDimAttr(), rope.getThetaAttr(),
                                b.getUnitAttr()));
    return success();
  }
  if (auto attn = dyn_cast<AttentionOp>(op)) {
    auto grad = b.create<AttentionGradOp>(loc, attn.getQ(), attn.getK(),
                                          attn.getV(), g, attn.getHeadDimAttr(),
                                          attn.getKvMappingAttr());
    accumulate(attn.getQ(), grad.getDq());
    accumulate(attn.getK(), grad.getDk());
    accumulate(attn.getV(), grad.getDv());
    return success();
  }
  if (auto swiglu = dyn_cast<SwigluOp>(op)) {
    auto grad =
        b.create<SwigluGradOp>(loc, swiglu.getGate(), swiglu.getUp(), g);
    accumulate(swiglu.getGate(), grad.getDgate());
    accumulate(swiglu.getUp(), grad.getDup());
    return success();
  }
  if (auto embed = dyn_cast<EmbedOp>(op)) {
    accumulate(embed.getTable(),
               b.create<EmbedGradOp>(loc, embed.getTable().getType(), g,
                                     embed.getTokens(), fromChain()),
               true);
    return success();
  }
  if (auto prefix = dyn_cast<PrefixOp>(op)) {
    accumulate(prefix.getX(),
               b.create<ExtendOp>(loc, prefix.getX().getType(), g), gClean);
    return success();
  }
  return op->emitError() << "chain-autodiff: cannot differentiate "
                         << op->getName();
}

struct AutodiffPass : public colm::chain::impl::AutodiffBase<AutodiffPass> {
  using AutodiffBase::AutodiffBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto forward = module.lookupSymbol<func::FuncOp>(function);
    if (!forward || forward.isExternal()) {
      module.emitError() << "chain-autodiff: no function @" << function
                         << " with a body";
      return signalPassFailure();
    }
    StringRef stepName = lossOnly ? "eval_step" : "train_step";
    if (module.lookupSymbol(stepName)) {
      module.emitError() << "chain-autodiff: the module already has @"
                         << stepName;
      return signalPassFailure();
    }
    // The chain loss needs the k-chain logits of the full model to be the
    // k-chain sub-model's: only a causal graph guarantees that.
    if (failed(proveCausality(forward, "chain-autodiff")))
      return signalPassFailure();
    // One block: the step is that block followed by the backward pass.
    if (!forward.getBody().hasOneBlock()) {
      forward.emitError("chain-autodiff: the function must be a single block");
      return signalPassFailure();
    }
    auto ret = dyn_cast<func::ReturnOp>(forward.front().getTerminator());
    auto head = ret && ret.getNumOperands() == 1
                    ? ret.getOperand(0).getDefiningOp<LmHeadOp>()
                    : LmHeadOp();
    if (!head) {
      forward.emitError("chain-autodiff: the function must return the logits "
                        "of a chain.lm_head");
      return signalPassFailure();
    }
    LayoutAttr layout = getLayout(head.getX().getType());
    unsigned n = layout ? layout.numChains() : 1;
    auto weights = parseChainLoss(chainLoss, n, forward.getLoc());
    if (failed(weights))
      return signalPassFailure();
    if (freezeChains >= n) {
      forward.emitError() << "chain-autodiff: freeze-chains="
                          << static_cast<unsigned>(freezeChains)
                          << " leaves nothing to train in a model with " << n
                          << " chains";
      return signalPassFailure();
    }

    // The training step starts as a copy of the forward function.
    OpBuilder b(module.getBodyRegion());
    b.setInsertionPointAfter(forward);
    auto step = cast<func::FuncOp>(b.clone(*forward));
    step.setSymName(stepName);
    Block &body = step.getBody().front();
    auto i32s = RankedTensorType::get({ShapedType::kDynamic}, b.getI32Type());
    Value targets =
        body.addArgument(i32s, NameLoc::get(b.getStringAttr("targets")));
    auto stepRet = cast<func::ReturnOp>(body.getTerminator());
    auto stepHead = stepRet.getOperand(0).getDefiningOp<LmHeadOp>();
    SmallVector<Operation *> forwardOps;
    for (Operation &op : body.without_terminator())
      forwardOps.push_back(&op);

    // The chain loss: one cross-entropy per weighted sub-model.
    b.setInsertionPoint(stepRet);
    auto scalar = RankedTensorType::get({}, b.getF32Type());
    SmallVector<Value> ces, logits;
    SmallVector<Attribute> usedWeights;
    SmallVector<unsigned> ks;
    for (unsigned k = 1; k <= n; ++k) {
      if ((*weights)[k - 1] == 0.0)
        continue;
      Value lk = stepHead.getResult();
      if (k != stepHead.getNumHeadChains()) {
        Location loc = NameLoc::get(
            b.getStringAttr("logits_c" + std::to_string(k)), stepHead.getLoc());
        lk = b.create<LmHeadOp>(loc, stepHead.getType(), stepHead.getX(),
                                stepHead.getWeight(), b.getI64IntegerAttr(k));
      }
      Location loc = NameLoc::get(b.getStringAttr("ce" + std::to_string(k)),
                                  stepHead.getLoc());
      ces.push_back(b.create<CrossEntropyOp>(loc, scalar, lk, targets));
      logits.push_back(lk);
      usedWeights.push_back(b.getF64FloatAttr((*weights)[k - 1]));
      ks.push_back(k);
    }
    Value loss = b.create<WeightedSumOp>(
        NameLoc::get(b.getStringAttr("loss"), stepHead.getLoc()), scalar, ces,
        b.getArrayAttr(usedWeights));

    if (lossOnly) {
      SmallVector<Value> results{loss};
      results.append(ces.begin(), ces.end());
      b.create<func::ReturnOp>(stepRet.getLoc(), results);
      stepRet.erase();
      finish(step, results, ks, {});
      return;
    }

    // Backward, in reverse forward order.
    Differentiator diff(b, freezeChains);
    for (auto [lk, w] : llvm::zip(logits, usedWeights)) {
      Operation *def = lk.getDefiningOp();
      diff.accumulate(
          lk, b.create<CrossEntropyGradOp>(def->getLoc(), lk.getType(), lk,
                                           targets, cast<FloatAttr>(w)));
      if (def != stepHead)
        if (failed(diff.backward(def)))
          return signalPassFailure();
    }
    for (Operation *op : llvm::reverse(forwardOps))
      if (failed(diff.backward(op)))
        return signalPassFailure();

    SmallVector<Value> results{loss};
    results.append(ces.begin(), ces.end());
    SmallVector<std::string> gradNames;
    // Gradients in the order the parameters appear in the forward pass.
    llvm::StringSet<> returned;
    for (Operation *op : forwardOps)
      if (auto param = dyn_cast<ParamOp>(op))
        if (Value grad = diff.paramGrads.lookup(param.getName()))
          if (returned.insert(param.getName()).second) {
            results.push_back(grad);
            gradNames.push_back(("grad." + param.getName()).str());
          }
    b.create<func::ReturnOp>(stepRet.getLoc(), results);
    stepRet.erase();
    finish(step, results, ks, gradNames);
  }

  /// Sets the step's type and names its results (`loss`, `ce.<k>`, grads).
  static void finish(func::FuncOp step, ArrayRef<Value> results,
                     ArrayRef<unsigned> ks, ArrayRef<std::string> gradNames) {
    Builder b(step.getContext());
    SmallVector<Type> types;
    for (Value v : results)
      types.push_back(v.getType());
    step.setType(
        b.getFunctionType(step.getBody().front().getArgumentTypes(), types));
    SmallVector<std::string> names{"loss"};
    for (unsigned k : ks)
      names.push_back("ce." + std::to_string(k));
    names.append(gradNames.begin(), gradNames.end());
    for (auto [i, name] : llvm::enumerate(names))
      step.setResultAttr(i, "chain.output", b.getStringAttr(name));
  }
};

} // namespace
