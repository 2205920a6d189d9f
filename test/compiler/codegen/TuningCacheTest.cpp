//===- TuningCacheTest.cpp - Autotuned knobs, per device ------------------===//
//
// The per-device store of tuned knobs: round trips, one file per device
// key, damaged files reported and ignored, saves that keep what another
// process stored. Each test has its own COLM_CACHE_DIR.
//
//===----------------------------------------------------------------------===//

#include "compiler/codegen/TuningCache.h"

#include "compiler/codegen/KernelCache.h"
#include "runtime/CpuInfo.h"
#include "runtime/File.h"
#include "test/runtime/TestUtil.h"

#include <filesystem>

using namespace colm;
using namespace colm::codegen;
using colm::test::TempDir;
using ::testing::HasSubstr;

namespace {

TuningDevice device(const std::string &key) {
  return {key, "Test CPU 9000", "avx2 fma", 2};
}

TunedKernel kernel(const std::string &shapeKey, int mr) {
  TunedKernel k;
  k.shapeKey = shapeKey;
  k.label = "q_proj forward 512x512";
  k.knobs = {mr, 32, 384, mr * 4};
  k.defaults = {12, 32, 256, 96};
  k.ms = 2.5;
  k.defaultMs = 2.75;
  k.dynamicSize = 2048;
  k.date = "2026-12-02T10:31:07Z";
  return k;
}

class TuningCacheTest : public ::testing::Test {
protected:
  void SetUp() override { ::setenv("COLM_CACHE_DIR", root().c_str(), 1); }
  void TearDown() override { ::unsetenv("COLM_CACHE_DIR"); }
  std::string root() const { return tmp.str() + "/cache"; }
  TuningCache cache(const std::string &key = "device-a") const {
    return TuningCache(root(), "cpu", device(key));
  }

  /// Loads a cache over `text` and returns what load() wrote to stderr.
  std::string loadOver(const std::string &text, TuningCache &c) {
    EXPECT_OK(makeDirectories(root() + "/tuning"));
    EXPECT_OK(writeFileAtomic(c.path(), text));
    ::testing::internal::CaptureStderr();
    c.load();
    return ::testing::internal::GetCapturedStderr();
  }

  TempDir tmp;
};

} // namespace

TEST_F(TuningCacheTest, ShapeKeyIsTheSpecWithoutItsKnobs) {
  ChainGemmSpec a = chainLinearForward({2, 2, 4}, 512, 1408);
  ChainGemmSpec b = a;
  b.knobs = {4, 64, 128, 48};
  EXPECT_EQ(a.shapeKey(), b.shapeKey());
  EXPECT_NE(a.name(), b.name());
  EXPECT_EQ(chainLinearForward({1, 1}, 64, 128).shapeKey(),
            "fwd m=d n=128 k=64 at=0 bt=1 acc=0 "
            "blocks=0-64:0-32:0-d,64-128:0-64:0-d");
  // The same ratios are the same kernel.
  EXPECT_EQ(chainLinearForward({1, 1, 2}, 512, 1408).shapeKey(), a.shapeKey());
  // Any change of the kernel itself changes the key.
  std::vector<ChainGemmSpec> others = {
      chainLinearForward({2, 2, 4}, 1408, 512),
      chainLinearForward({1, 1, 1}, 512, 1408),
      chainLinearInputGrad({2, 2, 4}, 1408, 512),
      chainLinearWeightGrad({2, 2, 4}, 512, 1408)};
  ChainGemmSpec acc = a;
  acc.accumulate = true;
  others.push_back(acc);
  for (const ChainGemmSpec &o : others)
    EXPECT_NE(o.shapeKey(), a.shapeKey()) << o.shapeKey();
}

TEST_F(TuningCacheTest, RoundTrips) {
  TuningCache c = cache();
  c.load();
  EXPECT_FALSE(c.loaded());
  EXPECT_TRUE(c.kernels().empty());
  c.store(kernel("fwd a", 8));
  c.store(kernel("dw b", 6));
  c.store(kernel("fwd a", 14)); // replaces
  ASSERT_EQ(c.kernels().size(), 2u);
  ASSERT_OK(c.save());
  EXPECT_EQ(c.path().rfind(root() + "/tuning/cpu-", 0), 0u) << c.path();

  TuningCache d = cache();
  d.load();
  EXPECT_TRUE(d.loaded());
  ASSERT_EQ(d.kernels().size(), 2u);
  ASSERT_TRUE(d.lookup("fwd a").has_value());
  EXPECT_EQ(*d.lookup("fwd a"), (GemmKnobs{14, 32, 384, 56}));
  EXPECT_EQ(*d.lookup("dw b"), (GemmKnobs{6, 32, 384, 24}));
  EXPECT_FALSE(d.lookup("dx c").has_value());
  const TunedKernel *k = d.find("dw b");
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(k->label, "q_proj forward 512x512");
  EXPECT_EQ(k->defaults, (GemmKnobs{12, 32, 256, 96}));
  EXPECT_DOUBLE_EQ(k->ms, 2.5);
  EXPECT_DOUBLE_EQ(k->defaultMs, 2.75);
  EXPECT_EQ(k->dynamicSize, 2048);
  EXPECT_EQ(k->date, "2026-12-02T10:31:07Z");
  EXPECT_FALSE(d.storedVersion().empty());

  // The file says, for people, which device it is for.
  Result<std::string> text = readFile(c.path());
  ASSERT_OK(text);
  EXPECT_THAT(*text, HasSubstr("\"device_key\": \"device-a\""));
  EXPECT_THAT(*text, HasSubstr("\"cpu_model\": \"Test CPU 9000\""));
  EXPECT_THAT(*text, HasSubstr("\"isa\": \"avx2 fma\""));
  EXPECT_THAT(*text, HasSubstr("\"threads\": 2"));
  EXPECT_THAT(*text, HasSubstr("\"colm_version\""));
}

TEST_F(TuningCacheTest, EveryDeviceKeyHasItsOwnFile) {
  TuningCache a = cache("device-a"), b = cache("device-a;threads=3");
  EXPECT_NE(a.path(), b.path());
  EXPECT_EQ(TuningCache::pathFor(root(), "cpu", "device-a"), a.path());
  EXPECT_EQ(a.path(),
            root() + "/tuning/cpu-" + fnv1a128("device-a").hex() + ".json");
  a.store(kernel("fwd a", 8));
  ASSERT_OK(a.save());
  b.load();
  EXPECT_FALSE(b.lookup("fwd a").has_value());

  // The host's cache is keyed by its deviceKey(), under COLM_CACHE_DIR.
  TuningCache host = TuningCache::forHost();
  EXPECT_EQ(host.path(),
            TuningCache::pathFor(root(), "cpu", CpuInfo::host().deviceKey()));
  EXPECT_EQ(host.device().threads, CpuInfo::host().threads);
}

TEST_F(TuningCacheTest, DamagedFilesAreReportedAndIgnored) {
  TuningCache c = cache();
  const std::string good = [&] {
    TuningCache g = cache();
    g.store(kernel("fwd a", 8));
    return g.toJson();
  }();
  struct Case {
    std::string text, warning;
  } cases[] = {
      {"", "damaged tuning cache"},
      {good.substr(0, good.size() / 2), "damaged tuning cache"},
      {"\x01\xff garbage", "damaged tuning cache"},
      {"[1, 2, 3]", "not a colm tuning cache"},
      {"{\"format\": \"something else\"}", "not a colm tuning cache"},
      {"{\"format\": \"colm-tuning-cache\", \"format_version\": 99}",
       "format version"},
      {"{\"format\": \"colm-tuning-cache\", \"format_version\": 1, "
       "\"device_key\": \"device-b\", \"kernels\": []}",
       "another device"},
      {"{\"format\": \"colm-tuning-cache\", \"format_version\": 1, "
       "\"device_key\": \"device-a\", \"kernels\": 7}",
       "no \"kernels\" array"},
  };
  for (const Case &k : cases) {
    std::string err = loadOver(k.text, c);
    EXPECT_THAT(err, HasSubstr("warning")) << k.text;
    EXPECT_THAT(err, HasSubstr(k.warning)) << k.text;
    EXPECT_TRUE(c.kernels().empty()) << k.text;
    EXPECT_FALSE(c.lookup("fwd a").has_value());
  }
  // The next save replaces a damaged file with a good one.
  loadOver("{ not json", c);
  c.store(kernel("fwd a", 8));
  ASSERT_OK(c.save());
  TuningCache d = cache();
  ::testing::internal::CaptureStderr();
  d.load();
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
  EXPECT_TRUE(d.lookup("fwd a").has_value());
}

TEST_F(TuningCacheTest, MalformedEntriesAreSkipped) {
  TuningCache c = cache();
  std::string text =
      "{\"format\": \"colm-tuning-cache\", \"format_version\": 1, "
      "\"device_key\": \"device-a\", \"kernels\": ["
      "{\"shape_key\": \"good\", \"knobs\": {\"mr\": 8, \"nr\": 32, \"kc\": "
      "256, \"mc\": 96}},"
      "{\"shape_key\": \"no knobs\"},"
      "{\"shape_key\": \"bad knobs\", \"knobs\": {\"mr\": -1, \"nr\": 32, "
      "\"kc\": 256, \"mc\": 96}},"
      "{\"knobs\": {\"mr\": 8, \"nr\": 32, \"kc\": 256, \"mc\": 96}},"
      "\"not an object\"]}";
  std::string err = loadOver(text, c);
  EXPECT_THAT(err, HasSubstr("kernel 1 has no shape key or knobs; skipped"));
  EXPECT_THAT(err, HasSubstr("kernel 4"));
  ASSERT_EQ(c.kernels().size(), 1u);
  EXPECT_EQ(*c.lookup("good"), (GemmKnobs{8, 32, 256, 96}));
}

TEST_F(TuningCacheTest, SaveKeepsWhatAnotherProcessStored) {
  TuningCache first = cache(), second = cache();
  first.load();
  second.load();
  first.store(kernel("fwd a", 8));
  ASSERT_OK(first.save());
  second.store(kernel("dw b", 6));
  ASSERT_OK(second.save());
  TuningCache c = cache();
  c.load();
  EXPECT_TRUE(c.lookup("fwd a").has_value());
  EXPECT_TRUE(c.lookup("dw b").has_value());
}

TEST_F(TuningCacheTest, ClearRemovesTheFile) {
  TuningCache c = cache();
  Result<bool> none = c.clear();
  ASSERT_OK(none);
  EXPECT_FALSE(*none);
  c.store(kernel("fwd a", 8));
  ASSERT_OK(c.save());
  EXPECT_TRUE(std::filesystem::exists(c.path()));
  Result<bool> removed = c.clear();
  ASSERT_OK(removed);
  EXPECT_TRUE(*removed);
  EXPECT_FALSE(std::filesystem::exists(c.path()));
  EXPECT_TRUE(c.kernels().empty());
}
