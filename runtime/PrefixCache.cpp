//===- PrefixCache.cpp - Full KV blocks shared between requests -----------===//

#include "runtime/PrefixCache.h"

#include "runtime/Random.h"

namespace colm {

std::vector<uint64_t>
PrefixCache::blockNames(const std::vector<int32_t> &tokens,
                        uint64_t tag) const {
  std::vector<uint64_t> names;
  int64_t bs = pool->blockSize();
  uint64_t parent = tag ^ 0x636F6C6D70726566ull;
  for (int64_t b = 0; (b + 1) * bs <= int64_t(tokens.size()); ++b) {
    uint64_t h = parent;
    for (int64_t i = b * bs; i < (b + 1) * bs; ++i) {
      uint64_t s = h ^ (uint64_t(uint32_t(tokens[size_t(i)])) + 1);
      h = splitmix64(s);
    }
    names.push_back(h);
    parent = h;
  }
  return names;
}

std::vector<int32_t> PrefixCache::lookup(const std::vector<uint64_t> &names,
                                         size_t most, int chains) {
  std::vector<int32_t> found;
  for (size_t i = 0; i < names.size() && i < most; ++i) {
    auto it = entries.find(names[i]);
    if (it == entries.end() || it->second.chains < chains)
      break;
    recency.splice(recency.begin(), recency, it->second.recent);
    found.push_back(it->second.block);
  }
  return found;
}

void PrefixCache::insert(uint64_t name, int32_t block, int chains) {
  auto it = entries.find(name);
  if (it != entries.end()) {
    if (it->second.chains >= chains)
      return;
    // A wider block for the same prefix: it serves every chain count the
    // narrower one did.
    pool->retain(block);
    pool->release(it->second.block);
    it->second.block = block;
    it->second.chains = chains;
    recency.splice(recency.begin(), recency, it->second.recent);
    return;
  }
  pool->retain(block);
  recency.push_front(name);
  entries[name] = {block, chains, recency.begin()};
}

int64_t PrefixCache::evict(int64_t blocks) {
  int64_t freed = 0;
  for (auto it = recency.end(); it != recency.begin() && freed < blocks;) {
    --it;
    auto entry = entries.find(*it);
    if (pool->references(entry->second.block) != 1)
      continue; // a sequence still reads it
    pool->release(entry->second.block);
    entries.erase(entry);
    it = recency.erase(it);
    ++freed;
  }
  return freed;
}

int64_t PrefixCache::evictable() const {
  int64_t n = 0;
  for (const auto &[name, e] : entries)
    n += pool->references(e.block) == 1;
  return n;
}

void PrefixCache::clear() {
  for (const auto &[name, e] : entries)
    pool->release(e.block);
  entries.clear();
  recency.clear();
}

} // namespace colm
