//===- TuningCache.h - Autotuned kernel knobs, per device -------*- C++ -*-===//
//
// Target-independent: the knobs `colm tune` measured best for each kernel on
// one device, in one JSON file per device,
//   $COLM_CACHE_DIR/tuning/<target>-<hash of the device key>.json
// The device key (CpuInfo::deviceKey(): CPU model, ISA, feature words, cache
// sizes, threads; a GPU's name, architecture and driver version) names the
// file, so another machine or thread count never
// reads these results. A damaged file is reported on stderr and treated as
// empty; deleting it at any time is safe (compilation falls back to the
// defaults).
//
//===----------------------------------------------------------------------===//

#ifndef COLM_COMPILER_CODEGEN_TUNINGCACHE_H
#define COLM_COMPILER_CODEGEN_TUNINGCACHE_H

#include "compiler/codegen/ChainGemm.h"
#include "runtime/Status.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace colm {
struct CpuInfo;
} // namespace colm

namespace colm::codegen {

/// The device a cache belongs to, as stored in its file. Only `key` decides
/// which file; the rest is there for people reading it.
struct TuningDevice {
  std::string key;   ///< CpuInfo::deviceKey() (or a GPU's equivalent)
  std::string model; ///< "AMD EPYC 9B45"
  std::string isa;   ///< CpuInfo::isaSummary()
  int threads = 1;

  static TuningDevice fromCpu(const CpuInfo &cpu);
  /// A GPU: its name, architecture ("sm_90") and driver version (13000)
  /// make the key, so another GPU or a driver update tunes again.
  static TuningDevice fromGpu(const std::string &name, const std::string &arch,
                              int driverVersion);
};

/// One tuned kernel.
struct TunedKernel {
  std::string shapeKey;    ///< ChainGemmSpec::shapeKey()
  std::string label;       ///< for people: "gate_proj/up_proj forward 1408x512"
  GemmKnobs knobs;         ///< the winner
  GemmKnobs defaults;      ///< the defaults it was measured against
  double ms = 0;           ///< the winner's median ms per launch
  double defaultMs = 0;    ///< the defaults' median ms per launch
  int64_t dynamicSize = 0; ///< tokens it was measured at
  std::string date;        ///< UTC, "2026-12-02T10:31:07Z"
};

class TuningCache {
public:
  /// The cache of `target` ("cpu") for `device` under `root`/tuning.
  TuningCache(std::string root, std::string target, TuningDevice device);
  /// The CPU cache of this host (cacheRoot(), CpuInfo::host()), not loaded.
  static TuningCache forHost();
  /// The CUDA cache of a GPU (TuningDevice::fromGpu) under cacheRoot().
  static TuningCache forGpu(const TuningDevice &device);

  /// root/tuning/<target>-<32 hex digits of the device key's hash>.json
  static std::string pathFor(const std::string &root, const std::string &target,
                             const std::string &deviceKey);
  const std::string &path() const { return file; }
  const TuningDevice &device() const { return dev; }
  /// The colm version that wrote the loaded file ("" when none was loaded).
  const std::string &storedVersion() const { return version; }

  /// Reads the file. Missing: empty. Damaged, or written for another
  /// device: a warning on stderr, then empty (the next save() replaces it).
  /// Entries that are malformed are skipped with a warning. Never fails.
  void load();
  /// True when load() found a readable file.
  bool loaded() const { return fromFile; }
  /// Writes the file atomically (creating its directory). Entries stored in
  /// the file meanwhile by another process are kept unless replaced here.
  Status save() const;
  /// Removes the file; true when there was one.
  Result<bool> clear();

  /// The tuned knobs for a kernel, if stored.
  std::optional<GemmKnobs> lookup(const std::string &shapeKey) const;
  const TunedKernel *find(const std::string &shapeKey) const;
  /// Adds or replaces (same shape key) one result.
  void store(TunedKernel kernel);
  const std::vector<TunedKernel> &kernels() const { return entries; }

  /// The file's content (what save() writes).
  std::string toJson() const;

private:
  /// Parses `text`; warnings name `file`. `quiet` drops them (save()'s
  /// re-read of a file load() already reported on).
  void parse(const std::string &text, bool quiet);

  std::string root, target, file;
  TuningDevice dev;
  std::string version;
  std::vector<TunedKernel> entries;
  bool fromFile = false;
};

/// "2026-12-02T10:31:07Z" for now.
std::string utcTimestamp();

} // namespace colm::codegen

#endif // COLM_COMPILER_CODEGEN_TUNINGCACHE_H
