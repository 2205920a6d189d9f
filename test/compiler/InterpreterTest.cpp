//===- InterpreterTest.cpp - each op against hand-computed values ---------===//
#include "compiler/Interpreter.h"
#include "compiler/Graph.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace colm;

namespace {

class InterpreterTest : public ::testing::Test {
protected:
  InterpreterTest() { dsl::loadDialects(context); }

  /// Runs `@f` of `body` on the arguments; fails the test on error.
  std::vector<HostTensor> run(const std::string &body,
                              std::vector<HostTensor> args) {
    module = mlir::parseSourceString<mlir::ModuleOp>(body, &context);
    EXPECT_TRUE(module) << "does not parse:\n" << body;
    auto func = module->lookupSymbol<mlir::func::FuncOp>("f");
    auto result = interpret(func, args, params);
    EXPECT_TRUE(mlir::succeeded(result));
    return mlir::succeeded(result) ? *result : std::vector<HostTensor>{};
  }

  static HostTensor matrix(std::vector<int64_t> shape, std::vector<double> v) {
    HostTensor t;
    t.shape = std::move(shape);
    t.data = std::move(v);
    return t;
  }
  void setParam(const std::string &name, std::vector<int64_t> shape,
                std::vector<float> v) {
    Tensor t;
    t.shape = std::move(shape);
    t.data = std::move(v);
    params[name] = t;
  }

  mlir::MLIRContext context;
  mlir::OwningOpRef<mlir::ModuleOp> module;
  TensorMap params;
};

TEST_F(InterpreterTest, NormHasStatisticsPerChain) {
  setParam("g", {4}, {1, 1, 2, 2});
  auto out = run(R"(
    func.func @f(%x: tensor<1x4xf32, #chain.layout<[1, 1]>>) -> tensor<1x4xf32, #chain.layout<[1, 1]>> {
      %g = chain.param "g" : tensor<4xf32, #chain.layout<[1, 1]>>
      %y = chain.norm %x, %g {eps = 0.0 : f64} : tensor<1x4xf32, #chain.layout<[1, 1]>>, tensor<4xf32, #chain.layout<[1, 1]>>
      return %y : tensor<1x4xf32, #chain.layout<[1, 1]>>
    })",
                 {matrix({1, 4}, {3, 4, 1, 1})});
  float rms = std::sqrt(12.5f);
  EXPECT_NEAR(out[0].data[0], 3 / rms, 1e-6);
  EXPECT_NEAR(out[0].data[1], 4 / rms, 1e-6);
  EXPECT_NEAR(out[0].data[2], 2, 1e-6);
  EXPECT_NEAR(out[0].data[3], 2, 1e-6);
}

TEST_F(InterpreterTest, ChainLinearNeverReadsBlocksAboveTheDiagonal) {
  // Block (1, 2) holds 5; a chain linear must not use it.
  setParam("w", {2, 2}, {1, 5, 2, 3});
  auto out = run(R"(
    func.func @f(%x: tensor<1x2xf32, #chain.layout<[1, 1]>>) -> tensor<1x2xf32, #chain.layout<[1, 1]>> {
      %w = chain.param "w" : tensor<2x2xf32, #chain.blocks<[1, 1]>>
      %y = chain.linear %x, %w : tensor<1x2xf32, #chain.layout<[1, 1]>>, tensor<2x2xf32, #chain.blocks<[1, 1]>> -> tensor<1x2xf32, #chain.layout<[1, 1]>>
      return %y : tensor<1x2xf32, #chain.layout<[1, 1]>>
    })",
                 {matrix({1, 2}, {1, 1})});
  EXPECT_FLOAT_EQ(out[0].data[0], 1);
  EXPECT_FLOAT_EQ(out[0].data[1], 5);
}

TEST_F(InterpreterTest, RopeRotatesHalvesByPosition) {
  auto out = run(R"(
    func.func @f(%x: tensor<2x2xf32>) -> tensor<2x2xf32> {
      %y = chain.rope %x {head_dim = 2 : i64, theta = 1.0 : f64} : tensor<2x2xf32>
      return %y : tensor<2x2xf32>
    })",
                 {matrix({2, 2}, {1, 0, 1, 0})});
  EXPECT_FLOAT_EQ(out[0].data[0], 1); // position 0: angle 0
  EXPECT_FLOAT_EQ(out[0].data[1], 0);
  EXPECT_NEAR(out[0].data[2], std::cos(1.0), 1e-6); // x*cos - x2*sin
  EXPECT_NEAR(out[0].data[3], std::sin(1.0), 1e-6); // x2*cos + x1*sin
}

TEST_F(InterpreterTest, AttentionIsCausalSoftmax) {
  double ln3 = std::log(3.0);
  auto out = run(R"(
    func.func @f(%q: tensor<2x1xf32>, %k: tensor<2x1xf32>, %v: tensor<2x1xf32>) -> tensor<2x1xf32> {
      %o = chain.attention %q, %k, %v kv_mapping grouped {head_dim = 1 : i64} : tensor<2x1xf32>, tensor<2x1xf32>, tensor<2x1xf32>
      return %o : tensor<2x1xf32>
    })",
                 {matrix({2, 1}, {1, 1}), matrix({2, 1}, {0, ln3}),
                  matrix({2, 1}, {1, 5})});
  EXPECT_NEAR(out[0].data[0], 1, 1e-6);               // sees only itself
  EXPECT_NEAR(out[0].data[1], 0.25 + 0.75 * 5, 1e-5); // softmax [1/4, 3/4]
}

TEST_F(InterpreterTest, KvMappingGroupedAndTiled) {
  std::string body = R"(
    func.func @f(%q: tensor<1x4xf32>, %k: tensor<1x2xf32>, %v: tensor<1x2xf32>) -> tensor<1x4xf32> {
      %o = chain.attention %q, %k, %v kv_mapping MAPPING {head_dim = 1 : i64} : tensor<1x4xf32>, tensor<1x2xf32>, tensor<1x2xf32>
      return %o : tensor<1x4xf32>
    })";
  auto args =
      std::vector<HostTensor>{matrix({1, 4}, {1, 1, 1, 1}),
                              matrix({1, 2}, {1, 1}), matrix({1, 2}, {10, 20})};
  std::string grouped = body, tiled = body;
  grouped.replace(grouped.find("MAPPING"), 7, "grouped");
  tiled.replace(tiled.find("MAPPING"), 7, "tiled");
  EXPECT_EQ(run(grouped, args)[0].data, (std::vector<double>{10, 10, 20, 20}));
  EXPECT_EQ(run(tiled, args)[0].data, (std::vector<double>{10, 20, 10, 20}));
}

TEST_F(InterpreterTest, SwigluAndCrossEntropy) {
  auto out = run(R"(
    func.func @f(%g: tensor<1x1xf32>, %u: tensor<1x1xf32>) -> tensor<1x1xf32> {
      %y = chain.swiglu %g, %u : tensor<1x1xf32>
      return %y : tensor<1x1xf32>
    })",
                 {matrix({1, 1}, {1}), matrix({1, 1}, {2})});
  EXPECT_NEAR(out[0].data[0], 2.0 / (1.0 + std::exp(-1.0)), 1e-6);
  auto loss =
      run(R"(
    func.func @f(%l: tensor<1x2xf32>, %t: tensor<1xi32>) -> tensor<f32> {
      %c = chain.cross_entropy %l, %t : tensor<1x2xf32>, tensor<1xi32> -> tensor<f32>
      return %c : tensor<f32>
    })",
          {matrix({1, 2}, {0, std::log(3.0)}), HostTensor::tokens({1})});
  EXPECT_NEAR(loss[0].data[0], -std::log(0.75), 1e-6);
}

TEST_F(InterpreterTest, ParamsBindLeadingSlicesAndHeadsUsePrefixes) {
  setParam("e", {3, 4}, {0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23});
  setParam("h", {2, 4}, {1, 1, 100, 100, 2, 2, 200, 200});
  auto out = run(R"(
    func.func @f(%t: tensor<?xi32>) -> tensor<?x2xf32> {
      %e = chain.param "e" : tensor<3x4xf32, #chain.layout<[1, 1]>>
      %x = chain.embed %e[%t] : tensor<3x4xf32, #chain.layout<[1, 1]>>, tensor<?xi32> -> tensor<?x4xf32, #chain.layout<[1, 1]>>
      %h = chain.param "h" : tensor<2x4xf32, #chain.layout<[1, 1]>>
      %l = chain.lm_head %x, %h chains 1 : tensor<?x4xf32, #chain.layout<[1, 1]>>, tensor<2x4xf32, #chain.layout<[1, 1]>> -> tensor<?x2xf32>
      return %l : tensor<?x2xf32>
    })",
                 {HostTensor::tokens({2})});
  // Only the first chain (columns 0-1) of token 2's row and of the head.
  EXPECT_FLOAT_EQ(out[0].data[0], 20 + 21);
  EXPECT_FLOAT_EQ(out[0].data[1], 2 * (20 + 21));
}

TEST_F(InterpreterTest, TokenOutsideVocabularyIsAnError) {
  setParam("e", {3, 2}, {0, 0, 0, 0, 0, 0});
  module = mlir::parseSourceString<mlir::ModuleOp>(R"(
    func.func @f(%t: tensor<?xi32>) -> tensor<?x2xf32, #chain.layout<[1]>> {
      %e = chain.param "e" : tensor<3x2xf32, #chain.layout<[1]>>
      %x = chain.embed %e[%t] : tensor<3x2xf32, #chain.layout<[1]>>, tensor<?xi32> -> tensor<?x2xf32, #chain.layout<[1]>>
      return %x : tensor<?x2xf32, #chain.layout<[1]>>
    })",
                                                   &context);
  std::string message;
  mlir::ScopedDiagnosticHandler handler(&context, [&](mlir::Diagnostic &d) {
    message = d.str();
    return mlir::success();
  });
  auto func = module->lookupSymbol<mlir::func::FuncOp>("f");
  EXPECT_TRUE(
      mlir::failed(interpret(func, {HostTensor::tokens({1, 3})}, params)));
  EXPECT_NE(message.find("token id 3 at position 1"), std::string::npos)
      << message;
  params.clear();
  EXPECT_TRUE(mlir::failed(interpret(func, {HostTensor::tokens({1})}, params)));
  EXPECT_NE(message.find("parameter 'e' is not in the model"),
            std::string::npos)
      << message;
}

} // namespace

namespace {

TEST_F(InterpreterTest, Fp32ModeRoundsEveryResultToFloat) {
  const char *body = R"(
    func.func @f(%a: tensor<1x1xf32>, %b: tensor<1x1xf32>) -> tensor<1x1xf32> {
      %c = chain.add %a, %b : tensor<1x1xf32>
      return %c : tensor<1x1xf32>
    })";
  auto out = run(body, {matrix({1, 1}, {1.0}), matrix({1, 1}, {1e-10})});
  EXPECT_EQ(out[0].data[0], 1.0); // 1 + 1e-10 is 1 in float32
  module = mlir::parseSourceString<mlir::ModuleOp>(body, &context);
  InterpretOptions fp64;
  fp64.fp64 = true;
  auto exact =
      interpret(module->lookupSymbol<mlir::func::FuncOp>("f"),
                {matrix({1, 1}, {1.0}), matrix({1, 1}, {1e-10})}, params, fp64);
  ASSERT_TRUE(mlir::succeeded(exact));
  EXPECT_EQ((*exact)[0].data[0], 1.0 + 1e-10);
}

} // namespace

namespace {

// A fusion group computes what its body computes: a linear, then the add
// of the residual, each rounded to float.
TEST_F(InterpreterTest, FusedGroupRunsItsBody) {
  setParam("w", {2, 2}, {1, 5, 2, 3});
  auto out = run(R"(
    func.func @f(%x: tensor<1x2xf32, #chain.layout<[1, 1]>>, %h: tensor<1x2xf32, #chain.layout<[1, 1]>>) -> tensor<1x2xf32, #chain.layout<[1, 1]>> {
      %w = chain.param "w" : tensor<2x2xf32, #chain.blocks<[1, 1]>>
      %s = chain.fused gemm_add(%x, %w, %h) : (tensor<1x2xf32, #chain.layout<[1, 1]>>, tensor<2x2xf32, #chain.blocks<[1, 1]>>, tensor<1x2xf32, #chain.layout<[1, 1]>>) -> tensor<1x2xf32, #chain.layout<[1, 1]>> {
      ^bb0(%a: tensor<1x2xf32, #chain.layout<[1, 1]>>, %b: tensor<2x2xf32, #chain.blocks<[1, 1]>>, %r: tensor<1x2xf32, #chain.layout<[1, 1]>>):
        %y = chain.linear %a, %b : tensor<1x2xf32, #chain.layout<[1, 1]>>, tensor<2x2xf32, #chain.blocks<[1, 1]>> -> tensor<1x2xf32, #chain.layout<[1, 1]>>
        %z = chain.add %r, %y : tensor<1x2xf32, #chain.layout<[1, 1]>>
        chain.yield %z : tensor<1x2xf32, #chain.layout<[1, 1]>>
      }
      return %s : tensor<1x2xf32, #chain.layout<[1, 1]>>
    })",
                 {matrix({1, 2}, {1, 1}), matrix({1, 2}, {1e-10, 10})});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].data[0], 1.0);  // the block above the diagonal unread;
  EXPECT_EQ(out[0].data[1], 15.0); // 1 + 1e-10 rounded to float is 1
}

} // namespace
