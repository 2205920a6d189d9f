//===- Parallel.h - independent work on every core --------------*- C++ -*-===//
#ifndef COLM_RUNTIME_PARALLEL_H
#define COLM_RUNTIME_PARALLEL_H

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <thread>
#include <vector>

namespace colm {

/// Calls fn(i) for i in [0, n) on up to one thread per core. The calls must
/// be independent; callers combine results in index order afterwards, so the
/// outcome does not depend on the thread count.
template <class Fn> void parallelFor(size_t n, Fn &&fn) {
  size_t workers = std::max<size_t>(
      1, std::min<size_t>(std::thread::hardware_concurrency(), n));
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i; (i = next++) < n;)
      fn(i);
  };
  std::vector<std::thread> pool;
  for (size_t w = 1; w < workers; ++w)
    pool.emplace_back(work);
  work();
  for (std::thread &t : pool)
    t.join();
}

} // namespace colm

#endif // COLM_RUNTIME_PARALLEL_H
