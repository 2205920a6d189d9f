//===- Scheduler.h - continuous batching for colm serve ---------*- C++ -*-===//
//
// One thread owns the model's programs and every active sequence. Each
// iteration admits waiting requests (prefill), samples one token for every
// active sequence and runs their decode steps in parallel, so concurrent
// requests share the machine instead of queueing behind each other.
//
//===----------------------------------------------------------------------===//
#ifndef COLM_TOOLS_SCHEDULER_H
#define COLM_TOOLS_SCHEDULER_H

#include "compiler/Generator.h"
#include "runtime/Sampling.h"
#include "runtime/Tokenizer.h"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

namespace colm::cli {

/// A completion request and the channel its results come back on.
struct CompletionRequest {
  std::vector<int32_t> prompt;
  int64_t maxTokens = 16;
  SamplingConfig sampling;
  std::vector<std::pair<int64_t, unsigned>> schedule;
  bool chain1Prefill = false;
  std::vector<std::string> stops;
  std::string id; // for the server's log

  std::mutex mutex;
  std::condition_variable changed;
  std::deque<std::string> pieces; // text not yet sent
  bool done = false;
  std::string error;
  std::string finishReason;
  int64_t completionTokens = 0;
  /// Set when the client went away; the scheduler drops the sequence.
  std::atomic<bool> cancelled{false};
  std::vector<int32_t> tokens; // generated ids

  /// Blocks until there is text or the request finished; moves the text out.
  /// Returns false once done and drained.
  bool next(std::string &text);
};

class Scheduler {
public:
  Scheduler(const Generator &generator, Tokenizer tokenizer, int64_t maxContext,
            int64_t maxBatch);
  ~Scheduler();
  void submit(std::shared_ptr<CompletionRequest> request);
  /// Finishes the loop thread; waiting requests end with an error.
  void stop();

private:
  struct Active;
  void loop();
  void finish(Active &a, const std::string &reason, const std::string &error);

  const Generator &generator;
  Tokenizer tokenizer;
  int64_t maxContext, maxBatch;
  std::mutex mutex;
  std::condition_variable wake;
  std::deque<std::shared_ptr<CompletionRequest>> waiting;
  bool stopping = false;
  std::thread thread;
};

} // namespace colm::cli

#endif // COLM_TOOLS_SCHEDULER_H
