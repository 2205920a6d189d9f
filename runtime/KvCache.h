//===- KvCache.h - The key/value cache of one sequence ----------*- C++ -*-===//
//
// For one sequence, every layer's keys (after RoPE) and values of every past
// position, `width` = config.kvWidth() = h_kv * hd floats per position, in
// blocks of a KvPool (runtime/KvPool.h) listed by the sequence's block
// table. A cache either owns a pool of its own, sized for its maxContext
// (a tool decoding a few sequences), or draws blocks from a pool shared
// with other sequences (the server), as it grows.
//
// Chains (spec/colm.md section 5):
//  - CoLM-Air (kv_sharing): all keys and values come from chain 1, so one cache
//    serves every sub-model; rows are always written with the full width and
//    validChains() is always numChains().
//  - CoLM: the k-chain sub-model's keys/values are the prefix
//    config.prefixWidth(width, k) of the full ones. Each position records how
//    many columns were written for it; validChains() is the largest k whose
//    prefix is valid at every position. Switching down is free (read a
//    narrower prefix); switching up needs overwriteHistory() with the wider
//    keys/values of the whole history first.
//
// A private pool is allocated once, at create(); a shared pool's blocks are
// taken when positions are appended and given back when they are truncated
// or the cache is destroyed.
//
//===----------------------------------------------------------------------===//

#ifndef COLM_RUNTIME_KVCACHE_H
#define COLM_RUNTIME_KVCACHE_H

#include "runtime/Config.h"
#include "runtime/KvPool.h"
#include "runtime/Status.h"

#include <cstdint>
#include <memory>
#include <vector>

namespace colm {

class KvCache {
public:
  /// The largest cache create() accepts: 32 GiB of keys and values.
  static constexpr int64_t kMaxBytes = int64_t(32) << 30;

  /// A cache for up to `maxContext` positions. Errors: an invalid config,
  /// maxContext < 1, maxContext > config.maxPositionEmbeddings (RoPE has no
  /// scaling, so the model never saw later positions), or a cache larger than
  /// kMaxBytes (numLayers * 2 * maxContext * width * 4 bytes).
  static Result<KvCache> create(const ModelConfig &config, int64_t maxContext);
  /// A cache for up to `maxContext` positions drawing blocks from `pool`
  /// (of the same model) as it grows; same errors, and appending fails when
  /// the pool has no free block ("the KV cache is full").
  static Result<KvCache> create(std::shared_ptr<KvPool> pool,
                                int64_t maxContext);

  KvCache(KvCache &&other) noexcept;
  KvCache &operator=(KvCache &&other) noexcept;
  KvCache(const KvCache &) = delete;
  KvCache &operator=(const KvCache &) = delete;
  ~KvCache();

  /// Positions filled.
  int64_t length() const { return len; }
  int64_t maxContext() const { return capacity; }
  /// Positions that can still be appended.
  int64_t remaining() const { return capacity - len; }
  /// Full key/value width (h_kv * hd).
  int64_t width() const { return kvWidth; }
  int numLayers() const { return layers; }
  int numChains() const { return config.numChains(); }
  /// True for CoLM-Air: one cache shared by every sub-model.
  bool shared() const { return config.kvSharing; }
  /// Bytes of key and value storage: the whole pool when the cache owns
  /// it, else the blocks it holds.
  int64_t bytes() const;

  /// The key/value columns the k-chain sub-model reads and writes:
  /// config.prefixWidth(width, k) for CoLM, the full width for CoLM-Air.
  /// `chains` must be in [1, numChains()].
  int64_t columnsFor(int chains) const;

  /// The number of leading columns valid at every filled position (width()
  /// when the cache is empty).
  int64_t validColumns() const;
  /// The largest k whose columnsFor(k) <= validColumns(): every sub-model with
  /// at most that many chains can read the cache as it is. numChains() when
  /// empty and always for CoLM-Air.
  int validChains() const;

  /// Appends `rows` positions at [length(), length() + rows) to every layer:
  /// k[l] and v[l] are row-major [rows, cols] for layer l, where cols is
  /// columnsFor(k) of the sub-model that computed them (the full width for
  /// CoLM-Air). Errors (nothing changes): wrong layer count or sizes, cols not
  /// a chain prefix, or too few positions left ("the context is full").
  Status appendPositions(int64_t rows, const std::vector<std::vector<float>> &k,
                         const std::vector<std::vector<float>> &v,
                         int64_t cols);

  /// Replaces the first `cols` columns of all length() positions of every
  /// layer: k[l] and v[l] are row-major [length(), cols]. Used by CoLM when
  /// switching up: the keys/values of the wider sub-model are recomputed for
  /// the whole history. Columns past `cols` that were valid stay valid (chain
  /// j's keys depend only on chains 1..j).
  Status overwriteHistory(const std::vector<std::vector<float>> &k,
                          const std::vector<std::vector<float>> &v,
                          int64_t cols);

  /// Forgets the positions from `newLength` on (clamped to [0, length()]).
  void truncate(int64_t newLength);
  void clear() { truncate(0); }

  /// The first `cols` columns of layer `layer`'s keys (values) at every
  /// filled position, row-major [length(), cols]. Errors: a bad layer, or
  /// cols wider than validColumns().
  Result<std::vector<float>> keys(int layer, int64_t cols) const;
  Result<std::vector<float>> values(int layer, int64_t cols) const;

  /// Zero-copy access for kernels: the pool (its layers' [rows, width]
  /// keys and values) and the block table: position p < length() is row
  /// blockTable()[p / pool().blockSize()] * blockSize + p % blockSize. Only
  /// columns < validColumns() hold meaningful data.
  const KvPool &pool() const { return *blockPool; }
  const std::vector<int32_t> &blockTable() const { return table; }
  /// Blocks needed for `positions` positions.
  int64_t blocksFor(int64_t positions) const {
    return (positions + KvPool::kBlockSize - 1) / KvPool::kBlockSize;
  }
  /// Makes sure the blocks for `positions` more positions are held (taking
  /// them from the pool); on failure nothing changes.
  Status reserve(int64_t positions);
  /// An empty cache starts with full blocks another sequence computed (a
  /// cached prefix): it takes a reference to each and holds their
  /// blocks.size() * blockSize positions with `cols` valid columns.
  Status sharePrefix(const std::vector<int32_t> &blocks, int64_t cols);
  /// Blocks held with another sequence or the prefix cache: the copies
  /// overwriteHistory() takes from the pool first.
  int64_t sharedBlocks() const;

private:
  KvCache() = default;
  /// The pool row of position p.
  int64_t rowOf(int64_t p) const {
    return int64_t(table[size_t(p / KvPool::kBlockSize)]) * KvPool::kBlockSize +
           p % KvPool::kBlockSize;
  }
  /// Makes block i of the table this cache's own (copied if shared).
  Status ownBlock(size_t i);
  void releaseFrom(size_t block);
  Status checkColumns(int64_t cols) const;
  Status checkLayers(const std::vector<std::vector<float>> &k,
                     const std::vector<std::vector<float>> &v, int64_t rows,
                     int64_t cols, const char *what) const;
  Result<std::vector<float>> read(bool keys, int layer, int64_t cols) const;

  ModelConfig config;
  int layers = 0;
  int64_t kvWidth = 0;
  int64_t capacity = 0;
  int64_t len = 0;
  std::shared_ptr<KvPool> blockPool;
  /// True when the pool is this cache's alone.
  bool ownsPool = false;
  std::vector<int32_t> table;
  /// Valid columns of each filled position.
  std::vector<int64_t> validCols;
};

} // namespace colm

#endif // COLM_RUNTIME_KVCACHE_H
