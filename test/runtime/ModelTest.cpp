//===- ModelTest.cpp - Tests for runtime/Model.h --------------------------===//

#include "runtime/Model.h"

#include "runtime/File.h"

#include "TestUtil.h"

#include <cmath>

using namespace colm;
using colm::test::smallConfig;
using colm::test::TempDir;

TEST(ModelTest, ParamsFollowSpecOrderAndShapes) {
  ModelConfig c = smallConfig({1, 1, 2}, /*kvHeads=*/2);
  std::vector<ParamSpec> p = modelParams(c);
  ASSERT_EQ(p.size(), 2u + 9u * 2u + 1u);
  EXPECT_EQ(p[0].name, "model.embed_tokens.weight");
  EXPECT_EQ(p[0].shape, (std::vector<int64_t>{11, 16}));
  EXPECT_EQ(p[0].kind, ParamKind::ChainedColumns);
  const char *layer[] = {
      "input_layernorm",  "self_attn.q_proj", "self_attn.k_proj",
      "self_attn.v_proj", "self_attn.o_proj", "post_attention_layernorm",
      "mlp.gate_proj",    "mlp.up_proj",      "mlp.down_proj"};
  for (int l = 0; l < 2; ++l)
    for (int i = 0; i < 9; ++i)
      EXPECT_EQ(p[1 + 9 * l + i].name, "model.layers." + std::to_string(l) +
                                           "." + layer[i] + ".weight");
  EXPECT_EQ(p[1].shape, (std::vector<int64_t>{16}));
  EXPECT_EQ(p[1].kind, ParamKind::Gain);
  EXPECT_EQ(p[2].shape, (std::vector<int64_t>{16, 16}));
  EXPECT_EQ(p[3].shape, (std::vector<int64_t>{8, 16})); // h_kv*hd = 2*4
  EXPECT_EQ(p[3].kind, ParamKind::ChainLinear);
  EXPECT_EQ(p[5].shape, (std::vector<int64_t>{16, 16}));
  EXPECT_EQ(p[7].shape, (std::vector<int64_t>{32, 16}));
  EXPECT_EQ(p[9].shape, (std::vector<int64_t>{16, 32}));
  EXPECT_EQ(p[19].name, "model.norm.weight");
  EXPECT_EQ(p[20].name, "lm_head.weight");
  EXPECT_EQ(p[20].kind, ParamKind::ChainedColumns);
}

TEST(ModelTest, KvSharingUsesDenseChainOneProjections) {
  ModelConfig c = smallConfig({2, 2}, /*kvHeads=*/2, /*kvSharing=*/true);
  ASSERT_OK(validateConfig(c));
  std::vector<ParamSpec> p = modelParams(c);
  EXPECT_EQ(p[3].name, "model.layers.0.self_attn.k_proj.weight");
  EXPECT_EQ(p[3].kind, ParamKind::Dense);
  EXPECT_EQ(p[3].shape, (std::vector<int64_t>{8, 8})); // [h_kv*hd, D_1]
  EXPECT_EQ(p[4].kind, ParamKind::Dense);
}

TEST(ModelTest, InitIsDeterministicAndMasked) {
  ModelConfig c = smallConfig({1, 1, 2});
  Model a = initModel(c, 1234);
  Model b = initModel(c, 1234);
  Model other = initModel(c, 1235);
  ASSERT_EQ(a.params.size(), modelParams(c).size());
  for (const auto &[name, t] : a.params) {
    EXPECT_EQ(t.data, b.params.at(name).data) << name;
    if (name.find("layernorm") == std::string::npos &&
        name.find("norm.weight") == std::string::npos)
      EXPECT_NE(t.data, other.params.at(name).data) << name;
  }
  EXPECT_OK(checkParams(c, a.params, "init"));
  // Norm gains are 1; above-diagonal blocks are exactly 0.
  for (float g : a.params.at("model.norm.weight").data)
    EXPECT_EQ(g, 1.0f);
  const Tensor &up = a.params.at("model.layers.0.mlp.up_proj.weight");
  // Output chain 1 = rows [0, 8) of F=32; it may read only input cols [0, 4).
  for (int64_t r = 0; r < 8; ++r)
    for (int64_t col = 4; col < 16; ++col)
      EXPECT_EQ(up.at(r, col), 0.0f);
  EXPECT_NE(up.at(0, 0), 0.0f);
  EXPECT_NE(up.at(31, 15), 0.0f); // chain 3 reads everything
  // Different tensors get different streams.
  EXPECT_NE(a.params.at("model.layers.0.mlp.up_proj.weight").data,
            a.params.at("model.layers.0.mlp.gate_proj.weight").data);
}

TEST(ModelTest, InitStatisticsAndStreamIndependence) {
  ModelConfig c = smallConfig({4});
  c.vocabSize = 4096;
  Model m = initModel(c, 7);
  const Tensor &e = m.params.at("model.embed_tokens.weight");
  double sum = 0, sq = 0;
  for (float x : e.data) {
    sum += x;
    sq += double(x) * x;
  }
  double n = static_cast<double>(e.data.size());
  EXPECT_NEAR(sum / n, 0.0, 0.001);
  EXPECT_NEAR(std::sqrt(sq / n), 0.02, 0.0005);
  // A tensor's values depend on (seed, name) only, not on the other
  // tensors: a model with more layers has the same layer-0 weights.
  ModelConfig deeper = c;
  deeper.numLayers = 3;
  Model d = initModel(deeper, 7);
  EXPECT_EQ(d.params.at("model.layers.1.self_attn.q_proj.weight").data,
            m.params.at("model.layers.1.self_attn.q_proj.weight").data);
}

TEST(ModelTest, SaveLoadRoundTrip) {
  TempDir dir;
  ModelConfig c = smallConfig({2, 2}, 2);
  Model m = initModel(c, 1);
  ASSERT_OK(saveModel(dir.path("model"), m));
  Result<Model> back = loadModel(dir.path("model"));
  ASSERT_OK(back);
  EXPECT_EQ(back->config, c);
  for (const auto &[name, t] : m.params)
    EXPECT_EQ(back->params.at(name).data, t.data) << name;

  // BF16 storage keeps zeros zero, so the loaded model still validates.
  ASSERT_OK(saveModel(dir.path("bf16"), m, DType::BF16));
  Result<Model> bf = loadModel(dir.path("bf16"));
  ASSERT_OK(bf);
  const Tensor &q = bf->params.at("model.layers.1.self_attn.q_proj.weight");
  EXPECT_EQ(q.storedType, DType::BF16);
  const Tensor &q0 = m.params.at("model.layers.1.self_attn.q_proj.weight");
  for (size_t i = 0; i < q.data.size(); ++i)
    EXPECT_EQ(q.data[i], roundToDType(q0.data[i], DType::BF16));
}

TEST(ModelTest, KvSharingSaveLoad) {
  TempDir dir;
  ModelConfig c = smallConfig({2, 2}, 2, true);
  ASSERT_OK(saveModel(dir.str(), initModel(c, 3)));
  Result<Model> back = loadModel(dir.str());
  ASSERT_OK(back);
  EXPECT_TRUE(back->config.kvSharing);
}

class LoadModelErrors : public ::testing::Test {
protected:
  void SetUp() override {
    cfg = smallConfig({1, 1, 2});
    model = initModel(cfg, 42);
  }
  /// Writes `model` as is (no checks) and loads it back.
  Result<Model> writeAndLoad() {
    EXPECT_OK(saveConfig(dir.path("config.json"), model.config));
    EXPECT_OK(writeSafetensors(dir.path("model.safetensors"), model.params));
    return loadModel(dir.str());
  }
  TempDir dir;
  ModelConfig cfg;
  Model model;
};

TEST_F(LoadModelErrors, NonZeroUpperBlock) {
  // Row 3 is in output chain 1 (rows [0, 8) of F=32); column 70 doesn't exist
  // for D=16, so use column 9, in input chain 3 (columns [8, 16)).
  model.params.at("model.layers.0.mlp.up_proj.weight").at(3, 9) = 0.013f;
  EXPECT_ERROR(writeAndLoad(), "model.safetensors",
               "model.layers.0.mlp.up_proj.weight", "block (1,3)",
               "rows of output chain 1, columns of input chain 3",
               "0.013 at [3, 9]", "block lower-triangular");
}

TEST_F(LoadModelErrors, NaNInUpperBlock) {
  model.params.at("model.layers.1.self_attn.o_proj.weight").at(5, 8) = NAN;
  // Row 5 of D=16 is output chain 2; column 8 of h*hd=16 is input chain 3.
  EXPECT_ERROR(writeAndLoad(), "model.layers.1.self_attn.o_proj.weight",
               "block (2,3)", "nan");
}

TEST_F(LoadModelErrors, MissingTensor) {
  model.params.erase("lm_head.weight");
  EXPECT_ERROR(writeAndLoad(), "missing tensor 'lm_head.weight'", "[11, 16]");
}

TEST_F(LoadModelErrors, UnexpectedTensor) {
  model.params["model.layers.2.mlp.up_proj.weight"] = Tensor({32, 16});
  EXPECT_ERROR(writeAndLoad(), "unexpected tensor",
               "model.layers.2.mlp.up_proj.weight");
}

TEST_F(LoadModelErrors, ShapeMismatch) {
  model.params["model.layers.1.mlp.down_proj.weight"] = Tensor({16, 16});
  EXPECT_ERROR(writeAndLoad(), "model.layers.1.mlp.down_proj.weight",
               "has shape [16, 16], expected [16, 32]");
}

TEST_F(LoadModelErrors, InvalidConfig) {
  model.config.intermediateSize = 34;
  EXPECT_ERROR(writeAndLoad(), "config.json", "intermediate_size 34");
}

TEST_F(LoadModelErrors, MissingFiles) {
  EXPECT_ERROR(loadModel(dir.str()), "config.json");
  EXPECT_OK(saveConfig(dir.path("config.json"), model.config));
  EXPECT_ERROR(loadModel(dir.str()), "model.safetensors");
}

TEST(ModelTest, SaveRejectsBrokenModel) {
  TempDir dir;
  Model m = initModel(smallConfig(), 0);
  m.params.at("model.layers.0.self_attn.q_proj.weight").at(0, 15) = 1.0f;
  EXPECT_ERROR(saveModel(dir.path("m"), m), "q_proj", "block (1,3)");
}

TEST(ModelTest, LlamaCheckpointIsOneChainModel) {
  TempDir dir;
  ASSERT_OK(writeFileAtomic(dir.path("config.json"), R"({
    "model_type": "llama", "vocab_size": 11, "hidden_size": 16,
    "intermediate_size": 24, "num_hidden_layers": 1,
    "num_attention_heads": 4, "num_key_value_heads": 2})"));
  Result<ModelConfig> cfg = loadConfig(dir.path("config.json"));
  ASSERT_OK(cfg);
  // A dense model: no zero blocks to enforce with one chain.
  Model m = initModel(*cfg, 5);
  for (auto &[name, t] : m.params)
    for (float &x : t.data)
      if (x == 0.0f)
        x = 0.5f;
  ASSERT_OK(writeSafetensors(dir.path("model.safetensors"), m.params));
  Result<Model> back = loadModel(dir.str());
  ASSERT_OK(back);
  EXPECT_EQ(back->config.numChains(), 1);
}

TEST_F(LoadModelErrors, NonFiniteWeightNamesTensorAndIndex) {
  model.params.at("model.layers.1.mlp.down_proj.weight").at(2, 7) = NAN;
  EXPECT_ERROR(writeAndLoad(), "model.safetensors",
               "model.layers.1.mlp.down_proj.weight", "NaN at [2, 7]");
  model.params.at("model.layers.1.mlp.down_proj.weight").at(2, 7) = 0.0f;
  model.params.at("model.norm.weight").data[3] = -INFINITY;
  EXPECT_ERROR(writeAndLoad(), "model.norm.weight", "Inf at [3]");
  // Nor can such weights be saved.
  EXPECT_ERROR(saveModel(dir.path("again"), model), "model.norm.weight", "Inf");
}

TEST(ModelTest, ParamCountMatchesTheTensors) {
  for (auto cfg : {smallConfig({1, 1, 2}), smallConfig({2, 2}, 2, true)}) {
    Model m = initModel(cfg, 0);
    double n = 0;
    for (const auto &[name, t] : m.params)
      n += double(t.numel());
    EXPECT_EQ(modelParamCount(cfg), n);
  }
}

TEST(ModelTest, HugeConfigsAreRefusedWithTheEstimate) {
  ModelConfig c = smallConfig();
  c.vocabSize = (int64_t{1} << 31) - 1;
  c.hiddenSize = 1 << 20;
  EXPECT_ERROR(checkModelFits(c, 1, 0, "colm init"), "colm init", "needs about",
               "PiB", "available");
  EXPECT_OK(checkModelFits(smallConfig(), 4, 1e6, "training"));
}
