//===- Pipeline.cpp - graphs of model directories ---------------*- C++ -*-===//
#include "compiler/Pipeline.h"

#include "compiler/BuildColm.h"
#include "mlir/Pass/PassManager.h"
#include "passes/Passes.h"

using namespace mlir;

namespace colm {

DiagnosticCapture::DiagnosticCapture(MLIRContext &context)
    : owner(std::this_thread::get_id()),
      handler(&context, [this](Diagnostic &diag) {
        if (std::this_thread::get_id() != owner)
          return failure(); // the next handler: the other thread's
        if (diag.getSeverity() != DiagnosticSeverity::Error)
          return success();
        if (first.empty()) {
          std::string where;
          llvm::raw_string_ostream os(where);
          Location loc = diag.getLocation();
          if (auto name = dyn_cast<NameLoc>(loc))
            loc = name.getChildLoc();
          if (auto file = dyn_cast<FileLineColLoc>(loc))
            os << file.getFilename() << ":" << file.getLine() << ":"
               << file.getColumn() << ": ";
          first = where + diag.str();
        }
        return success();
      }) {}

Status DiagnosticCapture::status(const std::string &fallback) const {
  return Status::error(first.empty() ? fallback : first);
}

Result<OwningOpRef<ModuleOp>>
buildSubModel(MLIRContext &context, const ModelConfig &config, unsigned k) {
  auto built = buildColm(context, config);
  if (!built)
    return built.status();
  OwningOpRef<ModuleOp> module = built.take();
  COLM_TRY(sliceAndVerify(*module, config, k));
  return module;
}

Status sliceAndVerify(ModuleOp module, const ModelConfig &config, unsigned k) {
  MLIRContext &context = *module.getContext();
  DiagnosticCapture capture(context);
  PassManager pm(&context);
  if (k != 0 && static_cast<int>(k) != config.numChains()) {
    chain::SliceChainsOptions options;
    options.chains = k;
    pm.addNestedPass<func::FuncOp>(chain::createSliceChains(options));
  }
  pm.addNestedPass<func::FuncOp>(chain::createVerifyCausality());
  if (failed(pm.run(module)))
    return capture.status("compiling the " + std::to_string(k) +
                          "-chain sub-model failed");
  return Status::ok();
}

Result<HostTensor> runForward(ModuleOp module,
                              const std::vector<int32_t> &tokens,
                              const TensorMap &params) {
  auto func = module.lookupSymbol<func::FuncOp>("forward");
  if (!func)
    return Status::error("the graph has no @forward function");
  DiagnosticCapture capture(*module.getContext());
  auto results = interpret(func, {HostTensor::tokens(tokens)}, params);
  if (failed(results))
    return capture.status("the forward pass failed");
  return std::move((*results)[0]);
}

// Weight entries a forward pass multiplies per token (linears and LM head;
// the chain rule's zero blocks excluded), read off the graph itself.
int64_t multipliedWeights(ModuleOp module) {
  int64_t total = 0;
  module.walk([&](Operation *op) {
    if (auto linear = dyn_cast<chain::LinearOp>(op)) {
      auto shape =
          cast<RankedTensorType>(linear.getWeight().getType()).getShape();
      chain::BlocksAttr blocks = chain::getBlocks(linear.getWeight().getType());
      for (unsigned i = 1; i <= blocks.numChains(); ++i)
        total +=
            (blocks.chainEnd(shape[0], i) - blocks.chainBegin(shape[0], i)) *
            blocks.prefixWidth(shape[1], i);
    } else if (auto dense = dyn_cast<chain::DenseOp>(op)) {
      auto shape =
          cast<RankedTensorType>(dense.getWeight().getType()).getShape();
      total += shape[0] * shape[1];
    } else if (auto head = dyn_cast<chain::LmHeadOp>(op)) {
      chain::LayoutAttr layout = chain::getLayout(head.getX().getType());
      int64_t width = chain::lastDim(head.getX().getType());
      total += chain::lastDim(head.getType()) *
               layout.prefixWidth(width, head.getNumHeadChains());
    }
  });
  return total;
}

} // namespace colm
