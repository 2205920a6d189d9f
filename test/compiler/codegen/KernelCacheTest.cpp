//===- KernelCacheTest.cpp - Content-addressed kernel cache ---------------===//

#include "compiler/codegen/KernelCache.h"

#include "runtime/File.h"
#include "test/runtime/TestUtil.h"

#include <atomic>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace colm;
using colm::test::TempDir;

namespace {

std::string read(const std::string &path) {
  Result<std::string> r = readFile(path);
  return r ? *r : "<unreadable>";
}

CacheKey keyOf(const std::string &source) {
  CacheKey k;
  k.add("test", "1").add("source", source);
  return k;
}

/// A builder that writes one file and counts its calls.
struct CountingBuilder {
  std::atomic<int> calls{0};
  std::string content = "binary bytes";
  KernelCache::Builder fn() {
    return [this](const std::string &tmp) -> Status {
      ++calls;
      return writeFileAtomic(tmp + "/kernel.so", content);
    };
  }
};

} // namespace

//===----------------------------------------------------------------------===//
// Hashing
//===----------------------------------------------------------------------===//

// Vectors from the FNV reference (and a Python FNV-1a implementation).
TEST(KernelCacheTest, Fnv1a128MatchesReferenceVectors) {
  EXPECT_EQ(fnv1a128("").hex(), "6c62272e07bb014262b821756295c58d");
  EXPECT_EQ(fnv1a128("a").hex(), "d228cb696f1a8caf78912b704e4a8964");
  EXPECT_EQ(fnv1a128("foobar").hex(), "343e1662793c64bf6f0d3597ba446f18");
  EXPECT_EQ(fnv1a128("chongo was here!\n").hex(),
            "d09f538fec03781a034e1e32bab19a75");
  std::string bytes;
  for (int r = 0; r < 4; ++r)
    for (int i = 0; i < 256; ++i)
      bytes += char(i);
  EXPECT_EQ(fnv1a128(bytes).hex(), "a14176b4fa8be677563f36da8584718d");
}

TEST(KernelCacheTest, HashingInPiecesEqualsHashingAtOnce) {
  Fnv1a128 h;
  h.update("foo").update("").update("bar");
  EXPECT_EQ(h.digest(), fnv1a128("foobar"));
}

TEST(KernelCacheTest, PartsAreLengthPrefixed) {
  Fnv1a128 a, b;
  a.addPart("ab").addPart("c");
  b.addPart("a").addPart("bc");
  EXPECT_NE(a.digest(), b.digest());
  EXPECT_EQ(a.digest().hex(), "b6ce7db35a06e7457857fa227a8bde4e");
}

TEST(KernelCacheTest, KeysDependOnEveryPartLabelAndOrder) {
  auto key = [](std::vector<std::pair<std::string, std::string>> parts) {
    CacheKey k;
    for (auto &[l, v] : parts)
      k.add(l, v);
    return k.hex();
  };
  std::string base = key({{"flags", "-O3"}, {"source", "int x;"}});
  EXPECT_EQ(base, key({{"flags", "-O3"}, {"source", "int x;"}}));
  EXPECT_EQ(base.size(), 32u);
  EXPECT_NE(base, key({{"flags", "-O2"}, {"source", "int x;"}}));
  EXPECT_NE(base, key({{"flags", "-O3"}, {"source", "int y;"}}));
  EXPECT_NE(base, key({{"source", "int x;"}, {"flags", "-O3"}}));
  EXPECT_NE(base, key({{"flag", "-O3"}, {"source", "int x;"}}));
}

TEST(KernelCacheTest, KeyDescriptionShowsPartsOrTheirHashes) {
  CacheKey k;
  k.add("compiler", "clang++-19\nline 2")
      .addHashed("source", "line 1\nline 2\n");
  EXPECT_THAT(k.describe(),
              ::testing::HasSubstr("compiler: clang++-19\\nline 2\n"));
  EXPECT_THAT(k.describe(),
              ::testing::HasSubstr("source: 14 bytes, fnv1a128 " +
                                   fnv1a128("line 1\nline 2\n").hex()));
}

TEST(KernelCacheTest, CacheRootFollowsTheEnvironment) {
  std::string oldCache = std::getenv("COLM_CACHE_DIR") ?: "";
  std::string oldHome = std::getenv("HOME") ?: "";
  ::setenv("COLM_CACHE_DIR", "/some/where/", 1);
  EXPECT_EQ(cacheRoot(), "/some/where");
  ::setenv("COLM_CACHE_DIR", "relative", 1);
  EXPECT_EQ(cacheRoot(),
            std::filesystem::current_path().string() + "/relative");
  ::unsetenv("COLM_CACHE_DIR");
  ::setenv("HOME", "/home/someone", 1);
  EXPECT_EQ(cacheRoot(), "/home/someone/.cache/colm");
  ::setenv("HOME", oldHome.c_str(), 1);
  if (!oldCache.empty())
    ::setenv("COLM_CACHE_DIR", oldCache.c_str(), 1);
}

//===----------------------------------------------------------------------===//
// Entries
//===----------------------------------------------------------------------===//

TEST(KernelCacheTest, BuildsOnceThenHits) {
  TempDir dir;
  KernelCache cache(dir.str(), "cpu");
  CountingBuilder b;
  CacheKey key = keyOf("a");
  EXPECT_FALSE(cache.lookup(key));
  Result<KernelCache::Entry> e = cache.getOrBuild(key, b.fn());
  ASSERT_OK(e);
  EXPECT_FALSE(e->hit);
  EXPECT_EQ(e->path, dir.str() + "/kernels/cpu/" + key.hex());
  EXPECT_EQ(read(e->path + "/kernel.so"), "binary bytes");
  EXPECT_THAT(read(e->path + "/manifest"),
              ::testing::HasSubstr("key " + key.hex()));

  Result<KernelCache::Entry> again = cache.getOrBuild(key, b.fn());
  ASSERT_OK(again);
  EXPECT_TRUE(again->hit);
  EXPECT_EQ(again->path, e->path);
  EXPECT_EQ(b.calls, 1);
  EXPECT_TRUE(cache.lookup(key));

  // No temporaries left next to the entry.
  for (auto &p : std::filesystem::directory_iterator(cache.directory()))
    EXPECT_NE(p.path().filename().string().rfind(".tmp-", 0), 0u) << p.path();
}

TEST(KernelCacheTest, DifferentKeysAreDifferentEntries) {
  TempDir dir;
  KernelCache cache(dir.str(), "cpu");
  CountingBuilder b;
  Result<KernelCache::Entry> x = cache.getOrBuild(keyOf("x"), b.fn());
  Result<KernelCache::Entry> y = cache.getOrBuild(keyOf("y"), b.fn());
  ASSERT_OK(x);
  ASSERT_OK(y);
  EXPECT_NE(x->path, y->path);
  EXPECT_EQ(b.calls, 2);
  // Targets are kept apart too.
  KernelCache cuda(dir.str(), "cuda");
  EXPECT_FALSE(cuda.lookup(keyOf("x")));
}

TEST(KernelCacheTest, DamagedEntriesAreDetectedAndRebuilt) {
  TempDir dir;
  KernelCache cache(dir.str(), "cpu");
  CountingBuilder b;
  CacheKey key = keyOf("d");
  ASSERT_OK(cache.getOrBuild(key, b.fn()));
  std::string entry = cache.entryPath(key);

  auto expectRebuilt = [&](const char *what, const char *reason) {
    std::string why;
    EXPECT_FALSE(cache.lookup(key, &why)) << what;
    EXPECT_THAT(why, ::testing::HasSubstr(reason)) << what;
    int before = b.calls;
    ::testing::internal::CaptureStderr();
    Result<KernelCache::Entry> e = cache.getOrBuild(key, b.fn());
    std::string err = ::testing::internal::GetCapturedStderr();
    ASSERT_OK(e);
    EXPECT_FALSE(e->hit) << what;
    EXPECT_EQ(b.calls, before + 1) << what;
    EXPECT_THAT(err, ::testing::HasSubstr("is damaged")) << what;
    EXPECT_EQ(read(entry + "/kernel.so"), "binary bytes") << what;
    EXPECT_TRUE(cache.lookup(key)) << what;
  };

  ::truncate((entry + "/kernel.so").c_str(), 3);
  expectRebuilt("truncated binary", "has 3 bytes");

  std::ofstream(entry + "/kernel.so", std::ios::binary) << "binary bytez";
  expectRebuilt("same size, other bytes", "does not match its hash");

  ::unlink((entry + "/kernel.so").c_str());
  expectRebuilt("missing binary", "kernel.so");

  ::unlink((entry + "/manifest").c_str());
  expectRebuilt("missing manifest", "no readable manifest");

  std::string m = read(entry + "/manifest");
  ::truncate((entry + "/manifest").c_str(), off_t(m.size() - 4));
  expectRebuilt("truncated manifest", "manifest");
}

TEST(KernelCacheTest, AFailedBuildLeavesNoEntry) {
  TempDir dir;
  KernelCache cache(dir.str(), "cpu");
  CacheKey key = keyOf("f");
  EXPECT_ERROR(cache.getOrBuild(key,
                                [](const std::string &tmp) {
                                  (void)writeFileAtomic(tmp + "/half", "x");
                                  return Status::error("compiler said no");
                                }),
               "compiler said no");
  EXPECT_FALSE(cache.lookup(key));
  EXPECT_FALSE(std::filesystem::exists(cache.entryPath(key)));
  for (auto &p : std::filesystem::directory_iterator(cache.directory()))
    EXPECT_NE(p.path().filename().string().rfind(".tmp-", 0), 0u) << p.path();
}

TEST(KernelCacheTest, EntriesHoldOnlyRegularFiles) {
  TempDir dir;
  KernelCache cache(dir.str(), "cpu");
  EXPECT_ERROR(cache.getOrBuild(keyOf("s"),
                                [](const std::string &tmp) {
                                  ::mkdir((tmp + "/sub").c_str(), 0755);
                                  return Status::ok();
                                }),
               "not a regular file");
  EXPECT_ERROR(cache.getOrBuild(keyOf("m"),
                                [](const std::string &tmp) {
                                  return writeFileAtomic(tmp + "/manifest",
                                                         "mine");
                                }),
               "keeps for itself");
}

TEST(KernelCacheTest, DeletingTheCacheBetweenBuildsIsFine) {
  TempDir dir;
  KernelCache cache(dir.str() + "/cache", "cpu");
  CountingBuilder b;
  CacheKey key = keyOf("g");
  ASSERT_OK(cache.getOrBuild(key, b.fn()));
  std::filesystem::remove_all(dir.str() + "/cache");
  Result<KernelCache::Entry> e = cache.getOrBuild(key, b.fn());
  ASSERT_OK(e);
  EXPECT_FALSE(e->hit);
  EXPECT_EQ(b.calls, 2);
  EXPECT_TRUE(cache.lookup(key));
}

TEST(KernelCacheTest, DeletingTheCacheDuringABuildRetries) {
  TempDir dir;
  std::string root = dir.str() + "/cache";
  KernelCache cache(root, "cpu");
  int calls = 0;
  Result<KernelCache::Entry> e =
      cache.getOrBuild(keyOf("h"), [&](const std::string &tmp) -> Status {
        if (++calls == 1)
          std::filesystem::remove_all(root); // takes tmp with it
        return writeFileAtomic(tmp + "/kernel.so", "bytes");
      });
  ASSERT_OK(e);
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(read(e->path + "/kernel.so"), "bytes");
}

TEST(KernelCacheTest, RemoveDeletesTheEntry) {
  TempDir dir;
  KernelCache cache(dir.str(), "cpu");
  CountingBuilder b;
  CacheKey key = keyOf("r");
  ASSERT_OK(cache.getOrBuild(key, b.fn()));
  EXPECT_OK(cache.remove(key));
  EXPECT_FALSE(std::filesystem::exists(cache.entryPath(key)));
  EXPECT_OK(cache.remove(key)); // absent is fine
}

TEST(KernelCacheTest, StaleTemporariesAreCleanedUp) {
  TempDir dir;
  KernelCache cache(dir.str(), "cpu");
  CountingBuilder b;
  ASSERT_OK(cache.getOrBuild(keyOf("1"), b.fn()));
  std::string stale = cache.directory() + "/.tmp-dead-1-0";
  std::string fresh = cache.directory() + "/.tmp-alive-2-0";
  ASSERT_EQ(::mkdir(stale.c_str(), 0755), 0);
  ASSERT_EQ(::mkdir(fresh.c_str(), 0755), 0);
  struct timespec old[2] = {{::time(nullptr) - 7200, 0},
                            {::time(nullptr) - 7200, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, stale.c_str(), old, 0), 0);
  ASSERT_OK(cache.getOrBuild(keyOf("2"), b.fn()));
  EXPECT_FALSE(std::filesystem::exists(stale));
  EXPECT_TRUE(std::filesystem::exists(fresh)) << "may be a build in flight";
}

//===----------------------------------------------------------------------===//
// Two processes
//===----------------------------------------------------------------------===//

namespace {

/// Forks `n` children that wait on a pipe, then run `body` at once; returns
/// their exit statuses.
std::vector<int> raceChildren(int n, const std::function<int()> &body) {
  int go[2];
  EXPECT_EQ(::pipe(go), 0);
  std::vector<pid_t> pids;
  for (int i = 0; i < n; ++i) {
    pid_t pid = ::fork();
    if (pid == 0) {
      ::close(go[1]);
      char c;
      (void)!::read(go[0], &c, 1); // returns at EOF: all start together
      ::_exit(body());
    }
    pids.push_back(pid);
  }
  ::close(go[0]);
  ::close(go[1]);
  std::vector<int> codes;
  for (pid_t pid : pids) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    codes.push_back(WIFEXITED(status) ? WEXITSTATUS(status) : 100);
  }
  return codes;
}

/// A child's build: appends a line to `log`, then writes a 1 MiB binary
/// slowly enough that the other child overlaps.
int childBuild(const KernelCache &cache, const std::string &log) {
  std::string big(1 << 20, 'k');
  Result<KernelCache::Entry> e =
      cache.getOrBuild(keyOf("race"), [&](const std::string &tmp) -> Status {
        int fd = ::open(log.c_str(), O_WRONLY | O_APPEND | O_CREAT, 0644);
        (void)!::write(fd, "built\n", 6);
        ::close(fd);
        ::usleep(200 * 1000);
        return writeFileAtomic(tmp + "/kernel.so", big);
      });
  if (!e)
    return 1;
  Result<std::string> bytes = readFile(e->path + "/kernel.so");
  return bytes && *bytes == big ? 0 : 2;
}

} // namespace

TEST(KernelCacheTest, TwoProcessesBuildingOneKeyTakeTurns) {
  TempDir dir;
  KernelCache cache(dir.str(), "cpu");
  std::string log = dir.path("builds.log");
  std::vector<int> codes =
      raceChildren(2, [&] { return childBuild(cache, log); });
  EXPECT_EQ(codes, (std::vector<int>{0, 0}));
  EXPECT_EQ(read(log), "built\n") << "the lock lets one process build";
  EXPECT_TRUE(cache.lookup(keyOf("race")));
}

TEST(KernelCacheTest, TwoProcessesRacingWithoutTheLockBothSucceed) {
  TempDir dir;
  KernelCache cache(dir.str(), "cpu");
  cache.setLocking(false);
  std::string log = dir.path("builds.log");
  std::vector<int> codes =
      raceChildren(2, [&] { return childBuild(cache, log); });
  EXPECT_EQ(codes, (std::vector<int>{0, 0}));
  EXPECT_EQ(read(log), "built\nbuilt\n") << "both built; one rename won";
  EXPECT_TRUE(cache.lookup(keyOf("race")));
  for (auto &p : std::filesystem::directory_iterator(cache.directory()))
    EXPECT_NE(p.path().filename().string().rfind(".tmp-", 0), 0u) << p.path();
}
