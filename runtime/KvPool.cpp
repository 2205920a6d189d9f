//===- KvPool.cpp - Fixed-size blocks of keys and values ------------------===//

#include "runtime/KvPool.h"

#include "runtime/Memory.h"

#include <cassert>
#include <cstdio>
#include <string>

namespace colm {

int64_t KvPool::blocksFor(const ModelConfig &config, int64_t bytes) {
  int64_t block = config.numLayers * 2 * config.kvWidth() * kBlockSize *
                  int64_t(sizeof(float));
  return std::max<int64_t>(1, bytes / std::max<int64_t>(1, block));
}

int64_t KvPool::blockBytes() const {
  return int64_t(layers) * 2 * kvWidth * kBlockSize * int64_t(sizeof(float));
}

Result<std::shared_ptr<KvPool>> KvPool::create(const ModelConfig &config,
                                               int64_t blocks) {
  COLM_TRY(validateConfig(config).withContext("KV cache"));
  if (blocks < 1)
    return Status::error("a KV cache pool needs at least one block, got " +
                         std::to_string(blocks));
  int64_t width = config.kvWidth();
  int64_t perBlock =
      config.numLayers * 2 * width * kBlockSize * int64_t(sizeof(float));
  // Divide instead of multiplying so nothing can overflow.
  if (blocks > kMaxBytes / perBlock) {
    char gib[64];
    std::snprintf(gib, sizeof(gib), "%.1f",
                  double(blocks) * double(perBlock) / double(int64_t(1) << 30));
    return Status::error("a KV cache of " + std::to_string(blocks) +
                         " blocks of " + std::to_string(kBlockSize) +
                         " positions would need " + gib +
                         " GiB, more than the " +
                         std::to_string(kMaxBytes >> 30) + " GiB limit");
  }
  COLM_TRY(
      checkMemoryFits(2.0 * double(blocks) * double(perBlock),
                      "a KV cache of " + std::to_string(blocks) + " blocks"));
  std::shared_ptr<KvPool> pool(new KvPool());
  pool->cfg = config;
  pool->layers = int(config.numLayers);
  pool->kvWidth = width;
  pool->refs.assign(size_t(blocks), 0);
  size_t n = size_t(config.numLayers * blocks * kBlockSize * width);
  pool->kStore.assign(n, 0.0f);
  pool->vStore.assign(n, 0.0f);
  for (int64_t b = blocks - 1; b >= 0; --b)
    pool->freeList.push_back(int32_t(b));
  return pool;
}

Result<int32_t> KvPool::allocate() {
  if (freeList.empty())
    return Status::error("the KV cache is full: all " +
                         std::to_string(blocks()) + " blocks of " +
                         std::to_string(kBlockSize) + " positions are in use");
  int32_t b = freeList.back();
  freeList.pop_back();
  refs[size_t(b)] = 1;
  return b;
}

void KvPool::retain(int32_t block) {
  assert(refs[size_t(block)] > 0 && "retaining a free block");
  ++refs[size_t(block)];
}

void KvPool::release(int32_t block) {
  assert(refs[size_t(block)] > 0 && "releasing a free block");
  if (--refs[size_t(block)] == 0)
    freeList.push_back(block);
}

} // namespace colm
