//===- DataTest.cpp - Tests for runtime/Data.h and Tokenizer.h ------------===//

#include "runtime/Data.h"

#include "runtime/File.h"
#include "runtime/Tokenizer.h"

#include "TestUtil.h"

using namespace colm;
using colm::test::TempDir;

static std::string u16le(const std::vector<int> &ids) {
  std::string s;
  for (int id : ids) {
    s.push_back(static_cast<char>(id & 0xFF));
    s.push_back(static_cast<char>(id >> 8));
  }
  return s;
}

TEST(DataTest, LoadsBinAsLittleEndianUint16) {
  TempDir dir;
  ASSERT_OK(writeFileAtomic(dir.path("t.bin"), u16le({1, 258, 65535})));
  Result<TokenData> d = loadTokens(dir.path("t.bin"), 65536);
  ASSERT_OK(d);
  EXPECT_EQ(d->ids, (std::vector<int32_t>{1, 258, 65535}));
  EXPECT_EQ(d->source, dir.path("t.bin"));
  EXPECT_ERROR(loadTokens(dir.path("t.bin"), 1000), "token id 65535",
               "position 2", "vocab_size 1000");
  ASSERT_OK(writeFileAtomic(dir.path("odd.bin"), std::string("abc")));
  EXPECT_ERROR(loadTokens(dir.path("odd.bin"), 300), "odd.bin", "3 bytes",
               "odd");
}

TEST(DataTest, LoadsTextAsBytes) {
  TempDir dir;
  ASSERT_OK(writeFileAtomic(dir.path("t.txt"), std::string("hi\xff\n")));
  Result<TokenData> d = loadTokens(dir.path("t.txt"), 256);
  ASSERT_OK(d);
  EXPECT_EQ(d->ids, (std::vector<int32_t>{'h', 'i', 255, '\n'}));
  EXPECT_ERROR(loadTokens(dir.path("t.txt"), 100), "t.txt", "is text",
               "vocab_size is 100");
}

TEST(DataTest, MissingAndEmptyFiles) {
  TempDir dir;
  EXPECT_ERROR(loadTokens(dir.path("nope.txt"), 256), "nope.txt",
               "cannot open");
  ASSERT_OK(writeFileAtomic(dir.path("empty.bin"), ""));
  EXPECT_ERROR(loadTokens(dir.path("empty.bin"), 256), "empty.bin", "is empty");
}

TEST(DataTest, CheckWindowNeedsTPlusOneTokens) {
  TokenData d;
  d.source = "x.bin";
  d.ids = {1, 2, 3, 4};
  EXPECT_OK(checkWindow(d, 3));
  EXPECT_ERROR(checkWindow(d, 4), "'x.bin' has 4 tokens",
               "shorter than one window of T+1 = 5");
  EXPECT_ERROR(checkWindow(d, 0), "must be positive");
}

TEST(DataTest, SequentialSamplerFollowsTheFormula) {
  TokenData d;
  for (int i = 0; i < 23; ++i)
    d.ids.push_back(100 + i);
  const int64_t B = 3, T = 4, N = 23;
  Sampler s(d, Sampler::Sequential, 1);
  std::vector<int32_t> in, tg;
  for (int64_t step = 0; step < 6; ++step)
    for (int64_t r = 0; r < B; ++r) {
      s.window(step, r, B, T, in, tg);
      int64_t start = ((step * B + r) * T) % (N - T);
      ASSERT_EQ(in.size(), 4u);
      for (int64_t t = 0; t < T; ++t) {
        EXPECT_EQ(in[t], 100 + start + t);
        EXPECT_EQ(tg[t], 100 + start + t + 1);
      }
    }
  // Step 1, row 2: (1*3+2)*4 = 20 mod 19 = 1.
  s.window(1, 2, B, T, in, tg);
  EXPECT_EQ(in, (std::vector<int32_t>{101, 102, 103, 104}));
  EXPECT_EQ(tg, (std::vector<int32_t>{102, 103, 104, 105}));
  // The last possible window ends exactly at the last token.
  TokenData small;
  small.ids = {1, 2, 3};
  Sampler t(small, Sampler::Sequential, 1);
  t.window(0, 0, 1, 2, in, tg);
  EXPECT_EQ(tg, (std::vector<int32_t>{2, 3}));
  // Huge step counts do not overflow.
  s.window(int64_t{1} << 62, 1, B, T, in, tg);
  EXPECT_EQ(in.size(), 4u);
  std::vector<int32_t> bi, bt;
  s.batch(2, B, T, bi, bt);
  ASSERT_EQ(bi.size(), 12u);
  s.window(2, 1, B, T, in, tg);
  EXPECT_EQ(std::vector<int32_t>(bi.begin() + 4, bi.begin() + 8), in);
  EXPECT_EQ(std::vector<int32_t>(bt.begin() + 4, bt.begin() + 8), tg);
}

TEST(DataTest, RandomSamplerResumesBitExactly) {
  TokenData d;
  for (int i = 0; i < 1000; ++i)
    d.ids.push_back(i % 256);
  const int64_t T = 8;
  Sampler a(d, Sampler::Random, 42);
  std::vector<int32_t> in, tg;
  for (int i = 0; i < 5; ++i) {
    a.window(0, i, 5, T, in, tg);
    EXPECT_EQ(tg[0], in[1]);
  }
  std::array<uint64_t, 4> saved = a.state();
  std::vector<std::vector<int32_t>> rest;
  for (int i = 0; i < 20; ++i) {
    a.window(1, i, 20, T, in, tg);
    rest.push_back(in);
  }
  Sampler b(d, Sampler::Random, 42);
  b.setState(saved);
  bool differ = false;
  for (int i = 0; i < 20; ++i) {
    b.window(1, i, 20, T, in, tg);
    EXPECT_EQ(in, rest[i]);
    differ |= rest[i] != rest[0];
  }
  EXPECT_TRUE(differ);
  Sampler c(d, Sampler::Random, 43);
  c.setState(saved);
  c.window(1, 0, 20, T, in, tg);
  EXPECT_EQ(in, rest[0]); // the state, not the seed, decides
  // Every start is within [0, N - T).
  TokenData tiny;
  tiny.ids = {5, 6, 7};
  Sampler f(tiny, Sampler::Random, 7);
  for (int i = 0; i < 50; ++i) {
    f.window(0, 0, 1, 2, in, tg);
    EXPECT_TRUE(in[0] == 5 && tg[1] == 7);
  }
  EXPECT_ERROR(parseSamplerKind("shuffle"), "unknown sampler 'shuffle'");
  EXPECT_EQ(*parseSamplerKind("random"), Sampler::Random);
}

TEST(TokenizerTest, ByteRoundTrip) {
  Tokenizer tok;
  std::string text = "Chain-of-Model \xc3\xa9\n";
  std::vector<int32_t> ids = tok.encode(text);
  EXPECT_EQ(ids.size(), text.size());
  EXPECT_EQ(ids[0], 'C');
  EXPECT_EQ(ids[15], 0xc3);
  EXPECT_EQ(tok.decode(ids), text);
  EXPECT_EQ(tok.decode({'a', 300, 'b'}), "a\xEF\xBF\xBD"
                                         "b");
}

TEST(TokenizerTest, SavedWithTheModel) {
  TempDir dir;
  Result<Tokenizer> missing = loadTokenizer(dir.str());
  ASSERT_OK(missing);
  EXPECT_EQ(missing->type(), "byte");
  ASSERT_OK(saveTokenizer(dir.str(), Tokenizer()));
  Result<std::string> text = readFile(dir.path("tokenizer.json"));
  ASSERT_OK(text);
  EXPECT_THAT(*text, ::testing::HasSubstr("\"type\": \"byte\""));
  EXPECT_THAT(*text, ::testing::HasSubstr("\"vocab_size\": 256"));
  ASSERT_OK(loadTokenizer(dir.str()));
  ASSERT_OK(writeFileAtomic(dir.path("tokenizer.json"),
                            "{\"type\": \"bpe\", \"vocab_size\": 512}"));
  EXPECT_ERROR(loadTokenizer(dir.str()), "tokenizer.json",
               "unsupported tokenizer type 'bpe'");
  ASSERT_OK(writeFileAtomic(dir.path("tokenizer.json"), "{\"type\": 1"));
  EXPECT_ERROR(loadTokenizer(dir.str()), "tokenizer.json");
}
