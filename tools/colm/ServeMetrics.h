//===- ServeMetrics.h - colm serve's counters for /metrics ------*- C++ -*-===//
//
// What the scheduler counts while it serves, rendered in the Prometheus
// text exposition format (version 0.0.4) for GET /metrics. The scheduler
// thread updates it under its mutex; the HTTP threads take a snapshot.
//
//===----------------------------------------------------------------------===//
#ifndef COLM_TOOLS_SERVEMETRICS_H
#define COLM_TOOLS_SERVEMETRICS_H

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace colm::cli {

/// A Prometheus histogram: cumulative counts per upper bound.
struct Histogram {
  explicit Histogram(std::vector<double> bounds)
      : bounds(std::move(bounds)), counts(this->bounds.size(), 0) {}
  void observe(double value);
  std::vector<double> bounds;
  std::vector<int64_t> counts; // per bound, not cumulative
  double sum = 0;
  int64_t count = 0;
};

struct ServeMetrics {
  ServeMetrics();

  // Gauges, set by the scheduler each iteration.
  int64_t running = 0, waiting = 0, preempted = 0;
  int64_t kvBlocksUsed = 0, kvBlocksFree = 0, kvBlockSize = 0;
  int64_t prefixCacheBlocks = 0;
  // Counters.
  int64_t requests = 0, promptTokens = 0, generationTokens = 0;
  int64_t prefixQueriedBlocks = 0, prefixHitBlocks = 0;
  int64_t preemptions = 0, prefillChunks = 0;
  int64_t speculativeDrafted = 0, speculativeAccepted = 0;
  /// Inter-token gaps of sequences with a TPOT target, and those within it.
  int64_t tpotTargetGaps = 0, tpotTargetMet = 0;
  /// Generated tokens by the chain count that produced them.
  std::map<unsigned, int64_t> chainTokens;
  Histogram ttft, tpot, itl;

  /// Tokens counted in the last 10 seconds, for tokens/s gauges.
  void countPrompt(int64_t tokens);
  void countGenerated(int64_t tokens);
  double rate(bool prompt) const;

  /// The text for GET /metrics.
  std::string prometheus() const;

private:
  using Clock = std::chrono::steady_clock;
  void note(std::deque<std::pair<Clock::time_point, int64_t>> &window,
            int64_t tokens);
  std::deque<std::pair<Clock::time_point, int64_t>> promptWindow,
      generatedWindow;
};

} // namespace colm::cli

#endif // COLM_TOOLS_SERVEMETRICS_H
