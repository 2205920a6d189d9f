//===- AutodiffTest.cpp - chain-autodiff against finite differences -------===//
//
// The training step's gradients, computed in fp64 by the interpreter, must
// match central finite differences of its own loss, for CoLM and CoLM-Air,
// every chain-loss form, and frozen chains. Chain-linear gradients must be
// exactly zero above the diagonal and in frozen chains.
//
//===----------------------------------------------------------------------===//
#include "compiler/BuildColm.h"
#include "compiler/Interpreter.h"
#include "passes/Passes.h"
#include "runtime/Model.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"

#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

using namespace colm;

namespace {

struct Case {
  std::vector<int64_t> chains;
  bool kvSharing;
  int64_t kvHeads;
  std::string chainLoss;
  unsigned freeze;
};

std::string describe(const Case &c) {
  std::string s = c.kvSharing ? "Air" : "Colm";
  for (int64_t r : c.chains)
    s += "_" + std::to_string(r);
  s += "_kv" + std::to_string(c.kvHeads) + "_";
  for (char ch : c.chainLoss)
    s += std::isalnum(static_cast<unsigned char>(ch)) ? ch : 'w';
  return s + "_freeze" + std::to_string(c.freeze);
}
void PrintTo(const Case &c, std::ostream *os) { *os << describe(c); }

class AutodiffTest : public ::testing::TestWithParam<Case> {
protected:
  void SetUp() override {
    const Case &c = GetParam();
    dsl::loadDialects(context);
    int64_t s = 0;
    for (int64_t r : c.chains)
      s += r;
    config.chains = c.chains;
    config.vocabSize = 11;
    config.numHeads = s;
    config.numKvHeads = c.kvHeads;
    config.hiddenSize = 4 * s;
    config.intermediateSize = 6 * s;
    config.numLayers = 2;
    config.kvSharing = c.kvSharing;
    ASSERT_TRUE(validateConfig(config).isOk())
        << validateConfig(config).message();
    Model model = initModel(config, 3);
    for (auto &[name, t] : model.params) {
      HostTensor h;
      h.shape = t.shape;
      for (float v : t.data)
        h.data.push_back(v * 20.0); // std 0.4: every path matters
      params[name] = h;
    }
    auto built = buildColm(context, config);
    ASSERT_TRUE(built.isOk());
    module = built.take();
    mlir::PassManager pm(&context);
    chain::AutodiffOptions options;
    options.chainLoss = c.chainLoss;
    options.freezeChains = c.freeze;
    pm.addPass(chain::createAutodiff(options));
    ASSERT_TRUE(mlir::succeeded(pm.run(*module)));
    step = module->lookupSymbol<mlir::func::FuncOp>("train_step");
    ASSERT_TRUE(step);
  }

  /// Runs the training step; returns outputs by their chain.output name.
  std::map<std::string, HostTensor> run() {
    InterpretOptions options;
    options.fp64 = true;
    options.paramOverrides = &params;
    auto results = interpret(
        step, {HostTensor::tokens(tokens), HostTensor::tokens(targets)},
        TensorMap(), options);
    EXPECT_TRUE(mlir::succeeded(results));
    std::map<std::string, HostTensor> named;
    for (unsigned i = 0; mlir::succeeded(results) && i < results->size(); ++i)
      named[step.getResultAttrOfType<mlir::StringAttr>(i, "chain.output")
                .str()] = (*results)[i];
    return named;
  }

  mlir::MLIRContext context;
  ModelConfig config;
  std::map<std::string, HostTensor> params;
  mlir::OwningOpRef<mlir::ModuleOp> module;
  mlir::func::FuncOp step;
  std::vector<int32_t> tokens{1, 4, 1, 5, 9, 2};
  std::vector<int32_t> targets{4, 1, 5, 9, 2, 6};
};

TEST_P(AutodiffTest, GradientsMatchFiniteDifferences) {
  const Case &c = GetParam();
  auto out = run();
  ASSERT_TRUE(out.count("loss"));
  for (const ParamSpec &spec : modelParams(config)) {
    std::string key = "grad." + spec.name;
    std::vector<uint8_t> trainable(params[spec.name].data.size(),
                                   1); // entries that may change
    int64_t rows = spec.shape[0],
            cols = spec.shape.size() > 1 ? spec.shape[1] : 1;
    bool anyTrainable = false;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t col = 0; col < cols; ++col) {
        int chain = 1;
        if (spec.kind == ParamKind::ChainLinear || spec.kind == ParamKind::Gain)
          chain = config.chainOf(rows, r);
        else if (spec.kind == ParamKind::ChainedColumns)
          chain = config.chainOf(cols, col);
        bool upper = spec.kind == ParamKind::ChainLinear &&
                     config.chainOf(cols, col) > config.chainOf(rows, r);
        trainable[r * cols + col] = chain > int(c.freeze) && !upper;
        anyTrainable |= trainable[r * cols + col] != 0;
      }
    if (!anyTrainable) {
      EXPECT_FALSE(out.count(key)) << key << " is frozen: no gradient at all";
      continue;
    }
    ASSERT_TRUE(out.count(key)) << key;
    const HostTensor &grad = out.at(key);
    ASSERT_EQ(grad.shape, spec.shape) << key;
    for (size_t i = 0; i < grad.data.size(); ++i)
      if (!trainable[i])
        EXPECT_EQ(grad.data[i], 0.0) << key << " entry " << i;
    // Finite differences on a spread of trainable entries.
    int checked = 0;
    for (size_t i = 7 % grad.data.size(); i < grad.data.size() && checked < 5;
         i += 1 + grad.data.size() / 5) {
      if (!trainable[i])
        continue;
      double &p = params[spec.name].data[i];
      double saved = p, h = 1e-6;
      p = saved + h;
      double up = run()["loss"].data[0];
      p = saved - h;
      double down = run()["loss"].data[0];
      p = saved;
      double fd = (up - down) / (2 * h);
      EXPECT_NEAR(grad.data[i], fd, 1e-6 * std::max(1.0, std::abs(fd)))
          << key << " entry " << i;
      ++checked;
    }
  }
}

TEST_P(AutodiffTest, LossIsTheWeightedSumOfSubModelLosses) {
  const std::string &spec = GetParam().chainLoss;
  int n = config.numChains();
  std::vector<double> w(n, 0.0);
  if (spec == "full") {
    w[n - 1] = 1;
  } else if (spec == "all") {
    w.assign(n, 1.0 / n);
  } else {
    std::stringstream in(spec);
    std::string item;
    for (int k = 0; std::getline(in, item, ','); ++k)
      w[k] = std::stod(item);
  }
  auto out = run();
  double sum = 0;
  for (int k = 1; k <= n; ++k) {
    std::string name = "ce." + std::to_string(k);
    EXPECT_EQ(out.count(name), w[k - 1] != 0.0 ? 1u : 0u) << name;
    if (out.count(name))
      sum += w[k - 1] * out[name].data[0];
  }
  EXPECT_NEAR(out["loss"].data[0], sum, 1e-12);
  EXPECT_GT(out["loss"].data[0], 0.0);
}

INSTANTIATE_TEST_SUITE_P(
    Models, AutodiffTest,
    ::testing::Values(Case{{1, 1}, false, 2, "full", 0},
                      Case{{1, 1, 2}, false, 4, "all", 0},
                      Case{{2, 2}, false, 2, "0.25,2", 1},
                      Case{{2, 2}, true, 2, "all", 0},
                      Case{{2, 2}, true, 2, "all", 1},
                      Case{{1, 1, 2}, true, 1, "0.5,0,1.5", 2},
                      Case{{4}, false, 2, "full", 0}),
    [](const ::testing::TestParamInfo<Case> &info) {
      return describe(info.param);
    });

} // namespace
