//===- PrefixCacheTest.cpp - Tests for runtime/PrefixCache.h --------------===//

#include "runtime/PrefixCache.h"
#include "runtime/KvCache.h"

#include "TestUtil.h"

using namespace colm;
using colm::test::smallConfig;

namespace {

std::vector<int32_t> tokens(int64_t n, int32_t first = 0) {
  std::vector<int32_t> t;
  for (int64_t i = 0; i < n; ++i)
    t.push_back(int32_t((first + i) % 29));
  return t;
}

} // namespace

// A name stands for the whole prefix up to its block: the same tokens after
// a different prefix, or under another tag, are another name.
TEST(PrefixCacheTest, NamesChainBlocksAndTags) {
  auto pool = KvPool::create(smallConfig(), 8);
  ASSERT_OK(pool);
  PrefixCache cache(*pool);
  int64_t bs = (*pool)->blockSize();
  std::vector<int32_t> a = tokens(3 * bs + 5);
  std::vector<uint64_t> names = cache.blockNames(a, 1);
  ASSERT_EQ(names.size(), 3u);
  EXPECT_EQ(cache.blockNames(tokens(3 * bs), 1), names);
  EXPECT_NE(cache.blockNames(a, 2)[0], names[0]);
  std::vector<int32_t> b = a;
  b[0] = 28; // the first block differs: so do all later names
  std::vector<uint64_t> other = cache.blockNames(b, 1);
  for (size_t i = 0; i < 3; ++i)
    EXPECT_NE(other[i], names[i]) << i;
  std::vector<int32_t> c = a;
  c[size_t(2 * bs)] = 28; // only the third block differs
  std::vector<uint64_t> third = cache.blockNames(c, 1);
  EXPECT_EQ(third[0], names[0]);
  EXPECT_EQ(third[1], names[1]);
  EXPECT_NE(third[2], names[2]);
}

// Lookup finds the longest cached prefix; the cache's references keep
// blocks alive after their sequence ends, and eviction frees the least
// recently used blocks that no sequence reads.
TEST(PrefixCacheTest, SharesEvictsAndCounts) {
  auto pool = KvPool::create(smallConfig(), 6);
  ASSERT_OK(pool);
  PrefixCache cache(*pool);
  int64_t bs = (*pool)->blockSize();
  std::vector<uint64_t> names;
  std::vector<int32_t> blocks;
  {
    auto seq = KvCache::create(*pool, 64);
    ASSERT_OK(seq);
    std::vector<std::vector<float>> k(2, std::vector<float>(3 * bs * 16, 1.f));
    ASSERT_OK(seq->appendPositions(3 * bs, k, k, 16));
    names = cache.blockNames(tokens(3 * bs), 7);
    for (size_t i = 0; i < 2; ++i)
      cache.insert(names[i], seq->blockTable()[i], 3);
    blocks = {seq->blockTable()[0], seq->blockTable()[1]};
    EXPECT_EQ((*pool)->references(blocks[0]), 2);
  }
  // The sequence is gone; the cache still holds two blocks.
  EXPECT_EQ((*pool)->usedBlocks(), 2);
  EXPECT_EQ(cache.lookup(names, 3), blocks);
  EXPECT_EQ(cache.lookup(names, 1), std::vector<int32_t>{blocks[0]});
  cache.count(3, 2);
  EXPECT_EQ(cache.queriedBlocks(), 3);
  EXPECT_EQ(cache.hitBlocks(), 2);
  // A new sequence starts from the shared prefix and appends after it.
  auto reuse = KvCache::create(*pool, 64);
  ASSERT_OK(reuse);
  ASSERT_OK(reuse->sharePrefix(blocks, 16));
  EXPECT_EQ(reuse->length(), 2 * bs);
  EXPECT_EQ((*pool)->references(blocks[1]), 2);
  EXPECT_EQ(cache.evictable(), 0);
  EXPECT_EQ(cache.evict(5), 0);
  reuse->truncate(bs); // keeps block 0, gives back block 1
  EXPECT_EQ(cache.evictable(), 1);
  // Block 0 was used last; block 1 goes first.
  EXPECT_EQ(cache.evict(1), 1);
  EXPECT_EQ(cache.size(), 1);
  EXPECT_EQ(cache.lookup(names, 3), std::vector<int32_t>{blocks[0]});
  EXPECT_ERROR(reuse->sharePrefix(blocks, 16), "empty");
}

// A block serves every chain count up to the one that computed it; a
// wider block for a known name takes the narrower one's place.
TEST(PrefixCacheTest, BlocksServeUpToTheirChainCount) {
  auto pool = KvPool::create(smallConfig(), 6);
  ASSERT_OK(pool);
  PrefixCache cache(*pool);
  int64_t bs = (*pool)->blockSize();
  std::vector<uint64_t> names = cache.blockNames(tokens(2 * bs), 2);
  int32_t narrow0 = *(*pool)->allocate(), narrow1 = *(*pool)->allocate();
  cache.insert(names[0], narrow0, 2);
  cache.insert(names[1], narrow1, 1);
  EXPECT_EQ(cache.lookup(names, 2, 1),
            (std::vector<int32_t>{narrow0, narrow1}));
  EXPECT_EQ(cache.lookup(names, 2, 2), std::vector<int32_t>{narrow0});
  EXPECT_TRUE(cache.lookup(names, 2, 3).empty());
  int32_t wide = *(*pool)->allocate();
  cache.insert(names[1], wide, 3);
  EXPECT_EQ(cache.lookup(names, 2, 2), (std::vector<int32_t>{narrow0, wide}));
  EXPECT_EQ((*pool)->references(narrow1), 1) << "the cache let go of it";
  cache.insert(names[1], narrow1, 2); // narrower than what it has: kept
  EXPECT_EQ(cache.lookup(names, 2, 3).size(), 0u) << "block 0 holds 2";
  EXPECT_EQ(cache.lookup(names, 2, 0), (std::vector<int32_t>{narrow0, wide}));
  for (int32_t b : {narrow0, narrow1, wide})
    (*pool)->release(b);
  EXPECT_EQ(cache.size(), 2);
  EXPECT_EQ(cache.evict(2), 2);
  EXPECT_EQ((*pool)->freeBlocks(), 6);
}
