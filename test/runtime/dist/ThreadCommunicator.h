//===- ThreadCommunicator.h - Ranks as threads of one process ---*- C++ -*-===//
//
// A dist::Communicator for tests: N threads of one process are the ranks,
// and each collective runs when it is started (every rank starts the same
// collectives in the same order, so a barrier pairs them). It counts the
// floats each rank sends, so tests can check what travels.
//
//===----------------------------------------------------------------------===//
#ifndef COLM_TEST_RUNTIME_DIST_THREADCOMMUNICATOR_H
#define COLM_TEST_RUNTIME_DIST_THREADCOMMUNICATOR_H

#include "runtime/dist/Communicator.h"

#include <barrier>
#include <cstring>
#include <functional>
#include <memory>
#include <thread>

namespace colm::test {

class ThreadGroup {
public:
  explicit ThreadGroup(int ranks) : ranks(ranks), sync(ranks) {
    slots.resize(size_t(ranks));
  }
  /// Runs fn(rank) on `ranks` threads and joins them.
  void run(const std::function<void(int)> &fn) {
    std::vector<std::thread> threads;
    for (int r = 0; r < ranks; ++r)
      threads.emplace_back(fn, r);
    for (std::thread &t : threads)
      t.join();
  }
  int size() const { return ranks; }

private:
  friend class ThreadCommunicator;
  struct Slot {
    const void *send = nullptr;
    void *recv = nullptr;
  };
  int ranks;
  std::barrier<> sync;
  std::vector<Slot> slots;
};

class ThreadCommunicator final : public dist::Communicator {
public:
  ThreadCommunicator(ThreadGroup &group, int rank) : g(group), me(rank) {}
  int rank() const override { return me; }
  int size() const override { return g.ranks; }
  std::string name() const override { return "threads"; }
  bool healthy() const override { return true; }
  [[noreturn]] void abort(int code) override { std::_Exit(code); }
  void progress() override {}
  Status wait(Request) override { return Status::ok(); }

  Result<Request> reduceScatterSum(const float *send, float *recv,
                                   const std::vector<int64_t> &counts,
                                   const std::string &) override {
    for (int64_t c : counts)
      floatsSent += c;
    exchange(send, recv, [&] {
      int64_t at = 0;
      for (int r = 0; r < me; ++r)
        at += counts[size_t(r)];
      for (int64_t i = 0; i < counts[size_t(me)]; ++i) {
        float sum = 0;
        for (int r = 0; r < g.ranks; ++r)
          sum += static_cast<const float *>(g.slots[size_t(r)].send)[at + i];
        recv[i] = sum;
      }
    });
    return ++next;
  }
  Result<Request> allGather(const float *mine, float *all,
                            const std::vector<int64_t> &counts,
                            const std::string &) override {
    exchange(mine, all, [&] {
      int64_t at = 0;
      for (int r = 0; r < g.ranks; ++r) {
        std::memcpy(all + at, g.slots[size_t(r)].send,
                    size_t(counts[size_t(r)]) * sizeof(float));
        at += counts[size_t(r)];
      }
    });
    return ++next;
  }
  Result<Request> gather(const float *mine, float *all,
                         const std::vector<int64_t> &counts, int root,
                         const std::string &what) override {
    if (me == root)
      return allGather(mine, all, counts, what);
    exchange(mine, nullptr, [] {});
    return ++next;
  }
  Result<Request> allReduceSum(double *data, int64_t n,
                               const std::string &) override {
    std::vector<double> copy(data, data + n);
    exchange(copy.data(), data, [&] {
      for (int64_t i = 0; i < n; ++i) {
        double sum = 0;
        for (int r = 0; r < g.ranks; ++r)
          sum += static_cast<const double *>(g.slots[size_t(r)].send)[i];
        data[i] = sum;
      }
    });
    return ++next;
  }
  Result<Request> broadcast(void *data, int64_t bytes, int root,
                            const std::string &) override {
    std::vector<uint8_t> copy(static_cast<uint8_t *>(data),
                              static_cast<uint8_t *>(data) + bytes);
    exchange(copy.data(), data, [&] {
      std::memcpy(data, g.slots[size_t(root)].send, size_t(bytes));
    });
    return ++next;
  }

  int64_t floatsSent = 0;

private:
  /// Publishes this rank's buffers, lets every rank compute its result
  /// from all of them, and waits until all are done reading.
  void exchange(const void *send, void *recv, const std::function<void()> &f) {
    g.slots[size_t(me)] = {send, recv};
    g.sync.arrive_and_wait();
    f();
    g.sync.arrive_and_wait();
  }
  ThreadGroup &g;
  int me;
  Request next = 0;
};

} // namespace colm::test

#endif // COLM_TEST_RUNTIME_DIST_THREADCOMMUNICATOR_H
