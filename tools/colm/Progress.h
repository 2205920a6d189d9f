//===- Progress.h - progress bars for long work -----------------*- C++ -*-===//
#ifndef COLM_TOOLS_PROGRESS_H
#define COLM_TOOLS_PROGRESS_H

#include <chrono>
#include <cstdint>
#include <string>

namespace colm::cli {

/// On a terminal: one line redrawn in place with a bar, the caller's info
/// and the ETA. Elsewhere (logs, CI): a plain line every tenth of the work
/// or every 30 seconds.
class Progress {
public:
  /// Work runs from `first` (already done) to `total` units.
  Progress(std::string label, int64_t first, int64_t total);
  void update(int64_t done, const std::string &info);
  /// Ends the line on a terminal.
  void finish();

private:
  using Clock = std::chrono::steady_clock;
  std::string label;
  int64_t first, total, lastPrinted = -1;
  bool tty;
  Clock::time_point start, lastTime;
};

/// "1h02m", "3m05s", "12s".
std::string formatDuration(double seconds);

} // namespace colm::cli

#endif // COLM_TOOLS_PROGRESS_H
