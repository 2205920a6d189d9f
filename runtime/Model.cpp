//===- Model.cpp - CoLM parameters and the model directory ----------------===//

#include "runtime/Model.h"

#include "runtime/File.h"
#include "runtime/Memory.h"
#include "runtime/Random.h"

#include <cmath>
#include <cstdio>
#include <set>
#include <sys/stat.h>

namespace colm {

const char *paramKindName(ParamKind kind) {
  switch (kind) {
  case ParamKind::ChainLinear:
    return "chain linear";
  case ParamKind::Dense:
    return "dense";
  case ParamKind::ChainedColumns:
    return "chained columns";
  case ParamKind::Gain:
    return "gain";
  }
  return "?";
}

std::vector<ParamSpec> modelParams(const ModelConfig &cfg) {
  int64_t d = cfg.hiddenSize, f = cfg.intermediateSize, v = cfg.vocabSize;
  int64_t q = cfg.qWidth(), kv = cfg.kvWidth();
  std::vector<ParamSpec> params;
  params.push_back(
      {"model.embed_tokens.weight", {v, d}, ParamKind::ChainedColumns});
  for (int64_t l = 0; l < cfg.numLayers; ++l) {
    std::string p = "model.layers." + std::to_string(l) + ".";
    params.push_back({p + "input_layernorm.weight", {d}, ParamKind::Gain});
    params.push_back(
        {p + "self_attn.q_proj.weight", {q, d}, ParamKind::ChainLinear});
    if (cfg.kvSharing) {
      int64_t d1 = cfg.prefixWidth(d, 1);
      params.push_back(
          {p + "self_attn.k_proj.weight", {kv, d1}, ParamKind::Dense});
      params.push_back(
          {p + "self_attn.v_proj.weight", {kv, d1}, ParamKind::Dense});
    } else {
      params.push_back(
          {p + "self_attn.k_proj.weight", {kv, d}, ParamKind::ChainLinear});
      params.push_back(
          {p + "self_attn.v_proj.weight", {kv, d}, ParamKind::ChainLinear});
    }
    params.push_back(
        {p + "self_attn.o_proj.weight", {d, q}, ParamKind::ChainLinear});
    params.push_back(
        {p + "post_attention_layernorm.weight", {d}, ParamKind::Gain});
    params.push_back(
        {p + "mlp.gate_proj.weight", {f, d}, ParamKind::ChainLinear});
    params.push_back(
        {p + "mlp.up_proj.weight", {f, d}, ParamKind::ChainLinear});
    params.push_back(
        {p + "mlp.down_proj.weight", {d, f}, ParamKind::ChainLinear});
  }
  params.push_back({"model.norm.weight", {d}, ParamKind::Gain});
  params.push_back({"lm_head.weight", {v, d}, ParamKind::ChainedColumns});
  return params;
}

Status checkBlockLowerTriangular(const ModelConfig &cfg,
                                 const std::string &name, const Tensor &t) {
  if (t.shape.size() != 2)
    return Status::error(name + ": a chain linear must be 2-D, got shape " +
                         formatShape(t.shape));
  int64_t out = t.shape[0], in = t.shape[1];
  if (static_cast<int64_t>(t.data.size()) != t.numel())
    return Status::error(name + ": shape " + formatShape(t.shape) +
                         " does not match its " +
                         std::to_string(t.data.size()) + " values");
  for (int i = 1; i < cfg.numChains(); ++i) {
    int64_t rowBegin = cfg.prefixWidth(out, i - 1);
    int64_t rowEnd = cfg.prefixWidth(out, i);
    int64_t colBegin = cfg.prefixWidth(in, i); // chains i+1.. start here
    for (int64_t r = rowBegin; r < rowEnd; ++r) {
      for (int64_t c = colBegin; c < in; ++c) {
        float x = t.at(r, c);
        if (x == 0.0f)
          continue;
        int j = cfg.chainOf(in, c);
        char value[32];
        std::snprintf(value, sizeof(value), "%g", static_cast<double>(x));
        std::string bi = std::to_string(i), bj = std::to_string(j);
        return Status::error(
            name + ": block (" + bi + "," + bj + ") (rows of output chain " +
            bi + ", columns of input chain " + bj + ") has non-zero entry " +
            value + " at [" + std::to_string(r) + ", " + std::to_string(c) +
            "]; chain linears must be block lower-triangular");
      }
    }
  }
  return Status::ok();
}

void applyChainMask(const ModelConfig &cfg, Tensor &t) {
  int64_t out = t.shape[0], in = t.shape[1];
  for (int i = 1; i < cfg.numChains(); ++i) {
    int64_t colBegin = cfg.prefixWidth(in, i);
    for (int64_t r = cfg.prefixWidth(out, i - 1); r < cfg.prefixWidth(out, i);
         ++r)
      for (int64_t c = colBegin; c < in; ++c)
        t.at(r, c) = 0.0f;
  }
}

Status checkParams(const ModelConfig &cfg, const TensorMap &params,
                   const std::string &source) {
  std::vector<ParamSpec> specs = modelParams(cfg);
  std::set<std::string> expected;
  for (const ParamSpec &spec : specs) {
    expected.insert(spec.name);
    auto it = params.find(spec.name);
    if (it == params.end())
      return Status::error(source + ": missing tensor '" + spec.name +
                           "' (expected shape " + formatShape(spec.shape) +
                           ")");
    if (it->second.shape != spec.shape)
      return Status::error(source + ": tensor '" + spec.name + "' has shape " +
                           formatShape(it->second.shape) + ", expected " +
                           formatShape(spec.shape) + " from the config");
    if (static_cast<int64_t>(it->second.data.size()) != it->second.numel())
      return Status::error(source + ": tensor '" + spec.name + "' has " +
                           std::to_string(it->second.data.size()) +
                           " values for shape " +
                           formatShape(it->second.shape));
  }
  for (const auto &[name, t] : params)
    if (!expected.count(name))
      return Status::error(source + ": unexpected tensor '" + name +
                           "' (shape " + formatShape(t.shape) +
                           "), not a parameter of this config");
  for (const ParamSpec &spec : specs)
    if (spec.kind == ParamKind::ChainLinear)
      COLM_TRY(checkBlockLowerTriangular(cfg, spec.name, params.at(spec.name))
                   .withContext(source));
  for (const ParamSpec &spec : specs)
    COLM_TRY(checkFinite(spec.name, params.at(spec.name)).withContext(source));
  return Status::ok();
}

Status checkFinite(const std::string &name, const Tensor &t) {
  for (size_t i = 0; i < t.data.size(); ++i) {
    float x = t.data[i];
    if (std::isfinite(x))
      continue;
    std::string index;
    size_t rest = i;
    for (size_t d = t.shape.size(); d-- > 0;) {
      size_t extent = static_cast<size_t>(t.shape[d]);
      std::string part = std::to_string(extent ? rest % extent : rest);
      index = d + 1 == t.shape.size() ? part : part + ", " + index;
      rest = extent ? rest / extent : 0;
    }
    return Status::error(
        "tensor '" + name + "' holds " + (std::isnan(x) ? "NaN" : "Inf") +
        " at [" + index +
        "]; non-finite weights are damage (a diverged run or a corrupted "
        "file), refusing to use them");
  }
  return Status::ok();
}

double modelParamCount(const ModelConfig &c) {
  double d = double(c.hiddenSize), f = double(c.intermediateSize),
         v = double(c.vocabSize);
  double hd = c.numHeads > 0 ? d / double(c.numHeads) : 0;
  double q = double(c.numHeads) * hd, kv = double(c.numKvHeads) * hd;
  double kvIn = d;
  if (c.kvSharing && c.chainSum() > 0 && !c.chains.empty())
    kvIn = d * double(c.chains[0]) / double(c.chainSum());
  double layer = 2 * d + 2 * q * d + 2 * kv * kvIn + 3 * f * d;
  return 2 * v * d + d + double(c.numLayers) * layer;
}

Status checkModelFits(const ModelConfig &config, double copies,
                      double extraBytes, const std::string &what) {
  double params = modelParamCount(config);
  double bytes = copies * 4.0 * params + extraBytes;
  char count[32];
  std::snprintf(count, sizeof count, "%.3g", params);
  return checkMemoryFits(bytes, what + " (" + count + " parameters)");
}

Result<Model> loadModel(const std::string &dir) {
  std::string configPath = dir + "/config.json";
  std::string weightsPath = dir + "/model.safetensors";
  Model model;
  COLM_ASSIGN_OR_RETURN(model.config, loadConfig(configPath));
  COLM_TRY(validateConfig(model.config).withContext(configPath));
  // The file's bytes and the fp32 tensors are held at once while reading.
  struct stat st;
  double fileBytes =
      ::stat(weightsPath.c_str(), &st) == 0 ? double(st.st_size) : 0.0;
  COLM_TRY(checkModelFits(model.config, 1, fileBytes,
                          "loading the model in " + dir));
  COLM_ASSIGN_OR_RETURN(model.params, readSafetensors(weightsPath));
  COLM_TRY(checkParams(model.config, model.params, weightsPath));
  return model;
}

Status saveModel(const std::string &dir, const Model &model, DType dtype) {
  COLM_TRY(validateConfig(model.config).withContext(dir));
  COLM_TRY(checkParams(model.config, model.params, dir));
  COLM_TRY(makeDirectories(dir));
  COLM_TRY(writeSafetensors(dir + "/model.safetensors", model.params, dtype));
  return saveConfig(dir + "/config.json", model.config);
}

Model initModel(const ModelConfig &cfg, uint64_t seed) {
  Model model;
  model.config = cfg;
  for (const ParamSpec &spec : modelParams(cfg)) {
    Tensor t(spec.shape);
    if (spec.kind == ParamKind::Gain) {
      t.data.assign(t.data.size(), 1.0f);
    } else {
      Random rng = Random::forName(seed, spec.name);
      for (float &x : t.data)
        x = static_cast<float>(0.02 * rng.normal());
      if (spec.kind == ParamKind::ChainLinear)
        applyChainMask(cfg, t);
    }
    model.params.emplace(spec.name, std::move(t));
  }
  return model;
}

} // namespace colm
