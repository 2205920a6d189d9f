//===- Data.cpp - Token data and the training-window samplers -------------===//

#include "runtime/Data.h"

#include "runtime/Config.h"
#include "runtime/File.h"
#include "runtime/Memory.h"

#include <cstring>
#include <sys/stat.h>

namespace colm {

static bool endsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.substr(s.size() - suffix.size()) == suffix;
}

uint64_t dataFingerprint(std::string_view bytes) {
  uint64_t h = 0x243f6a8885a308d3ull ^ static_cast<uint64_t>(bytes.size());
  auto mix = [&h](uint64_t w) {
    h ^= w;
    h *= 0x9e3779b97f4a7c15ull;
    h ^= h >> 29;
  };
  size_t i = 0;
  for (; i + 8 <= bytes.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, bytes.data() + i, 8);
    mix(w);
  }
  uint64_t tail = 0;
  std::memcpy(&tail, bytes.data() + i, bytes.size() - i);
  mix(tail ^ (0xffull << 56));
  return h;
}

Result<TokenData> loadTokens(const std::string &path, int64_t vocabSize) {
  // The ids take 4 bytes a token (2 a byte for .bin): check before reading.
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode))
    COLM_TRY(checkMemoryFits(5.0 * double(st.st_size),
                             "reading data file '" + path + "'"));
  Result<std::string> bytes = readFile(path);
  if (!bytes)
    return bytes.status().withContext("data file");
  TokenData data;
  data.source = path;
  data.fileBytes = bytes->size();
  data.fingerprint = dataFingerprint(*bytes);
  if (bytes->empty())
    return Status::error("data file '" + path + "' is empty");
  if (endsWith(path, ".bin")) {
    if (bytes->size() % 2 != 0)
      return Status::error(
          "data file '" + path + "' has " + std::to_string(bytes->size()) +
          " bytes, an odd count; a .bin file holds little-endian uint16 "
          "token ids (2 bytes each)");
    size_t n = bytes->size() / 2;
    data.ids.resize(n);
    const auto *p = reinterpret_cast<const unsigned char *>(bytes->data());
    for (size_t i = 0; i < n; ++i) {
      int32_t id = p[2 * i] | (p[2 * i + 1] << 8);
      if (id >= vocabSize)
        return Status::error("data file '" + path + "': token id " +
                             std::to_string(id) + " at position " +
                             std::to_string(i) +
                             " is out of range for the model's vocab_size " +
                             std::to_string(vocabSize));
      data.ids[i] = id;
    }
    return data;
  }
  if (vocabSize < 256)
    return Status::error(
        "data file '" + path +
        "' is text, tokenized as bytes (vocabulary 256), but the model's "
        "vocab_size is " +
        std::to_string(vocabSize) +
        "; use a model with vocab_size >= 256 or a .bin file of token ids");
  data.ids.resize(bytes->size());
  for (size_t i = 0; i < bytes->size(); ++i)
    data.ids[i] = static_cast<unsigned char>((*bytes)[i]);
  return data;
}

Status checkWindow(const TokenData &data, int64_t T) {
  if (T <= 0)
    return Status::error("the sequence length must be positive, got " +
                         std::to_string(T));
  if (data.size() < T + 1)
    return Status::error(
        "data file '" + data.source + "' has " + countOf(data.size(), "token") +
        ", shorter than one window of T+1 = " + std::to_string(T + 1) +
        " (--seq " + std::to_string(T) + ")");
  return Status::ok();
}

Sampler::Sampler(const TokenData &data, Kind kind, uint64_t seed)
    : data(&data), k(kind), rng(seed) {}

void Sampler::window(int64_t step, int64_t row, int64_t B, int64_t T,
                     std::vector<int32_t> &inputs,
                     std::vector<int32_t> &targets) {
  int64_t n = data->size();
  int64_t range = n - T; // >= 1 after checkWindow()
  int64_t start;
  if (k == Sequential) {
    // (step*B + row) * T can exceed int64 only after ~2^63 tokens; reduce
    // each factor first so the product stays in range for any step.
    unsigned __int128 idx = static_cast<unsigned __int128>(step) * B + row;
    start = static_cast<int64_t>((idx % range) * T % range);
  } else {
    start = static_cast<int64_t>(rng.below(static_cast<uint64_t>(range)));
  }
  inputs.assign(data->ids.begin() + start, data->ids.begin() + start + T);
  targets.assign(data->ids.begin() + start + 1,
                 data->ids.begin() + start + T + 1);
}

void Sampler::batch(int64_t step, int64_t B, int64_t T,
                    std::vector<int32_t> &inputs,
                    std::vector<int32_t> &targets) {
  inputs.clear();
  targets.clear();
  std::vector<int32_t> in, tg;
  for (int64_t r = 0; r < B; ++r) {
    window(step, r, B, T, in, tg);
    inputs.insert(inputs.end(), in.begin(), in.end());
    targets.insert(targets.end(), tg.begin(), tg.end());
  }
}

const char *samplerKindName(Sampler::Kind kind) {
  return kind == Sampler::Sequential ? "sequential" : "random";
}

Result<Sampler::Kind> parseSamplerKind(std::string_view name) {
  if (name == "sequential")
    return Sampler::Sequential;
  if (name == "random")
    return Sampler::Random;
  return Status::error("unknown sampler '" + std::string(name) +
                       "' (expected sequential or random)");
}

} // namespace colm
