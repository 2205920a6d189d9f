//===- TestUtil.h - Helpers shared by the runtime tests ---------*- C++ -*-===//

#ifndef COLM_TEST_RUNTIME_TESTUTIL_H
#define COLM_TEST_RUNTIME_TESTUTIL_H

#include "runtime/Config.h"
#include "runtime/Status.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace colm::test {

/// A fresh directory under $TMPDIR, removed when the object dies.
class TempDir {
public:
  TempDir() {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "colm-test-XXXXXX").string();
    char *p = ::mkdtemp(tmpl.data());
    EXPECT_NE(p, nullptr);
    dir = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  std::string path(const std::string &name) const { return dir + "/" + name; }
  const std::string &str() const { return dir; }

private:
  std::string dir;
};

/// A small valid config: D=16, h=4 (hd=4), F=32, two layers.
inline ModelConfig smallConfig(std::vector<int64_t> chains = {1, 1, 2},
                               int64_t kvHeads = 4, bool kvSharing = false) {
  ModelConfig c;
  c.vocabSize = 11;
  c.hiddenSize = 16;
  c.intermediateSize = 32;
  c.numLayers = 2;
  c.numHeads = 4;
  c.numKvHeads = kvHeads;
  c.chains = std::move(chains);
  c.kvSharing = kvSharing;
  return c;
}

} // namespace colm::test

#define EXPECT_OK(expr)                                                        \
  do {                                                                         \
    const auto &colmTestStatus_ = (expr);                                      \
    EXPECT_TRUE(colmTestStatus_.isOk()) << statusMessageOf(colmTestStatus_);   \
  } while (0)
#define ASSERT_OK(expr)                                                        \
  do {                                                                         \
    const auto &colmTestStatus_ = (expr);                                      \
    ASSERT_TRUE(colmTestStatus_.isOk()) << statusMessageOf(colmTestStatus_);   \
  } while (0)

/// Expects an error whose message contains every given fragment.
#define EXPECT_ERROR(expr, ...)                                                \
  do {                                                                         \
    const auto &colmTestStatus_ = (expr);                                      \
    ASSERT_FALSE(colmTestStatus_.isOk()) << "expected an error";               \
    for (const char *frag : {__VA_ARGS__})                                     \
      EXPECT_THAT(statusMessageOf(colmTestStatus_),                            \
                  ::testing::HasSubstr(frag));                                 \
  } while (0)

inline std::string statusMessageOf(const colm::Status &s) {
  return s.message();
}
template <class T> std::string statusMessageOf(const colm::Result<T> &r) {
  return r.status().message();
}

#endif // COLM_TEST_RUNTIME_TESTUTIL_H
