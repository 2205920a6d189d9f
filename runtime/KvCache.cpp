//===- KvCache.cpp - The key/value cache of one sequence ------------------===//

#include "runtime/KvCache.h"

#include "runtime/Memory.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>

namespace colm {

namespace {

Status checkContext(const ModelConfig &config, int64_t maxContext) {
  if (maxContext < 1)
    return Status::error("--max-context must be at least 1, got " +
                         std::to_string(maxContext));
  if (maxContext > config.maxPositionEmbeddings)
    return Status::error("--max-context " + std::to_string(maxContext) +
                         " exceeds the model's max_position_embeddings " +
                         std::to_string(config.maxPositionEmbeddings));
  return Status::ok();
}

} // namespace

Result<KvCache> KvCache::create(const ModelConfig &config, int64_t maxContext) {
  COLM_TRY(validateConfig(config).withContext("KV cache"));
  COLM_TRY(checkContext(config, maxContext));
  // Every factor is positive; divide instead of multiplying so nothing can
  // overflow.
  int64_t perPosition =
      config.numLayers * 2 * config.kvWidth() * int64_t(sizeof(float));
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
  int64_t blocks = (maxContext + KvPool::kBlockSize - 1) / KvPool::kBlockSize;
  auto pool = KvPool::create(config, blocks);
  if (!pool)
    return pool.status().withContext("a KV cache of --max-context " +
                                     std::to_string(maxContext));
  COLM_ASSIGN_OR_RETURN(KvCache cache, create(pool.take(), maxContext));
  cache.ownsPool = true;
  return cache;
}

Result<KvCache> KvCache::create(std::shared_ptr<KvPool> pool,
                                int64_t maxContext) {
  if (!pool)
    return Status::error("internal error: a KV cache without a pool");
  const ModelConfig &config = pool->config();
  COLM_TRY(checkContext(config, maxContext));
  KvCache cache;
  cache.config = config;
  cache.layers = static_cast<int>(config.numLayers);
  cache.kvWidth = config.kvWidth();
  cache.capacity = maxContext;
  cache.blockPool = std::move(pool);
  cache.validCols.reserve(static_cast<size_t>(maxContext));
  return cache;
}

KvCache::KvCache(KvCache &&other) noexcept { *this = std::move(other); }

KvCache &KvCache::operator=(KvCache &&other) noexcept {
  if (this != &other) {
    releaseFrom(0);
    config = other.config;
    layers = other.layers;
    kvWidth = other.kvWidth;
    capacity = other.capacity;
    len = other.len;
    blockPool = std::move(other.blockPool);
    ownsPool = other.ownsPool;
    table = std::move(other.table);
    validCols = std::move(other.validCols);
    other.table.clear();
    other.validCols.clear();
    other.len = 0;
  }
  return *this;
}

KvCache::~KvCache() { releaseFrom(0); }

void KvCache::releaseFrom(size_t block) {
  if (!blockPool)
    return;
  for (size_t i = block; i < table.size(); ++i)
    blockPool->release(table[i]);
  table.resize(std::min(block, table.size()));
}

Status KvCache::reserve(int64_t positions) {
  size_t need = size_t(blocksFor(len + positions));
  size_t had = table.size();
  while (table.size() < need) {
    Result<int32_t> b = blockPool->allocate();
    if (!b) {
      releaseFrom(had);
      return b.status();
    }
    table.push_back(*b);
  }
  return Status::ok();
}

Status KvCache::sharePrefix(const std::vector<int32_t> &blocks, int64_t cols) {
  if (len != 0 || !table.empty())
    return Status::error("internal error: a shared prefix needs an empty "
                         "KV cache");
  COLM_TRY(checkColumns(cols));
  int64_t positions = int64_t(blocks.size()) * KvPool::kBlockSize;
  if (positions > capacity)
    return Status::error("the shared prefix of " + std::to_string(positions) +
                         " positions is longer than the context");
  for (int32_t b : blocks) {
    blockPool->retain(b);
    table.push_back(b);
  }
  len = positions;
  validCols.assign(size_t(positions), cols);
  return Status::ok();
}

int64_t KvCache::sharedBlocks() const {
  int64_t n = 0;
  for (int32_t b : table)
    n += blockPool->references(b) > 1;
  return n;
}

Status KvCache::ownBlock(size_t i) {
  int32_t b = table[i];
  if (blockPool->references(b) == 1)
    return Status::ok();
  COLM_ASSIGN_OR_RETURN(int32_t copy, blockPool->allocate());
  int64_t rows = KvPool::kBlockSize * kvWidth;
  for (int l = 0; l < layers; ++l) {
    std::memcpy(blockPool->keys(l) + int64_t(copy) * rows,
                blockPool->keys(l) + int64_t(b) * rows, rows * sizeof(float));
    std::memcpy(blockPool->values(l) + int64_t(copy) * rows,
                blockPool->values(l) + int64_t(b) * rows, rows * sizeof(float));
  }
  blockPool->release(b);
  table[i] = copy;
  return Status::ok();
}

int64_t KvCache::bytes() const {
  if (!blockPool)
    return 0;
  if (ownsPool)
    return blockPool->bytes();
  return blockPool->blockBytes() * int64_t(table.size());
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
  // A partly filled last block may be shared (a cached prefix): copy it
  // before writing into it.
  if (rows > 0 && len % KvPool::kBlockSize != 0)
    COLM_TRY(ownBlock(size_t(len / KvPool::kBlockSize)));
  COLM_TRY(reserve(rows));
  for (int l = 0; l < layers; ++l) {
    float *kPool = blockPool->keys(l), *vPool = blockPool->values(l);
    for (int64_t r = 0; r < rows; ++r) {
      int64_t row = rowOf(len + r);
      std::memcpy(kPool + row * kvWidth, k[l].data() + r * cols,
                  cols * sizeof(float));
      std::memcpy(vPool + row * kvWidth, v[l].data() + r * cols,
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
  for (size_t i = 0; i < table.size(); ++i)
    COLM_TRY(ownBlock(i));
  for (int l = 0; l < layers; ++l) {
    float *kPool = blockPool->keys(l), *vPool = blockPool->values(l);
    for (int64_t r = 0; r < len; ++r) {
      int64_t row = rowOf(r);
      std::memcpy(kPool + row * kvWidth, k[l].data() + r * cols,
                  cols * sizeof(float));
      std::memcpy(vPool + row * kvWidth, v[l].data() + r * cols,
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
  releaseFrom(size_t(blocksFor(len)));
}

Result<std::vector<float>> KvCache::read(bool keys, int layer,
                                         int64_t cols) const {
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
  const float *src = keys ? blockPool->keys(layer) : blockPool->values(layer);
  for (int64_t r = 0; r < len; ++r)
    std::memcpy(out.data() + r * cols, src + rowOf(r) * kvWidth,
                cols * sizeof(float));
  return out;
}

Result<std::vector<float>> KvCache::keys(int layer, int64_t cols) const {
  return read(true, layer, cols);
}

Result<std::vector<float>> KvCache::values(int layer, int64_t cols) const {
  return read(false, layer, cols);
}

} // namespace colm
