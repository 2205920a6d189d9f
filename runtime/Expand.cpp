//===- Expand.cpp - Chain expansion (progressive scaling) -----------------===//

#include "runtime/Expand.h"

namespace colm {

Result<ModelConfig> expandConfig(const ModelConfig &cfg,
                                 const std::vector<int64_t> &addChains) {
  COLM_TRY(validateConfig(cfg));
  if (addChains.empty())
    return Status::error("--add-chains needs at least one chain ratio");
  for (size_t i = 0; i < addChains.size(); ++i)
    if (addChains[i] <= 0 || addChains[i] > (int64_t{1} << 20))
      return Status::error("--add-chains: ratio " +
                           std::to_string(addChains[i]) + " (new chain " +
                           std::to_string(cfg.numChains() + 1 + i) +
                           ") must be a positive integer");
  int64_t s = cfg.chainSum();
  int64_t add = 0;
  for (int64_t c : addChains)
    add += c;
  int64_t s2 = s + add;
  ModelConfig out = cfg;
  out.chains.insert(out.chains.end(), addChains.begin(), addChains.end());
  if (out.modelType == "llama")
    out.modelType = "colm";
  std::string to = formatChains(cfg.chains) + " -> " + formatChains(out.chains);
  int64_t hd = cfg.headDim();
  out.numHeads = s2;
  out.hiddenSize = hd * s2;
  if ((cfg.intermediateSize * s2) % s != 0)
    return Status::error(
        "cannot expand chains " + to + ": intermediate_size " +
        std::to_string(cfg.intermediateSize) + " * " + std::to_string(s2) +
        " / " + std::to_string(s) +
        " is not an integer; the FFN grows with the chain sum");
  out.intermediateSize = cfg.intermediateSize * s2 / s;
  if (cfg.kvSharing) {
    for (size_t i = 0; i < addChains.size(); ++i)
      if (addChains[i] % cfg.numKvHeads != 0)
        return Status::error(
            "cannot expand chains " + to +
            ": with kv_sharing every chain "
            "ratio must be a multiple of num_key_value_heads " +
            std::to_string(cfg.numKvHeads) + ", but new chain " +
            std::to_string(cfg.numChains() + 1 + i) + " has ratio " +
            std::to_string(addChains[i]));
  } else {
    if ((cfg.numKvHeads * s2) % s != 0)
      return Status::error(
          "cannot expand chains " + to + ": num_key_value_heads " +
          std::to_string(cfg.numKvHeads) + " * " + std::to_string(s2) + " / " +
          std::to_string(s) +
          " is not an integer; without kv_sharing the key/value heads grow "
          "with the chain sum");
    out.numKvHeads = cfg.numKvHeads * s2 / s;
  }
  COLM_TRY(validateConfig(out).withContext("cannot expand chains " + to));
  return out;
}

Result<Model> expandModel(const Model &model,
                          const std::vector<int64_t> &addChains,
                          uint64_t seed) {
  COLM_TRY(validateConfig(model.config));
  COLM_TRY(checkParams(model.config, model.params, "model to expand"));
  COLM_ASSIGN_OR_RETURN(ModelConfig cfg, expandConfig(model.config, addChains));
  Model out = initModel(cfg, seed);
  for (auto &[name, t] : out.params) {
    const Tensor &old = model.params.at(name);
    if (name == "lm_head.weight")
      t.data.assign(t.data.size(), 0.0f);
    if (t.shape.size() == 1) {
      for (int64_t i = 0; i < old.shape[0]; ++i)
        t.data[i] = old.data[i];
      continue;
    }
    for (int64_t r = 0; r < old.shape[0]; ++r)
      for (int64_t c = 0; c < old.shape[1]; ++c)
        t.at(r, c) = old.at(r, c);
  }
  return out;
}

} // namespace colm
