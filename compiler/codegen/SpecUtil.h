//===- SpecUtil.h - What the kernel descriptions share ----------*- C++ -*-===//
#ifndef COLM_COMPILER_CODEGEN_SPECUTIL_H
#define COLM_COMPILER_CODEGEN_SPECUTIL_H

#include <cstdint>
#include <cstring>
#include <numeric>
#include <vector>

namespace colm::codegen {

/// FNV-1a over 64-bit values: a short, stable tag for what the readable part
/// of a kernel's name leaves out (the tag is part of cache keys: never
/// change how it mixes).
struct NameHash {
  uint64_t h = 1469598103934665603ull;
  void mix(uint64_t v) {
    for (int i = 0; i < 8; ++i) {
      h ^= (v >> (8 * i)) & 0xff;
      h *= 1099511628211ull;
    }
  }
  void mix(int64_t v) { mix(static_cast<uint64_t>(v)); }
  void mix(double d) {
    uint64_t v;
    std::memcpy(&v, &d, sizeof v);
    mix(v);
  }
  unsigned long long tag() const { return h & 0xffff; }
};

/// LayoutAttr::prefixWidth: the width of chains 1..k of `dim` split in the
/// ratios `chains`.
inline int64_t prefixWidth(const std::vector<int64_t> &chains, int64_t dim,
                           size_t k) {
  int64_t sum = std::accumulate(chains.begin(), chains.end(), int64_t{0});
  int64_t part =
      std::accumulate(chains.begin(), chains.begin() + k, int64_t{0});
  return dim * part / sum;
}

} // namespace colm::codegen

#endif // COLM_COMPILER_CODEGEN_SPECUTIL_H
