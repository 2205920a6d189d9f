//===- Safetensors.cpp - Read and write .safetensors files ----------------===//

#include "runtime/Safetensors.h"

#include "runtime/File.h"
#include "runtime/Json.h"

#include <algorithm>
#include <cstring>

namespace colm {

namespace {

struct Entry {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  uint64_t begin;
  uint64_t end;
};

} // namespace

static uint64_t readLE64(const char *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i)
    v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

static void appendLE64(std::string &out, uint64_t v) {
  for (int i = 0; i < 8; ++i)
    out += static_cast<char>((v >> (8 * i)) & 0xFF);
}

/// Parses one header entry; errors name the source and the tensor.
static Status parseEntry(const std::string &where, const std::string &name,
                         const JsonValue &v, Entry &out) {
  std::string at = where + ": tensor '" + name + "'";
  if (!v.isObject())
    return Status::error(at + ": header entry must be an object, got " +
                         JsonValue::kindWithArticle(v.kind()));
  const JsonValue *dtype = v.find("dtype");
  const JsonValue *shape = v.find("shape");
  const JsonValue *offsets = v.find("data_offsets");
  if (!dtype)
    return Status::error(at + ": missing \"dtype\"");
  if (!shape)
    return Status::error(at + ": missing \"shape\"");
  if (!offsets)
    return Status::error(at + ": missing \"data_offsets\"");
  if (!dtype->isString())
    return Status::error(at + ": \"dtype\" must be a string, got " +
                         JsonValue::kindWithArticle(dtype->kind()));
  std::optional<DType> dt = parseDType(dtype->asString());
  if (!dt)
    return Status::error(at + ": unsupported dtype '" + dtype->asString() +
                         "'; only F32, F16 and BF16 are supported");
  if (!shape->isArray())
    return Status::error(at + ": \"shape\" must be an array, got " +
                         JsonValue::kindWithArticle(shape->kind()));
  // Element count, checked against overflow: bytes = numel * size must fit.
  uint64_t numel = 1;
  bool overflow = false;
  for (const JsonValue &d : shape->elements()) {
    if (!d.isInteger() || d.asInt() < 0)
      return Status::error(at +
                           ": \"shape\" entries must be non-negative "
                           "integers, got " +
                           writeJson(d, 0));
    uint64_t dim = static_cast<uint64_t>(d.asInt());
    out.shape.push_back(d.asInt());
    if (__builtin_mul_overflow(numel, dim, &numel))
      overflow = true;
  }
  uint64_t byteSize = 0;
  if (overflow || numel > (uint64_t{1} << 62) ||
      __builtin_mul_overflow(numel, dtypeSize(*dt), &byteSize))
    return Status::error(at + ": shape " + formatShape(out.shape) +
                         " has too many elements");
  if (!offsets->isArray() || offsets->size() != 2)
    return Status::error(at + ": \"data_offsets\" must be an array of two "
                              "integers");
  for (const JsonValue &o : offsets->elements())
    if (!o.isInteger() || o.asInt() < 0)
      return Status::error(at +
                           ": \"data_offsets\" entries must be "
                           "non-negative integers, got " +
                           writeJson(o, 0));
  out.name = name;
  out.dtype = *dt;
  out.begin = static_cast<uint64_t>((*offsets)[0].asInt());
  out.end = static_cast<uint64_t>((*offsets)[1].asInt());
  if (out.begin > out.end)
    return Status::error(at + ": data_offsets [" + std::to_string(out.begin) +
                         ", " + std::to_string(out.end) + "] begin after end");
  if (out.end - out.begin != byteSize)
    return Status::error(at + ": data_offsets [" + std::to_string(out.begin) +
                         ", " + std::to_string(out.end) + "] hold " +
                         std::to_string(out.end - out.begin) +
                         " bytes, but shape " + formatShape(out.shape) +
                         " of " + dtypeName(*dt) + " needs " +
                         std::to_string(byteSize));
  return Status::ok();
}

static void decode(const char *src, const Entry &e, Tensor &t) {
  size_t n = static_cast<size_t>(e.end - e.begin) / dtypeSize(e.dtype);
  t.data.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const unsigned char *p =
        reinterpret_cast<const unsigned char *>(src) + i * dtypeSize(e.dtype);
    switch (e.dtype) {
    case DType::F32: {
      uint32_t u = p[0] | (p[1] << 8) | (p[2] << 16) |
                   (static_cast<uint32_t>(p[3]) << 24);
      std::memcpy(&t.data[i], &u, 4);
      break;
    }
    case DType::F16:
      t.data[i] = halfToFloat(static_cast<uint16_t>(p[0] | (p[1] << 8)));
      break;
    case DType::BF16:
      t.data[i] = bfloat16ToFloat(static_cast<uint16_t>(p[0] | (p[1] << 8)));
      break;
    }
  }
}

Result<TensorMap> parseSafetensors(std::string_view bytes,
                                   std::string_view source) {
  std::string where(source);
  if (bytes.size() < 8)
    return Status::error(where + ": file is " + std::to_string(bytes.size()) +
                         " bytes, shorter than the 8-byte header length");
  uint64_t headerLen = readLE64(bytes.data());
  if (headerLen > bytes.size() - 8)
    return Status::error(where + ": header length " +
                         std::to_string(headerLen) +
                         " runs past the end of "
                         "the file (" +
                         std::to_string(bytes.size()) + " bytes)");
  std::string_view headerText = bytes.substr(8, headerLen);
  std::string_view data = bytes.substr(8 + headerLen);
  COLM_ASSIGN_OR_RETURN(JsonValue header,
                        parseJson(headerText, where + " (header)"));
  if (!header.isObject())
    return Status::error(where + ": header must be a JSON object, got " +
                         JsonValue::kindWithArticle(header.kind()));

  std::vector<Entry> entries;
  for (size_t i = 0; i < header.size(); ++i) {
    const std::string &name = header.keys()[i];
    const JsonValue &v = header[i];
    if (name == "__metadata__") {
      if (!v.isObject())
        return Status::error(where + ": \"__metadata__\" must be an object");
      for (size_t j = 0; j < v.size(); ++j)
        if (!v[j].isString())
          return Status::error(where + ": \"__metadata__\" value of \"" +
                               v.keys()[j] + "\" must be a string");
      continue;
    }
    Entry e;
    COLM_TRY(parseEntry(where, name, v, e));
    if (e.end > data.size())
      return Status::error(
          where + ": tensor '" + name + "': data_offsets [" +
          std::to_string(e.begin) + ", " + std::to_string(e.end) +
          "] run past the end of the " + std::to_string(data.size()) +
          "-byte data section (is the file truncated?)");
    entries.push_back(std::move(e));
  }

  // The tensors must tile the data section exactly.
  std::vector<const Entry *> order;
  for (const Entry &e : entries)
    order.push_back(&e);
  std::sort(order.begin(), order.end(), [](const Entry *a, const Entry *b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  uint64_t cursor = 0;
  const Entry *prev = nullptr;
  for (const Entry *e : order) {
    if (e->begin < cursor)
      return Status::error(
          where + ": tensor '" + e->name + "' (bytes " +
          std::to_string(e->begin) + ".." + std::to_string(e->end) +
          ") overlaps tensor '" + prev->name + "' (bytes " +
          std::to_string(prev->begin) + ".." + std::to_string(prev->end) + ")");
    if (e->begin > cursor)
      return Status::error(where + ": data bytes " + std::to_string(cursor) +
                           ".." + std::to_string(e->begin) +
                           " belong to no tensor (before tensor '" + e->name +
                           "'); the format does not allow holes");
    cursor = e->end;
    prev = e;
  }
  if (cursor != data.size())
    return Status::error(where + ": data bytes " + std::to_string(cursor) +
                         ".." + std::to_string(data.size()) +
                         " at the end belong to no tensor");

  TensorMap tensors;
  for (const Entry &e : entries) {
    Tensor t;
    t.shape = e.shape;
    t.storedType = e.dtype;
    decode(data.data() + e.begin, e, t);
    tensors.emplace(e.name, std::move(t));
  }
  return tensors;
}

Result<TensorMap> readSafetensors(const std::string &path) {
  COLM_ASSIGN_OR_RETURN(std::string bytes, readFile(path));
  return parseSafetensors(bytes, path);
}

static void encode(const Tensor &t, DType dtype, std::string &out) {
  for (float f : t.data) {
    switch (dtype) {
    case DType::F32: {
      uint32_t u;
      std::memcpy(&u, &f, 4);
      for (int i = 0; i < 4; ++i)
        out += static_cast<char>((u >> (8 * i)) & 0xFF);
      break;
    }
    case DType::F16:
    case DType::BF16: {
      uint16_t h = dtype == DType::F16 ? floatToHalf(f) : floatToBFloat16(f);
      out += static_cast<char>(h & 0xFF);
      out += static_cast<char>(h >> 8);
      break;
    }
    }
  }
}

Result<std::string> serializeSafetensors(const TensorMap &tensors,
                                         DType dtype) {
  JsonValue header = JsonValue::object();
  JsonValue metadata = JsonValue::object();
  metadata.set("format", JsonValue::string("pt"));
  header.set("__metadata__", std::move(metadata));
  uint64_t offset = 0;
  for (const auto &[name, t] : tensors) {
    if (name == "__metadata__")
      return Status::error("cannot store a tensor named '__metadata__'");
    for (int64_t d : t.shape)
      if (d < 0)
        return Status::error("tensor '" + name + "' has negative shape " +
                             formatShape(t.shape));
    if (static_cast<int64_t>(t.data.size()) != t.numel())
      return Status::error("tensor '" + name + "' has shape " +
                           formatShape(t.shape) + " but " +
                           std::to_string(t.data.size()) + " values");
    JsonValue entry = JsonValue::object();
    entry.set("dtype", JsonValue::string(dtypeName(dtype)));
    JsonValue shape = JsonValue::array();
    for (int64_t d : t.shape)
      shape.push(JsonValue::integer(d));
    entry.set("shape", std::move(shape));
    uint64_t bytes = t.data.size() * dtypeSize(dtype);
    JsonValue offsets = JsonValue::array();
    offsets.push(JsonValue::integer(static_cast<int64_t>(offset)));
    offsets.push(JsonValue::integer(static_cast<int64_t>(offset + bytes)));
    entry.set("data_offsets", std::move(offsets));
    header.set(name, std::move(entry));
    offset += bytes;
  }
  std::string headerText = writeJson(header, 0);
  // Pad with spaces so the data starts 8-byte aligned.
  size_t total = 8 + headerText.size();
  headerText.append((8 - total % 8) % 8, ' ');
  std::string out;
  out.reserve(8 + headerText.size() + offset);
  appendLE64(out, headerText.size());
  out += headerText;
  for (const auto &[name, t] : tensors)
    encode(t, dtype, out);
  return out;
}

Status writeSafetensors(const std::string &path, const TensorMap &tensors,
                        DType dtype) {
  Result<std::string> bytes = serializeSafetensors(tensors, dtype);
  if (!bytes)
    return bytes.status().withContext(path);
  return writeFileAtomic(path, *bytes);
}

} // namespace colm
