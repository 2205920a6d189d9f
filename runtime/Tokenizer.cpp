//===- Tokenizer.cpp - The byte-level tokenizer ---------------------------===//

#include "runtime/Tokenizer.h"

#include "runtime/File.h"
#include "runtime/Json.h"

#include <cerrno>
#include <sys/stat.h>

namespace colm {

std::vector<int32_t> Tokenizer::encode(std::string_view text) const {
  std::vector<int32_t> ids;
  ids.reserve(text.size());
  for (char c : text)
    ids.push_back(static_cast<unsigned char>(c));
  return ids;
}

std::string Tokenizer::decode(const std::vector<int32_t> &ids) const {
  std::string text;
  text.reserve(ids.size());
  for (int32_t id : ids) {
    if (id >= 0 && id < 256)
      text.push_back(static_cast<char>(id));
    else
      text += "\xEF\xBF\xBD";
  }
  return text;
}

std::string Tokenizer::toJson() const {
  JsonValue root = JsonValue::object();
  root.set("type", JsonValue::string(kind));
  root.set("vocab_size", JsonValue::integer(vocabSize()));
  return writeJson(root, 2);
}

Result<Tokenizer> parseTokenizer(std::string_view json,
                                 std::string_view source) {
  COLM_ASSIGN_OR_RETURN(JsonValue root, parseJson(json, source));
  std::string src(source);
  if (!root.isObject())
    return Status::error(src + ": a tokenizer must be a JSON object, got " +
                         JsonValue::kindWithArticle(root.kind()));
  const JsonValue *type = root.find("type");
  if (!type || !type->isString())
    return Status::error(src + ": missing string field \"type\"");
  if (type->asString() != "byte")
    return Status::error(src + ": unsupported tokenizer type '" +
                         type->asString() + "' (this build knows \"byte\")");
  const JsonValue *vocab = root.find("vocab_size");
  if (vocab && !(vocab->isInteger() && vocab->asInt() == 256))
    return Status::error(src + ": a byte tokenizer has vocab_size 256, got " +
                         writeJson(*vocab, 0));
  return Tokenizer();
}

Result<Tokenizer> loadTokenizer(const std::string &dir) {
  std::string path = dir + "/tokenizer.json";
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 && errno == ENOENT)
    return Tokenizer();
  COLM_ASSIGN_OR_RETURN(std::string text, readFile(path));
  return parseTokenizer(text, path);
}

Status saveTokenizer(const std::string &dir, const Tokenizer &tokenizer) {
  return writeFileAtomic(dir + "/tokenizer.json", tokenizer.toJson());
}

} // namespace colm
