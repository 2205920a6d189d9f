//===- Progress.cpp - progress bars for long work ---------------*- C++ -*-===//
#include "tools/colm/Progress.h"

#include <cstdio>
#include <unistd.h>

namespace colm::cli {

std::string formatDuration(double seconds) {
  auto s = static_cast<int64_t>(seconds + 0.5);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", (long long)(s / 3600),
                  (long long)(s % 3600 / 60));
  else if (s >= 60)
    std::snprintf(buf, sizeof buf, "%lldm%02llds", (long long)(s / 60),
                  (long long)(s % 60));
  else
    std::snprintf(buf, sizeof buf, "%llds", (long long)s);
  return buf;
}

Progress::Progress(std::string label, int64_t first, int64_t total)
    : label(std::move(label)), first(first), total(total),
      tty(isatty(STDERR_FILENO)), start(Clock::now()), lastTime(start) {}

void Progress::update(int64_t done, const std::string &info) {
  auto now = Clock::now();
  double elapsed = std::chrono::duration<double>(now - start).count();
  double rate = done > first ? elapsed / double(done - first) : 0;
  std::string eta =
      done > first ? formatDuration(rate * double(total - done)) : "?";
  if (tty) {
    const int width = 24;
    int filled = total ? static_cast<int>(width * done / total) : width;
    std::string bar(filled, '#');
    bar.resize(width, '.');
    std::fprintf(stderr, "\r%s %lld/%lld [%s] %s  ETA %s\033[K", label.c_str(),
                 (long long)done, (long long)total, bar.c_str(), info.c_str(),
                 eta.c_str());
    std::fflush(stderr);
    return;
  }
  int64_t tenth = std::max<int64_t>(1, (total - first) / 10);
  double quiet = std::chrono::duration<double>(now - lastTime).count();
  bool due = done == total ||
             (done - std::max(lastPrinted, first) >= tenth && quiet >= 5) ||
             quiet >= 30;
  if (!due)
    return;
  std::fprintf(stderr, "%s %lld/%lld  %s  elapsed %s  ETA %s\n", label.c_str(),
               (long long)done, (long long)total, info.c_str(),
               formatDuration(elapsed).c_str(), eta.c_str());
  lastPrinted = done;
  lastTime = now;
}

void Progress::finish() {
  if (tty)
    std::fputc('\n', stderr);
}

} // namespace colm::cli
