//===- ThreadPool.cpp - The threads that run kernel launches --------------===//

#include "runtime/ThreadPool.h"

namespace colm {

ThreadPool::ThreadPool(int threads) : count(threads < 1 ? 1 : threads) {
  for (int i = 1; i < count; ++i)
    workers.emplace_back([this, i] { worker(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex);
    stopping = true;
  }
  wake.notify_all();
  for (std::thread &t : workers)
    t.join();
}

void ThreadPool::launch(ColmKernelFn fn, const void *args) {
  if (count == 1) {
    fn(args, 0, 1);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mutex);
    current = fn;
    currentArgs = args;
    pending = count - 1;
    ++generation;
  }
  wake.notify_all();
  fn(args, 0, count);
  std::unique_lock<std::mutex> lock(mutex);
  done.wait(lock, [this] { return pending == 0; });
}

void ThreadPool::worker(int index) {
  uint64_t seen = 0;
  while (true) {
    ColmKernelFn fn;
    const void *args;
    {
      std::unique_lock<std::mutex> lock(mutex);
      wake.wait(lock, [&] { return stopping || generation != seen; });
      if (stopping)
        return;
      seen = generation;
      fn = current;
      args = currentArgs;
    }
    fn(args, index, count);
    std::lock_guard<std::mutex> lock(mutex);
    if (--pending == 0)
      done.notify_one();
  }
}

} // namespace colm
