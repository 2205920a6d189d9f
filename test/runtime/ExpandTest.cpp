//===- ExpandTest.cpp - Tests for runtime/Expand.h ------------------------===//

#include "runtime/Expand.h"

#include "TestUtil.h"

#include <cstring>

using namespace colm;
using colm::test::smallConfig;

namespace {

/// Every old tensor is the leading slice of the new one, bit for bit; the
/// new lm_head columns are zero; the new model passes checkParams (zero
/// blocks above the diagonal).
void expectPrefixExpansion(const Model &old, const Model &grown) {
  ASSERT_OK(checkParams(grown.config, grown.params, "expanded"));
  for (const auto &[name, t] : old.params) {
    const Tensor &n = grown.params.at(name);
    ASSERT_EQ(n.shape.size(), t.shape.size()) << name;
    int64_t rows = t.shape[0], cols = t.shape.size() == 2 ? t.shape[1] : 1;
    int64_t ncols = n.shape.size() == 2 ? n.shape[1] : 1;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c)
        ASSERT_EQ(std::memcmp(&t.data[r * cols + c], &n.data[r * ncols + c], 4),
                  0)
            << name << " [" << r << ", " << c << "]";
  }
  const Tensor &head = grown.params.at("lm_head.weight");
  int64_t d = old.config.hiddenSize;
  for (int64_t v = 0; v < head.shape[0]; ++v)
    for (int64_t c = d; c < head.shape[1]; ++c)
      ASSERT_EQ(head.at(v, c), 0.0f);
  // The new embedding columns and new chain-linear rows are fresh, not zero.
  const Tensor &embed = grown.params.at("model.embed_tokens.weight");
  EXPECT_NE(embed.at(0, d), 0.0f);
  const Tensor &up = grown.params.at("model.layers.0.mlp.up_proj.weight");
  EXPECT_NE(up.at(up.shape[0] - 1, 0), 0.0f);
  const Tensor &gain = grown.params.at("model.norm.weight");
  for (int64_t i = d; i < gain.shape[0]; ++i)
    EXPECT_EQ(gain.data[i], 1.0f);
}

} // namespace

TEST(ExpandTest, ColmGrowsEveryDimensionInProportion) {
  ModelConfig c = smallConfig({1, 1, 2}, /*kvHeads=*/4); // D=16, F=32, S=4
  Model m = initModel(c, 1);
  for (auto &[name, t] : m.params) // gains that are not 1, to see them kept
    if (t.shape.size() == 1)
      for (size_t i = 0; i < t.data.size(); ++i)
        t.data[i] = 1.0f + 0.01f * static_cast<float>(i);
  Result<Model> g = expandModel(m, {2, 2}, 99);
  ASSERT_OK(g);
  const ModelConfig &n = g->config;
  EXPECT_EQ(n.chains, (std::vector<int64_t>{1, 1, 2, 2, 2}));
  EXPECT_EQ(n.numHeads, 8);
  EXPECT_EQ(n.headDim(), 4);
  EXPECT_EQ(n.hiddenSize, 32);
  EXPECT_EQ(n.intermediateSize, 64);
  EXPECT_EQ(n.numKvHeads, 8);
  EXPECT_EQ(n.vocabSize, c.vocabSize);
  expectPrefixExpansion(m, *g);
  // Old gains kept exactly, new gain entries 1.
  const Tensor &gain = g->params.at("model.norm.weight");
  EXPECT_EQ(gain.data[15], 1.15f);
  EXPECT_EQ(gain.data[16], 1.0f);
  // Deterministic in the seed.
  Result<Model> again = expandModel(m, {2, 2}, 99);
  EXPECT_EQ(again->params.at("lm_head.weight").data,
            g->params.at("lm_head.weight").data);
  EXPECT_EQ(again->params.at("model.embed_tokens.weight").data,
            g->params.at("model.embed_tokens.weight").data);
}

TEST(ExpandTest, ColmAirKeepsKeyValueHeads) {
  ModelConfig c = smallConfig({2, 2}, /*kvHeads=*/2, /*kvSharing=*/true);
  Model m = initModel(c, 1);
  Result<Model> g = expandModel(m, {4}, 5);
  ASSERT_OK(g);
  EXPECT_EQ(g->config.chains, (std::vector<int64_t>{2, 2, 4}));
  EXPECT_EQ(g->config.numKvHeads, 2);
  EXPECT_EQ(g->config.hiddenSize, 32);
  // The dense k/v projections keep their shape and values.
  const char *k = "model.layers.1.self_attn.k_proj.weight";
  EXPECT_EQ(g->params.at(k).shape, m.params.at(k).shape);
  EXPECT_EQ(g->params.at(k).data, m.params.at(k).data);
  expectPrefixExpansion(m, *g);
  EXPECT_ERROR(expandModel(m, {3}, 5), "multiple of num_key_value_heads 2",
               "new chain 3", "ratio 3");
}

TEST(ExpandTest, LlamaOneChainModel) {
  ModelConfig c = smallConfig({4}, /*kvHeads=*/2);
  c.modelType = "llama";
  ASSERT_OK(validateConfig(c));
  Model m = initModel(c, 1);
  Result<Model> g = expandModel(m, {4}, 5);
  ASSERT_OK(g);
  EXPECT_EQ(g->config.modelType, "colm");
  EXPECT_EQ(g->config.chains, (std::vector<int64_t>{4, 4}));
  EXPECT_EQ(g->config.numKvHeads, 4);
  EXPECT_THAT(configToJson(g->config),
              ::testing::HasSubstr("\"chains\": [4, 4]"));
  expectPrefixExpansion(m, *g);
}

TEST(ExpandTest, InexactGrowthIsAnError) {
  ModelConfig c = smallConfig({2, 2}, /*kvHeads=*/4);
  c.intermediateSize = 6; // splits as [3, 3], but 6 * 5 / 4 is no integer
  ASSERT_OK(validateConfig(c));
  Model m = initModel(c, 1);
  EXPECT_ERROR(expandModel(m, {1}, 1), "[2,2] -> [2,2,1]",
               "intermediate_size 6");
  ModelConfig k = smallConfig({2, 2}, /*kvHeads=*/2);
  EXPECT_ERROR(expandModel(initModel(k, 1), {1}, 1), "num_key_value_heads 2",
               "not an integer");
  EXPECT_ERROR(expandModel(m, {}, 1), "at least one");
  EXPECT_ERROR(expandModel(m, {0}, 1), "positive");
  Model broken = initModel(smallConfig(), 1);
  broken.params.erase("lm_head.weight");
  EXPECT_ERROR(expandModel(broken, {4}, 1), "missing tensor 'lm_head.weight'");
}
