//===- Random.h - Deterministic, portable random numbers --------*- C++ -*-===//
//
// std::normal_distribution differs between standard libraries, so weights
// initialised with it would differ between machines. This generator is
// xoshiro256** seeded through splitmix64, with Box-Muller for normals: the
// uniform stream is bit-exact everywhere; normals go through libm log/sin/cos
// in double precision and are rounded to float by the caller.
//
//===----------------------------------------------------------------------===//

#ifndef COLM_RUNTIME_RANDOM_H
#define COLM_RUNTIME_RANDOM_H

#include <array>
#include <cmath>
#include <cstdint>
#include <string_view>

namespace colm {

inline uint64_t splitmix64(uint64_t &state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/// FNV-1a, to turn a tensor name into part of a seed.
inline uint64_t hashName(std::string_view name) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (char c : name) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001B3ull;
  }
  return h;
}

class Random {
public:
  explicit Random(uint64_t seed) {
    uint64_t sm = seed;
    for (uint64_t &w : s)
      w = splitmix64(sm);
  }

  /// A stream that depends only on (seed, name), so each tensor's values do
  /// not depend on the order tensors are initialised in.
  static Random forName(uint64_t seed, std::string_view name) {
    uint64_t sm = seed;
    uint64_t a = splitmix64(sm);
    return Random(a ^ hashName(name));
  }

  uint64_t next() {
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
  }

  /// Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

  /// Standard normal (Box-Muller; the second value of each pair is kept).
  double normal() {
    if (hasSpare) {
      hasSpare = false;
      return spare;
    }
    double u1 = 1.0 - uniform(); // (0, 1]: log stays finite
    double u2 = uniform();
    double r = std::sqrt(-2.0 * std::log(u1));
    double theta = 6.283185307179586 * u2;
    spare = r * std::sin(theta);
    hasSpare = true;
    return r * std::cos(theta);
  }

  /// The generator's four state words, to save and restore a stream (the
  /// uniform stream continues bit-exactly). A pending Box-Muller value is not
  /// part of the state: setState() discards it.
  std::array<uint64_t, 4> state() const { return {s[0], s[1], s[2], s[3]}; }
  void setState(const std::array<uint64_t, 4> &words) {
    for (int i = 0; i < 4; ++i)
      s[i] = words[i];
    hasSpare = false;
  }

  /// Uniform integer in [0, n) for n > 0 (the high half of next() * n).
  uint64_t below(uint64_t n) {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(next()) * n) >>
                                 64);
  }

private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s[4];
  bool hasSpare = false;
  double spare = 0;
};

} // namespace colm

#endif // COLM_RUNTIME_RANDOM_H
