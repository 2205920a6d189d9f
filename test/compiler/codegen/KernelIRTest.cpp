//===- KernelIRTest.cpp - Kernel programs through the kernel dialect ------===//
//
// Lowered programs of real models (a training step with frozen chains and a
// multi-chain loss, a bf16 decoding step with run-time sizes) printed as the
// kernel dialect, parsed, verified and read back are the same programs with
// the same kernel descriptions; an edited spec becomes its own kernel; a
// spec its kernel rejects is an error at its line.
//
//===----------------------------------------------------------------------===//
#include "compiler/codegen/KernelIR.h"
#include "compiler/BuildColm.h"
#include "compiler/Generator.h"
#include "compiler/Graph.h"
#include "compiler/codegen/LowerToKernels.h"
#include "passes/Passes.h"
#include "runtime/Model.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"

#include <gtest/gtest.h>

using namespace colm;
using namespace mlir;

namespace {

ModelConfig smallConfig(bool kvSharing) {
  ModelConfig config;
  config.chains = {2, 2};
  config.vocabSize = 37;
  config.numHeads = 4;
  config.numKvHeads = 2;
  config.hiddenSize = 64;
  config.intermediateSize = 96;
  config.numLayers = 2;
  config.kvSharing = kvSharing;
  return config;
}

/// `function` of `module` after the fusion passes, lowered.
codegen::KernelProgram lower(ModuleOp module, const std::string &function,
                             const codegen::LoweringOptions &options) {
  PassManager pm(module.getContext());
  chain::buildFusionPipeline(pm);
  EXPECT_TRUE(succeeded(pm.run(module)));
  auto func = module.lookupSymbol<func::FuncOp>(function);
  EXPECT_TRUE(func);
  auto lowered = codegen::lowerToKernels(func, options);
  EXPECT_TRUE(lowered) << lowered.status().message();
  return lowered.take();
}

std::string print(ModuleOp module) {
  std::string text;
  llvm::raw_string_ostream os(text);
  module.print(os);
  return text;
}

/// The program as kernel-dialect text.
std::string exportText(const codegen::KernelProgram &kp, MLIRContext &context) {
  auto module = codegen::exportKernelProgram(kp, context);
  EXPECT_TRUE(module) << module.status().message();
  EXPECT_TRUE(succeeded(mlir::verify(**module)));
  return print(**module);
}

/// Parses (and verifies) `text`; the errors in `errors`.
Result<codegen::KernelProgram> importText(const std::string &text,
                                          MLIRContext &context,
                                          std::string *errors = nullptr) {
  std::string sink;
  ScopedDiagnosticHandler handler(&context, [&](Diagnostic &d) {
    sink += d.str() + "\n";
    return success();
  });
  OwningOpRef<ModuleOp> module =
      parseSourceString<ModuleOp>(text, ParserConfig(&context));
  if (errors)
    *errors = sink;
  if (!module)
    return Status::error("parse: " + sink);
  kernel::ProgramOp program = codegen::findKernelProgram(*module);
  if (!program)
    return Status::error("no kernel.program");
  auto kp = codegen::importKernelProgram(program);
  if (errors)
    *errors = sink;
  return kp;
}

void expectSamePrograms(const codegen::KernelProgram &a,
                        const codegen::KernelProgram &b) {
  EXPECT_EQ(writeJson(a.program.toJson()), writeJson(b.program.toJson()));
  ASSERT_EQ(a.specs.size(), b.specs.size());
  for (size_t i = 0; i < a.specs.size(); ++i) {
    EXPECT_EQ(codegen::kernelName(a.specs[i]), codegen::kernelName(b.specs[i]));
    EXPECT_EQ(a.specs[i].index(), b.specs[i].index());
  }
}

class KernelIR : public ::testing::Test {
protected:
  void SetUp() override {
    dsl::loadDialects(context);
    context.getOrLoadDialect<kernel::KernelDialect>();
  }
  MLIRContext context;
};

TEST_F(KernelIR, TrainingStepReadsBackAsTheSameProgram) {
  Model model = initModel(smallConfig(true), 5);
  auto built = buildColm(context, model.config);
  ASSERT_TRUE(built) << built.status().message();
  OwningOpRef<ModuleOp> module = built.take();
  PassManager pm(&context);
  chain::AutodiffOptions autodiff;
  autodiff.chainLoss = "all";
  autodiff.freezeChains = 1;
  pm.addPass(chain::createAutodiff(autodiff));
  ASSERT_TRUE(succeeded(pm.run(*module)));
  codegen::LoweringOptions options;
  options.sequences = 2;
  options.sequenceLength = 6;
  codegen::KernelProgram kp = lower(*module, "train_step", options);
  ASSERT_GT(kp.specs.size(), 10u);

  std::string text = exportText(kp, context);
  for (const char *kind :
       {"#kernel.gemm<", "#kernel.attention<", "#kernel.cross_entropy<",
        "#kernel.norm<", "#kernel.rope<", "#kernel.embed<",
        "#kernel.weighted_sum<", " view @", " zero [", " = float "})
    EXPECT_NE(text.find(kind), std::string::npos) << kind;
  auto back = importText(text, context);
  ASSERT_TRUE(back) << back.status().message();
  expectSamePrograms(kp, *back);
  // Every spec field survives: the text of the program read back is the
  // same text.
  EXPECT_EQ(exportText(*back, context), text);
}

TEST_F(KernelIR, Bf16DecodingStepWithRunTimeSizesReadsBack) {
  Model model = initModel(smallConfig(false), 6);
  auto generator = Generator::create(context, model);
  ASSERT_TRUE(generator) << generator.status().message();
  // The decoding step of two chains, lowered as Generator::compileCpu
  // lowers it.
  OwningOpRef<ModuleOp> module((*generator)->stepModule(2).clone());
  codegen::LoweringOptions options;
  options.precision = codegen::Precision::Bf16;
  options.bf16Weights = true;
  options.dynamicSizes = {{"tokens", 16}, {"past", 256}};
  options.argumentSizes = {"tokens", "tokens"};
  auto step = module->lookupSymbol<func::FuncOp>("step");
  ASSERT_TRUE(step);
  for (unsigned i = 2; i < step.getNumArguments(); ++i)
    options.argumentSizes.push_back("past");
  codegen::KernelProgram kp = lower(*module, "step", options);

  std::string text = exportText(kp, context);
  EXPECT_NE(text.find("variables [\"tokens\", \"past\"] max [16, 256]"),
            std::string::npos);
  EXPECT_NE(text.find(" param bf16 ["), std::string::npos);
  EXPECT_NE(text.find("b_bf16 = true"), std::string::npos);
  EXPECT_NE(text.find("v0 + v1"), std::string::npos) << "no size of both";
  auto back = importText(text, context);
  ASSERT_TRUE(back) << back.status().message();
  expectSamePrograms(kp, *back);
  EXPECT_EQ(exportText(*back, context), text);
}

TEST_F(KernelIR, AnEditedSpecBecomesItsOwnKernel) {
  Model model = initModel(smallConfig(true), 7);
  auto built = buildColm(context, model.config);
  ASSERT_TRUE(built);
  OwningOpRef<ModuleOp> module = built.take();
  codegen::LoweringOptions options;
  options.sequenceLength = 8;
  codegen::KernelProgram kp = lower(*module, "forward", options);
  std::string text = exportText(kp, context);
  // Every GEMM's register tile, from whatever the tuning gave to 8 x 16.
  std::string edited = text;
  size_t gemms = 0;
  for (size_t at = edited.find("mr = "); at != std::string::npos;
       at = edited.find("mr = ", at + 1)) {
    size_t end = edited.find(", kc = ", at);
    edited.replace(at, end - at, "mr = 8, nr = 16");
    ++gemms;
  }
  ASSERT_GT(gemms, 0u);
  auto back = importText(edited, context);
  ASSERT_TRUE(back) << back.status().message();
  ASSERT_EQ(back->program.launches.size(), kp.program.launches.size());
  size_t seen = 0;
  for (size_t i = 0; i < back->specs.size(); ++i)
    if (auto *g = std::get_if<codegen::ChainGemmSpec>(&back->specs[i])) {
      EXPECT_EQ(g->knobs.mr, 8);
      EXPECT_EQ(g->knobs.nr, 16);
      EXPECT_EQ(back->program.kernels[i].name, g->name());
      EXPECT_EQ(back->program.kernels[i].symbol, "colm_" + g->name());
      ++seen;
    }
  EXPECT_GT(seen, 0u);
}

TEST_F(KernelIR, ASpecItsKernelRejectsIsAnErrorAtItsLine) {
  const char *text = R"mlir(
kernel.program @p target "cpu" sizes {} variables ["tokens"] max [8] arena 0 {
  kernel.def @g symbol "colm_g" #kernel.gemm<use = dense, m = -1, n = 64, k = 64, a_transposed = false, b_transposed = true, accumulate = false, addend = false, swiglu = none, bf16 = false, b_bf16 = false, blocks = [n 0:32 k 0:64 m 0:?], mr = 12, nr = 32, kc = 256, mc = 96>
}
)mlir";
  std::string errors;
  auto kp = importText(text, context, &errors);
  ASSERT_FALSE(kp);
  EXPECT_NE(errors.find("has a gemm spec that its kernels reject"),
            std::string::npos)
      << errors;
}

} // namespace
