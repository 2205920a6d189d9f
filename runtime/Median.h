//===- Median.h - The median of timing samples ------------------*- C++ -*-===//
#ifndef COLM_RUNTIME_MEDIAN_H
#define COLM_RUNTIME_MEDIAN_H

#include <algorithm>
#include <vector>

namespace colm {

/// The median of `v` (the mean of the middle two for an even count; 0 for
/// none): what the tuners and benchmarks report of repeated timings.
inline double median(std::vector<double> v) {
  if (v.empty())
    return 0;
  std::sort(v.begin(), v.end());
  size_t h = v.size() / 2;
  return v.size() % 2 ? v[h] : (v[h - 1] + v[h]) / 2;
}

} // namespace colm

#endif // COLM_RUNTIME_MEDIAN_H
