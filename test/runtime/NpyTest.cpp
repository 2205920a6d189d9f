//===- NpyTest.cpp - Tests for runtime/Npy.h ------------------------------===//

#include "runtime/Npy.h"

#include "TestUtil.h"

using namespace colm;
using colm::test::TempDir;

TEST(NpyTest, HeaderIsNumpyV1) {
  float data[6] = {0, 1, 2, 3, 4, 5};
  std::string bytes = serializeNpy(data, {2, 3});
  ASSERT_GE(bytes.size(), 10u);
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  size_t headerLen = static_cast<unsigned char>(bytes[8]) |
                     (static_cast<unsigned char>(bytes[9]) << 8);
  EXPECT_EQ((10 + headerLen) % 64, 0u);
  std::string header = bytes.substr(10, headerLen);
  EXPECT_EQ(header.rfind("{'descr': '<f4', 'fortran_order': False, "
                         "'shape': (2, 3), }",
                         0),
            0u)
      << header;
  EXPECT_EQ(header.back(), '\n');
  EXPECT_EQ(bytes.size(), 10 + headerLen + 24);
  EXPECT_NE(serializeNpy(data, {6}).find("'shape': (6,)"), std::string::npos);
  EXPECT_NE(serializeNpy(data, {}).find("'shape': ()"), std::string::npos);
}

TEST(NpyTest, RoundTrip) {
  TempDir dir;
  std::vector<float> data = {1.5f, -2.0f, 3.25f, 0.0f, 1e-30f, -7.0f};
  for (std::vector<int64_t> shape :
       {std::vector<int64_t>{2, 3}, {6}, {1, 2, 3}, {3, 2, 1}}) {
    ASSERT_OK(writeNpy(dir.path("a.npy"), data.data(), shape));
    Result<Tensor> t = readNpy(dir.path("a.npy"));
    ASSERT_OK(t);
    EXPECT_EQ(t->shape, shape);
    EXPECT_EQ(t->data, data);
  }
  float scalar = 42.0f;
  ASSERT_OK(writeNpy(dir.path("s.npy"), &scalar, {}));
  Result<Tensor> s = readNpy(dir.path("s.npy"));
  ASSERT_OK(s);
  EXPECT_TRUE(s->shape.empty());
  EXPECT_EQ(s->data, std::vector<float>{42.0f});
}

TEST(NpyTest, RejectsBadFiles) {
  float data[2] = {1, 2};
  std::string good = serializeNpy(data, {2});
  EXPECT_ERROR(parseNpy("hello", "x.npy"), "x.npy", "magic");
  EXPECT_ERROR(parseNpy(good.substr(0, good.size() - 1), "x.npy"), "x.npy",
               "needs 8");
  std::string f8 = good;
  f8.replace(f8.find("<f4"), 3, "<f8");
  EXPECT_ERROR(parseNpy(f8, "x.npy"), "<f4");
  std::string fortran = good;
  fortran.replace(fortran.find("False"), 5, "True ");
  EXPECT_ERROR(parseNpy(fortran, "x.npy"), "Fortran");
}
