//===- VerifyCausality.cpp - prove the chain causal rule --------*- C++ -*-===//
//
// The pass around proveCausality() (CausalityAnalysis.h), which the
// transform passes also run on their input.
//
//===----------------------------------------------------------------------===//
#include "passes/CausalityAnalysis.h"
#include "passes/Passes.h"

namespace colm::chain {
#define GEN_PASS_DEF_VERIFYCAUSALITY
#include "passes/Passes.h.inc"
} // namespace colm::chain

using namespace mlir;
using namespace colm::chain;

namespace {

struct VerifyCausalityPass
    : public colm::chain::impl::VerifyCausalityBase<VerifyCausalityPass> {
  void runOnOperation() override {
    if (failed(proveCausality(getOperation())))
      signalPassFailure();
    markAllAnalysesPreserved();
  }
};

} // namespace
