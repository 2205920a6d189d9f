//===- MemoryTest.cpp - Tests for runtime/Memory.h ------------------------===//

#include "runtime/Memory.h"

#include "TestUtil.h"

#include <cstdlib>

using namespace colm;

TEST(MemoryTest, FormatsBytes) {
  EXPECT_EQ(formatBytes(512), "512 bytes");
  EXPECT_EQ(formatBytes(1536), "1.5 KiB");
  EXPECT_EQ(formatBytes(3.0 * 1024 * 1024 * 1024), "3.0 GiB");
}

TEST(MemoryTest, TheLimitCanBeLowered) {
  uint64_t machine = availableMemoryBytes();
  EXPECT_GT(machine, uint64_t{1} << 20);
  ::setenv("COLM_MEMORY_LIMIT", "2M", 1);
  EXPECT_EQ(availableMemoryBytes(), uint64_t{2} << 20);
  EXPECT_OK(checkMemoryFits(1e6, "a small job"));
  EXPECT_ERROR(checkMemoryFits(3e6, "a big job"),
               "a big job needs about 2.9 MiB",
               "only 2.0 MiB of memory is available");
  ::unsetenv("COLM_MEMORY_LIMIT");
  EXPECT_EQ(availableMemoryBytes() > (uint64_t{2} << 20), true);
}
