//===- Scheduler.cpp - continuous batching for colm serve -------*- C++ -*-===//
#include "tools/colm/Scheduler.h"

#include "runtime/Parallel.h"

#include <atomic>
#include <cstdio>

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
} // namespace

bool CompletionRequest::next(std::string &text) {
  std::unique_lock<std::mutex> lock(mutex);
  changed.wait(lock, [&] { return done || !pieces.empty(); });
  text.clear();
  while (!pieces.empty()) {
    text += pieces.front();
    pieces.pop_front();
  }
  return !text.empty() || !done;
}

struct Scheduler::Active {
  std::shared_ptr<CompletionRequest> request;
  Sequence seq;
  TokenSampler sampler;
  StopChecker stop;
  std::vector<int32_t> history;
  Result<std::vector<float>> logits = std::vector<float>();
  int64_t index = 0;    // generated tokens so far
  std::string utf8Tail; // bytes of a character not complete yet
};

Scheduler::Scheduler(const Generator &generator, Tokenizer tokenizer,
                     int64_t maxContext, int64_t maxBatch)
    : generator(generator), tokenizer(std::move(tokenizer)),
      maxContext(maxContext), maxBatch(maxBatch), thread([this] { loop(); }) {}

Scheduler::~Scheduler() { stop(); }

void Scheduler::submit(std::shared_ptr<CompletionRequest> request) {
  {
    std::lock_guard<std::mutex> lock(mutex);
    waiting.push_back(std::move(request));
  }
  wake.notify_one();
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

void Scheduler::finish(Active &a, const std::string &reason,
                       const std::string &error) {
  CompletionRequest &r = *a.request;
  std::string rest = a.utf8Tail + a.stop.takeReady(/*final=*/true);
  std::lock_guard<std::mutex> lock(r.mutex);
  if (!rest.empty())
    r.pieces.push_back(rest);
  r.finishReason = reason;
  r.error = error;
  r.completionTokens = a.index;
  // One line per request: the server's access log.
  std::fprintf(stderr, "%s: %zu prompt + %lld generated tokens, %s%s%s\n",
               r.id.c_str(), r.prompt.size(), (long long)a.index,
               reason.c_str(), error.empty() ? "" : ": ", error.c_str());
  r.done = true;
  r.changed.notify_all();
}

void Scheduler::loop() {
  std::vector<std::unique_ptr<Active>> active;
  for (;;) {
    std::vector<std::shared_ptr<CompletionRequest>> admitted;
    {
      std::unique_lock<std::mutex> lock(mutex);
      wake.wait(lock, [&] {
        return stopping || !waiting.empty() || !active.empty();
      });
      if (stopping)
        break;
      while (!waiting.empty() &&
             static_cast<int64_t>(active.size() + admitted.size()) < maxBatch) {
        admitted.push_back(waiting.front());
        waiting.pop_front();
      }
    }
    // Clients that went away free their slot.
    for (auto &a : active)
      if (a->request->cancelled) {
        finish(*a, "cancelled", "the client disconnected");
        a->request.reset();
      }
    std::erase_if(active,
                  [](const std::unique_ptr<Active> &a) { return !a->request; });
    // Prefill the newcomers.
    for (auto &request : admitted) {
      if (request->cancelled)
        continue;
      // The cache holds what this request can use, not the whole context.
      int64_t need = static_cast<int64_t>(request->prompt.size()) +
                     std::max<int64_t>(request->maxTokens, 1);
      auto seq = generator.newSequence(std::min(maxContext, need));
      if (!seq) {
        std::lock_guard<std::mutex> lock(request->mutex);
        request->error = seq.status().message();
        request->done = true;
        request->changed.notify_all();
        continue;
      }
      auto a = std::make_unique<Active>(
          Active{request, seq.take(), TokenSampler(request->sampling),
                 StopChecker(request->stops), request->prompt});
      if (request->maxTokens == 0) {
        finish(*a, "length", "");
        continue;
      }
      a->logits = generator.prefill(a->seq, request->prompt,
                                    chainsAt(request->schedule, 0),
                                    request->chain1Prefill);
      if (!a->logits) {
        finish(*a, "error", a->logits.status().message());
        continue;
      }
      active.push_back(std::move(a));
    }
    // One token for every active sequence.
    std::vector<Active *> decoding;
    std::vector<int32_t> next;
    for (auto &a : active) {
      int32_t token = a->sampler.sample(
          a->logits->data(), generator.config().vocabSize, a->history);
      a->history.push_back(token);
      ++a->index;
      bool stopped = a->stop.feed(tokenizer.decode({token}));
      bool length = a->index >= a->request->maxTokens;
      a->utf8Tail += a->stop.takeReady(stopped || length);
      std::string ready = completeUtf8(a->utf8Tail);
      {
        std::lock_guard<std::mutex> lock(a->request->mutex);
        a->request->tokens.push_back(token);
        if (!ready.empty()) {
          a->request->pieces.push_back(ready);
          a->request->changed.notify_all();
        }
      }
      if (stopped || length) {
        finish(*a, stopped ? "stop" : "length", "");
        a->request.reset();
        continue;
      }
      decoding.push_back(a.get());
      next.push_back(token);
    }
    // Decode steps of different sequences are independent: run them on all
    // cores.
    parallelFor(decoding.size(), [&](size_t i) {
      Active &a = *decoding[i];
      a.logits = generator.decode(a.seq, next[i],
                                  chainsAt(a.request->schedule, a.index));
    });
    for (Active *a : decoding)
      if (!a->logits) {
        finish(*a, "error", a->logits.status().message());
        a->request.reset();
      }
    std::erase_if(active,
                  [](const std::unique_ptr<Active> &a) { return !a->request; });
  }
  // Shutting down: nobody waits forever.
  for (auto &a : active)
    finish(*a, "error", "the server is shutting down");
  std::lock_guard<std::mutex> lock(mutex);
  for (auto &request : waiting) {
    std::lock_guard<std::mutex> rlock(request->mutex);
    request->error = "the server is shutting down";
    request->done = true;
    request->changed.notify_all();
  }
}

} // namespace colm::cli
