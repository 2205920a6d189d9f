//===- GraphFuzz.cpp - libFuzzer target for graph files and the passes ----===//
//
// A graph file (.mlir in the chain dialect) goes through the parser, the
// verifiers and each chain pass, as `colm-opt` runs them. Whatever parses
// must print and parse back; a pass either fails with an error or leaves IR
// that verifies; and a transform pass that succeeds on a causal graph must
// leave a causal graph (what its documentation promises).
//
//===----------------------------------------------------------------------===//

#include "dialect/ChainDialect.h"
#include "passes/CausalityAnalysis.h"
#include "passes/Passes.h"
#include "test/fuzz/MlirFuzz.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"

#include <cstddef>
#include <cstdint>
#include <functional>

using namespace mlir;
namespace chain = colm::chain;

namespace {

MLIRContext &context() {
  static MLIRContext *ctx = [] {
    DialectRegistry registry;
    registry
        .insert<chain::ChainDialect, func::FuncDialect, arith::ArithDialect>();
    // colm-opt --allow-unregistered-dialect: ops of unknown dialects reach
    // the passes, which must refuse them with an error.
    return colm::fuzz::makeContext(registry, /*allowUnregistered=*/true);
  }();
  return *ctx;
}

struct Step {
  /// Whether a success on a causal graph must leave a causal graph.
  bool transform;
  std::function<void(PassManager &)> add;
};

const std::vector<Step> &steps() {
  static const std::vector<Step> all = [] {
    std::vector<Step> s;
    s.push_back({false, [](PassManager &pm) {
                   pm.addNestedPass<func::FuncOp>(
                       chain::createVerifyCausality());
                 }});
    for (unsigned k : {1u, 2u})
      s.push_back({true, [k](PassManager &pm) {
                     chain::SliceChainsOptions o;
                     o.chains = k;
                     pm.addNestedPass<func::FuncOp>(
                         chain::createSliceChains(o));
                   }});
    for (bool lower : {true, false})
      s.push_back({true, [lower](PassManager &pm) {
                     chain::FoldMasksOptions o;
                     o.lowerLinears = lower;
                     pm.addNestedPass<func::FuncOp>(chain::createFoldMasks(o));
                   }});
    s.push_back({true, [](PassManager &pm) {
                   pm.addNestedPass<func::FuncOp>(chain::createShareKv());
                 }});
    s.push_back(
        {true, [](PassManager &pm) { pm.addPass(chain::createAutodiff()); }});
    s.push_back({true, [](PassManager &pm) {
                   chain::AutodiffOptions o;
                   o.chainLoss = "all";
                   o.freezeChains = 1;
                   pm.addPass(chain::createAutodiff(o));
                 }});
    s.push_back({true, [](PassManager &pm) {
                   chain::AutodiffOptions o;
                   o.lossOnly = true;
                   pm.addPass(chain::createAutodiff(o));
                 }});
    // What `colm` compiles: the sub-model, lowered.
    s.push_back({true, [](PassManager &pm) {
                   chain::SliceChainsOptions o;
                   o.chains = 1;
                   pm.addNestedPass<func::FuncOp>(chain::createSliceChains(o));
                   pm.addNestedPass<func::FuncOp>(chain::createFoldMasks());
                 }});
    return s;
  }();
  return all;
}

bool provesCausal(ModuleOp module) {
  for (auto func : module.getOps<func::FuncOp>())
    if (failed(chain::proveCausality(func)))
      return false;
  return true;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  MLIRContext &ctx = context();
  OwningOpRef<ModuleOp> module = colm::fuzz::parseRoundTrip(data, size, ctx);
  if (!module)
    return 0;

  colm::fuzz::errors = 0;
  bool causal = provesCausal(*module);
  if (!causal && colm::fuzz::errors == 0)
    __builtin_trap();
  for (const Step &step : steps()) {
    OwningOpRef<ModuleOp> copy(module->clone());
    PassManager pm(&ctx);
    pm.enableVerifier(false);
    step.add(pm);
    colm::fuzz::errors = 0;
    if (failed(pm.run(*copy))) {
      if (colm::fuzz::errors == 0)
        __builtin_trap(); // a pass that fails must say why
      continue;
    }
    if (failed(verify(*copy)))
      __builtin_trap(); // a pass that succeeds leaves valid IR
    if (causal && step.transform && !provesCausal(*copy))
      __builtin_trap(); // ... and a causal graph causal
  }
  return 0;
}
