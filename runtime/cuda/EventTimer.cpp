//===- EventTimer.cpp - Timing GPU work with CUDA events ------------------===//
#include "runtime/cuda/EventTimer.h"

#include <algorithm>

namespace colm::cuda {

int64_t copiesBeyondL2(const DeviceInfo &device, int64_t setBytes,
                       int64_t cap) {
  setBytes = std::max<int64_t>(setBytes, 1);
  int64_t copies = std::clamp<int64_t>(
      (2 * std::max<int64_t>(device.l2Bytes, 1) + setBytes - 1) / setBytes, 1,
      cap);
  return std::max<int64_t>(
      1, std::min<int64_t>(copies, device.memoryBytes / 4 / setBytes));
}

Result<std::unique_ptr<EventTimer>> EventTimer::create(const Driver &driver) {
  std::unique_ptr<EventTimer> t(new EventTimer());
  t->driver = &driver;
  COLM_TRY(
      driver.check(driver.api().cuEventCreate(&t->start, 0), "cuEventCreate"));
  COLM_TRY(
      driver.check(driver.api().cuEventCreate(&t->stop, 0), "cuEventCreate"));
  return t;
}

EventTimer::~EventTimer() {
  if (start)
    driver->api().cuEventDestroy(start);
  if (stop)
    driver->api().cuEventDestroy(stop);
}

Result<double>
EventTimer::msPerCall(int64_t count,
                      const std::function<Status()> &launch) const {
  const DriverApi &f = driver->api();
  COLM_TRY(driver->check(f.cuEventRecord(start, nullptr), "cuEventRecord"));
  for (int64_t i = 0; i < count; ++i)
    COLM_TRY(launch());
  COLM_TRY(driver->check(f.cuEventRecord(stop, nullptr), "cuEventRecord"));
  COLM_TRY(driver->check(f.cuEventSynchronize(stop), "cuEventSynchronize"));
  float ms = 0;
  COLM_TRY(driver->check(f.cuEventElapsedTime(&ms, start, stop),
                         "cuEventElapsedTime"));
  return double(ms) / double(std::max<int64_t>(count, 1));
}

} // namespace colm::cuda
