//===- Data.h - Token data and the training-window samplers -----*- C++ -*-===//
//
// A data file is either `.bin` (little-endian uint16 token ids) or text,
// tokenized as bytes (vocabulary 256). A sampler turns (step, row) into one
// training window of T input tokens and the T target tokens one further.
//
//===----------------------------------------------------------------------===//

#ifndef COLM_RUNTIME_DATA_H
#define COLM_RUNTIME_DATA_H

#include "runtime/Random.h"
#include "runtime/Status.h"

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace colm {

struct TokenData {
  std::vector<int32_t> ids;
  /// The file the ids came from (for messages).
  std::string source;
  /// What identifies the data independent of its path: the file's size and
  /// a 64-bit hash of its bytes (dataFingerprint()).
  uint64_t fileBytes = 0;
  uint64_t fingerprint = 0;

  int64_t size() const { return static_cast<int64_t>(ids.size()); }
};

/// Reads `path`: `.bin` = little-endian uint16 ids (an odd byte count is an
/// error), anything else = text tokenized as bytes, which needs
/// vocabSize >= 256. Errors: missing or empty file, an id >= vocabSize (the
/// message gives the id and its position).
Result<TokenData> loadTokens(const std::string &path, int64_t vocabSize);

/// A 64-bit hash of `bytes` (not cryptographic): equal files give equal
/// fingerprints, and a change anywhere changes it with near certainty.
uint64_t dataFingerprint(std::string_view bytes);

/// Checks that `data` holds at least one window of T inputs plus the one
/// further target (N >= T + 1), and that T > 0.
Status checkWindow(const TokenData &data, int64_t T);

class Sampler {
public:
  enum Kind { Sequential, Random };

  /// `data` must outlive the sampler and pass checkWindow() for every T used.
  /// `seed` seeds the random sampler's stream (the run's --seed).
  Sampler(const TokenData &data, Kind kind, uint64_t seed);

  /// Fills inputs and targets (resized to T) with row `row` of step `step`
  /// (both from 0) of a batch of B rows.
  ///  - Sequential: the window starts at ((step*B + row) * T) mod (N - T);
  ///    inputs are the T tokens from there, targets the T tokens one further.
  ///  - Random: the start is uniform in [0, N - T), the next draw of the
  ///    sampler's stream (so windows must be requested in order; step and
  ///    row are ignored). state()/setState() save and restore the stream.
  void window(int64_t step, int64_t row, int64_t B, int64_t T,
              std::vector<int32_t> &inputs, std::vector<int32_t> &targets);

  /// Rows 0..B-1 of step `step`, row-major: inputs and targets of size B*T.
  void batch(int64_t step, int64_t B, int64_t T, std::vector<int32_t> &inputs,
             std::vector<int32_t> &targets);

  Kind kind() const { return k; }
  std::array<uint64_t, 4> state() const { return rng.state(); }
  void setState(const std::array<uint64_t, 4> &s) { rng.setState(s); }

private:
  const TokenData *data;
  Kind k;
  colm::Random rng;
};

/// "sequential" / "random" (the --sampler spellings).
const char *samplerKindName(Sampler::Kind kind);
Result<Sampler::Kind> parseSamplerKind(std::string_view name);

} // namespace colm

#endif // COLM_RUNTIME_DATA_H
