//===- ChainAttrsTest.cpp - chain layout arithmetic and verifiers ---------===//
#include "dialect/ChainDialect.h"

#include "mlir/AsmParser/AsmParser.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"

#include <gtest/gtest.h>

using namespace mlir;
using namespace colm::chain;

namespace {

class ChainAttrsTest : public ::testing::Test {
protected:
  ChainAttrsTest() { context.loadDialect<ChainDialect>(); }
  MLIRContext context;
};

TEST_F(ChainAttrsTest, LayoutSplitsInRatios) {
  auto layout = LayoutAttr::get(&context, {2, 2, 4});
  EXPECT_EQ(layout.numChains(), 3u);
  EXPECT_EQ(layout.ratioSum(), 8);
  // spec section 1: chain i owns [X*S_{i-1}/S, X*S_i/S).
  EXPECT_EQ(layout.chainBegin(512, 1), 0);
  EXPECT_EQ(layout.chainEnd(512, 1), 128);
  EXPECT_EQ(layout.chainBegin(512, 3), 256);
  EXPECT_EQ(layout.chainEnd(512, 3), 512);
  EXPECT_EQ(layout.prefixWidth(512, 2), 256);
  EXPECT_EQ(layout.chainOf(512, 127), 1u);
  EXPECT_EQ(layout.chainOf(512, 128), 2u);
  EXPECT_EQ(layout.chainOf(512, 511), 3u);
  EXPECT_TRUE(layout.divides(1408));
  // Exact when every chain's width X*c_i/S is whole, not only when S divides X:
  // 100 is 25 + 25 + 50, 102 would give chain 1 25.5.
  EXPECT_TRUE(layout.divides(100));
  EXPECT_FALSE(layout.divides(102));
  EXPECT_TRUE(LayoutAttr::get(&context, {2, 2}).divides(6));
  EXPECT_FALSE(LayoutAttr::get(&context, {2, 2}).divides(5));
  EXPECT_EQ(layout.prefix(2), LayoutAttr::get(&context, {2, 2}));
}

TEST_F(ChainAttrsTest, EncodingRejectsInexactSplitNamingTheChain) {
  std::string message;
  ScopedDiagnosticHandler handler(&context, [&](Diagnostic &d) {
    message = d.str();
    return success();
  });
  auto type = parseType("tensor<?x30xf32, #chain.layout<[1, 1, 2]>>", &context);
  EXPECT_FALSE(type);
  EXPECT_NE(message.find("30 does not split exactly into chains [1, 1, 2]"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("chain 1 would get 30/4"), std::string::npos)
      << message;
}

TEST_F(ChainAttrsTest, BlocksEncodingChecksBothDimensions) {
  std::string message;
  ScopedDiagnosticHandler handler(&context, [&](Diagnostic &d) {
    message = d.str();
    return success();
  });
  EXPECT_TRUE(parseType("tensor<8x16xf32, #chain.blocks<[1, 1]>>", &context));
  EXPECT_FALSE(parseType("tensor<8x15xf32, #chain.blocks<[1, 1]>>", &context));
  EXPECT_NE(message.find("input dimension 15"), std::string::npos) << message;
  EXPECT_FALSE(parseType("tensor<8xf32, #chain.blocks<[1, 1]>>", &context));
  EXPECT_NE(message.find("[out, in]"), std::string::npos) << message;
}

TEST_F(ChainAttrsTest, RatiosMustBePositive) {
  std::string message;
  ScopedDiagnosticHandler handler(&context, [&](Diagnostic &d) {
    message = d.str();
    return success();
  });
  EXPECT_FALSE(parseAttribute("#chain.layout<[1, 0]>", &context));
  EXPECT_NE(message.find("chain 2 has ratio 0"), std::string::npos) << message;
}

} // namespace
