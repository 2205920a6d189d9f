//===- GraphTest.cpp - the DSL and graph files ----------------------------===//
#include "compiler/Graph.h"
#include "compiler/BuildColm.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest.h>

using namespace colm;

namespace {

ModelConfig smallConfig(bool kvSharing) {
  ModelConfig c;
  c.vocabSize = 32;
  c.hiddenSize = 32;
  c.intermediateSize = 64;
  c.numLayers = 2;
  c.numHeads = 4;
  c.numKvHeads = 2;
  c.chains = {2, 2};
  c.kvSharing = kvSharing;
  return c;
}

TEST(GraphTest, GraphFilesRoundTripExactly) {
  for (bool air : {false, true}) {
    mlir::MLIRContext context;
    dsl::loadDialects(context);
    auto module = buildColm(context, smallConfig(air));
    ASSERT_TRUE(module.isOk()) << module.status().message();
    std::string text = dsl::printGraph(**module);
    auto reparsed = mlir::parseSourceString<mlir::ModuleOp>(text, &context);
    ASSERT_TRUE(reparsed);
    EXPECT_EQ(dsl::printGraph(*reparsed), text);
  }
}

TEST(GraphTest, ValuesHaveModelNamesAndSourceLocations) {
  mlir::MLIRContext context;
  dsl::loadDialects(context);
  auto module = buildColm(context, smallConfig(true));
  ASSERT_TRUE(module.isOk());
  std::string text = dsl::printGraph(**module);
  EXPECT_NE(text.find("%l1.q = chain.linear %l1.a, %l1.q_proj"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("chain.param \"model.layers.1.self_attn.k_proj.weight\" "
                      ": tensor<16x16xf32>"),
            std::string::npos);
  EXPECT_NE(text.find("kv_mapping tiled"), std::string::npos);
  EXPECT_NE(text.find("BuildColm.cpp\":"), std::string::npos)
      << "ops carry the C++ location that built them";
}

TEST(GraphTest, InvalidConfigIsRejectedWithTheReason) {
  mlir::MLIRContext context;
  dsl::loadDialects(context);
  ModelConfig bad = smallConfig(true);
  bad.chains = {1, 3}; // chain 1 has one head, h_kv = 2
  auto module = buildColm(context, bad);
  ASSERT_FALSE(module.isOk());
  EXPECT_NE(module.status().message().find("num_key_value_heads"),
            std::string::npos)
      << module.status().message();
}

} // namespace
