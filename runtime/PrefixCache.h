//===- PrefixCache.h - Full KV blocks shared between requests ---*- C++ -*-===//
//
// Requests that start alike (a system prompt, a few-shot preamble) share
// the keys and values of their common prefix. A full block of a prompt is
// named by a hash of its parent block's name, its tokens and a tag saying
// how it was computed (CoLM-Air's chain-1 prefill, or a prefill of any
// chain count), so a name stands for the whole prefix up to that block. A
// block records the chain count that computed it and serves every lower
// one: a k-chain prefill holds the narrower sub-models' keys and values
// bit for bit (GeneratorTest.*PrefillHoldsTheNarrowerSubModelsBits). The cache
// holds one reference to each block it names; sequences that reuse a block take
// their own (KvCache::sharePrefix). Blocks only the cache still holds are
// evicted least recently used first when the pool runs short.
//
//===----------------------------------------------------------------------===//
#ifndef COLM_RUNTIME_PREFIXCACHE_H
#define COLM_RUNTIME_PREFIXCACHE_H

#include "runtime/KvPool.h"

#include <cstdint>
#include <list>
#include <memory>
#include <unordered_map>
#include <vector>

namespace colm {

class PrefixCache {
public:
  explicit PrefixCache(std::shared_ptr<KvPool> pool) : pool(std::move(pool)) {}
  ~PrefixCache() { clear(); }
  PrefixCache(const PrefixCache &) = delete;
  PrefixCache &operator=(const PrefixCache &) = delete;

  /// The names of the full blocks of `tokens` (tokens.size() / block size
  /// of them), each chained to the one before.
  std::vector<uint64_t> blockNames(const std::vector<int32_t> &tokens,
                                   uint64_t tag) const;

  /// The blocks of the longest cached prefix of `names`, at most `most`,
  /// each computed with at least `chains` chains; they become the most
  /// recently used.
  std::vector<int32_t> lookup(const std::vector<uint64_t> &names, size_t most,
                              int chains = 0);
  /// Counts a prompt's lookup: `queried` full blocks, `hit` found (once per
  /// prompt placed, however often it waited for blocks).
  void count(int64_t queried, int64_t hit) {
    queriedCount += queried;
    hitCount += hit;
  }

  /// Names block `block`, computed with `chains` chains (taking a
  /// reference), unless the name is known with as many chains; a known
  /// name with fewer gets this block instead.
  void insert(uint64_t name, int32_t block, int chains);

  /// Frees up to `blocks` blocks that only the cache holds, least recently
  /// used first; returns how many it freed.
  int64_t evict(int64_t blocks);
  /// Blocks that evict() could free now.
  int64_t evictable() const;
  /// Drops every name (and the cache's references).
  void clear();

  int64_t size() const { return int64_t(entries.size()); }
  /// Blocks counted by count().
  int64_t queriedBlocks() const { return queriedCount; }
  int64_t hitBlocks() const { return hitCount; }

private:
  struct Entry {
    int32_t block;
    int chains;
    std::list<uint64_t>::iterator recent;
  };
  std::shared_ptr<KvPool> pool;
  std::unordered_map<uint64_t, Entry> entries;
  /// Names, most recently used first.
  std::list<uint64_t> recency;
  int64_t queriedCount = 0, hitCount = 0;
};

} // namespace colm

#endif // COLM_RUNTIME_PREFIXCACHE_H
