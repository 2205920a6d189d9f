//===- Npy.cpp - NumPy .npy files for float32 arrays ----------------------===//

#include "runtime/Npy.h"

#include "runtime/File.h"

#include <charconv>
#include <cstring>

namespace colm {

static const char kMagic[] = "\x93NUMPY";

std::string serializeNpy(const float *data, const std::vector<int64_t> &shape) {
  std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (";
  int64_t numel = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    dict += std::to_string(shape[i]);
    // A one-element tuple needs its trailing comma.
    if (i + 1 < shape.size() || shape.size() == 1)
      dict += shape.size() == 1 ? "," : ", ";
    numel *= shape[i];
  }
  dict += "), }";
  // magic(6) + version(2) + length(2) + dict + padding + '\n', 64-aligned.
  size_t unpadded = 10 + dict.size() + 1;
  dict.append((64 - unpadded % 64) % 64, ' ');
  dict += '\n';
  std::string out(kMagic, 6);
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(dict.size() & 0xFF);
  out += static_cast<char>((dict.size() >> 8) & 0xFF);
  out += dict;
  size_t offset = out.size();
  out.resize(offset + static_cast<size_t>(numel) * 4);
  for (int64_t i = 0; i < numel; ++i) {
    uint32_t u;
    std::memcpy(&u, &data[i], 4);
    for (int b = 0; b < 4; ++b)
      out[offset + i * 4 + b] = static_cast<char>((u >> (8 * b)) & 0xFF);
  }
  return out;
}

Status writeNpy(const std::string &path, const float *data,
                const std::vector<int64_t> &shape) {
  for (int64_t d : shape)
    if (d < 0)
      return Status::error(path + ": negative shape " + formatShape(shape));
  return writeFileAtomic(path, serializeNpy(data, shape));
}

/// The text after `'key':` in the header dict, or empty if absent.
static std::string_view dictValue(std::string_view dict, std::string_view key) {
  std::string quoted = "'" + std::string(key) + "'";
  size_t p = dict.find(quoted);
  if (p == std::string_view::npos)
    return {};
  p += quoted.size();
  while (p < dict.size() && (dict[p] == ' ' || dict[p] == ':'))
    ++p;
  return dict.substr(p);
}

Result<Tensor> parseNpy(std::string_view bytes, std::string_view source) {
  std::string where(source);
  if (bytes.size() < 10 || bytes.substr(0, 6) != std::string_view(kMagic, 6))
    return Status::error(where + ": not an NPY file (bad magic)");
  unsigned major = static_cast<unsigned char>(bytes[6]);
  size_t headerLen, headerStart;
  auto byteAt = [&](size_t i) -> size_t {
    return static_cast<unsigned char>(bytes[i]);
  };
  if (major == 1) {
    headerLen = byteAt(8) | (byteAt(9) << 8);
    headerStart = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12)
      return Status::error(where + ": truncated NPY header");
    headerLen =
        byteAt(8) | (byteAt(9) << 8) | (byteAt(10) << 16) | (byteAt(11) << 24);
    headerStart = 12;
  } else {
    return Status::error(where + ": unsupported NPY version " +
                         std::to_string(major));
  }
  if (headerLen > bytes.size() - headerStart)
    return Status::error(where + ": NPY header runs past the end of the file");
  std::string_view dict = bytes.substr(headerStart, headerLen);
  std::string_view descr = dictValue(dict, "descr");
  if (descr.substr(0, 5) != "'<f4'")
    return Status::error(where + ": only '<f4' (little-endian float32) NPY "
                                 "arrays are supported");
  std::string_view fortran = dictValue(dict, "fortran_order");
  if (fortran.substr(0, 5) != "False")
    return Status::error(where + ": Fortran-order NPY arrays are not "
                                 "supported");
  std::string_view shapeText = dictValue(dict, "shape");
  if (shapeText.empty() || shapeText[0] != '(')
    return Status::error(where + ": NPY header has no shape tuple");
  Tensor t;
  size_t p = 1;
  uint64_t numel = 1;
  while (p < shapeText.size() && shapeText[p] != ')') {
    if (shapeText[p] == ' ' || shapeText[p] == ',') {
      ++p;
      continue;
    }
    int64_t d = 0;
    auto [ptr, ec] = std::from_chars(shapeText.data() + p,
                                     shapeText.data() + shapeText.size(), d);
    if (ec != std::errc() || d < 0)
      return Status::error(where + ": bad NPY shape tuple");
    if (__builtin_mul_overflow(numel, static_cast<uint64_t>(d), &numel))
      return Status::error(where + ": NPY shape too large");
    t.shape.push_back(d);
    p = ptr - shapeText.data();
  }
  if (p >= shapeText.size())
    return Status::error(where + ": unterminated NPY shape tuple");
  std::string_view data = bytes.substr(headerStart + headerLen);
  if (numel > data.size() / 4 || data.size() != numel * 4)
    return Status::error(where + ": NPY data is " +
                         std::to_string(data.size()) + " bytes, shape " +
                         formatShape(t.shape) + " needs " +
                         std::to_string(numel * 4));
  t.data.resize(numel);
  for (uint64_t i = 0; i < numel; ++i) {
    uint32_t u = 0;
    for (int b = 3; b >= 0; --b)
      u = (u << 8) | static_cast<unsigned char>(data[i * 4 + b]);
    std::memcpy(&t.data[i], &u, 4);
  }
  return t;
}

Result<Tensor> readNpy(const std::string &path) {
  COLM_ASSIGN_OR_RETURN(std::string bytes, readFile(path));
  return parseNpy(bytes, path);
}

} // namespace colm
