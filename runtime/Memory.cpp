//===- Memory.cpp - How much memory there is, and whether a job fits
//-------===//

#include "runtime/Memory.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <new>
#include <unistd.h>

namespace colm {

static uint64_t parseSize(const char *text) {
  char *end = nullptr;
  double v = std::strtod(text, &end);
  if (end == text || !(v > 0))
    return 0;
  switch (*end) {
  case 'k':
  case 'K':
    v *= 1024.0;
    break;
  case 'm':
  case 'M':
    v *= 1024.0 * 1024.0;
    break;
  case 'g':
  case 'G':
    v *= 1024.0 * 1024.0 * 1024.0;
    break;
  default:
    break;
  }
  return v >= 1.8e19 ? UINT64_MAX : static_cast<uint64_t>(v);
}

uint64_t availableMemoryBytes() {
  uint64_t best = 0;
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  uint64_t kib = 0;
  std::string unit;
  while (meminfo >> key >> kib) {
    std::getline(meminfo, unit);
    if (key == "MemAvailable:") {
      best = kib * 1024;
      break;
    }
  }
  if (best == 0) {
    long pages = ::sysconf(_SC_AVPHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
    if (pages > 0 && page > 0)
      best = static_cast<uint64_t>(pages) * static_cast<uint64_t>(page);
  }
  std::ifstream cgroup("/sys/fs/cgroup/memory.max");
  std::string limit;
  if (cgroup >> limit && limit != "max") {
    uint64_t v = parseSize(limit.c_str());
    if (v > 0 && (best == 0 || v < best))
      best = v;
  }
  if (const char *env = std::getenv("COLM_MEMORY_LIMIT")) {
    uint64_t v = parseSize(env);
    if (v > 0 && (best == 0 || v < best))
      best = v;
  }
  return best == 0 ? UINT64_MAX : best;
}

std::string formatBytes(double bytes) {
  static const char *units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes < 1024)
    return std::to_string(static_cast<long long>(bytes)) + " bytes";
  int u = -1;
  while (bytes >= 1024 && u + 1 < 6) {
    bytes /= 1024;
    ++u;
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.1f %s", bytes, units[u]);
  return buf;
}

Status checkMemoryFits(double bytes, const std::string &what) {
  double available = static_cast<double>(availableMemoryBytes());
  if (bytes <= available)
    return Status::ok();
  return Status::error(what + " needs about " + formatBytes(bytes) +
                       ", but only " + formatBytes(available) +
                       " of memory is available");
}

static void outOfMemory() {
  static const char msg[] =
      "error: out of memory: an allocation failed (the job needs more memory "
      "than is available; try a smaller model, batch or sequence)\n";
  // write(2), not stdio: nothing here may allocate.
  ssize_t ignored = ::write(2, msg, sizeof(msg) - 1);
  (void)ignored;
  std::_Exit(1);
}

void installOutOfMemoryHandler() { std::set_new_handler(outOfMemory); }

} // namespace colm
