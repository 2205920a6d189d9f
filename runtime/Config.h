//===- Config.h - CoLM model configuration (config.json) --------*- C++ -*-===//
//
// The model hyper-parameters of spec/colm.md section 6, with the chain
// arithmetic of section 1. A ModelConfig is only meaningful after
// validateConfig() accepted it; the width helpers assume that.
//
//===----------------------------------------------------------------------===//

#ifndef COLM_RUNTIME_CONFIG_H
#define COLM_RUNTIME_CONFIG_H

#include "runtime/Status.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace colm {

struct ModelConfig {
  int64_t vocabSize = 0;
  int64_t hiddenSize = 0;       // D
  int64_t intermediateSize = 0; // F
  int64_t numLayers = 0;        // L
  int64_t numHeads = 0;         // h
  int64_t numKvHeads = 0;       // h_kv
  double rmsNormEps = 1e-5;
  double ropeTheta = 10000.0;
  int64_t maxPositionEmbeddings = 2048;
  std::vector<int64_t> chains; // C = [c_1, ..., c_n]
  bool kvSharing = false;      // CoLM-Air
  std::string modelType = "colm";

  int numChains() const { return static_cast<int>(chains.size()); }
  /// S = c_1 + ... + c_n.
  int64_t chainSum() const;
  /// S_k = c_1 + ... + c_k (S_0 = 0).
  int64_t chainPrefixSum(int k) const;
  /// hd = D / h.
  int64_t headDim() const { return hiddenSize / numHeads; }
  /// h * hd, the query width.
  int64_t qWidth() const { return numHeads * headDim(); }
  /// h_kv * hd, the key/value width.
  int64_t kvWidth() const { return numKvHeads * headDim(); }
  /// Width of prefix k of a dimension: dim * S_k / S.
  int64_t prefixWidth(int64_t dim, int k) const;
  /// Width of chain i (1-based) of a dimension.
  int64_t chainWidth(int64_t dim, int i) const;
  /// Start of chain i's (1-based) slice of a dimension.
  int64_t chainOffset(int64_t dim, int i) const {
    return prefixWidth(dim, i - 1);
  }
  /// The chain (1-based) that owns index `idx` of a dimension of size dim.
  int chainOf(int64_t dim, int64_t idx) const;

  bool operator==(const ModelConfig &) const = default;
};

/// Parses config.json text (Hugging Face LLaMA field names plus `chains` and
/// `kv_sharing`). Unknown keys are ignored; a null value counts as absent.
/// Does not check the chain rules: call validateConfig() for that.
Result<ModelConfig> parseConfig(std::string_view json, std::string_view source);

/// Checks every rule of spec sections 1 and 3 (exact chain splits, head
/// counts, RoPE head size); the message names the dimension at fault.
Status validateConfig(const ModelConfig &config);

/// Reads and parses (but does not validate) a config.json file.
Result<ModelConfig> loadConfig(const std::string &path);

/// The config as pretty JSON text, readable by parseConfig().
std::string configToJson(const ModelConfig &config);

/// Writes configToJson() to `path` atomically.
Status saveConfig(const std::string &path, const ModelConfig &config);

/// "[1,1,2]".
std::string formatChains(const std::vector<int64_t> &chains);

/// "1 chain", "3 chains": a count with its noun, singular or plural.
std::string countOf(int64_t n, const std::string &singular);

} // namespace colm

#endif // COLM_RUNTIME_CONFIG_H
