//===- CpuInfo.h - What the host CPU can do ---------------------*- C++ -*-===//
//
// Detected once from cpuid (with the OS's xgetbv state, so a feature the
// kernel does not save is reported absent) and sysfs. Machines vary (Zen 4,
// Xeon, VMs that mask features): kernels and caches read this, never assume.
//
//===----------------------------------------------------------------------===//

#ifndef COLM_RUNTIME_CPUINFO_H
#define COLM_RUNTIME_CPUINFO_H

#include <cstdint>
#include <string>

namespace colm {

struct CpuInfo {
  std::string vendor; ///< "GenuineIntel", "AuthenticAMD", ...
  std::string model;  ///< brand string, else /proc/cpuinfo "model name"
  int family = 0, modelNumber = 0, stepping = 0; ///< cpuid leaf 1, extended

  // Usable ISA: the CPU has it and the OS saves its register state.
  bool sse42 = false, popcnt = false, avx = false, f16c = false, fma = false,
       bmi2 = false, avx2 = false, avxvnni = false;
  bool avx512f = false, avx512dq = false, avx512cd = false, avx512bw = false,
       avx512vl = false, avx512vnni = false, avx512vbmi = false,
       avx512bf16 = false, avx512fp16 = false;
  // Hardware and OS support; Linux still wants arch_prctl(ARCH_REQ_XCOMP_PERM)
  // from a process before its first AMX instruction.
  bool amxtile = false, amxbf16 = false, amxint8 = false;

  /// Raw cpuid feature words and XCR0, hex: what `-march=native` can see,
  /// including features the flags above do not name.
  std::string featureWords;

  int64_t l1dBytes = 0, l2Bytes = 0, l3Bytes = 0; ///< per cpu0; 0 if unknown
  int logicalCores = 1; ///< online CPUs of the machine
  /// Threads this process should use: its sched_getaffinity mask, or
  /// COLM_THREADS when that is a positive integer.
  int threads = 1;

  /// The host, detected on first use.
  static const CpuInfo &host();
  /// Whether AMX-BF16 kernels may run in this process: the host has it and
  /// Linux granted the tile state (arch_prctl(ARCH_REQ_XCOMP_PERM), asked
  /// once). COLM_AMX=0 turns AMX off (generated kernels then use AVX-512).
  static bool amxUsable();
  /// Detects afresh (reads COLM_THREADS again).
  static CpuInfo detect();

  /// "avx2 fma avx512f avx512bw ..." (the usable flags above, in order).
  std::string isaSummary() const;
  /// Everything that changes compiled code: vendor, model, family/model/
  /// stepping, ISA, feature words, cache sizes. For compile caches.
  std::string targetKey() const;
  /// targetKey() plus the thread count: for autotuning results, which
  /// depend on both.
  std::string deviceKey() const;
};

/// Parses a COLM_THREADS value: a positive integer (at most 65536), else 0.
int parseThreadCount(const char *text);

} // namespace colm

#endif // COLM_RUNTIME_CPUINFO_H
