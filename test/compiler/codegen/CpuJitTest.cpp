//===- CpuJitTest.cpp - Compiling, caching and loading CPU kernels --------===//
//
// Compiles real (tiny) kernels with the host compiler; each test has its own
// COLM_CACHE_DIR so ~/.cache is never touched.
//
//===----------------------------------------------------------------------===//

#include "compiler/codegen/cpu/CpuJit.h"

#include "runtime/File.h"
#include "test/runtime/TestUtil.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sys/wait.h>
#include <unistd.h>

using namespace colm;
using colm::test::TempDir;

namespace {

const char *kAdd = "extern \"C\" int add(int a, int b) { return a + b; }\n";

std::string read(const std::string &path) {
  Result<std::string> r = readFile(path);
  return r ? *r : "<unreadable>";
}

/// A kernel `name` whose function `name` returns a + b + bias.
KernelSource adder(const std::string &name, int bias) {
  return {name, "extern \"C\" int " + name +
                    "(int a, int b) { return a + b + " + std::to_string(bias) +
                    "; }\n"};
}

class CpuJitTest : public ::testing::Test {
protected:
  void SetUp() override {
    ::setenv("COLM_CACHE_DIR", cacheDir().c_str(), 1);
    ::unsetenv("COLM_DUMP_KERNELS");
    ::unsetenv("COLM_KERNEL_OVERRIDE_DIR");
    // The shared kernel cache of the test suite would hide what these tests
    // compile.
    ::unsetenv("COLM_KERNEL_CACHE_DIR");
  }
  void TearDown() override { ::unsetenv("COLM_CACHE_DIR"); }

  std::string cacheDir() const { return tmp.str() + "/cache"; }

  Result<CpuJit> makeJit() { return CpuJit::create(); }

  /// Calls `symbol` (int(int, int)) in `lib`; -1000 when it is missing.
  static int call(const std::shared_ptr<DynamicLibrary> &lib,
                  const std::string &symbol, int a, int b) {
    Result<int (*)(int, int)> fn = lib->function<int(int, int)>(symbol);
    EXPECT_OK(fn);
    return fn ? (*fn)(a, b) : -1000;
  }

  TempDir tmp;
};

} // namespace

TEST_F(CpuJitTest, CompilesLoadsAndCallsAKernel) {
  Result<CpuJit> jit = makeJit();
  ASSERT_OK(jit);
  EXPECT_EQ(jit->compilerCommand()[0][0], '/');
  EXPECT_FALSE(jit->compilerVersionLine().empty());
  auto libs = jit->compile({{"add", kAdd}});
  ASSERT_OK(libs);
  ASSERT_EQ(libs->size(), 1u);
  EXPECT_EQ(call((*libs)[0], "add", 2, 3), 5);
  EXPECT_EQ(jit->stats().requested, 1);
  EXPECT_EQ(jit->stats().compiled, 1);
  EXPECT_EQ(jit->stats().cacheHits, 0);
  EXPECT_GT(jit->stats().compileSeconds, 0);
  // The entry keeps the source and a readable key next to the binary.
  std::string entry = jit->cache().entryPath(jit->keyFor(kAdd));
  EXPECT_EQ(read(entry + "/kernel.cpp"), kAdd);
  EXPECT_THAT(read(entry + "/key.txt"), ::testing::HasSubstr("flag: -O3"));
  EXPECT_THAT(read(entry + "/key.txt"), ::testing::HasSubstr("cpu: vendor="));
  EXPECT_THAT(entry, ::testing::StartsWith(cacheDir() + "/kernels/cpu/"));
}

TEST_F(CpuJitTest, SecondCompileIsACacheHit) {
  Result<CpuJit> cold = makeJit();
  ASSERT_OK(cold);
  ASSERT_OK(cold->compile({{"add", kAdd}}));
  // A fresh CpuJit stands for the next process start.
  Result<CpuJit> warm = makeJit();
  ASSERT_OK(warm);
  auto libs = warm->compile({{"add", kAdd}});
  ASSERT_OK(libs);
  EXPECT_EQ(call((*libs)[0], "add", 40, 2), 42);
  EXPECT_EQ(warm->stats().cacheHits, 1);
  EXPECT_EQ(warm->stats().compiled, 0);
  EXPECT_EQ(warm->stats().compileSeconds, 0);
  std::printf("cold: %s\nwarm: %s\n", cold->stats().summary().c_str(),
              warm->stats().summary().c_str());
  // Within one CpuJit the counts add up.
  ASSERT_OK(cold->compile({{"add", kAdd}}));
  EXPECT_EQ(cold->stats().requested, 2);
  EXPECT_EQ(cold->stats().cacheHits, 1);
}

TEST_F(CpuJitTest, FlagsAndSourcesChangeTheKey) {
  Result<CpuJit> jit = makeJit();
  ASSERT_OK(jit);
  std::string base = jit->keyFor(kAdd).hex();
  EXPECT_EQ(base, jit->keyFor(kAdd).hex());
  EXPECT_NE(base, jit->keyFor(kAdd, {"-DX=1"}).hex());
  EXPECT_NE(base, jit->keyFor(std::string(kAdd) + "\n").hex());
  EXPECT_THAT(jit->keyFor(kAdd).describe(),
              ::testing::HasSubstr("colm: " COLM_TEST_VERSION));

  ASSERT_OK(jit->compile({{"add", kAdd}}));
  auto withFlag = jit->compile({{"add", kAdd}}, {"-DUNUSED=1"});
  ASSERT_OK(withFlag);
  EXPECT_EQ(jit->stats().compiled, 2) << "other flags, other binary";
  EXPECT_EQ(call((*withFlag)[0], "add", 1, 1), 2);
}

TEST_F(CpuJitTest, CorruptEntryIsRebuilt) {
  Result<CpuJit> jit = makeJit();
  ASSERT_OK(jit);
  ASSERT_OK(jit->compile({{"add", kAdd}}));
  std::string so = jit->cache().entryPath(jit->keyFor(kAdd)) + "/kernel.so";
  ASSERT_EQ(::truncate(so.c_str(), 100), 0);

  Result<CpuJit> next = makeJit();
  ASSERT_OK(next);
  ::testing::internal::CaptureStderr();
  auto libs = next->compile({{"add", kAdd}});
  std::string err = ::testing::internal::GetCapturedStderr();
  ASSERT_OK(libs);
  EXPECT_EQ(next->stats().compiled, 1);
  EXPECT_THAT(err, ::testing::HasSubstr("damaged"));
  EXPECT_EQ(call((*libs)[0], "add", 2, 2), 4);
}

TEST_F(CpuJitTest, DeletingTheCacheBetweenCompilesIsFine) {
  Result<CpuJit> jit = makeJit();
  ASSERT_OK(jit);
  auto first = jit->compile({{"add", kAdd}});
  ASSERT_OK(first);
  std::filesystem::remove_all(cacheDir());
  // The loaded library keeps working: its mapping outlives the file.
  EXPECT_EQ(call((*first)[0], "add", 1, 2), 3);
  auto second = jit->compile({adder("add2", 0)});
  ASSERT_OK(second);
  EXPECT_EQ(call((*second)[0], "add2", 3, 4), 7);
  EXPECT_EQ(jit->stats().compiled, 2);
}

TEST_F(CpuJitTest, TwoProcessesCompilingOneKernelBothSucceed) {
  int go[2];
  ASSERT_EQ(::pipe(go), 0);
  std::vector<pid_t> pids;
  for (int i = 0; i < 2; ++i) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(go[1]);
      char c;
      (void)!::read(go[0], &c, 1); // both start at once
      Result<CpuJit> jit = CpuJit::create();
      if (!jit)
        ::_exit(1);
      auto libs = jit->compile({{"add", kAdd}});
      if (!libs)
        ::_exit(2);
      Result<int (*)(int, int)> fn = (*libs)[0]->function<int(int, int)>("add");
      ::_exit(fn && (*fn)(20, 22) == 42 ? 0 : 3);
    }
    pids.push_back(pid);
  }
  ::close(go[0]);
  ::close(go[1]);
  for (pid_t pid : pids) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  }
  Result<CpuJit> jit = makeJit();
  ASSERT_OK(jit);
  EXPECT_TRUE(jit->cache().lookup(jit->keyFor(kAdd)));
}

TEST_F(CpuJitTest, CompileErrorNamesTheKernelAndQuotesTheCompiler) {
  Result<CpuJit> jit = makeJit();
  ASSERT_OK(jit);
  const char *bad = "extern \"C\" int bad(int a) {\n  return a + y;\n}\n";
  auto libs = jit->compile({{"bad", bad}});
  EXPECT_ERROR(libs, "kernel 'bad'", "error", "y", "failed (exit status");
  // The message points at a source that still exists and has the code.
  std::string msg = libs.status().message();
  std::string kept = jit->cache().directory() + "/failed/bad.cpp";
  EXPECT_THAT(msg, ::testing::HasSubstr("source: " + kept));
  EXPECT_THAT(msg, ::testing::HasSubstr(kept + ":2:"));
  EXPECT_EQ(read(kept), bad);
  EXPECT_THAT(read(jit->cache().directory() + "/failed/bad.log"),
              ::testing::HasSubstr("error"));
  EXPECT_FALSE(jit->cache().lookup(jit->keyFor(bad)));
}

TEST_F(CpuJitTest, CompileErrorPointsAtTheDumpedSource) {
  std::string dump = tmp.str() + "/dump";
  ::setenv("COLM_DUMP_KERNELS", dump.c_str(), 1);
  Result<CpuJit> jit = makeJit();
  ASSERT_OK(jit);
  std::string shown = "source: " + dump + "/oops.cpp";
  EXPECT_ERROR(jit->compile({{"oops", "int f() { return }"}}), "kernel 'oops'",
               shown.c_str());
}

TEST_F(CpuJitTest, OneFailureAmongSeveralIsReported) {
  Result<CpuJit> jit = makeJit();
  ASSERT_OK(jit);
  EXPECT_ERROR(
      jit->compile(
          {adder("ok1", 1), {"broken", "syntax error"}, adder("ok2", 2)}),
      "kernel 'broken'");
  EXPECT_EQ(jit->stats().compiled, 2) << "the others were built and cached";
  EXPECT_TRUE(jit->cache().lookup(jit->keyFor(adder("ok2", 2).source)));
}

TEST_F(CpuJitTest, OverrideDirectoryIsUsedAndLogged) {
  std::string dir = tmp.str() + "/override";
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/add.cpp")
      << "extern \"C\" int add(int a, int b) { return 10 * a + b; }\n";
  ::setenv("COLM_KERNEL_OVERRIDE_DIR", dir.c_str(), 1);
  Result<CpuJit> jit = makeJit();
  ASSERT_OK(jit);
  ::testing::internal::CaptureStderr();
  auto libs = jit->compile({{"add", kAdd}, adder("other", 0)});
  std::string err = ::testing::internal::GetCapturedStderr();
  ASSERT_OK(libs);
  EXPECT_EQ(call((*libs)[0], "add", 4, 2), 42);
  EXPECT_EQ(call((*libs)[1], "other", 4, 2), 6) << "no override: generated";
  EXPECT_THAT(err, ::testing::HasSubstr("colm: kernel add: using override " +
                                        dir + "/add.cpp"));
  EXPECT_THAT(err, ::testing::Not(::testing::HasSubstr("kernel other")));
  EXPECT_EQ(jit->stats().overridden, 1);
}

TEST_F(CpuJitTest, DumpDirectoryGetsEverySource) {
  std::string dir = tmp.str() + "/dump/nested";
  ::setenv("COLM_DUMP_KERNELS", dir.c_str(), 1);
  Result<CpuJit> jit = makeJit();
  ASSERT_OK(jit);
  KernelSource k = adder("k1", 1);
  ASSERT_OK(jit->compile({{"add", kAdd}, k}));
  EXPECT_EQ(read(dir + "/add.cpp"), kAdd);
  EXPECT_EQ(read(dir + "/k1.cpp"), k.source);
  // Hits are dumped too: the dump does not depend on the cache's state.
  std::filesystem::remove_all(dir);
  ASSERT_OK(jit->compile({{"add", kAdd}}));
  EXPECT_EQ(read(dir + "/add.cpp"), kAdd);
}

TEST_F(CpuJitTest, DumpingIntoTheOverrideDirectoryKeepsTheEdit) {
  std::string dir = tmp.str() + "/edit";
  std::filesystem::create_directories(dir);
  std::string edited = "extern \"C\" int add(int a, int b) { return a - b; }\n";
  std::ofstream(dir + "/add.cpp") << edited;
  ::setenv("COLM_DUMP_KERNELS", dir.c_str(), 1);
  ::setenv("COLM_KERNEL_OVERRIDE_DIR", dir.c_str(), 1);
  Result<CpuJit> jit = makeJit();
  ASSERT_OK(jit);
  ::testing::internal::CaptureStderr();
  auto libs = jit->compile({{"add", kAdd}});
  ::testing::internal::GetCapturedStderr();
  ASSERT_OK(libs);
  EXPECT_EQ(call((*libs)[0], "add", 5, 3), 2);
  EXPECT_EQ(read(dir + "/add.cpp"), edited);
}

TEST_F(CpuJitTest, CompilesSeveralKernelsInParallel) {
  CpuJitOptions o = CpuJitOptions::fromEnvironment();
  o.jobs = 4;
  Result<CpuJit> jit = CpuJit::create(o);
  ASSERT_OK(jit);
  std::vector<KernelSource> ks;
  for (int i = 0; i < 4; ++i)
    ks.push_back(adder("k" + std::to_string(i), 100 * i));
  auto libs = jit->compile(ks);
  ASSERT_OK(libs);
  ASSERT_EQ(libs->size(), 4u);
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(call((*libs)[i], "k" + std::to_string(i), 1, 2), 3 + 100 * i);
  EXPECT_EQ(jit->stats().compiled, 4);
  std::printf("4 kernels: %s\n", jit->stats().summary().c_str());
}

TEST_F(CpuJitTest, IdenticalSourcesCompileOnce) {
  Result<CpuJit> jit = makeJit();
  ASSERT_OK(jit);
  auto libs = jit->compile({{"a", kAdd}, {"b", kAdd}});
  ASSERT_OK(libs);
  EXPECT_EQ(jit->stats().compiled, 1);
  EXPECT_EQ(jit->stats().cacheHits, 1);
  EXPECT_EQ(call((*libs)[1], "add", 1, 1), 2);
}

TEST_F(CpuJitTest, OneNameWithTwoSourcesIsRefused) {
  Result<CpuJit> jit = makeJit();
  ASSERT_OK(jit);
  EXPECT_ERROR(jit->compile({adder("k", 1), adder("k", 2)}),
               "kernel name 'k' is given twice with different sources");
}

TEST_F(CpuJitTest, BadKernelNamesAreRefused) {
  Result<CpuJit> jit = makeJit();
  ASSERT_OK(jit);
  for (const char *name : {"", "../escape", "a/b", ".hidden", "sp ace"})
    EXPECT_ERROR(jit->compile({{name, kAdd}}), "not a valid file name");
}

TEST_F(CpuJitTest, MissingCompilerIsAClearError) {
  CpuJitOptions o = CpuJitOptions::fromEnvironment();
  o.compiler = "colm-no-such-compiler++";
  EXPECT_ERROR(CpuJit::create(o), "COLM_CXX='colm-no-such-compiler++'",
               "not an executable on PATH");
  o.compiler = "/nonexistent/c++";
  EXPECT_ERROR(CpuJit::create(o), "not an executable file");
}

TEST_F(CpuJitTest, CompilerCommandMayHaveArguments) {
  // A wrapper with its own argument, like "ccache clang++".
  Result<CpuJit> plain = makeJit();
  ASSERT_OK(plain);
  CpuJitOptions o = CpuJitOptions::fromEnvironment();
  o.compiler = plain->compilerCommand()[0] + " -DFROM_COMMAND=7";
  Result<CpuJit> jit = CpuJit::create(o);
  ASSERT_OK(jit);
  auto libs = jit->compile(
      {{"cmd", "extern \"C\" int cmd(int, int) { return FROM_COMMAND; }\n"}});
  ASSERT_OK(libs);
  EXPECT_EQ(call((*libs)[0], "cmd", 0, 0), 7);
  EXPECT_NE(jit->keyFor(kAdd).hex(), plain->keyFor(kAdd).hex());
}
