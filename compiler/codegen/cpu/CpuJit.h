//===- CpuJit.h - Compile rendered C++ kernels and load them ----*- C++ -*-===//
//
// Kernels rendered as C++ source are compiled by the host compiler into
// shared objects, in parallel, cached in the KernelCache (target "cpu") and
// loaded with dlopen. No MLIR: the compiler is a separate process.
//
// Environment: COLM_CXX (the compiler), COLM_CACHE_DIR, COLM_DUMP_KERNELS=DIR
// (writes DIR/<name>.cpp), COLM_KERNEL_OVERRIDE_DIR=DIR (compiles
// DIR/<name>.cpp instead of the generated source when it exists).
//
//===----------------------------------------------------------------------===//

#ifndef COLM_COMPILER_CODEGEN_CPU_CPUJIT_H
#define COLM_COMPILER_CODEGEN_CPU_CPUJIT_H

#include "compiler/codegen/KernelCache.h"
#include "runtime/DynamicLibrary.h"
#include "runtime/Status.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace colm {

struct KernelSource {
  /// The kernel's file name in dumps and overrides (letters, digits, '_',
  /// '-', '.'); by convention also the prefix of its symbols.
  std::string name;
  std::string source; ///< a complete C++17 translation unit
};

/// Counts and times over every compile() of one CpuJit.
struct JitStats {
  int64_t requested = 0;     ///< kernels asked for
  int64_t cacheHits = 0;     ///< found in the cache (requested - compiled)
  int64_t compiled = 0;      ///< built by this process
  int64_t overridden = 0;    ///< taken from COLM_KERNEL_OVERRIDE_DIR
  double compileSeconds = 0; ///< wall time compiling the misses (parallel)
  double loadSeconds = 0;    ///< wall time checking cache entries + dlopen
  /// "4 kernels: 1 cached, 3 compiled in 520.3 ms; loaded in 1.2 ms"
  std::string summary() const;
};

struct CpuJitOptions {
  /// The compiler command, split at white space ("ccache clang++-19" works).
  /// Empty: clang++-19, else c++, found on PATH.
  std::string compiler;
  std::string cacheRoot;   ///< where KernelCache("cpu") lives
  std::string dumpDir;     ///< "" = no dump
  std::string overrideDir; ///< "" = no overrides
  int jobs = 0;            ///< parallel compiles; 0 = CpuInfo::host().threads
  /// $COLM_CXX, cacheRoot(), $COLM_DUMP_KERNELS, $COLM_KERNEL_OVERRIDE_DIR.
  static CpuJitOptions fromEnvironment();
};

class CpuJit {
public:
  /// The flags every kernel is compiled with, before the extra ones.
  static std::vector<std::string> baseFlags();

  /// create(CpuJitOptions::fromEnvironment()).
  static Result<CpuJit> create();
  /// Finds the compiler and runs `<compiler> --version` once (for the key).
  static Result<CpuJit> create(CpuJitOptions options);

  /// One loaded library per source, in order. Cache hits load at once; the
  /// misses compile in parallel (at most `jobs` compilers at a time). A
  /// compile error names the kernel, quotes the compiler's first error lines
  /// and gives the path of the source it compiled and of the full log.
  Result<std::vector<std::shared_ptr<DynamicLibrary>>>
  compile(const std::vector<KernelSource> &kernels,
          const std::vector<std::string> &extraFlags = {});

  /// The cache key of one source: colm version, compiler path and version,
  /// every flag, the CPU's targetKey() (for -march=native) and the source.
  CacheKey keyFor(const std::string &source,
                  const std::vector<std::string> &extraFlags = {}) const;

  const JitStats &stats() const { return jitStats; }
  const KernelCache &cache() const { return kernelCache; }
  /// The resolved compiler command; argv[0] is an absolute path.
  const std::vector<std::string> &compilerCommand() const { return command; }
  /// The first line of `<compiler> --version`.
  std::string compilerVersionLine() const;

private:
  CpuJit(CpuJitOptions options, std::vector<std::string> command,
         std::string version);

  CpuJitOptions opts;
  std::vector<std::string> command;
  std::string version;
  KernelCache kernelCache;
  JitStats jitStats;
};

} // namespace colm

#endif // COLM_COMPILER_CODEGEN_CPU_CPUJIT_H
