//===- CpuInfo.cpp - What the host CPU can do -----------------------------===//

#include "runtime/CpuInfo.h"

#include "runtime/File.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define COLM_X86 1
#endif

namespace colm {

int parseThreadCount(const char *text) {
  if (!text || !*text)
    return 0;
  errno = 0;
  char *end = nullptr;
  long v = std::strtol(text, &end, 10);
  if (errno != 0 || *end != '\0' || v < 1 || v > 65536)
    return 0;
  return static_cast<int>(v);
}

static std::string trim(std::string s) {
  size_t b = s.find_first_not_of(" \t\n");
  if (b == std::string::npos)
    return "";
  size_t e = s.find_last_not_of(" \t\n");
  return s.substr(b, e - b + 1);
}

/// The value of the first "key : value" line of /proc/cpuinfo, or "".
static std::string procCpuinfoField(const std::string &key) {
  Result<std::string> text = readFile("/proc/cpuinfo", 64 << 20);
  if (!text)
    return "";
  size_t pos = 0;
  while (pos < text->size()) {
    size_t nl = text->find('\n', pos);
    if (nl == std::string::npos)
      nl = text->size();
    std::string line = text->substr(pos, nl - pos);
    pos = nl + 1;
    size_t colon = line.find(':');
    if (colon != std::string::npos && trim(line.substr(0, colon)) == key)
      return trim(line.substr(colon + 1));
  }
  return "";
}

/// "48K", "1024K", "32M" -> bytes; 0 when unreadable.
static int64_t parseCacheSize(const std::string &text) {
  std::string s = trim(text);
  if (s.empty())
    return 0;
  char *end = nullptr;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (v <= 0)
    return 0;
  switch (*end) {
  case 'K':
    return v << 10;
  case 'M':
    return v << 20;
  case 'G':
    return v << 30;
  case '\0':
    return v;
  default:
    return 0;
  }
}

static void cachesFromSysfs(CpuInfo &info) {
  for (int i = 0; i < 16; ++i) {
    std::string dir =
        "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(i) + "/";
    Result<std::string> level = readFile(dir + "level", 4096);
    if (!level)
      break;
    Result<std::string> type = readFile(dir + "type", 4096);
    Result<std::string> size = readFile(dir + "size", 4096);
    if (!type || !size)
      continue;
    std::string t = trim(*type);
    int64_t bytes = parseCacheSize(*size);
    int lv = std::atoi(level->c_str());
    if (lv == 1 && t == "Data")
      info.l1dBytes = bytes;
    else if (lv == 2 && t != "Instruction")
      info.l2Bytes = bytes;
    else if (lv == 3 && t != "Instruction")
      info.l3Bytes = bytes;
  }
}

#ifdef COLM_X86
static bool cpuid(unsigned leaf, unsigned sub, unsigned r[4]) {
  return __get_cpuid_count(leaf, sub, &r[0], &r[1], &r[2], &r[3]) != 0;
}

static uint64_t xgetbv0() {
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

/// Deterministic cache parameters (leaf 4 on Intel, 0x8000001D on AMD), for
/// when sysfs has none (some containers hide it).
static void cachesFromCpuid(CpuInfo &info, unsigned leaf) {
  unsigned r[4];
  for (unsigned i = 0; i < 16 && cpuid(leaf, i, r); ++i) {
    unsigned type = r[0] & 0x1f, level = (r[0] >> 5) & 7;
    if (type == 0)
      break;
    int64_t bytes = int64_t((r[1] >> 22) + 1) * (((r[1] >> 12) & 0x3ff) + 1) *
                    ((r[1] & 0xfff) + 1) * (int64_t(r[2]) + 1);
    if (level == 1 && type == 1 && !info.l1dBytes)
      info.l1dBytes = bytes;
    else if (level == 2 && type != 2 && !info.l2Bytes)
      info.l2Bytes = bytes;
    else if (level == 3 && type != 2 && !info.l3Bytes)
      info.l3Bytes = bytes;
  }
}

static void detectX86(CpuInfo &info) {
  unsigned r[4] = {0, 0, 0, 0};
  if (!cpuid(0, 0, r))
    return;
  unsigned maxLeaf = r[0];
  char vendor[13];
  std::memcpy(vendor, &r[1], 4);
  std::memcpy(vendor + 4, &r[3], 4);
  std::memcpy(vendor + 8, &r[2], 4);
  vendor[12] = '\0';
  info.vendor = vendor;

  unsigned l1[4] = {0, 0, 0, 0}, l7[4] = {0, 0, 0, 0}, l71[4] = {0, 0, 0, 0},
           e1[4] = {0, 0, 0, 0};
  cpuid(1, 0, l1);
  if (maxLeaf >= 7) {
    cpuid(7, 0, l7);
    if (l7[0] >= 1)
      cpuid(7, 1, l71);
  }
  unsigned ext[4] = {0, 0, 0, 0};
  cpuid(0x80000000, 0, ext);
  unsigned maxExt = ext[0];
  if (maxExt >= 0x80000001)
    cpuid(0x80000001, 0, e1);

  unsigned baseFamily = (l1[0] >> 8) & 0xf, baseModel = (l1[0] >> 4) & 0xf;
  info.family =
      int(baseFamily == 0xf ? baseFamily + ((l1[0] >> 20) & 0xff) : baseFamily);
  info.modelNumber = int(baseFamily == 0x6 || baseFamily == 0xf
                             ? (((l1[0] >> 16) & 0xf) << 4) | baseModel
                             : baseModel);
  info.stepping = int(l1[0] & 0xf);

  if (maxExt >= 0x80000004) {
    unsigned regs[12] = {0};
    for (unsigned i = 0; i < 3; ++i)
      cpuid(0x80000002 + i, 0, regs + 4 * i);
    char brand[49] = {0};
    std::memcpy(brand, regs, 48);
    info.model = trim(brand);
  }

  auto bit = [](unsigned word, int b) { return ((word >> b) & 1u) != 0; };
  bool osxsave = bit(l1[2], 27);
  uint64_t xcr0 = osxsave ? xgetbv0() : 0;
  // The OS saves YMM (bits 1, 2); opmask + ZMM (5, 6, 7); tiles (17, 18).
  bool osAvx = (xcr0 & 0x6) == 0x6;
  bool osAvx512 = osAvx && (xcr0 & 0xe0) == 0xe0;
  bool osAmx = (xcr0 & 0x60000) == 0x60000;

  info.sse42 = bit(l1[2], 20);
  info.popcnt = bit(l1[2], 23);
  info.avx = osAvx && bit(l1[2], 28);
  info.f16c = info.avx && bit(l1[2], 29);
  info.fma = info.avx && bit(l1[2], 12);
  info.bmi2 = bit(l7[1], 8);
  info.avx2 = info.avx && bit(l7[1], 5);
  info.avxvnni = info.avx2 && bit(l71[0], 4);
  info.avx512f = osAvx512 && bit(l7[1], 16);
  info.avx512dq = info.avx512f && bit(l7[1], 17);
  info.avx512cd = info.avx512f && bit(l7[1], 28);
  info.avx512bw = info.avx512f && bit(l7[1], 30);
  info.avx512vl = info.avx512f && bit(l7[1], 31);
  info.avx512vbmi = info.avx512f && bit(l7[2], 1);
  info.avx512vnni = info.avx512f && bit(l7[2], 11);
  info.avx512bf16 = info.avx512f && bit(l71[0], 5);
  info.avx512fp16 = info.avx512f && bit(l7[3], 23);
  info.amxtile = osAmx && bit(l7[3], 24);
  info.amxbf16 = info.amxtile && bit(l7[3], 22);
  info.amxint8 = info.amxtile && bit(l7[3], 25);

  // Leaf 1 EBX holds the APIC id of the calling core: left out, it varies.
  char words[160];
  std::snprintf(words, sizeof(words),
                "%08x.%08x.%08x.%08x.%08x.%08x.%08x.%08x.%016llx", l1[0], l1[2],
                l1[3], l7[1], l7[2], l7[3], l71[0], e1[2],
                static_cast<unsigned long long>(xcr0));
  info.featureWords = words;

  cachesFromSysfs(info);
  if (!info.l1dBytes || !info.l2Bytes || !info.l3Bytes) {
    if (info.vendor == "AuthenticAMD" && maxExt >= 0x8000001d)
      cachesFromCpuid(info, 0x8000001d);
    else if (maxLeaf >= 4)
      cachesFromCpuid(info, 4);
  }
}
#endif

static int affinityThreads() {
  // A dynamic set: machines with more than CPU_SETSIZE (1024) CPUs exist.
  for (int n = 1024; n <= (1 << 16); n *= 4) {
    cpu_set_t *set = CPU_ALLOC(n);
    if (!set)
      return 0;
    size_t bytes = CPU_ALLOC_SIZE(n);
    CPU_ZERO_S(bytes, set);
    if (::sched_getaffinity(0, bytes, set) == 0) {
      int count = CPU_COUNT_S(bytes, set);
      CPU_FREE(set);
      return count;
    }
    CPU_FREE(set);
    if (errno != EINVAL)
      return 0;
  }
  return 0;
}

CpuInfo CpuInfo::detect() {
  CpuInfo info;
#ifdef COLM_X86
  detectX86(info);
#else
  cachesFromSysfs(info);
#endif
  if (info.vendor.empty())
    info.vendor = procCpuinfoField("vendor_id");
  if (info.vendor.empty())
    info.vendor = "unknown";
  if (info.model.empty())
    info.model = procCpuinfoField("model name");
  if (info.model.empty())
    info.model = "unknown";

  long online = ::sysconf(_SC_NPROCESSORS_ONLN);
  info.logicalCores = online > 0 ? int(online) : 1;
  int affinity = affinityThreads();
  info.threads = affinity > 0 ? affinity : info.logicalCores;
  if (const char *env = std::getenv("COLM_THREADS"); env && *env) {
    if (int n = parseThreadCount(env))
      info.threads = n;
    else
      std::fprintf(stderr,
                   "colm: ignoring COLM_THREADS='%s': not a positive integer "
                   "(using %d threads)\n",
                   env, info.threads);
  }
  return info;
}

const CpuInfo &CpuInfo::host() {
  static const CpuInfo info = detect();
  return info;
}

bool CpuInfo::amxUsable() {
  static const bool usable = [] {
    const char *env = std::getenv("COLM_AMX");
    if (env && std::strcmp(env, "0") == 0)
      return false;
    if (!host().amxbf16)
      return false;
#if defined(__linux__) && defined(__x86_64__)
    // ARCH_REQ_XCOMP_PERM for XFEATURE_XTILEDATA: the tile data is
    // dynamically enabled state that a process must ask for.
    return ::syscall(SYS_arch_prctl, 0x1023, 18) == 0;
#else
    return false;
#endif
  }();
  return usable;
}

std::string CpuInfo::isaSummary() const {
  const std::pair<bool, const char *> flags[] = {
      {sse42, "sse4.2"},
      {popcnt, "popcnt"},
      {avx, "avx"},
      {f16c, "f16c"},
      {fma, "fma"},
      {bmi2, "bmi2"},
      {avx2, "avx2"},
      {avxvnni, "avxvnni"},
      {avx512f, "avx512f"},
      {avx512dq, "avx512dq"},
      {avx512cd, "avx512cd"},
      {avx512bw, "avx512bw"},
      {avx512vl, "avx512vl"},
      {avx512vbmi, "avx512vbmi"},
      {avx512vnni, "avx512vnni"},
      {avx512bf16, "avx512bf16"},
      {avx512fp16, "avx512fp16"},
      {amxtile, "amx-tile"},
      {amxbf16, "amx-bf16"},
      {amxint8, "amx-int8"},
  };
  std::string s;
  for (const auto &[on, name] : flags)
    if (on) {
      if (!s.empty())
        s += ' ';
      s += name;
    }
  return s;
}

std::string CpuInfo::targetKey() const {
  return "vendor=" + vendor + ";model=" + model +
         ";fms=" + std::to_string(family) + "." + std::to_string(modelNumber) +
         "." + std::to_string(stepping) + ";isa=" + isaSummary() +
         ";features=" + featureWords + ";l1d=" + std::to_string(l1dBytes) +
         ";l2=" + std::to_string(l2Bytes) + ";l3=" + std::to_string(l3Bytes);
}

std::string CpuInfo::deviceKey() const {
  return targetKey() + ";threads=" + std::to_string(threads);
}

} // namespace colm
