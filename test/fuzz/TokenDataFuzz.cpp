//===- TokenDataFuzz.cpp - libFuzzer target for token data files ----------===//
//
// loadTokens() reads `colm train`/`colm eval` data files: `.bin` uint16 ids
// or text as bytes. The first input byte picks the kind and the model's
// vocabulary size; the rest is the file. Whatever loads must hold ids in
// range, and every window the samplers draw must lie inside the data.
//
//===----------------------------------------------------------------------===//

#include "runtime/Data.h"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>

namespace {

/// A file per process, removed at exit: loadTokens() reads paths.
char binPath[256], textPath[256];

const char *scratch(bool bin) {
  if (!binPath[0]) {
    const char *dir = std::getenv("TMPDIR");
    if (!dir || !*dir)
      dir = "/tmp";
    int pid = ::getpid();
    std::snprintf(binPath, sizeof(binPath), "%s/colm-token-fuzz-%d.bin", dir,
                  pid);
    std::snprintf(textPath, sizeof(textPath), "%s/colm-token-fuzz-%d.txt", dir,
                  pid);
    std::atexit([] {
      std::remove(binPath);
      std::remove(textPath);
    });
  }
  return bin ? binPath : textPath;
}

bool writeFile(const std::string &path, const uint8_t *data, size_t size) {
  FILE *f = std::fopen(path.c_str(), "wb");
  if (!f)
    return false;
  bool ok = std::fwrite(data, 1, size, f) == size;
  return std::fclose(f) == 0 && ok;
}

/// Checks the windows of one sampler for sequence length T.
void checkWindows(const colm::TokenData &data, colm::Sampler::Kind kind,
                  int64_t T, uint64_t seed) {
  colm::Sampler sampler(data, kind, seed);
  std::vector<int32_t> in, tg;
  const int64_t steps[] = {0, 7, INT64_MAX / 4};
  for (int64_t step : steps)
    for (int64_t row : {int64_t(0), int64_t(3)}) {
      sampler.window(step, row, 4, T, in, tg);
      if (int64_t(in.size()) != T || int64_t(tg.size()) != T)
        __builtin_trap();
      // Targets are the inputs one token further.
      for (int64_t i = 0; i + 1 < T; ++i)
        if (in[i + 1] != tg[i])
          __builtin_trap();
    }
  sampler.batch(3, 2, T, in, tg);
  if (int64_t(in.size()) != 2 * T || int64_t(tg.size()) != 2 * T)
    __builtin_trap();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0)
    return 0;
  static const int64_t vocabs[] = {1, 2, 255, 256, 257, 1000, 65535, 65536};
  bool bin = data[0] & 1;
  int64_t vocab = vocabs[(data[0] >> 1) % 8];
  std::string path = scratch(bin);
  if (!writeFile(path, data + 1, size - 1))
    return 0;
  colm::Result<colm::TokenData> r = colm::loadTokens(path, vocab);
  if (!r) {
    if (r.status().message().empty())
      __builtin_trap(); // every error must say what went wrong
    return 0;
  }
  const colm::TokenData &tokens = *r;
  if (tokens.size() != int64_t(bin ? (size - 1) / 2 : size - 1))
    __builtin_trap();
  for (int32_t id : tokens.ids)
    if (id < 0 || id >= vocab)
      __builtin_trap();
  int64_t n = tokens.size();
  for (int64_t T : {int64_t(0), int64_t(1), n / 2, n - 1, n}) {
    colm::Status st = colm::checkWindow(tokens, T);
    if (st.isOk() != (T > 0 && n >= T + 1))
      __builtin_trap();
    if (!st.isOk()) {
      if (st.message().empty())
        __builtin_trap();
      continue;
    }
    checkWindows(tokens, colm::Sampler::Sequential, T, data[0]);
    checkWindows(tokens, colm::Sampler::Random, T, size);
  }
  return 0;
}
