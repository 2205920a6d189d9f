//===- Tokenizer.h - The byte-level tokenizer -------------------*- C++ -*-===//
//
// The default tokenizer maps each byte of UTF-8 text to its value (vocabulary
// 256). It is stored with the model as tokenizer.json:
//   {"type": "byte", "vocab_size": 256}
// A model directory without tokenizer.json uses the byte tokenizer.
//
//===----------------------------------------------------------------------===//

#ifndef COLM_RUNTIME_TOKENIZER_H
#define COLM_RUNTIME_TOKENIZER_H

#include "runtime/Status.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace colm {

class Tokenizer {
public:
  /// The byte tokenizer.
  Tokenizer() = default;

  /// "byte".
  const std::string &type() const { return kind; }
  /// Number of token ids the tokenizer produces (256).
  int64_t vocabSize() const { return 256; }

  /// One id per byte of `text`.
  std::vector<int32_t> encode(std::string_view text) const;
  /// The bytes of `ids`; an id outside [0, 256) (a model may have a larger
  /// vocabulary than its tokenizer) becomes U+FFFD.
  std::string decode(const std::vector<int32_t> &ids) const;

  /// The tokenizer.json text.
  std::string toJson() const;

private:
  std::string kind = "byte";
};

/// Parses tokenizer.json text; `source` names it in errors.
Result<Tokenizer> parseTokenizer(std::string_view json,
                                 std::string_view source);

/// Reads dir/tokenizer.json; a directory without one gets the byte tokenizer.
Result<Tokenizer> loadTokenizer(const std::string &dir);

/// Writes dir/tokenizer.json atomically (the directory must exist).
Status saveTokenizer(const std::string &dir, const Tokenizer &tokenizer);

} // namespace colm

#endif // COLM_RUNTIME_TOKENIZER_H
