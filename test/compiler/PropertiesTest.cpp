//===- PropertiesTest.cpp - what chains promise, checked on real graphs ---===//
//
// (a) parameters of chains above k never change the k-chain logits;
// (b) chain-slice equals the prefix of the full model;
// (c) chain-share-kv of a CoLM graph is the directly built CoLM-Air graph;
// (d) chain-fold-masks preserves results.
//
//===----------------------------------------------------------------------===//
#include "compiler/BuildColm.h"
#include "compiler/Pipeline.h"
#include "passes/Passes.h"
#include "runtime/Model.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace colm;

namespace {

struct Case {
  std::vector<int64_t> chains;
  bool kvSharing;
  int64_t kvHeads; // 0: no grouped-query attention
};

std::string describe(const Case &c) {
  std::string name = c.kvSharing ? "Air" : "Colm";
  for (int64_t r : c.chains)
    name += "_" + std::to_string(r);
  if (c.kvHeads)
    name += "_kv" + std::to_string(c.kvHeads);
  return name;
}

void PrintTo(const Case &c, std::ostream *os) { *os << describe(c); }

std::string caseName(const ::testing::TestParamInfo<Case> &info) {
  return describe(info.param);
}

ModelConfig makeConfig(const Case &c) {
  ModelConfig config;
  config.chains = c.chains;
  int64_t s = 0;
  for (int64_t r : c.chains)
    s += r;
  config.vocabSize = 40;
  config.numHeads = s;
  config.numKvHeads = c.kvHeads ? c.kvHeads : s;
  config.hiddenSize = 8 * s;
  config.intermediateSize = 12 * s;
  config.numLayers = 2;
  config.kvSharing = c.kvSharing;
  return config;
}

/// Random weights far from zero so that every dependency shows in the logits.
TensorMap randomParams(const ModelConfig &config, uint64_t seed) {
  Model model = initModel(config, seed);
  for (auto &[name, t] : model.params)
    for (float &v : t.data)
      v *= 25.0f; // std 0.5
  return model.params;
}

double maxRelError(const HostTensor &a, const HostTensor &b) {
  double diff = 0, scale = 0;
  for (size_t i = 0; i < a.data.size(); ++i) {
    diff = std::max(diff, std::abs(a.data[i] - b.data[i]));
    scale = std::max(scale, std::abs(b.data[i]));
  }
  return diff / scale;
}

class ChainProperties : public ::testing::TestWithParam<Case> {
protected:
  ChainProperties() : config(makeConfig(GetParam())) {
    dsl::loadDialects(context);
    Status valid = validateConfig(config);
    EXPECT_TRUE(valid.isOk()) << valid.message();
    params = randomParams(config, 7);
  }

  HostTensor logits(mlir::ModuleOp module, const TensorMap &p) {
    auto r = runForward(module, tokens, p);
    EXPECT_TRUE(r.isOk()) << r.status().message();
    return r.isOk() ? r.take() : HostTensor();
  }
  mlir::OwningOpRef<mlir::ModuleOp> subModel(unsigned k) {
    auto m = buildSubModel(context, config, k);
    EXPECT_TRUE(m.isOk()) << m.status().message();
    return m.take();
  }

  mlir::MLIRContext context;
  ModelConfig config;
  TensorMap params;
  std::vector<int32_t> tokens{3, 1, 4, 1, 5, 9, 2, 6};
};

TEST_P(ChainProperties, HigherChainsNeverChangeLowerLogits) {
  int n = config.numChains();
  for (int k = 1; k < n; ++k) {
    auto module = subModel(k);
    HostTensor before = logits(*module, params);
    TensorMap perturbed = params;
    for (const ParamSpec &spec : modelParams(config)) {
      Tensor &t = perturbed[spec.name];
      int64_t rows = t.shape[0], cols = t.shape.size() > 1 ? t.shape[1] : 1;
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c) {
          int chain = 1;
          if (spec.kind == ParamKind::ChainLinear)
            chain = config.chainOf(rows, r); // rows of output chain i
          else if (spec.kind == ParamKind::ChainedColumns)
            chain = config.chainOf(cols, c);
          else if (spec.kind == ParamKind::Gain)
            chain = config.chainOf(rows, r);
          if (chain > k)
            t.data[r * cols + c] += 1.0f + 0.1f * float((r + c) % 7);
        }
    }
    HostTensor after = logits(*module, perturbed);
    EXPECT_EQ(before.data, after.data) << "k=" << k;
    // And the full model does see the change.
    auto full = subModel(0);
    EXPECT_NE(logits(*full, params).data, logits(*full, perturbed).data);
  }
}

TEST_P(ChainProperties, SliceEqualsPrefixOfFullModel) {
  for (int k = 1; k <= config.numChains(); ++k) {
    auto sliced = subModel(k);
    auto full = subModel(0);
    // The full model with the LM head over its first k chains.
    full->walk([&](chain::LmHeadOp head) {
      head.setChains(static_cast<uint64_t>(k));
    });
    EXPECT_LE(maxRelError(logits(*sliced, params), logits(*full, params)), 1e-6)
        << "k=" << k;
  }
}

TEST_P(ChainProperties, FoldMasksPreservesResults) {
  auto module = subModel(0);
  HostTensor before = logits(*module, params);
  mlir::PassManager pm(&context);
  pm.addNestedPass<mlir::func::FuncOp>(chain::createFoldMasks());
  pm.addNestedPass<mlir::func::FuncOp>(chain::createVerifyCausality());
  ASSERT_TRUE(mlir::succeeded(pm.run(*module)));
  int linears = 0;
  module->walk([&](chain::LinearOp) { ++linears; });
  EXPECT_EQ(linears, 0);
  EXPECT_LE(maxRelError(logits(*module, params), before), 1e-6);
}

TEST(ShareKv, EqualsDirectlyBuiltAir) {
  // CoLM configurations that CoLM-Air also allows (every c_i a multiple of
  // h_kv, and h_kv*c_i/h whole).
  for (Case c : {Case{{2, 2}, false, 2}, Case{{4, 4}, false, 2},
                 Case{{4, 4, 8}, false, 4}, Case{{4}, false, 2}}) {
    mlir::MLIRContext context;
    dsl::loadDialects(context);
    ModelConfig config = makeConfig(c);
    ModelConfig air = config;
    air.kvSharing = true;
    auto colmModule = buildColm(context, config);
    auto airModule = buildColm(context, air);
    ASSERT_TRUE(colmModule.isOk()) << colmModule.status().message();
    ASSERT_TRUE(airModule.isOk()) << airModule.status().message();
    mlir::PassManager pm(&context);
    pm.addNestedPass<mlir::func::FuncOp>(chain::createShareKv());
    pm.addNestedPass<mlir::func::FuncOp>(chain::createVerifyCausality());
    ASSERT_TRUE(mlir::succeeded(pm.run(**colmModule)));
    EXPECT_EQ(dsl::printGraph(**colmModule, false),
              dsl::printGraph(**airModule, false))
        << describe(c);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Layouts, ChainProperties,
    ::testing::Values(Case{{1, 1}, false, 0}, Case{{2, 2}, false, 0},
                      Case{{2, 2}, false, 2}, Case{{1, 1, 2}, false, 0},
                      Case{{4, 4}, false, 2}, Case{{4, 4, 8}, false, 4},
                      Case{{4}, false, 2}, Case{{1, 1}, true, 1},
                      Case{{2, 2}, true, 2}, Case{{2, 2, 4}, true, 2},
                      Case{{1, 1, 2}, true, 1}),
    caseName);

} // namespace
