//===- ConfigTest.cpp - Tests for runtime/Config.h ------------------------===//

#include "runtime/Config.h"

#include "TestUtil.h"

using namespace colm;
using colm::test::smallConfig;
using colm::test::TempDir;

static const char *kLlamaConfig = R"({
  "architectures": ["LlamaForCausalLM"],
  "model_type": "llama",
  "vocab_size": 32000,
  "hidden_size": 4096,
  "intermediate_size": 11008,
  "num_hidden_layers": 32,
  "num_attention_heads": 32,
  "num_key_value_heads": 8,
  "rms_norm_eps": 1e-06,
  "rope_theta": 500000.0,
  "max_position_embeddings": 4096,
  "rope_scaling": null,
  "torch_dtype": "bfloat16",
  "tie_word_embeddings": false
})";

TEST(ConfigTest, ParsesLlamaConfigAsOneChain) {
  Result<ModelConfig> cfg = parseConfig(kLlamaConfig, "llama.json");
  ASSERT_OK(cfg);
  EXPECT_EQ(cfg->modelType, "llama");
  EXPECT_EQ(cfg->vocabSize, 32000);
  EXPECT_EQ(cfg->hiddenSize, 4096);
  EXPECT_EQ(cfg->intermediateSize, 11008);
  EXPECT_EQ(cfg->numLayers, 32);
  EXPECT_EQ(cfg->numHeads, 32);
  EXPECT_EQ(cfg->numKvHeads, 8);
  EXPECT_DOUBLE_EQ(cfg->rmsNormEps, 1e-6);
  EXPECT_DOUBLE_EQ(cfg->ropeTheta, 500000.0);
  EXPECT_EQ(cfg->maxPositionEmbeddings, 4096);
  EXPECT_EQ(cfg->chains, std::vector<int64_t>{32});
  EXPECT_FALSE(cfg->kvSharing);
  EXPECT_EQ(cfg->numChains(), 1);
  EXPECT_EQ(cfg->headDim(), 128);
  EXPECT_EQ(cfg->kvWidth(), 1024);
  EXPECT_OK(validateConfig(*cfg));
}

TEST(ConfigTest, Defaults) {
  Result<ModelConfig> cfg = parseConfig(
      R"({"vocab_size": 10, "hidden_size": 16, "intermediate_size": 32,
          "num_hidden_layers": 1, "num_attention_heads": 4})",
      "c.json");
  ASSERT_OK(cfg);
  EXPECT_EQ(cfg->numKvHeads, 4);
  EXPECT_DOUBLE_EQ(cfg->rmsNormEps, 1e-5);
  EXPECT_DOUBLE_EQ(cfg->ropeTheta, 10000.0);
  EXPECT_EQ(cfg->maxPositionEmbeddings, 2048);
  EXPECT_EQ(cfg->chains, std::vector<int64_t>{4});
  EXPECT_FALSE(cfg->kvSharing);
  EXPECT_EQ(cfg->modelType, "colm");
}

TEST(ConfigTest, ChainArithmetic) {
  ModelConfig c = smallConfig({1, 1, 2});
  EXPECT_EQ(c.numChains(), 3);
  EXPECT_EQ(c.chainSum(), 4);
  EXPECT_EQ(c.prefixWidth(16, 0), 0);
  EXPECT_EQ(c.prefixWidth(16, 1), 4);
  EXPECT_EQ(c.prefixWidth(16, 2), 8);
  EXPECT_EQ(c.prefixWidth(16, 3), 16);
  EXPECT_EQ(c.chainWidth(32, 1), 8);
  EXPECT_EQ(c.chainWidth(32, 3), 16);
  EXPECT_EQ(c.chainOffset(32, 3), 16);
  EXPECT_EQ(c.chainOf(16, 0), 1);
  EXPECT_EQ(c.chainOf(16, 7), 2);
  EXPECT_EQ(c.chainOf(16, 8), 3);
}

TEST(ConfigTest, SpecExampleChainsValidate) {
  EXPECT_OK(validateConfig(smallConfig({1, 1, 2})));
  EXPECT_OK(validateConfig(smallConfig({4})));
  ModelConfig c = smallConfig({1, 1});
  c.numHeads = c.numKvHeads = 2;
  EXPECT_OK(validateConfig(c));
  c = smallConfig({2, 2});
  EXPECT_OK(validateConfig(c));
  c.numKvHeads = 2; // one KV head per chain
  EXPECT_OK(validateConfig(c));
  c = smallConfig({2, 2, 4});
  c.numHeads = 8;
  c.hiddenSize = 32;
  c.numKvHeads = 4;
  EXPECT_OK(validateConfig(c));
}

TEST(ConfigTest, ChainsMustSumToHeads) {
  ModelConfig c = smallConfig({1, 2});
  EXPECT_ERROR(validateConfig(c), "chains [1,2]", "sum to 3",
               "num_attention_heads is 4");
}

TEST(ConfigTest, KvHeadsMustSplitByChains) {
  ModelConfig c = smallConfig({1, 3}, /*kvHeads=*/2);
  EXPECT_ERROR(validateConfig(c), "num_key_value_heads 2", "chain 1",
               "1/2 KV heads");
  c.numKvHeads = 3;
  EXPECT_ERROR(validateConfig(c), "num_key_value_heads 3");
}

TEST(ConfigTest, IntermediateSizeMustSplit) {
  ModelConfig c = smallConfig({1, 1, 2});
  c.intermediateSize = 34;
  EXPECT_ERROR(validateConfig(c), "intermediate_size 34",
               "does not split into chains [1,1,2]", "chain 1", "17/2");
}

TEST(ConfigTest, HeadDimRules) {
  ModelConfig c = smallConfig({4});
  c.hiddenSize = 18;
  EXPECT_ERROR(validateConfig(c), "hidden_size 18", "num_attention_heads 4");
  c.hiddenSize = 12; // hd = 3
  EXPECT_ERROR(validateConfig(c), "head_dim 3", "even", "RoPE");
}

TEST(ConfigTest, KvSharingRules) {
  // CoLM-Air: every c_i a multiple of h_kv; h_kv*c_i/h need not be integer.
  ModelConfig c = smallConfig({2, 2}, /*kvHeads=*/2, /*kvSharing=*/true);
  EXPECT_OK(validateConfig(c));
  c = smallConfig({1, 3}, /*kvHeads=*/1, /*kvSharing=*/true);
  EXPECT_OK(validateConfig(c));
  c = smallConfig({1, 3}, /*kvHeads=*/2, /*kvSharing=*/true);
  EXPECT_ERROR(validateConfig(c), "kv_sharing", "num_key_value_heads 2",
               "chain 1");
  c = smallConfig({1, 1, 2}, /*kvHeads=*/3, /*kvSharing=*/false);
  EXPECT_ERROR(validateConfig(c), "num_key_value_heads 3");
}

TEST(ConfigTest, FieldErrorsNameFieldAndSource) {
  auto parse = [](const std::string &body) {
    return parseConfig(body, "dir/config.json");
  };
  std::string base = R"("vocab_size": 10, "hidden_size": 16,
      "intermediate_size": 32, "num_hidden_layers": 1)";
  EXPECT_ERROR(parse("{" + base + "}"), "dir/config.json",
               "num_attention_heads", "missing");
  EXPECT_ERROR(parse("{" + base + R"(, "num_attention_heads": "4"})"),
               "dir/config.json", "num_attention_heads", "string", "line 2");
  EXPECT_ERROR(parse("{" + base + R"(, "num_attention_heads": 4.5})"),
               "num_attention_heads", "positive integer");
  EXPECT_ERROR(parse("{" + base + R"(, "num_attention_heads": 0})"),
               "num_attention_heads", "positive");
  EXPECT_ERROR(parse("{" + base + R"(, "num_attention_heads": -4})"),
               "num_attention_heads");
  EXPECT_ERROR(
      parse("{" + base + R"(, "num_attention_heads": 99999999999999})"),
      "num_attention_heads", "maximum");
  EXPECT_ERROR(
      parse("{" + base + R"(, "num_attention_heads": 4, "chains": 4})"),
      "chains", "array");
  EXPECT_ERROR(
      parse("{" + base + R"(, "num_attention_heads": 4, "chains": []})"),
      "chains", "at least one");
  EXPECT_ERROR(
      parse("{" + base + R"(, "num_attention_heads": 4, "chains": [1, 0, 3]})"),
      "chains[1]", "positive");
  EXPECT_ERROR(
      parse("{" + base + R"(, "num_attention_heads": 4, "kv_sharing": 1})"),
      "kv_sharing", "true or false");
  EXPECT_ERROR(
      parse("{" + base + R"(, "num_attention_heads": 4, "rope_theta": 0})"),
      "rope_theta", "positive");
  EXPECT_ERROR(
      parse("{" + base + R"(, "num_attention_heads": 4, "model_type": 3})"),
      "model_type", "string");
  EXPECT_ERROR(parse("[1, 2]"), "dir/config.json", "object");
  EXPECT_ERROR(parse("{" + base + ","), "dir/config.json", "line 2");
}

TEST(ConfigTest, JsonRoundTripAndFile) {
  ModelConfig c = smallConfig({1, 1, 2}, 2, false);
  c.rmsNormEps = 1e-6;
  c.ropeTheta = 10000.0;
  c.maxPositionEmbeddings = 128;
  std::string json = configToJson(c);
  Result<ModelConfig> back = parseConfig(json, "mem");
  ASSERT_OK(back);
  EXPECT_EQ(*back, c);
  EXPECT_NE(json.find("\"chains\": [1, 1, 2]"), std::string::npos) << json;
  EXPECT_NE(json.find("\"rope_theta\": 10000.0"), std::string::npos) << json;

  TempDir dir;
  ASSERT_OK(saveConfig(dir.path("config.json"), c));
  Result<ModelConfig> loaded = loadConfig(dir.path("config.json"));
  ASSERT_OK(loaded);
  EXPECT_EQ(*loaded, c);
  EXPECT_ERROR(loadConfig(dir.path("absent.json")), "absent.json");
}
