//===- KvPool.h - Fixed-size blocks of keys and values ----------*- C++ -*-===//
//
// The paged key/value cache's memory: for every layer, keys and values of
// `blocks() * blockSize()` positions, row-major [rows, width] floats with
// width = config.kvWidth(), allocated once. A sequence (KvCache) holds a
// block table: position p lives in row table[p / blockSize()] *
// blockSize() + p % blockSize(). Blocks are reference-counted so that
// sequences can share a prefix's blocks; a block whose count drops to zero
// is free again. Nothing moves, nothing is defragmented: a table can put
// its blocks anywhere.
//
// Not thread-safe: one thread (the scheduler, or a tool) owns the pool and
// the sequences drawing from it.
//
//===----------------------------------------------------------------------===//
#ifndef COLM_RUNTIME_KVPOOL_H
#define COLM_RUNTIME_KVPOOL_H

#include "runtime/Config.h"
#include "runtime/Status.h"

#include <cstdint>
#include <memory>
#include <vector>

namespace colm {

class KvPool {
public:
  /// Positions per block: a multiple of 16, so the attention kernels
  /// transpose whole 16-row tiles of a block.
  static constexpr int64_t kBlockSize = 16;
  /// The largest pool: 32 GiB of keys and values.
  static constexpr int64_t kMaxBytes = int64_t(32) << 30;

  /// A pool of `blocks` blocks (>= 1). Errors: an invalid config, a pool
  /// over kMaxBytes or over the memory this machine has free.
  static Result<std::shared_ptr<KvPool>> create(const ModelConfig &config,
                                                int64_t blocks);
  /// The most blocks `bytes` hold (at least one).
  static int64_t blocksFor(const ModelConfig &config, int64_t bytes);

  const ModelConfig &config() const { return cfg; }
  int64_t blockSize() const { return kBlockSize; }
  int64_t blocks() const { return int64_t(refs.size()); }
  int64_t freeBlocks() const { return int64_t(freeList.size()); }
  int64_t usedBlocks() const { return blocks() - freeBlocks(); }
  int64_t width() const { return kvWidth; }
  int numLayers() const { return layers; }
  /// Rows of each layer's keys (values): blocks() * blockSize().
  int64_t rows() const { return blocks() * kBlockSize; }
  /// Bytes of one block over every layer, keys and values.
  int64_t blockBytes() const;
  int64_t bytes() const { return blockBytes() * blocks(); }

  /// A free block with one reference, or an error when none is free.
  Result<int32_t> allocate();
  /// Adds (drops) a reference; a block with none left is free.
  void retain(int32_t block);
  void release(int32_t block);
  int references(int32_t block) const { return refs[size_t(block)]; }

  /// Layer `layer`'s keys (values): [rows(), width()] row-major.
  float *keys(int layer) { return kStore.data() + layerOffset(layer); }
  float *values(int layer) { return vStore.data() + layerOffset(layer); }
  const float *keys(int layer) const {
    return kStore.data() + layerOffset(layer);
  }
  const float *values(int layer) const {
    return vStore.data() + layerOffset(layer);
  }

private:
  KvPool() = default;
  int64_t layerOffset(int layer) const {
    return int64_t(layer) * rows() * kvWidth;
  }

  ModelConfig cfg;
  int layers = 0;
  int64_t kvWidth = 0;
  std::vector<float> kStore, vStore;
  std::vector<int> refs;
  /// Free blocks, the next one last: a fresh pool hands out 0, 1, ...; a
  /// released block is handed out next.
  std::vector<int32_t> freeList;
};

} // namespace colm

#endif // COLM_RUNTIME_KVPOOL_H
