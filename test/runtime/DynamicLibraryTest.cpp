//===- DynamicLibraryTest.cpp - dlopen wrapper ----------------------------===//

#include "runtime/DynamicLibrary.h"

#include "TestUtil.h"

#include <cmath>
#include <fstream>

using namespace colm;
using colm::test::TempDir;

// libm is on every glibc system: a library to open without building one.
TEST(DynamicLibraryTest, OpensAndCallsASymbol) {
  Result<DynamicLibrary> lib = DynamicLibrary::open("libm.so.6");
  ASSERT_TRUE(lib.isOk()) << lib.status().message();
  EXPECT_EQ(lib->path(), "libm.so.6");
  Result<double (*)(double)> cosine = lib->function<double(double)>("cos");
  ASSERT_OK(cosine);
  EXPECT_EQ((*cosine)(0.0), 1.0);
}

TEST(DynamicLibraryTest, MissingSymbolNamesItAndTheLibrary) {
  Result<DynamicLibrary> lib = DynamicLibrary::open("libm.so.6");
  ASSERT_TRUE(lib.isOk()) << lib.status().message();
  EXPECT_ERROR(lib->symbol("colm_no_such_symbol"), "colm_no_such_symbol",
               "libm.so.6");
}

TEST(DynamicLibraryTest, MissingFileIsAnError) {
  EXPECT_ERROR(DynamicLibrary::open("/nonexistent/colm-lib.so"),
               "cannot load '/nonexistent/colm-lib.so'", "No such file");
}

TEST(DynamicLibraryTest, NotALibraryIsAnError) {
  TempDir dir;
  std::ofstream(dir.path("junk.so")) << "not an ELF file\n";
  EXPECT_ERROR(DynamicLibrary::open(dir.path("junk.so")), "cannot load",
               "junk.so");
}

TEST(DynamicLibraryTest, MovesTheHandle) {
  Result<DynamicLibrary> lib = DynamicLibrary::open("libm.so.6");
  ASSERT_TRUE(lib.isOk()) << lib.status().message();
  DynamicLibrary a = lib.take();
  DynamicLibrary b = std::move(a);
  EXPECT_ERROR(a.symbol("cos"),
               "moved from"); // NOLINT(bugprone-use-after-move)
  EXPECT_OK(b.symbol("cos"));
  Result<DynamicLibrary> other = DynamicLibrary::open("libm.so.6");
  ASSERT_TRUE(other.isOk()) << other.status().message();
  b = other.take(); // closes the first handle, keeps the second
  EXPECT_OK(b.symbol("sin"));
}
