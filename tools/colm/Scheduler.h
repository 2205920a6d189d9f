//===- Scheduler.h - continuous batching for colm serve ---------*- C++ -*-===//
//
// One thread owns the model's programs and every active sequence. Each
// iteration admits waiting requests (prefill), samples one token for every
// active sequence and runs their decode steps in parallel, so concurrent
// requests share the machine instead of queueing behind each other. A request
// may ask for several choices (several prompts, or "n"): each is a sequence
// of its own.
//
//===----------------------------------------------------------------------===//
#ifndef COLM_TOOLS_SCHEDULER_H
#define COLM_TOOLS_SCHEDULER_H

#include "compiler/Generator.h"
#include "runtime/Sampling.h"
#include "runtime/Tokenizer.h"
#include "tools/colm/ServeRequest.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

namespace colm::cli {

/// Text ready to be sent, with the log-probabilities of the tokens sampled
/// since the last piece (when the request asked for them).
struct StreamPiece {
  std::string text;
  std::vector<serve::TokenLogprob> logprobs;
  /// The echoed prompt (its first token's logprob is NaN: it has none).
  bool prompt = false;
};

struct ChoiceResult {
  std::deque<StreamPiece> pieces; // not yet taken
  bool done = false;
  std::string finishReason;
  int64_t completionTokens = 0;
  std::vector<int32_t> tokens; // generated ids
};

/// A completion request and the channel its results come back on.
struct CompletionRequest {
  explicit CompletionRequest(std::vector<serve::GenerationParams> choices)
      : choices(std::move(choices)), results(this->choices.size()) {}

  const std::vector<serve::GenerationParams> choices;
  std::string id; // for the server's log

  std::mutex mutex;
  std::condition_variable changed;
  std::vector<ChoiceResult> results; // parallel to choices
  size_t finished = 0;               // choices done
  std::string error;                 // the first error of any choice
  /// Set when the client went away (or a choice failed); the scheduler drops
  /// every sequence of the request.
  std::atomic<bool> cancelled{false};

  /// Waits up to `timeout` until some choice has text or every choice
  /// finished; appends what is ready as (choice, piece). Returns false once
  /// every choice is done and drained.
  bool next(std::vector<std::pair<size_t, StreamPiece>> &out,
            std::chrono::milliseconds timeout = std::chrono::hours(24));
};

class Scheduler {
public:
  Scheduler(const Generator &generator, Tokenizer tokenizer, int64_t maxContext,
            int64_t maxBatch);
  ~Scheduler();
  /// Queues every choice of `request`; after stop() they fail at once.
  void submit(std::shared_ptr<CompletionRequest> request);
  /// Finishes the loop thread; waiting requests end with an error.
  void stop();

private:
  struct Active;
  struct Slot {
    std::shared_ptr<CompletionRequest> request;
    size_t choice;
  };
  void loop();
  std::unique_ptr<Active> admit(const Slot &slot);
  /// Ends one choice: the rest of its text, its result and, for the last
  /// choice of a request, the log line.
  void finish(const Slot &slot, StreamPiece rest, int64_t generated,
              const std::string &reason, const std::string &error);
  void finish(Active &a, const std::string &reason, const std::string &error);

  const Generator &generator;
  Tokenizer tokenizer;
  int64_t maxContext, maxBatch;
  std::mutex mutex;
  std::condition_variable wake;
  std::deque<Slot> waiting;
  bool stopping = false;
  std::thread thread;
};

} // namespace colm::cli

#endif // COLM_TOOLS_SCHEDULER_H
