//===- ThreadPool.cpp - The threads that run kernel launches --------------===//

#include "runtime/ThreadPool.h"

#include <chrono>

namespace colm {

namespace {

/// Spins until `ready()` or about `micros` have passed; true when ready.
template <class Ready> bool spinFor(Ready ready, int micros) {
  auto until =
      std::chrono::steady_clock::now() + std::chrono::microseconds(micros);
  for (int i = 0;; ++i) {
    if (ready())
      return true;
    if ((i & 63) == 63 && std::chrono::steady_clock::now() > until)
      return false;
    // Yield rather than pause: on a busy machine the thread doing the
    // work may need this core.
    std::this_thread::yield();
  }
}

constexpr int kSpinMicros = 50;

} // namespace

ThreadPool::ThreadPool(int threads) : count(threads < 1 ? 1 : threads) {
  for (int i = 1; i < count; ++i)
    workers.emplace_back([this, i] { worker(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex);
    stopping.store(true);
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
    pending.store(count - 1);
    generation.fetch_add(1, std::memory_order_release);
  }
  wake.notify_all();
  fn(args, 0, count);
  if (spinFor([this] { return pending.load(std::memory_order_acquire) == 0; },
              kSpinMicros))
    return;
  std::unique_lock<std::mutex> lock(mutex);
  done.wait(lock, [this] { return pending.load() == 0; });
}

void ThreadPool::worker(int index) {
  uint64_t seen = 0;
  while (true) {
    ColmKernelFn fn;
    const void *args;
    auto ready = [&] {
      return stopping.load() ||
             generation.load(std::memory_order_acquire) != seen;
    };
    if (!spinFor(ready, kSpinMicros)) {
      std::unique_lock<std::mutex> lock(mutex);
      wake.wait(lock, ready);
    }
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (stopping)
        return;
      seen = generation.load();
      fn = current;
      args = currentArgs;
    }
    fn(args, index, count);
    if (pending.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      std::lock_guard<std::mutex> lock(mutex);
      done.notify_one();
    }
  }
}

} // namespace colm
