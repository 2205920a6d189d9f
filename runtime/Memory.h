//===- Memory.h - How much memory there is, and whether a job fits -*- C++
//-*-===//
//
// Large allocations are estimated and checked before they are made, so a
// config that cannot fit is an error that names the estimate, never a
// std::bad_alloc (the runtime is built without exceptions: that would abort).
//
//===----------------------------------------------------------------------===//

#ifndef COLM_RUNTIME_MEMORY_H
#define COLM_RUNTIME_MEMORY_H

#include "runtime/Status.h"

#include <cstdint>
#include <string>

namespace colm {

/// Bytes this process can expect to allocate: MemAvailable of /proc/meminfo,
/// capped by the cgroup's memory.max and by COLM_MEMORY_LIMIT (bytes, or with
/// a K/M/G suffix) when set.
uint64_t availableMemoryBytes();

/// "1.5 GiB", "12.0 MiB", "512 bytes".
std::string formatBytes(double bytes);

/// An error when `bytes` exceed availableMemoryBytes(): "`what` needs about
/// X, but only Y of memory is available".
Status checkMemoryFits(double bytes, const std::string &what);

/// Makes a failed `new` print "error: out of memory ..." and exit with code 1
/// instead of aborting (the last line of defence behind the estimates).
void installOutOfMemoryHandler();

} // namespace colm

#endif // COLM_RUNTIME_MEMORY_H
