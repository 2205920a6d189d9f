//===- CpuInfoTest.cpp - Host CPU detection -------------------------------===//

#include "runtime/CpuInfo.h"

#include "runtime/File.h"

#include "TestUtil.h"

#include <set>
#include <sstream>

using namespace colm;

namespace {

/// Sets an environment variable for one scope, restoring the old value.
class ScopedEnv {
public:
  ScopedEnv(const char *name, const char *value) : name(name) {
    if (const char *old = std::getenv(name))
      saved = old;
    if (value)
      ::setenv(name, value, 1);
    else
      ::unsetenv(name);
  }
  ~ScopedEnv() {
    if (saved)
      ::setenv(name, saved->c_str(), 1);
    else
      ::unsetenv(name);
  }

private:
  const char *name;
  std::optional<std::string> saved;
};

/// The "flags" of the first processor in /proc/cpuinfo (what Linux lets
/// programs use), empty where there is none.
std::set<std::string> linuxFlags() {
  std::set<std::string> flags;
  Result<std::string> text = readFile("/proc/cpuinfo", 64 << 20);
  if (!text)
    return flags;
  std::istringstream in(*text);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("flags", 0) == 0) {
      std::istringstream words(line.substr(line.find(':') + 1));
      for (std::string w; words >> w;)
        flags.insert(w);
      break;
    }
  return flags;
}

} // namespace

TEST(CpuInfoTest, HostIsSane) {
  const CpuInfo &cpu = CpuInfo::host();
  EXPECT_FALSE(cpu.vendor.empty());
  EXPECT_FALSE(cpu.model.empty());
  EXPECT_GE(cpu.logicalCores, 1);
  EXPECT_GE(cpu.threads, 1);
  if (!std::getenv("COLM_THREADS"))
    EXPECT_LE(cpu.threads, cpu.logicalCores);
  EXPECT_EQ(&cpu, &CpuInfo::host()) << "detected once";
}

TEST(CpuInfoTest, FlagsImplyTheirPrerequisites) {
  const CpuInfo &c = CpuInfo::host();
  if (c.avx2 || c.fma || c.f16c)
    EXPECT_TRUE(c.avx);
  for (bool f : {c.avx512dq, c.avx512cd, c.avx512bw, c.avx512vl, c.avx512vnni,
                 c.avx512vbmi, c.avx512bf16, c.avx512fp16})
    if (f)
      EXPECT_TRUE(c.avx512f);
  if (c.avx512f)
    EXPECT_TRUE(c.avx);
  if (c.amxbf16 || c.amxint8)
    EXPECT_TRUE(c.amxtile);
}

#if defined(__x86_64__)
// cpuid + xgetbv must agree with what the kernel reports.
TEST(CpuInfoTest, AgreesWithProcCpuinfo) {
  std::set<std::string> kernelFlags = linuxFlags();
  if (kernelFlags.empty())
    GTEST_SKIP() << "no flags line in /proc/cpuinfo";
  const CpuInfo &c = CpuInfo::host();
  struct Flag {
    bool ours;
    const char *name;
    bool oldFlag; // every kernel colm runs on knows it
  };
  const Flag flags[] = {
      {c.sse42, "sse4_2", true},
      {c.avx, "avx", true},
      {c.avx2, "avx2", true},
      {c.fma, "fma", true},
      {c.f16c, "f16c", true},
      {c.bmi2, "bmi2", true},
      {c.avx512f, "avx512f", true},
      {c.avx512dq, "avx512dq", true},
      {c.avx512cd, "avx512cd", true},
      {c.avx512bw, "avx512bw", true},
      {c.avx512vl, "avx512vl", true},
      {c.avx512vbmi, "avx512vbmi", false},
      {c.avx512vnni, "avx512_vnni", false},
      {c.avx512bf16, "avx512_bf16", false},
      {c.avx512fp16, "avx512_fp16", false},
      {c.avxvnni, "avx_vnni", false},
      {c.amxtile, "amx_tile", false},
      {c.amxbf16, "amx_bf16", false},
      {c.amxint8, "amx_int8", false},
  };
  for (const Flag &f : flags) {
    bool theirs = kernelFlags.count(f.name) != 0;
    if (theirs)
      EXPECT_TRUE(f.ours) << f.name << " is in /proc/cpuinfo";
    else if (f.oldFlag)
      EXPECT_FALSE(f.ours) << f.name << " is not in /proc/cpuinfo";
  }
  EXPECT_FALSE(c.featureWords.empty());
}
#endif

TEST(CpuInfoTest, CacheSizesArePlausible) {
  const CpuInfo &c = CpuInfo::host();
#if defined(__x86_64__)
  EXPECT_GE(c.l1dBytes, 8 << 10);
  EXPECT_LE(c.l1dBytes, 4 << 20);
  EXPECT_GE(c.l2Bytes, c.l1dBytes);
#endif
  EXPECT_GE(c.l3Bytes, 0);
}

TEST(CpuInfoTest, SummaryListsTheFlags) {
  const CpuInfo &c = CpuInfo::host();
  std::string isa = " " + c.isaSummary() + " ";
  EXPECT_EQ(isa.find(" avx2 ") != std::string::npos, c.avx2);
  EXPECT_EQ(isa.find(" avx512f ") != std::string::npos, c.avx512f);
  EXPECT_EQ(isa.find(" avx512bf16 ") != std::string::npos, c.avx512bf16);
}

TEST(CpuInfoTest, KeysAreStableAndDeviceKeyHasTheThreadCount) {
  ScopedEnv env("COLM_THREADS", nullptr);
  CpuInfo a = CpuInfo::detect(), b = CpuInfo::detect();
  EXPECT_EQ(a.deviceKey(), b.deviceKey());
  EXPECT_EQ(a.targetKey(), b.targetKey());
  EXPECT_THAT(a.deviceKey(), ::testing::StartsWith(a.targetKey()));
  EXPECT_THAT(a.deviceKey(),
              ::testing::HasSubstr("threads=" + std::to_string(a.threads)));
  EXPECT_THAT(a.targetKey(), ::testing::HasSubstr(a.model));
  EXPECT_THAT(a.targetKey(),
              ::testing::HasSubstr("l1d=" + std::to_string(a.l1dBytes)));
}

TEST(CpuInfoTest, ColmThreadsOverridesTheThreadCount) {
  CpuInfo base;
  {
    ScopedEnv env("COLM_THREADS", nullptr);
    base = CpuInfo::detect();
  }
  {
    ScopedEnv env("COLM_THREADS", "3");
    CpuInfo c = CpuInfo::detect();
    EXPECT_EQ(c.threads, 3);
    EXPECT_EQ(c.targetKey(), base.targetKey()) << "threads do not change code";
    EXPECT_NE(c.deviceKey(), base.deviceKey());
  }
  {
    ScopedEnv env("COLM_THREADS", "lots");
    ::testing::internal::CaptureStderr();
    CpuInfo c = CpuInfo::detect();
    std::string err = ::testing::internal::GetCapturedStderr();
    EXPECT_EQ(c.threads, base.threads);
    EXPECT_THAT(err, ::testing::HasSubstr("ignoring COLM_THREADS='lots'"));
  }
}

TEST(CpuInfoTest, ParsesThreadCounts) {
  EXPECT_EQ(parseThreadCount("1"), 1);
  EXPECT_EQ(parseThreadCount("64"), 64);
  EXPECT_EQ(parseThreadCount(nullptr), 0);
  EXPECT_EQ(parseThreadCount(""), 0);
  EXPECT_EQ(parseThreadCount("0"), 0);
  EXPECT_EQ(parseThreadCount("-2"), 0);
  EXPECT_EQ(parseThreadCount("4x"), 0);
  EXPECT_EQ(parseThreadCount("99999999999999999999"), 0);
}
