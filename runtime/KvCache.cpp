//===- KvCache.cpp - The key/value cache of one sequence ------------------===//

#include "runtime/KvCache.h"

#include "runtime/Memory.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>

namespace colm {

Result<KvCache> KvCache::create(const ModelConfig &config, int64_t maxContext) {
  COLM_TRY(validateConfig(config).withContext("KV cache"));
  if (maxContext < 1)
    return Status::error("--max-context must be at least 1, got " +
                         std::to_string(maxContext));
  if (maxContext > config.maxPositionEmbeddings)
    return Status::error("--max-context " + std::to_string(maxContext) +
                         " exceeds the model's max_position_embeddings " +
                         std::to_string(config.maxPositionEmbeddings));
  int64_t width = config.kvWidth();
  // Every factor is positive; divide instead of multiplying so nothing can
  // overflow.
  int64_t perPosition = config.numLayers * 2 * width * int64_t(sizeof(float));
  if (maxContext > kMaxBytes / perPosition) {
    char gib[64];
    std::snprintf(gib, sizeof(gib), "%.1f",
                  static_cast<double>(maxContext) * perPosition /
                      static_cast<double>(int64_t(1) << 30));
    return Status::error("a KV cache of --max-context " +
                         std::to_string(maxContext) + " would need " + gib +
                         " GiB, more than the " +
                         std::to_string(kMaxBytes >> 30) + " GiB limit");
  }
  COLM_TRY(checkMemoryFits(2.0 * double(maxContext) * double(perPosition),
                           "a KV cache of --max-context " +
                               std::to_string(maxContext)));
  KvCache cache;
  cache.config = config;
  cache.layers = static_cast<int>(config.numLayers);
  cache.kvWidth = width;
  cache.capacity = maxContext;
  size_t n = static_cast<size_t>(config.numLayers * maxContext * width);
  cache.kStore.assign(n, 0.0f);
  cache.vStore.assign(n, 0.0f);
  cache.validCols.reserve(static_cast<size_t>(maxContext));
  return cache;
}

int64_t KvCache::bytes() const {
  return 2 * static_cast<int64_t>(kStore.size()) * int64_t(sizeof(float));
}

int64_t KvCache::columnsFor(int chains) const {
  assert(chains >= 1 && chains <= numChains() && "chain count out of range");
  if (config.kvSharing)
    return kvWidth;
  return config.prefixWidth(kvWidth, chains);
}

int64_t KvCache::validColumns() const {
  int64_t cols = kvWidth;
  for (int64_t c : validCols)
    cols = std::min(cols, c);
  return cols;
}

int KvCache::validChains() const {
  int64_t cols = validColumns();
  int k = 0;
  while (k < numChains() && columnsFor(k + 1) <= cols)
    ++k;
  return k;
}

Status KvCache::checkColumns(int64_t cols) const {
  if (config.kvSharing) {
    if (cols != kvWidth)
      return Status::error(
          "a CoLM-Air KV cache is shared by every sub-model: keys/values must "
          "have the full width " +
          std::to_string(kvWidth) + ", got " + std::to_string(cols));
    return Status::ok();
  }
  std::string valid;
  for (int k = 1; k <= numChains(); ++k) {
    if (columnsFor(k) == cols)
      return Status::ok();
    valid += (k > 1 ? ", " : "") + std::to_string(columnsFor(k));
  }
  return Status::error("key/value width " + std::to_string(cols) +
                       " is not the width of a k-chain sub-model (" + valid +
                       ")");
}

Status KvCache::checkLayers(const std::vector<std::vector<float>> &k,
                            const std::vector<std::vector<float>> &v,
                            int64_t rows, int64_t cols,
                            const char *what) const {
  COLM_TRY(checkColumns(cols));
  if (static_cast<int64_t>(k.size()) != layers ||
      static_cast<int64_t>(v.size()) != layers)
    return Status::error(std::string(what) + ": expected keys and values for " +
                         countOf(layers, "layer") + ", got " +
                         std::to_string(k.size()) + " and " +
                         std::to_string(v.size()));
  size_t expected = static_cast<size_t>(rows * cols);
  for (int l = 0; l < layers; ++l) {
    for (const auto *t : {&k[l], &v[l]}) {
      if (t->size() != expected)
        return Status::error(
            std::string(what) + ": layer " + std::to_string(l) + " " +
            (t == &k[l] ? "keys" : "values") + " have " +
            std::to_string(t->size()) + " floats, expected " +
            std::to_string(rows) + " x " + std::to_string(cols));
    }
  }
  return Status::ok();
}

Status KvCache::appendPositions(int64_t rows,
                                const std::vector<std::vector<float>> &k,
                                const std::vector<std::vector<float>> &v,
                                int64_t cols) {
  if (rows < 0)
    return Status::error("cannot append " + std::to_string(rows) +
                         " positions to a KV cache");
  if (rows > capacity - len)
    return Status::error(
        "the context is full: " + std::to_string(len) + " positions + " +
        std::to_string(rows) + " new > " + std::to_string(capacity) +
        " (the cache holds --max-context " + std::to_string(capacity) + ")");
  COLM_TRY(checkLayers(k, v, rows, cols, "appending to the KV cache"));
  for (int l = 0; l < layers; ++l) {
    float *kDst = kStore.data() + layerOffset(l) + len * kvWidth;
    float *vDst = vStore.data() + layerOffset(l) + len * kvWidth;
    for (int64_t r = 0; r < rows; ++r) {
      std::memcpy(kDst + r * kvWidth, k[l].data() + r * cols,
                  cols * sizeof(float));
      std::memcpy(vDst + r * kvWidth, v[l].data() + r * cols,
                  cols * sizeof(float));
    }
  }
  validCols.insert(validCols.end(), static_cast<size_t>(rows), cols);
  len += rows;
  return Status::ok();
}

Status KvCache::overwriteHistory(const std::vector<std::vector<float>> &k,
                                 const std::vector<std::vector<float>> &v,
                                 int64_t cols) {
  COLM_TRY(checkLayers(k, v, len, cols, "overwriting the KV cache history"));
  for (int l = 0; l < layers; ++l) {
    float *kDst = kStore.data() + layerOffset(l);
    float *vDst = vStore.data() + layerOffset(l);
    for (int64_t r = 0; r < len; ++r) {
      std::memcpy(kDst + r * kvWidth, k[l].data() + r * cols,
                  cols * sizeof(float));
      std::memcpy(vDst + r * kvWidth, v[l].data() + r * cols,
                  cols * sizeof(float));
    }
  }
  for (int64_t &c : validCols)
    c = std::max(c, cols);
  return Status::ok();
}

void KvCache::truncate(int64_t newLength) {
  newLength = std::clamp<int64_t>(newLength, 0, len);
  len = newLength;
  validCols.resize(static_cast<size_t>(newLength));
}

Result<std::vector<float>> KvCache::read(const std::vector<float> &store,
                                         int layer, int64_t cols) const {
  if (layer < 0 || layer >= layers)
    return Status::error("KV cache layer " + std::to_string(layer) +
                         " out of range [0, " + std::to_string(layers) + ")");
  if (cols < 0 || cols > validColumns())
    return Status::error(
        "the KV cache holds " + std::to_string(validColumns()) +
        " valid key/value columns at every position (" +
        countOf(validChains(), "chain") + "), not " + std::to_string(cols) +
        ": compute the missing chains' keys and values for the history first");
  std::vector<float> out(static_cast<size_t>(len * cols));
  const float *src = store.data() + layerOffset(layer);
  for (int64_t r = 0; r < len; ++r)
    std::memcpy(out.data() + r * cols, src + r * kvWidth, cols * sizeof(float));
  return out;
}

Result<std::vector<float>> KvCache::keys(int layer, int64_t cols) const {
  return read(kStore, layer, cols);
}

Result<std::vector<float>> KvCache::values(int layer, int64_t cols) const {
  return read(vStore, layer, cols);
}

} // namespace colm
