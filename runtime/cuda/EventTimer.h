//===- EventTimer.h - Timing GPU work with CUDA events ----------*- C++ -*-===//
//
// What the GPU measurements (colm tune's candidates, cuBLASLt's yardstick)
// share: two events around a batch of launches, and enough copies of the
// operands that a timed launch does not find its inputs in the L2 cache.
//
//===----------------------------------------------------------------------===//
#ifndef COLM_RUNTIME_CUDA_EVENTTIMER_H
#define COLM_RUNTIME_CUDA_EVENTTIMER_H

#include "runtime/Status.h"
#include "runtime/cuda/CudaDriver.h"

#include <cstdint>
#include <functional>
#include <memory>

namespace colm::cuda {

/// Copies of a set of operands of `setBytes` that together exceed twice the
/// L2 cache: at least 1, at most `cap` and a quarter of the device memory.
int64_t copiesBeyondL2(const DeviceInfo &device, int64_t setBytes, int64_t cap);

/// Two events on the current context, destroyed with it.
class EventTimer {
public:
  static Result<std::unique_ptr<EventTimer>> create(const Driver &driver);
  ~EventTimer();
  EventTimer(const EventTimer &) = delete;
  EventTimer &operator=(const EventTimer &) = delete;
  /// Milliseconds per call of `launch`, called `count` times between the
  /// events on the default stream.
  Result<double> msPerCall(int64_t count,
                           const std::function<Status()> &launch) const;

private:
  EventTimer() = default;
  const Driver *driver = nullptr;
  CUevent start = nullptr, stop = nullptr;
};

} // namespace colm::cuda

#endif // COLM_RUNTIME_CUDA_EVENTTIMER_H
