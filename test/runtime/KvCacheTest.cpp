//===- KvCacheTest.cpp - Tests for runtime/KvCache.h ----------------------===//

#include "runtime/KvCache.h"

#include "TestUtil.h"

using namespace colm;
using colm::test::smallConfig;

namespace {

using LayerRows = std::vector<std::vector<float>>;

/// A stand-in for "the key (value) a model computes": entry (layer, pos, col)
/// with a `version` so recomputed history can be told apart.
float fakeKv(bool value, int layer, int64_t pos, int64_t col, int version = 0) {
  return (value ? 100000.0f : 0.0f) + version * 10000.0f + layer * 1000.0f +
         pos * 20.0f + col;
}

/// Per layer, rows [from, from + rows) x [0, cols) of fakeKv.
LayerRows rowsOf(bool value, int layers, int64_t from, int64_t rows,
                 int64_t cols, int version = 0) {
  LayerRows out(layers);
  for (int l = 0; l < layers; ++l)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c)
        out[l].push_back(fakeKv(value, l, from + r, c, version));
  return out;
}

Status appendFake(KvCache &cache, int64_t rows, int64_t cols, int version = 0) {
  return cache.appendPositions(
      rows,
      rowsOf(false, cache.numLayers(), cache.length(), rows, cols, version),
      rowsOf(true, cache.numLayers(), cache.length(), rows, cols, version),
      cols);
}

/// A CoLM-Air config: h_kv = 1 divides every chain (kv width 4).
ModelConfig airConfig() { return smallConfig({1, 1, 2}, 1, true); }

/// Position p's row of layer `layer`'s keys (values) in the cache's pool.
const float *poolRow(const KvCache &cache, bool keys, int layer, int64_t p) {
  const KvPool &pool = cache.pool();
  int64_t row = int64_t(cache.blockTable()[size_t(p / pool.blockSize())]) *
                    pool.blockSize() +
                p % pool.blockSize();
  return (keys ? pool.keys(layer) : pool.values(layer)) + row * pool.width();
}

} // namespace

TEST(KvCacheTest, CreateSizesFromTheModel) {
  ModelConfig config = smallConfig(); // D=16, hd=4, h_kv=4, chains [1,1,2]
  Result<KvCache> cache = KvCache::create(config, 8);
  ASSERT_OK(cache);
  EXPECT_EQ(cache->length(), 0);
  EXPECT_EQ(cache->maxContext(), 8);
  EXPECT_EQ(cache->remaining(), 8);
  EXPECT_EQ(cache->width(), 16);
  EXPECT_EQ(cache->numLayers(), 2);
  EXPECT_EQ(cache->numChains(), 3);
  EXPECT_FALSE(cache->shared());
  // Its own pool: whole blocks, one of 16 positions for the 8.
  EXPECT_EQ(cache->bytes(), 2 * 2 * 16 * 16 * 4);
  EXPECT_EQ(cache->columnsFor(1), 4);
  EXPECT_EQ(cache->columnsFor(2), 8);
  EXPECT_EQ(cache->columnsFor(3), 16);
  EXPECT_EQ(cache->validChains(), 3);
  EXPECT_EQ(cache->validColumns(), 16);
}

TEST(KvCacheTest, CreateErrors) {
  ModelConfig config = smallConfig();
  EXPECT_ERROR(KvCache::create(config, 0), "--max-context must be at least 1");
  EXPECT_ERROR(KvCache::create(config, -5), "--max-context");
  config.maxPositionEmbeddings = 64;
  EXPECT_OK(KvCache::create(config, 64));
  EXPECT_ERROR(KvCache::create(config, 65), "--max-context 65",
               "max_position_embeddings 64");
  config.maxPositionEmbeddings = 2147483647;
  EXPECT_ERROR(KvCache::create(config, int64_t(1) << 30),
               "would need 256.0 GiB", "32 GiB limit");
  ModelConfig bad = smallConfig();
  bad.chains = {1, 1, 1}; // h = 4 != S = 3
  EXPECT_ERROR(KvCache::create(bad, 8), "KV cache");
}

TEST(KvCacheTest, AppendThenReadPrefixes) {
  Result<KvCache> cache = KvCache::create(smallConfig(), 8);
  ASSERT_OK(cache);
  ASSERT_OK(appendFake(*cache, 3, 16));
  ASSERT_OK(appendFake(*cache, 2, 16));
  EXPECT_EQ(cache->length(), 5);
  EXPECT_EQ(cache->remaining(), 3);
  EXPECT_EQ(cache->validChains(), 3);
  for (int layer = 0; layer < 2; ++layer) {
    for (int k = 1; k <= 3; ++k) {
      int64_t cols = cache->columnsFor(k);
      Result<std::vector<float>> keys = cache->keys(layer, cols);
      Result<std::vector<float>> values = cache->values(layer, cols);
      ASSERT_OK(keys);
      ASSERT_OK(values);
      EXPECT_EQ(*keys, rowsOf(false, 2, 0, 5, cols)[layer]);
      EXPECT_EQ(*values, rowsOf(true, 2, 0, 5, cols)[layer]);
    }
    // Zero-copy: position p through the block table.
    for (int64_t p = 0; p < 5; ++p)
      for (int64_t c = 0; c < 16; ++c) {
        EXPECT_EQ(poolRow(*cache, true, layer, p)[c],
                  fakeKv(false, layer, p, c));
        EXPECT_EQ(poolRow(*cache, false, layer, p)[c],
                  fakeKv(true, layer, p, c));
      }
  }
  EXPECT_ERROR(cache->keys(2, 4), "layer 2 out of range");
  EXPECT_ERROR(cache->values(-1, 4), "layer -1 out of range");
}

TEST(KvCacheTest, ContextFull) {
  Result<KvCache> cache = KvCache::create(smallConfig(), 4);
  ASSERT_OK(cache);
  ASSERT_OK(appendFake(*cache, 3, 16));
  EXPECT_ERROR(appendFake(*cache, 2, 16), "the context is full",
               "(the cache holds --max-context 4)");
  EXPECT_EQ(cache->length(), 3); // nothing changed
  ASSERT_OK(appendFake(*cache, 0, 16));
  ASSERT_OK(appendFake(*cache, 1, 16));
  EXPECT_EQ(cache->remaining(), 0);
  EXPECT_ERROR(appendFake(*cache, 1, 16), "the context is full: 4 positions",
               "--max-context 4");
  Result<std::vector<float>> keys = cache->keys(1, 16);
  ASSERT_OK(keys);
  EXPECT_EQ(*keys, rowsOf(false, 2, 0, 4, 16)[1]);
}

TEST(KvCacheTest, ShapeErrorsChangeNothing) {
  Result<KvCache> cache = KvCache::create(smallConfig(), 8);
  ASSERT_OK(cache);
  ASSERT_OK(appendFake(*cache, 1, 16));
  EXPECT_ERROR(appendFake(*cache, 1, 5), "key/value width 5", "(4, 8, 16)");
  EXPECT_ERROR(cache->appendPositions(1, rowsOf(false, 1, 1, 1, 16),
                                      rowsOf(true, 1, 1, 1, 16), 16),
               "keys and values for 2 layers, got 1 and 1");
  LayerRows k = rowsOf(false, 2, 1, 2, 8), v = rowsOf(true, 2, 1, 2, 8);
  v[1].pop_back();
  EXPECT_ERROR(cache->appendPositions(2, k, v, 8), "layer 1 values",
               "expected 2 x 8");
  EXPECT_ERROR(cache->appendPositions(-1, {}, {}, 8), "cannot append -1");
  EXPECT_ERROR(cache->overwriteHistory(rowsOf(false, 2, 0, 2, 8),
                                       rowsOf(true, 2, 0, 2, 8), 8),
               "overwriting", "expected 1 x 8");
  EXPECT_EQ(cache->length(), 1);
  EXPECT_EQ(cache->validChains(), 3);
  Result<std::vector<float>> keys = cache->keys(0, 16);
  ASSERT_OK(keys);
  EXPECT_EQ(*keys, rowsOf(false, 2, 0, 1, 16)[0]);
}

TEST(KvCacheTest, SwitchingDownNarrowsTheValidPrefix) {
  Result<KvCache> cache = KvCache::create(smallConfig(), 16);
  ASSERT_OK(cache);
  ASSERT_OK(appendFake(*cache, 4, 16)); // prefill with all 3 chains
  ASSERT_OK(appendFake(*cache, 1, 8));  // decode one token with 2 chains
  EXPECT_EQ(cache->validChains(), 2);
  EXPECT_EQ(cache->validColumns(), 8);
  ASSERT_OK(cache->keys(0, 8));
  ASSERT_OK(cache->keys(0, 4));
  EXPECT_ERROR(cache->keys(0, 16), "holds 8 valid key/value columns",
               "(2 chains), not 16", "missing chains");
  ASSERT_OK(appendFake(*cache, 1, 4)); // and one with 1 chain
  EXPECT_EQ(cache->validChains(), 1);
  EXPECT_ERROR(cache->values(1, 8), "holds 4 valid");
  Result<std::vector<float>> keys = cache->keys(1, 4);
  ASSERT_OK(keys);
  EXPECT_EQ(*keys, rowsOf(false, 2, 0, 6, 4)[1]);
}

TEST(KvCacheTest, SwitchingUpOverwritesTheHistory) {
  Result<KvCache> cache = KvCache::create(smallConfig(), 16);
  ASSERT_OK(cache);
  ASSERT_OK(appendFake(*cache, 3, 4)); // 1-chain prefill
  EXPECT_EQ(cache->validChains(), 1);
  // Switch to 3 chains: recompute the whole history with the full model.
  ASSERT_OK(cache->overwriteHistory(rowsOf(false, 2, 0, 3, 16, 1),
                                    rowsOf(true, 2, 0, 3, 16, 1), 16));
  EXPECT_EQ(cache->validChains(), 3);
  ASSERT_OK(appendFake(*cache, 1, 16, 1));
  for (int layer = 0; layer < 2; ++layer) {
    Result<std::vector<float>> keys = cache->keys(layer, 16);
    Result<std::vector<float>> values = cache->values(layer, 16);
    ASSERT_OK(keys);
    ASSERT_OK(values);
    EXPECT_EQ(*keys, rowsOf(false, 2, 0, 4, 16, 1)[layer]);
    EXPECT_EQ(*values, rowsOf(true, 2, 0, 4, 16, 1)[layer]);
  }
}

TEST(KvCacheTest, NarrowOverwriteKeepsWiderColumns) {
  Result<KvCache> cache = KvCache::create(smallConfig(), 16);
  ASSERT_OK(cache);
  ASSERT_OK(appendFake(*cache, 2, 16));
  ASSERT_OK(appendFake(*cache, 1, 4));
  // Rewriting 2 chains of the history: positions 0-1 keep their 16 valid
  // columns, position 2 gains 8.
  ASSERT_OK(cache->overwriteHistory(rowsOf(false, 2, 0, 3, 8, 2),
                                    rowsOf(true, 2, 0, 3, 8, 2), 8));
  EXPECT_EQ(cache->validChains(), 2);
  for (int64_t p = 0; p < 3; ++p)
    for (int64_t c = 0; c < 8; ++c)
      EXPECT_EQ(poolRow(*cache, true, 1, p)[c], fakeKv(false, 1, p, c, 2));
  for (int64_t p = 0; p < 2; ++p)
    for (int64_t c = 8; c < 16; ++c)
      EXPECT_EQ(poolRow(*cache, true, 1, p)[c], fakeKv(false, 1, p, c, 0));
}

TEST(KvCacheTest, TruncateForgetsPositionsAndTheirWidth) {
  Result<KvCache> cache = KvCache::create(smallConfig(), 8);
  ASSERT_OK(cache);
  ASSERT_OK(appendFake(*cache, 3, 16));
  ASSERT_OK(appendFake(*cache, 2, 4));
  EXPECT_EQ(cache->validChains(), 1);
  cache->truncate(10); // longer: no change
  EXPECT_EQ(cache->length(), 5);
  cache->truncate(3);
  EXPECT_EQ(cache->length(), 3);
  EXPECT_EQ(cache->validChains(), 3); // the narrow positions are gone
  ASSERT_OK(appendFake(*cache, 5, 16, 3));
  EXPECT_EQ(cache->length(), 8);
  Result<std::vector<float>> keys = cache->keys(0, 16);
  ASSERT_OK(keys);
  std::vector<float> expected = rowsOf(false, 2, 0, 3, 16)[0];
  std::vector<float> tail = rowsOf(false, 2, 3, 5, 16, 3)[0];
  expected.insert(expected.end(), tail.begin(), tail.end());
  EXPECT_EQ(*keys, expected);
  cache->truncate(-3);
  EXPECT_EQ(cache->length(), 0);
  cache->clear();
  EXPECT_EQ(cache->length(), 0);
  EXPECT_EQ(cache->remaining(), 8);
  Result<std::vector<float>> empty = cache->keys(0, 16);
  ASSERT_OK(empty);
  EXPECT_TRUE(empty->empty());
}

TEST(KvCacheTest, ChainScheduleMatchesRecomputation) {
  // Generation with schedule 0:1, 3:3, 6:2 after a 4-token 1-chain prefill.
  // After every step, the columns each position's sub-model reads must equal
  // what a from-scratch run of that sub-model would have computed.
  Result<KvCache> cache = KvCache::create(smallConfig(), 32);
  ASSERT_OK(cache);
  ASSERT_OK(appendFake(*cache, 4, cache->columnsFor(1)));
  auto chainsAt = [](int step) { return step < 3 ? 1 : step < 6 ? 3 : 2; };
  for (int step = 0; step < 9; ++step) {
    int k = chainsAt(step);
    int64_t cols = cache->columnsFor(k);
    if (cache->validChains() < k)
      ASSERT_OK(cache->overwriteHistory(
          rowsOf(false, 2, 0, cache->length(), cols),
          rowsOf(true, 2, 0, cache->length(), cols), cols));
    ASSERT_GE(cache->validChains(), k);
    for (int layer = 0; layer < 2; ++layer) {
      Result<std::vector<float>> keys = cache->keys(layer, cols);
      ASSERT_OK(keys);
      EXPECT_EQ(*keys, rowsOf(false, 2, 0, cache->length(), cols)[layer])
          << "step " << step;
    }
    ASSERT_OK(appendFake(*cache, 1, cols));
  }
  EXPECT_EQ(cache->length(), 13);
  EXPECT_EQ(cache->validChains(), 2);
}

TEST(KvCacheTest, AirCacheIsSharedByEverySubModel) {
  ModelConfig config = airConfig();
  Result<KvCache> cache = KvCache::create(config, 8);
  ASSERT_OK(cache);
  EXPECT_TRUE(cache->shared());
  EXPECT_EQ(cache->width(), 4);
  for (int k = 1; k <= 3; ++k)
    EXPECT_EQ(cache->columnsFor(k), 4);
  // A chain-1 prefill writes the full cache.
  ASSERT_OK(appendFake(*cache, 5, 4));
  EXPECT_EQ(cache->validChains(), 3);
  EXPECT_ERROR(appendFake(*cache, 1, 2), "CoLM-Air", "full width 4, got 2");
  EXPECT_ERROR(cache->overwriteHistory(rowsOf(false, 2, 0, 5, 2),
                                       rowsOf(true, 2, 0, 5, 2), 2),
               "CoLM-Air");
  Result<std::vector<float>> values = cache->values(1, 4);
  ASSERT_OK(values);
  EXPECT_EQ(*values, rowsOf(true, 2, 0, 5, 4)[1]);
  EXPECT_EQ(cache->bytes(), 2 * 2 * 16 * 4 * 4);
}

TEST(KvCacheTest, MovedCacheKeepsItsContents) {
  Result<KvCache> made = KvCache::create(smallConfig(), 4);
  ASSERT_OK(made);
  KvCache cache = made.take();
  ASSERT_OK(appendFake(cache, 2, 16));
  std::vector<KvCache> batch;
  batch.push_back(std::move(cache));
  Result<std::vector<float>> keys = batch[0].keys(1, 16);
  ASSERT_OK(keys);
  EXPECT_EQ(*keys, rowsOf(false, 2, 0, 2, 16)[1]);
}

// Caches drawing from one shared pool take blocks as they grow and give
// them back when truncated or destroyed; a full pool is an error that
// changes nothing.
TEST(KvCacheTest, SharedPoolHandsOutAndTakesBackBlocks) {
  Result<std::shared_ptr<KvPool>> pool = KvPool::create(smallConfig(), 3);
  ASSERT_OK(pool);
  int64_t bs = (*pool)->blockSize();
  Result<KvCache> a = KvCache::create(*pool, 64);
  Result<KvCache> b = KvCache::create(*pool, 64);
  ASSERT_OK(a);
  ASSERT_OK(b);
  EXPECT_EQ((*pool)->freeBlocks(), 3);
  ASSERT_OK(appendFake(*a, bs + 1, 16));
  EXPECT_EQ(a->blockTable().size(), 2u);
  EXPECT_EQ((*pool)->freeBlocks(), 1);
  ASSERT_OK(appendFake(*b, 2, 16));
  EXPECT_EQ((*pool)->freeBlocks(), 0);
  // Room in b's block, none for a new one.
  ASSERT_OK(appendFake(*b, bs - 2, 16));
  EXPECT_ERROR(appendFake(*b, 1, 16), "the KV cache is full");
  EXPECT_EQ(b->length(), bs);
  EXPECT_ERROR(appendFake(*a, bs, 16), "the KV cache is full");
  EXPECT_EQ(a->length(), bs + 1);
  EXPECT_EQ(a->blockTable().size(), 2u);
  // The rows read back through the table, whatever blocks were taken.
  for (int64_t p = 0; p < bs + 1; ++p)
    EXPECT_EQ(poolRow(*a, true, 1, p)[3], fakeKv(false, 1, p, 3));
  a->truncate(bs);
  EXPECT_EQ((*pool)->freeBlocks(), 1);
  ASSERT_OK(appendFake(*b, 1, 16));
  EXPECT_EQ((*pool)->freeBlocks(), 0);
  {
    KvCache moved = std::move(*b);
    EXPECT_EQ(moved.length(), bs + 1);
    EXPECT_EQ(b->blockTable().size(), 0u);
  }
  EXPECT_EQ((*pool)->freeBlocks(), 2);
  *a = std::move(*b);
  EXPECT_EQ((*pool)->freeBlocks(), 3);
  EXPECT_EQ(a->bytes(), 0);
}

// A block another sequence also holds (a shared prefix) is copied before
// this cache writes into it: the other's rows never change.
TEST(KvCacheTest, WritingIntoASharedBlockCopiesIt) {
  Result<std::shared_ptr<KvPool>> pool = KvPool::create(smallConfig(), 4);
  ASSERT_OK(pool);
  Result<KvCache> a = KvCache::create(*pool, 64);
  ASSERT_OK(a);
  ASSERT_OK(appendFake(*a, 3, 16));
  int32_t shared = a->blockTable()[0];
  EXPECT_EQ(a->sharedBlocks(), 0);
  (*pool)->retain(shared); // as a prefix cache would
  EXPECT_EQ(a->sharedBlocks(), 1);
  ASSERT_OK(appendFake(*a, 1, 16, 9));
  EXPECT_EQ(a->sharedBlocks(), 0);
  EXPECT_NE(a->blockTable()[0], shared);
  EXPECT_EQ((*pool)->references(shared), 1);
  int64_t width = (*pool)->width(), bs = (*pool)->blockSize();
  const float *old = (*pool)->keys(0) + int64_t(shared) * bs * width;
  for (int64_t p = 0; p < 3; ++p)
    EXPECT_EQ(old[p * width + 5], fakeKv(false, 0, p, 5));
  EXPECT_EQ(poolRow(*a, true, 0, 3)[5], fakeKv(false, 0, 3, 5, 9));
  EXPECT_EQ(poolRow(*a, true, 0, 1)[5], fakeKv(false, 0, 1, 5));
  (*pool)->release(shared);
}
