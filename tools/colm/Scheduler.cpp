//===- Scheduler.cpp - continuous batching for colm serve -------*- C++ -*-===//
#include "tools/colm/Scheduler.h"

#include "runtime/Parallel.h"

#include <atomic>
#include <cmath>
#include <cstdio>
#include <limits>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace colm::cli {

namespace {
/// Moves out of `text` everything but a trailing UTF-8 sequence that is not
/// complete yet, so streamed pieces never split a character.
std::string completeUtf8(std::string &text) {
  size_t keep = text.size();
  for (size_t back = 1; back <= 3 && back <= text.size(); ++back) {
    unsigned char c = static_cast<unsigned char>(text[text.size() - back]);
    if ((c >> 6) == 0x2)
      continue; // a continuation byte: look further back
    size_t need = (c >> 5) == 0x6    ? 2
                  : (c >> 4) == 0xE  ? 3
                  : (c >> 3) == 0x1E ? 4
                                     : 1;
    if (need > back)
      keep = text.size() - back;
    break;
  }
  std::string ready = text.substr(0, keep);
  text.erase(0, keep);
  return ready;
}

/// Gives freed memory (caches of finished sequences, response buffers of
/// every thread's arena) back to the system, so an idle server returns to
/// its idle size.
void releaseFreeMemory() {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}
} // namespace

bool CompletionRequest::next(std::vector<std::pair<size_t, StreamPiece>> &out,
                             std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex);
  auto ready = [&] {
    if (finished == results.size())
      return true;
    for (const ChoiceResult &r : results)
      if (!r.pieces.empty())
        return true;
    return false;
  };
  changed.wait_for(lock, timeout, ready);
  bool any = false;
  for (size_t i = 0; i < results.size(); ++i)
    while (!results[i].pieces.empty()) {
      out.push_back({i, std::move(results[i].pieces.front())});
      results[i].pieces.pop_front();
      any = true;
    }
  return any || finished < results.size();
}

struct Scheduler::Active {
  Slot slot;
  const serve::GenerationParams &params;
  Sequence seq;
  TokenSampler sampler;
  StopChecker stop;
  std::vector<int32_t> history;   // prompt and generated tokens
  std::vector<int32_t> generated; // for the frequency and presence penalties
  Result<std::vector<float>> logits = std::vector<float>();
  int64_t index = 0;    // generated tokens so far
  std::string utf8Tail; // bytes of a character not complete yet
  std::vector<serve::TokenLogprob> logprobs; // not sent yet
};

Scheduler::Scheduler(const Generator &generator, Tokenizer tokenizer,
                     int64_t maxContext, int64_t maxBatch)
    : generator(generator), tokenizer(std::move(tokenizer)),
      maxContext(maxContext), maxBatch(maxBatch), thread([this] { loop(); }) {}

Scheduler::~Scheduler() { stop(); }

void Scheduler::submit(std::shared_ptr<CompletionRequest> request) {
  {
    std::lock_guard<std::mutex> lock(mutex);
    if (!stopping) {
      for (size_t i = 0; i < request->choices.size(); ++i)
        waiting.push_back({request, i});
      wake.notify_one();
      return;
    }
  }
  for (size_t i = 0; i < request->choices.size(); ++i)
    finish({request, i}, {}, 0, "error", "the server is shutting down");
}

void Scheduler::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex);
    if (stopping)
      return;
    stopping = true;
  }
  wake.notify_all();
  if (thread.joinable())
    thread.join();
}

void Scheduler::finish(const Slot &slot, StreamPiece rest, int64_t generated,
                       const std::string &reason, const std::string &error) {
  CompletionRequest &r = *slot.request;
  std::lock_guard<std::mutex> lock(r.mutex);
  ChoiceResult &c = r.results[slot.choice];
  if (c.done)
    return;
  if (!rest.text.empty() || !rest.logprobs.empty())
    c.pieces.push_back(std::move(rest));
  c.finishReason = reason;
  c.completionTokens = generated;
  c.done = true;
  if (!error.empty() && r.error.empty()) {
    r.error = error;
    r.cancelled = true; // the request failed: its other choices stop too
  }
  if (++r.finished == r.results.size()) {
    // One line per request: the server's access log.
    int64_t prompt = 0, total = 0;
    std::string reasons;
    for (size_t i = 0; i < r.results.size(); ++i) {
      prompt += static_cast<int64_t>(r.choices[i].prompt.size());
      total += r.results[i].completionTokens;
      const std::string &why = r.results[i].finishReason;
      if (reasons.find(why) == std::string::npos)
        reasons += (reasons.empty() ? "" : ",") + why;
    }
    std::string choices = r.results.size() > 1
                              ? std::to_string(r.results.size()) + " choices, "
                              : "";
    std::fprintf(stderr, "%s: %s%lld prompt + %lld generated tokens, %s%s%s\n",
                 r.id.c_str(), choices.c_str(), (long long)prompt,
                 (long long)total, reasons.c_str(), r.error.empty() ? "" : ": ",
                 r.error.c_str());
  }
  r.changed.notify_all();
}

void Scheduler::finish(Active &a, const std::string &reason,
                       const std::string &error) {
  StreamPiece rest;
  rest.text = a.utf8Tail + a.stop.takeReady(/*final=*/true);
  rest.logprobs = std::move(a.logprobs);
  finish(a.slot, std::move(rest), a.index, reason, error);
}

std::unique_ptr<Scheduler::Active> Scheduler::admit(const Slot &slot) {
  CompletionRequest &r = *slot.request;
  const serve::GenerationParams &p = r.choices[slot.choice];
  if (r.cancelled) {
    finish(slot, {}, 0, "cancelled", "the client disconnected");
    return nullptr;
  }
  // The cache holds what this request can use, not the whole context.
  int64_t need =
      static_cast<int64_t>(p.prompt.size()) + std::max<int64_t>(p.maxTokens, 1);
  auto seq = generator.newSequence(std::min(maxContext, need));
  if (!seq) {
    finish(slot, {}, 0, "error", seq.status().message());
    return nullptr;
  }
  unsigned k = chainsAt(p.schedule, 0);
  if (p.echo) {
    StreamPiece echo;
    echo.prompt = true;
    echo.text = tokenizer.decode(p.prompt);
    if (p.logprobs >= 0) {
      // Each prompt token under the k-chain model given the ones before it,
      // in a cache of its own (the generation below stays exactly as without
      // echo).
      int64_t vocab = generator.config().vocabSize;
      serve::TokenLogprob first;
      first.token = p.prompt[0];
      first.logprob = std::numeric_limits<double>::quiet_NaN();
      echo.logprobs.push_back(first);
      if (p.prompt.size() > 1) {
        auto scratch = generator.newSequence(
            std::min<int64_t>(maxContext, p.prompt.size()));
        if (!scratch) {
          finish(slot, {}, 0, "error", scratch.status().message());
          return nullptr;
        }
        auto logits = generator.prefill(*scratch, {p.prompt[0]}, k, false);
        for (size_t i = 1; logits && i < p.prompt.size(); ++i) {
          echo.logprobs.push_back(serve::tokenLogprob(logits->data(), vocab,
                                                      p.prompt[i], p.logprobs));
          if (i + 1 < p.prompt.size())
            logits = generator.decode(*scratch, p.prompt[i], k);
        }
        if (!logits) {
          finish(slot, {}, 0, "error", logits.status().message());
          return nullptr;
        }
      }
    }
    std::lock_guard<std::mutex> lock(r.mutex);
    r.results[slot.choice].pieces.push_back(std::move(echo));
    r.changed.notify_all();
  }
  auto a = std::unique_ptr<Active>(new Active{slot, p, seq.take(),
                                              TokenSampler(p.sampling),
                                              StopChecker(p.stops), p.prompt});
  if (p.maxTokens == 0) {
    finish(*a, "length", "");
    return nullptr;
  }
  a->logits = generator.prefill(a->seq, p.prompt, k, p.chain1Prefill);
  if (!a->logits) {
    finish(*a, "error", a->logits.status().message());
    return nullptr;
  }
  return a;
}

void Scheduler::loop() {
  std::vector<std::unique_ptr<Active>> active;
  bool worked = false;
  for (;;) {
    if (active.empty() && worked) {
      releaseFreeMemory();
      worked = false;
    }
    std::vector<Slot> admitted;
    {
      std::unique_lock<std::mutex> lock(mutex);
      wake.wait(lock, [&] {
        return stopping || !waiting.empty() || !active.empty();
      });
      if (stopping)
        break;
      while (!waiting.empty() &&
             static_cast<int64_t>(active.size() + admitted.size()) < maxBatch) {
        admitted.push_back(std::move(waiting.front()));
        waiting.pop_front();
      }
    }
    worked = true;
    // Clients that went away free their slot.
    for (auto &a : active)
      if (a->slot.request->cancelled) {
        finish(*a, "cancelled", "the client disconnected");
        a.reset();
      }
    std::erase_if(active, [](const std::unique_ptr<Active> &a) { return !a; });
    // Prefill the newcomers.
    for (const Slot &slot : admitted)
      if (auto a = admit(slot))
        active.push_back(std::move(a));
    // One token for every active sequence.
    std::vector<Active *> decoding;
    std::vector<int32_t> next;
    int64_t vocab = generator.config().vocabSize;
    for (auto &a : active) {
      const serve::GenerationParams &p = a->params;
      std::vector<float> &logits = *a->logits;
      std::vector<float> raw;
      if (p.logprobs >= 0)
        raw = logits; // log-probabilities are the model's own
      serve::applyOpenAiPenalties(logits.data(), vocab, a->generated, p);
      int32_t token = a->sampler.sample(logits.data(), vocab, a->history);
      if (p.logprobs >= 0)
        a->logprobs.push_back(
            serve::tokenLogprob(raw.data(), vocab, token, p.logprobs));
      a->history.push_back(token);
      a->generated.push_back(token);
      ++a->index;
      bool stopped = a->stop.feed(tokenizer.decode({token}));
      bool length = a->index >= p.maxTokens;
      a->utf8Tail += a->stop.takeReady(stopped || length);
      std::string ready = completeUtf8(a->utf8Tail);
      {
        CompletionRequest &r = *a->slot.request;
        std::lock_guard<std::mutex> lock(r.mutex);
        r.results[a->slot.choice].tokens.push_back(token);
        if (!ready.empty()) {
          r.results[a->slot.choice].pieces.push_back(
              {std::move(ready), std::move(a->logprobs), false});
          a->logprobs.clear();
          r.changed.notify_all();
        }
      }
      if (stopped || length) {
        finish(*a, stopped ? "stop" : "length", "");
        a.reset();
        continue;
      }
      decoding.push_back(a.get());
      next.push_back(token);
    }
    // Decode steps of different sequences are independent. The cpu
    // backend runs the sequences at one chain count as one decoding batch
    // (every GEMM reads the weights once for all of them); on the
    // interpreter, they run on all cores.
    if (isCompiled(generator.backend())) {
      std::vector<Sequence *> seqs;
      std::vector<unsigned> chains;
      for (Active *a : decoding) {
        seqs.push_back(&a->seq);
        chains.push_back(chainsAt(a->params.schedule, a->index));
      }
      auto logits = generator.decodeBatch(seqs, next, chains);
      for (size_t i = 0; i < decoding.size(); ++i)
        decoding[i]->logits = std::move(logits[i]);
    } else {
      parallelFor(decoding.size(), [&](size_t i) {
        Active &a = *decoding[i];
        a.logits = generator.decode(a.seq, next[i],
                                    chainsAt(a.params.schedule, a.index));
      });
    }
    for (auto &a : active)
      if (a && !a->logits) {
        finish(*a, "error", a->logits.status().message());
        a.reset();
      }
    std::erase_if(active, [](const std::unique_ptr<Active> &a) { return !a; });
  }
  // Shutting down: nobody waits forever.
  for (auto &a : active)
    finish(*a, "error", "the server is shutting down");
  std::deque<Slot> left;
  {
    std::lock_guard<std::mutex> lock(mutex);
    left.swap(waiting);
  }
  for (const Slot &slot : left)
    finish(slot, {}, 0, "error", "the server is shutting down");
}

} // namespace colm::cli
