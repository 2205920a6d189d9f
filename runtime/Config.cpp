//===- Config.cpp - CoLM model configuration (config.json) ----------------===//

#include "runtime/Config.h"

#include "runtime/File.h"
#include "runtime/Json.h"

#include <cmath>
#include <cstdio>
#include <numeric>

namespace colm {

// Sizes above this are surely a mistake, and the bound keeps every product of
// two sizes (dim * S_k) inside int64.
static constexpr int64_t kMaxSize = (int64_t{1} << 31) - 1;
static constexpr int64_t kMaxLayers = 1024;

int64_t ModelConfig::chainSum() const { return chainPrefixSum(numChains()); }

int64_t ModelConfig::chainPrefixSum(int k) const {
  int64_t sum = 0;
  for (int i = 0; i < k && i < numChains(); ++i)
    sum += chains[i];
  return sum;
}

int64_t ModelConfig::prefixWidth(int64_t dim, int k) const {
  int64_t s = chainSum();
  if (s <= 0)
    return 0;
  return dim * chainPrefixSum(k) / s;
}

int64_t ModelConfig::chainWidth(int64_t dim, int i) const {
  return prefixWidth(dim, i) - prefixWidth(dim, i - 1);
}

int ModelConfig::chainOf(int64_t dim, int64_t idx) const {
  for (int i = 1; i <= numChains(); ++i)
    if (idx < prefixWidth(dim, i))
      return i;
  return numChains();
}

std::string formatChains(const std::vector<int64_t> &chains) {
  std::string s = "[";
  for (size_t i = 0; i < chains.size(); ++i) {
    if (i)
      s += ',';
    s += std::to_string(chains[i]);
  }
  return s + "]";
}

//===----------------------------------------------------------------------===//
// Parsing
//===----------------------------------------------------------------------===//

namespace {

/// Reads typed fields from the top-level object, naming field and position
/// on error.
class FieldReader {
public:
  FieldReader(const JsonValue &root, std::string_view source)
      : root(root), source(source) {}

  const JsonValue *get(const char *name) const {
    const JsonValue *v = root.find(name);
    return (v && !v->isNull()) ? v : nullptr;
  }

  Status error(const char *name, const JsonValue &v,
               const std::string &what) const {
    return Status::error(
        std::string(source) + ": line " + std::to_string(v.line) + ", column " +
        std::to_string(v.column) + ": \"" + name + "\" " + what);
  }

  Status checkSize(const char *name, const JsonValue &v, int64_t &out) const {
    if (!v.isNumber())
      return error(name, v,
                   std::string("must be a positive integer, got ") +
                       JsonValue::kindWithArticle(v.kind()));
    if (!v.isInteger())
      return error(name, v,
                   "must be a positive integer, got " + writeJson(v, 0));
    if (v.asInt() <= 0)
      return error(name, v,
                   "must be a positive integer, got " +
                       std::to_string(v.asInt()));
    if (v.asInt() > kMaxSize)
      return error(name, v,
                   "is " + std::to_string(v.asInt()) +
                       ", larger than the "
                       "supported maximum " +
                       std::to_string(kMaxSize));
    out = v.asInt();
    return Status::ok();
  }

  Status size(const char *name, int64_t &out, bool required) const {
    const JsonValue *v = get(name);
    if (!v) {
      if (required)
        return Status::error(std::string(source) +
                             ": missing required field "
                             "\"" +
                             name + "\"");
      return Status::ok();
    }
    return checkSize(name, *v, out);
  }

  Status real(const char *name, double &out, bool allowZero) const {
    const JsonValue *v = get(name);
    if (!v)
      return Status::ok();
    if (!v->isNumber())
      return error(name, *v,
                   std::string("must be a number, got ") +
                       JsonValue::kindWithArticle(v->kind()));
    double d = v->asDouble();
    if (!(d > 0) && !(allowZero && d == 0))
      return error(name, *v,
                   std::string("must be ") +
                       (allowZero ? "non-negative" : "positive") + ", got " +
                       writeJson(*v, 0));
    out = d;
    return Status::ok();
  }

  Status boolean(const char *name, bool &out) const {
    const JsonValue *v = get(name);
    if (!v)
      return Status::ok();
    if (!v->isBool())
      return error(name, *v,
                   std::string("must be true or false, got ") +
                       JsonValue::kindWithArticle(v->kind()));
    out = v->asBool();
    return Status::ok();
  }

  Status string(const char *name, std::string &out) const {
    const JsonValue *v = get(name);
    if (!v)
      return Status::ok();
    if (!v->isString())
      return error(name, *v,
                   std::string("must be a string, got ") +
                       JsonValue::kindWithArticle(v->kind()));
    out = v->asString();
    return Status::ok();
  }

  Status chainList(const char *name, std::vector<int64_t> &out,
                   bool &present) const {
    const JsonValue *v = get(name);
    present = v != nullptr;
    if (!v)
      return Status::ok();
    if (!v->isArray())
      return error(name, *v,
                   std::string("must be an array of positive integers, got ") +
                       JsonValue::kindWithArticle(v->kind()));
    if (v->size() == 0)
      return error(name, *v, "must list at least one chain");
    for (size_t i = 0; i < v->size(); ++i) {
      int64_t c = 0;
      std::string entry = std::string(name) + "[" + std::to_string(i) + "]";
      COLM_TRY(checkSize(entry.c_str(), (*v)[i], c));
      out.push_back(c);
    }
    return Status::ok();
  }

private:
  const JsonValue &root;
  std::string_view source;
};

} // namespace

Result<ModelConfig> parseConfig(std::string_view json,
                                std::string_view source) {
  COLM_ASSIGN_OR_RETURN(JsonValue root, parseJson(json, source));
  if (!root.isObject())
    return Status::error(std::string(source) +
                         ": the config must be a JSON object, got " +
                         JsonValue::kindWithArticle(root.kind()));
  FieldReader r(root, source);
  ModelConfig cfg;
  COLM_TRY(r.string("model_type", cfg.modelType));
  COLM_TRY(r.size("vocab_size", cfg.vocabSize, true));
  COLM_TRY(r.size("hidden_size", cfg.hiddenSize, true));
  COLM_TRY(r.size("intermediate_size", cfg.intermediateSize, true));
  COLM_TRY(r.size("num_hidden_layers", cfg.numLayers, true));
  COLM_TRY(r.size("num_attention_heads", cfg.numHeads, true));
  cfg.numKvHeads = cfg.numHeads;
  COLM_TRY(r.size("num_key_value_heads", cfg.numKvHeads, false));
  COLM_TRY(r.real("rms_norm_eps", cfg.rmsNormEps, /*allowZero=*/true));
  COLM_TRY(r.real("rope_theta", cfg.ropeTheta, /*allowZero=*/false));
  COLM_TRY(r.size("max_position_embeddings", cfg.maxPositionEmbeddings, false));
  bool hasChains = false;
  COLM_TRY(r.chainList("chains", cfg.chains, hasChains));
  // A config without chains (a plain LLaMA checkpoint included) is one chain.
  if (!hasChains)
    cfg.chains = {cfg.numHeads};
  COLM_TRY(r.boolean("kv_sharing", cfg.kvSharing));
  return cfg;
}

Result<ModelConfig> loadConfig(const std::string &path) {
  COLM_ASSIGN_OR_RETURN(std::string text, readFile(path));
  return parseConfig(text, path);
}

//===----------------------------------------------------------------------===//
// Validation
//===----------------------------------------------------------------------===//

/// "a/b" reduced, or "a" when b divides it.
static std::string fraction(int64_t num, int64_t den) {
  int64_t g = std::gcd(num, den);
  if (g == 0)
    return "0";
  num /= g;
  den /= g;
  if (den == 1)
    return std::to_string(num);
  return std::to_string(num) + "/" + std::to_string(den);
}

/// Every chain's share dim * c_i / S of a dimension must be an integer.
static Status checkSplit(const ModelConfig &cfg, const std::string &dimName,
                         int64_t dim, const char *unit) {
  int64_t s = cfg.chainSum();
  for (int i = 1; i <= cfg.numChains(); ++i) {
    int64_t c = cfg.chains[i - 1];
    if ((dim * c) % s != 0)
      return Status::error(
          dimName + " " + std::to_string(dim) + " does not split into chains " +
          formatChains(cfg.chains) + ": chain " + std::to_string(i) +
          " would get " + std::to_string(dim) + "*" + std::to_string(c) + "/" +
          std::to_string(s) + " = " + fraction(dim * c, s) + " " + unit +
          "; every dimension must divide exactly in the chain ratios");
  }
  return Status::ok();
}

static Status checkPositive(const char *name, int64_t v) {
  if (v <= 0)
    return Status::error(std::string(name) + " must be positive, got " +
                         std::to_string(v));
  if (v > kMaxSize)
    return Status::error(std::string(name) + " " + std::to_string(v) +
                         " is larger than the supported maximum " +
                         std::to_string(kMaxSize));
  return Status::ok();
}

Status validateConfig(const ModelConfig &cfg) {
  COLM_TRY(checkPositive("vocab_size", cfg.vocabSize));
  COLM_TRY(checkPositive("hidden_size", cfg.hiddenSize));
  COLM_TRY(checkPositive("intermediate_size", cfg.intermediateSize));
  COLM_TRY(checkPositive("num_hidden_layers", cfg.numLayers));
  // Far deeper than any real model; the compiled graphs grow with the depth.
  if (cfg.numLayers > kMaxLayers)
    return Status::error("num_hidden_layers " + std::to_string(cfg.numLayers) +
                         " is more than " + std::to_string(kMaxLayers) +
                         ", the deepest model colm compiles");
  COLM_TRY(checkPositive("num_attention_heads", cfg.numHeads));
  COLM_TRY(checkPositive("num_key_value_heads", cfg.numKvHeads));
  COLM_TRY(checkPositive("max_position_embeddings", cfg.maxPositionEmbeddings));
  if (!(cfg.rmsNormEps >= 0) || !std::isfinite(cfg.rmsNormEps))
    return Status::error("rms_norm_eps must be a finite non-negative number");
  if (!(cfg.ropeTheta > 0) || !std::isfinite(cfg.ropeTheta))
    return Status::error("rope_theta must be a finite positive number");

  if (cfg.chains.empty())
    return Status::error("chains must list at least one chain");
  int64_t sum = 0;
  for (int i = 1; i <= cfg.numChains(); ++i) {
    int64_t c = cfg.chains[i - 1];
    if (c <= 0 || c > kMaxSize)
      return Status::error("chains " + formatChains(cfg.chains) + ": chain " +
                           std::to_string(i) + " has ratio " +
                           std::to_string(c) + "; ratios must be positive");
    sum += c;
    // h is bounded, so a larger partial sum can only be a mismatch.
    if (sum > kMaxSize)
      break;
  }
  if (sum != cfg.numHeads)
    return Status::error(
        "chains " + formatChains(cfg.chains) + " sum to " +
        (sum > kMaxSize ? std::string("more than ") + std::to_string(kMaxSize)
                        : std::to_string(sum)) +
        " but num_attention_heads is " + std::to_string(cfg.numHeads) +
        "; chain i owns c_i query heads, so the ratios must sum to the head "
        "count");

  if (cfg.hiddenSize % cfg.numHeads != 0)
    return Status::error("hidden_size " + std::to_string(cfg.hiddenSize) +
                         " is not divisible by num_attention_heads " +
                         std::to_string(cfg.numHeads) +
                         " (head_dim = hidden_size / num_attention_heads)");
  int64_t hd = cfg.headDim();
  if (hd % 2 != 0)
    return Status::error(
        "head_dim " + std::to_string(hd) + " (hidden_size " +
        std::to_string(cfg.hiddenSize) + " / num_attention_heads " +
        std::to_string(cfg.numHeads) + ") must be even for RoPE");
  if (cfg.numHeads % cfg.numKvHeads != 0)
    return Status::error("num_attention_heads " + std::to_string(cfg.numHeads) +
                         " is not a multiple of num_key_value_heads " +
                         std::to_string(cfg.numKvHeads));

  // With h = S and D = h*hd these two always split; checked anyway so the
  // rule stays visible.
  COLM_TRY(checkSplit(cfg, "hidden_size", cfg.hiddenSize, "columns"));
  COLM_TRY(checkSplit(cfg, "query width (num_attention_heads*head_dim)",
                      cfg.qWidth(), "columns"));
  COLM_TRY(
      checkSplit(cfg, "intermediate_size", cfg.intermediateSize, "columns"));

  if (!cfg.kvSharing) {
    for (int i = 1; i <= cfg.numChains(); ++i) {
      int64_t c = cfg.chains[i - 1];
      if ((cfg.numKvHeads * c) % cfg.numHeads != 0)
        return Status::error(
            "num_key_value_heads " + std::to_string(cfg.numKvHeads) +
            " does not split into chains " + formatChains(cfg.chains) +
            ": chain " + std::to_string(i) + " would own " +
            std::to_string(cfg.numKvHeads) + "*" + std::to_string(c) + "/" +
            std::to_string(cfg.numHeads) + " = " +
            fraction(cfg.numKvHeads * c, cfg.numHeads) +
            " KV heads; without kv_sharing num_key_value_heads*c_i/"
            "num_attention_heads must be an integer for every chain");
    }
    COLM_TRY(checkSplit(cfg, "key/value width (num_key_value_heads*head_dim)",
                        cfg.kvWidth(), "columns"));
  } else {
    for (int i = 1; i <= cfg.numChains(); ++i) {
      int64_t c = cfg.chains[i - 1];
      if (c % cfg.numKvHeads != 0)
        return Status::error(
            "with kv_sharing every chain ratio must be a multiple of "
            "num_key_value_heads " +
            std::to_string(cfg.numKvHeads) + ", but chain " +
            std::to_string(i) + " of " + formatChains(cfg.chains) +
            " has ratio " + std::to_string(c));
    }
  }
  return Status::ok();
}

//===----------------------------------------------------------------------===//
// Writing
//===----------------------------------------------------------------------===//

std::string configToJson(const ModelConfig &cfg) {
  JsonValue root = JsonValue::object();
  root.set("model_type", JsonValue::string(cfg.modelType));
  root.set("vocab_size", JsonValue::integer(cfg.vocabSize));
  root.set("hidden_size", JsonValue::integer(cfg.hiddenSize));
  root.set("intermediate_size", JsonValue::integer(cfg.intermediateSize));
  root.set("num_hidden_layers", JsonValue::integer(cfg.numLayers));
  root.set("num_attention_heads", JsonValue::integer(cfg.numHeads));
  root.set("num_key_value_heads", JsonValue::integer(cfg.numKvHeads));
  root.set("rms_norm_eps", JsonValue::number(cfg.rmsNormEps));
  root.set("rope_theta", JsonValue::number(cfg.ropeTheta));
  root.set("max_position_embeddings",
           JsonValue::integer(cfg.maxPositionEmbeddings));
  JsonValue chains = JsonValue::array();
  for (int64_t c : cfg.chains)
    chains.push(JsonValue::integer(c));
  root.set("chains", std::move(chains));
  root.set("kv_sharing", JsonValue::boolean(cfg.kvSharing));
  return writeJson(root, 2);
}

Status saveConfig(const std::string &path, const ModelConfig &config) {
  return writeFileAtomic(path, configToJson(config));
}

std::string countOf(int64_t n, const std::string &singular) {
  return std::to_string(n) + " " + singular + (n == 1 ? "" : "s");
}

} // namespace colm
