//===- KernelCache.h - Content-addressed cache of kernel binaries -*- C++ -*-=//
//
// Target-independent: an entry is a directory of files (source, binary, ...)
// named by the hash of everything that changes them, under
//   $COLM_CACHE_DIR/kernels/<target>/<32 hex digits>/
// Entries are built in a temporary directory next to their final place and
// renamed into it, so a reader sees a complete entry or none. A manifest of
// every file's size and hash catches entries damaged afterwards; they are
// rebuilt. Deleting the cache at any time is safe.
//
//===----------------------------------------------------------------------===//

#ifndef COLM_COMPILER_CODEGEN_KERNELCACHE_H
#define COLM_COMPILER_CODEGEN_KERNELCACHE_H

#include "runtime/Status.h"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace colm {

/// A 128-bit digest; hex() is 32 lowercase digits, high half first.
struct Hash128 {
  uint64_t hi = 0, lo = 0;
  std::string hex() const;
  bool operator==(const Hash128 &o) const { return hi == o.hi && lo == o.lo; }
  bool operator!=(const Hash128 &o) const { return !(*this == o); }
};

/// FNV-1a, 128-bit (offset basis and prime from the FNV reference). Not
/// cryptographic: it names cache entries and checks them for damage, it
/// does not defend against someone who can write to the cache.
class Fnv1a128 {
public:
  Fnv1a128 &update(std::string_view bytes);
  /// The 8-byte length of `part`, then its bytes: a sequence of parts hashes
  /// differently from any other sequence with the same concatenation.
  Fnv1a128 &addPart(std::string_view part);
  Hash128 digest() const { return h; }

private:
  Hash128 h{0x6c62272e07bb0142ull, 0x62b821756295c58dull};
};

Hash128 fnv1a128(std::string_view bytes);

/// The identity of a cache entry: labelled parts (compiler version, flags,
/// source, ...), each hashed with its label. describe() lists them for the
/// entry's key.txt, so a person can see why two entries differ.
class CacheKey {
public:
  /// Adds one part, shown in full by describe(). Order matters.
  CacheKey &add(std::string_view label, std::string_view value);
  /// Adds one part that describe() shows as its size and hash (a source).
  CacheKey &addHashed(std::string_view label, std::string_view value);
  Hash128 hash() const { return hasher.digest(); }
  std::string hex() const { return hash().hex(); }
  /// One "label: value" line per part (newlines in a value as "\n").
  const std::string &describe() const { return text; }

private:
  Fnv1a128 hasher;
  std::string text;
};

/// $COLM_CACHE_DIR, else $HOME/.cache/colm (else /tmp/colm-cache-<uid>).
std::string cacheRoot();
/// Where compiled kernels are cached: $COLM_KERNEL_CACHE_DIR when set (so
/// that runs with separate caches otherwise can share compiled kernels, as
/// the test suite does), else cacheRoot().
std::string kernelCacheRoot();

class KernelCache {
public:
  /// Entries under `root`/kernels/`target`. `target` is a short name such as
  /// "cpu" or "cuda" (letters, digits, '-', '_').
  KernelCache(std::string root, std::string target);
  /// The cache under cacheRoot().
  static KernelCache forTarget(std::string target);

  /// root/kernels/target
  const std::string &directory() const { return dir; }
  /// Where the entry for `key` lives (whether or not it exists).
  std::string entryPath(const CacheKey &key) const;

  /// The entry's directory if it exists and every file in its manifest has
  /// the recorded size and hash; nullopt otherwise (missing or damaged; the
  /// reason, when wanted, goes to *why).
  std::optional<std::string> lookup(const CacheKey &key,
                                    std::string *why = nullptr) const;

  /// Fills a fresh, empty directory with the entry's files (top level only;
  /// subdirectories are not part of an entry).
  using Builder = std::function<Status(const std::string &tmpDir)>;

  struct Entry {
    std::string path; ///< the entry's directory
    bool hit = false; ///< true if it was not built by this call
  };

  /// The valid entry for `key`, built with `build` when there is none (or it
  /// is damaged). Processes and threads building the same key take turns on
  /// a lock file, so one builds and the others find its entry; without the
  /// lock (setLocking(false), or the lock file deleted meanwhile) all build
  /// and the first rename wins, the others use the winner's entry.
  Result<Entry> getOrBuild(const CacheKey &key, const Builder &build) const;

  /// Removes the entry for `key` (absent is fine), e.g. when its binary
  /// would not load.
  Status remove(const CacheKey &key) const;

  /// For tests of the rename race: build without taking the lock.
  void setLocking(bool on) { locking = on; }

  /// The manifest file name inside an entry.
  static constexpr const char *kManifest = "manifest";

private:
  Result<Entry> buildOnce(const CacheKey &key, const Builder &build,
                          bool &cacheVanished) const;

  std::string dir;
  bool locking = true;
};

} // namespace colm

#endif // COLM_COMPILER_CODEGEN_KERNELCACHE_H
