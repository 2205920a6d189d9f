//===- ThreadPool.h - The threads that run kernel launches -----*- C++ -*-===//
//
// A launch runs a kernel on every thread of the pool at once (the caller is
// thread 0) and returns when all are done. Kernels split their work by
// (thread, threads) alone, so a result never depends on scheduling.
//
//===----------------------------------------------------------------------===//
#ifndef COLM_RUNTIME_THREADPOOL_H
#define COLM_RUNTIME_THREADPOOL_H

#include "runtime/KernelAbi.h"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace colm {

class ThreadPool {
public:
  /// `threads` >= 1 in all, the caller included.
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool &) = delete;
  ThreadPool &operator=(const ThreadPool &) = delete;

  int threads() const { return count; }
  /// fn(args, t, threads()) for every t; returns when all calls have. Not
  /// reentrant: one launch at a time per pool.
  void launch(ColmKernelFn fn, const void *args);

private:
  void worker(int index);

  int count;
  std::vector<std::thread> workers;
  std::mutex mutex;
  std::condition_variable wake, done;
  // Launches follow each other by microseconds: threads spin on these for a
  // short while before they sleep on the condition variables.
  std::atomic<uint64_t> generation{0};
  std::atomic<int> pending{0};
  std::atomic<bool> stopping{false};
  ColmKernelFn current = nullptr;
  const void *currentArgs = nullptr;
};

} // namespace colm

#endif // COLM_RUNTIME_THREADPOOL_H
