//===- Scheduler.h - continuous batching for colm serve ---------*- C++ -*-===//
//
// One thread owns the model's programs, the KV cache pool and every active
// sequence. Each iteration:
//
//  1. admits waiting sequences (preempted ones first) while there is a
//     slot and the pool has blocks for their prompt; a prompt's cached
//     prefix (PrefixCache) is taken instead of computed;
//  2. samples one token for every sequence whose prompt is done and decodes
//     them together; a sequence that needs a new block and finds none
//     preempts the sequence admitted last (its blocks are freed; it is
//     recomputed exactly when it is admitted again);
//  3. spends the rest of the step's budget (--step-tokens, or by default
//     about half the decode step's measured time) on prefill chunks, in
//     admission order: decodes go first, so a long prompt never stalls the
//     streams running beside it. CoLM-Air's chain-1 prefill counts at the
//     chain-1 program's cost.
//
// Every path computes a row with the bits plain generation gives it
// (Generator::nextPrefillChunk, the batch-invariant kernels), so chunking,
// cached prefixes and preemption change no output. A request may ask for
// several choices (several prompts, or "n"): each is a sequence of its own.
//
//===----------------------------------------------------------------------===//
#ifndef COLM_TOOLS_SCHEDULER_H
#define COLM_TOOLS_SCHEDULER_H

#include "compiler/Generator.h"
#include "compiler/Speculative.h"
#include "runtime/ChainController.h"
#include "runtime/PrefixCache.h"
#include "runtime/Sampling.h"
#include "runtime/Tokenizer.h"
#include "tools/colm/ServeMetrics.h"
#include "tools/colm/ServeRequest.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
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
  /// Generated tokens by the chain count of the sub-model that produced
  /// them.
  std::map<unsigned, int64_t> chainTokens;
};

/// A completion request and the channel its results come back on.
struct CompletionRequest {
  explicit CompletionRequest(std::vector<serve::GenerationParams> choices)
      : choices(std::move(choices)), results(this->choices.size()),
        arrived(std::chrono::steady_clock::now()) {}

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
  const std::chrono::steady_clock::time_point arrived;

  /// Waits up to `timeout` until some choice has text or every choice
  /// finished; appends what is ready as (choice, piece). Returns false once
  /// every choice is done and drained.
  bool next(std::vector<std::pair<size_t, StreamPiece>> &out,
            std::chrono::milliseconds timeout = std::chrono::hours(24));
};

struct SchedulerOptions {
  int64_t maxContext = 0;
  /// Sequences active at once (prefilling or decoding).
  int64_t maxBatch = 16;
  /// The KV cache pool shared by every sequence.
  int64_t kvCacheBlocks = 0;
  /// Work per iteration, in tokens of the full model: decodes first,
  /// prefill chunks after them. 0 (auto): prefill chunks that take about
  /// half the decode step's measured time (as much as they like when
  /// nothing decodes).
  int64_t stepTokens = 0;
  bool prefixCaching = true;
  /// Requests that ask for speculation speculate while at most this many
  /// sequences decode (beyond, verification is compute-bound).
  int64_t speculativeMaxBatch = 2;
};

class Scheduler {
public:
  /// Errors: a pool that cannot be allocated.
  static Result<std::unique_ptr<Scheduler>> create(const Generator &generator,
                                                   Tokenizer tokenizer,
                                                   SchedulerOptions options);
  ~Scheduler();
  /// Queues every choice of `request`; after stop() they fail at once.
  void submit(std::shared_ptr<CompletionRequest> request);
  /// Finishes the loop thread; waiting requests end with an error.
  void stop();
  /// GET /metrics: the Prometheus text.
  std::string metricsText();
  int64_t kvCacheBytes() const { return pool->bytes(); }

private:
  struct Active;
  struct Slot {
    std::shared_ptr<CompletionRequest> request;
    size_t choice;
  };
  Scheduler(const Generator &generator, Tokenizer tokenizer,
            SchedulerOptions options, std::shared_ptr<KvPool> pool);
  void loop();
  /// A new sequence for `slot`, or nullptr when it is finished already
  /// (cancelled, nothing to generate, an error).
  std::unique_ptr<Active> start(const Slot &slot);
  /// Gives `a` a cache (a cached prefix, blocks for its prompt); false when
  /// the pool cannot hold it now.
  bool place(Active &a);
  /// Blocks for `positions` more positions of `a`, evicting cached
  /// prefixes and preempting sequences admitted after `a` as needed.
  bool makeRoom(Active &a, int64_t positions,
                std::vector<std::unique_ptr<Active>> &active);
  /// Free blocks for the copies CoLM's switch up makes of the blocks `a`
  /// shares (see KvCache::sharedBlocks), as makeRoom does.
  bool makeRoomToWiden(Active &a, std::vector<std::unique_ptr<Active>> &active);
  /// Evicts cached prefixes, then preempts the last admitted other than
  /// `a`, until `fits`; false when nothing is left to free.
  bool freeBlocksFor(Active &a, const std::function<bool()> &fits,
                     std::vector<std::unique_ptr<Active>> &active);
  void preempt(std::unique_ptr<Active> &victim);
  /// The entry of `active` that holds `a` (nullptr: none).
  static std::unique_ptr<Active> *
  slotOf(Active *a, std::vector<std::unique_ptr<Active>> &active);
  /// Drops from `decoding` (and `next`) the sequences preempted or
  /// finished since they were listed; empties `active` of finished ones.
  void dropPreempted(std::vector<Active *> &decoding,
                     std::vector<int32_t> &next,
                     std::vector<std::unique_ptr<Active>> &active);
  /// Runs the next chunk of `a`'s prompt (at most `budget` tokens, see
  /// Generator::nextPrefillChunk); returns the tokens run.
  int64_t prefillChunk(Active &a, int64_t budget);
  /// A preempted sequence's generated tokens back into its cache, all but
  /// the last (decoded next, as when it was preempted).
  Status replayGenerated(Active &a);
  /// The prefix cache's tag for `a`'s prompt: the program that computes
  /// its keys and values.
  uint64_t prefixTag(const Active &a) const;
  void registerPrefix(Active &a);
  /// The chain count a cached prefix block needs to serve `a`'s prefill
  /// (0: any, CoLM-Air).
  int prefillChains(const Active &a) const;
  /// Whether replaying `a`'s generated tokens switches a CoLM cache up.
  bool widensOnReplay(const Active &a) const;
  /// Ends one choice: the rest of its text, its result and, for the last
  /// choice of a request, the log line.
  void finish(const Slot &slot, StreamPiece rest, int64_t generated,
              const std::string &reason, const std::string &error);
  void finish(Active &a, const std::string &reason, const std::string &error);
  void updateGauges(size_t active);
  /// Sends a generated token (text, metrics); true when `a` finished with
  /// it (finish() called).
  bool emit(Active &a, int32_t token,
            std::chrono::steady_clock::time_point now);
  /// One self-speculative round of `a` after `next` (emitted, not in the
  /// cache): emits its tokens; an error with an empty message when `a`
  /// finished.
  Status speculate(Active &a, int32_t next);

  const Generator &generator;
  Tokenizer tokenizer;
  SchedulerOptions options;
  std::shared_ptr<KvPool> pool;
  PrefixCache prefixes;
  /// The chain-1 program's cost per prompt token over the full model's.
  double chain1Cost = 1.0;
  /// Measured: a decode step, and prefill per full-model token (moving
  /// averages).
  double decodeSeconds = 0, prefillSecondsPerToken = 0;
  /// "chains": "auto": the step-time model and the policy.
  StepTimeModel stepModel;
  ChainController chainControl;
  double lastPrefillWork = 0;
  /// The last step's rows at each chain count (empty: it decoded none) and
  /// when its tokens were sampled.
  std::vector<int64_t> lastStepRows;
  std::chrono::steady_clock::time_point lastStepAt;
  /// The narrowest chain count the controller gave an automatic stream in
  /// the last step (0: none decoded); new automatic streams start there.
  unsigned autoLevel = 0;
  /// Seconds a prompt may wait for room beside streams with a TPOT target
  /// before its chunks run anyway.
  static constexpr double kPrefillPatience = 0.2;
  /// The chain count `a`'s prompt is prefilled with.
  unsigned firstChains(const Active &a) const;
  /// The chain count `a` decodes its next token with.
  unsigned chainsNow(const Active &a) const;
  uint64_t admissions = 0;
  std::mutex mutex;
  std::condition_variable wake;
  std::deque<Slot> waiting;
  /// Preempted sequences, resumed before new ones (the loop thread only).
  std::deque<std::unique_ptr<Active>> preempted;
  bool stopping = false;
  std::mutex metricsMutex;
  ServeMetrics metrics;
  std::thread thread;
};

} // namespace colm::cli

#endif // COLM_TOOLS_SCHEDULER_H
