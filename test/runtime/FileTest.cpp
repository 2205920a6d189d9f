//===- FileTest.cpp - Tests for runtime/File.h ----------------------------===//

#include "runtime/File.h"

#include "TestUtil.h"

#include <fstream>
#include <iterator>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

using namespace colm;
using colm::test::TempDir;

TEST(FileTest, WriteThenReadBack) {
  TempDir dir;
  std::string bytes("a\0b\xff", 4);
  ASSERT_OK(writeFileAtomic(dir.path("x.bin"), bytes));
  Result<std::string> back = readFile(dir.path("x.bin"));
  ASSERT_OK(back);
  EXPECT_EQ(*back, bytes);
  // Overwrite replaces the whole file and leaves no temporary behind.
  ASSERT_OK(writeFileAtomic(dir.path("x.bin"), "new"));
  EXPECT_EQ(*readFile(dir.path("x.bin")), "new");
  int files = 0;
  for (auto &e : std::filesystem::directory_iterator(dir.str())) {
    (void)e;
    ++files;
  }
  EXPECT_EQ(files, 1);
}

// `-o /dev/null` or a pipe: written in place, never renamed over (which
// would replace the device with a regular file).
TEST(FileTest, WriteToAPipeWritesInPlace) {
  TempDir dir;
  std::string fifo = dir.path("pipe");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::string got;
  std::thread reader([&] {
    std::ifstream in(fifo, std::ios::binary);
    got.assign(std::istreambuf_iterator<char>(in), {});
  });
  ASSERT_OK(writeFileAtomic(fifo, "through the pipe"));
  reader.join();
  EXPECT_EQ(got, "through the pipe");
  struct stat st;
  ASSERT_EQ(::stat(fifo.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  int files = 0;
  for (auto &e : std::filesystem::directory_iterator(dir.str())) {
    (void)e;
    ++files;
  }
  EXPECT_EQ(files, 1) << "a temporary was left behind";
}

TEST(FileTest, ReadMissingNamesPath) {
  TempDir dir;
  EXPECT_ERROR(readFile(dir.path("nope.json")), "nope.json", "cannot open");
  EXPECT_ERROR(readFile(dir.str()), "directory");
}

TEST(FileTest, WriteIntoMissingDirectoryFails) {
  TempDir dir;
  EXPECT_ERROR(writeFileAtomic(dir.path("missing/x.bin"), "x"), "missing/x.bin",
               "cannot write");
}

TEST(FileTest, WriteUnderAFileFails) {
  TempDir dir;
  ASSERT_OK(writeFileAtomic(dir.path("f"), "x"));
  EXPECT_ERROR(writeFileAtomic(dir.path("f/x.bin"), "x"), "f/x.bin",
               "Not a directory");
}

TEST(FileTest, WriteIntoUnwritableDirectoryFails) {
  if (::geteuid() == 0)
    GTEST_SKIP() << "root can write anywhere";
  TempDir dir;
  ASSERT_OK(makeDirectories(dir.path("ro")));
  ::chmod(dir.path("ro").c_str(), 0555);
  EXPECT_ERROR(writeFileAtomic(dir.path("ro/x.bin"), "x"), "ro/x.bin",
               "Permission denied");
  ::chmod(dir.path("ro").c_str(), 0755);
}

TEST(FileTest, MakeDirectoriesNested) {
  TempDir dir;
  ASSERT_OK(makeDirectories(dir.path("a/b/c")));
  EXPECT_TRUE(std::filesystem::is_directory(dir.path("a/b/c")));
  ASSERT_OK(makeDirectories(dir.path("a/b/c"))); // idempotent
  ASSERT_OK(writeFileAtomic(dir.path("f"), "x"));
  EXPECT_ERROR(makeDirectories(dir.path("f")), "f");
  EXPECT_ERROR(makeDirectories(dir.path("f/g")), "f/g");
}

TEST(FileTest, OnlyRegularFilesAreRead) {
  // A device would be read forever, a FIFO would block: both are refused
  // at once.
  EXPECT_ERROR(readFile("/dev/zero"), "/dev/zero", "a character device",
               "not a regular file");
  TempDir dir;
  std::string fifo = dir.path("pipe");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  EXPECT_ERROR(readFile(fifo), "pipe", "FIFO", "not a regular file");
}

TEST(FileTest, ReadsAreBounded) {
  TempDir dir;
  ASSERT_OK(writeFileAtomic(dir.path("x"), "0123456789"));
  EXPECT_OK(readFile(dir.path("x"), 10));
  EXPECT_ERROR(readFile(dir.path("x"), 9), "10 bytes", "more than the 9");
}
