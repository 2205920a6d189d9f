//===- Scheduler.cpp - continuous batching for colm serve -------*- C++ -*-===//
#include "tools/colm/Scheduler.h"

#include "runtime/Parallel.h"

#include <atomic>
#include <cmath>
#include <cstdio>
#include <limits>
#include <optional>
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
  /// None while preempted.
  std::optional<Sequence> seq;
  TokenSampler sampler;
  StopChecker stop;
  std::vector<int32_t> history;   // prompt and generated tokens
  std::vector<int32_t> generated; // for the frequency and presence penalties
  Result<std::vector<float>> logits = std::vector<float>();
  int64_t index = 0;    // generated tokens so far
  std::string utf8Tail; // bytes of a character not complete yet
  std::vector<serve::TokenLogprob> logprobs; // not sent yet
  /// Prompt tokens in the cache; the prompt is done when ready.
  int64_t prefilled = 0;
  bool ready = false;
  /// The last generated token was sent but is not in the cache yet (a
  /// preempted sequence): decoded next without sampling.
  bool pending = false;
  uint64_t order = 0; // admission order: the last admitted is preempted first
  /// "chains": "auto": the chain count now, and the token from which it
  /// may change again.
  unsigned autoChains = 0;
  /// "auto": the chain count its prompt is prefilled with (set when it is
  /// first placed; 0 before).
  unsigned startChains = 0;
  int64_t heldUntil = 0;
  /// The chain count of the logits the next token is sampled from, and
  /// the chain count each generated token was decoded with (a preempted
  /// sequence's replay uses them).
  unsigned producedBy = 0;
  std::vector<unsigned> decodedWith;
  /// "speculative": its self-speculative decoder (compare mode).
  std::optional<SpeculativeDecoder> speculative;
  std::chrono::steady_clock::time_point lastToken;
  std::chrono::steady_clock::time_point firstToken;
};

Result<std::unique_ptr<Scheduler>> Scheduler::create(const Generator &generator,
                                                     Tokenizer tokenizer,
                                                     SchedulerOptions options) {
  COLM_ASSIGN_OR_RETURN(
      auto pool, KvPool::create(generator.config(), options.kvCacheBlocks));
  return std::unique_ptr<Scheduler>(
      new Scheduler(generator, std::move(tokenizer), options, std::move(pool)));
}

Scheduler::Scheduler(const Generator &generator, Tokenizer tokenizer,
                     SchedulerOptions options, std::shared_ptr<KvPool> pool)
    : generator(generator), tokenizer(std::move(tokenizer)), options(options),
      pool(pool), prefixes(pool), chain1Cost(generator.chain1PrefillCost()),
      stepModel(generator.config().numChains()),
      chainControl(generator.config().numChains()) {
  metrics.kvBlockSize = pool->blockSize();
  thread = std::thread([this] { loop(); });
}

Scheduler::~Scheduler() { stop(); }

std::string Scheduler::metricsText() {
  std::lock_guard<std::mutex> lock(metricsMutex);
  return metrics.prometheus();
}

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

std::unique_ptr<Scheduler::Active> Scheduler::start(const Slot &slot) {
  CompletionRequest &r = *slot.request;
  const serve::GenerationParams &p = r.choices[slot.choice];
  if (r.cancelled) {
    finish(slot, {}, 0, "cancelled", "the client disconnected");
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
            std::min<int64_t>(options.maxContext, p.prompt.size()));
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
  if (p.maxTokens == 0) {
    finish(slot, {}, 0, "length", "");
    return nullptr;
  }
  // A sequence that could never get its blocks fails now instead of
  // waiting forever.
  int64_t need = int64_t(p.prompt.size()) + 1;
  int64_t blocks = (need + pool->blockSize() - 1) / pool->blockSize();
  if (blocks > pool->blocks()) {
    finish(slot, {}, 0, "error",
           "the prompt needs " + std::to_string(blocks) +
               " KV cache blocks but the cache has " +
               std::to_string(pool->blocks()) + " (raise --kv-cache-mib)");
    return nullptr;
  }
  {
    std::lock_guard<std::mutex> lock(metricsMutex);
    ++metrics.requests;
  }
  auto a = std::unique_ptr<Active>(new Active{slot, p, std::nullopt,
                                              TokenSampler(p.sampling),
                                              StopChecker(p.stops), p.prompt});
  if (p.speculative) {
    SpeculativeOptions o;
    o.draftChains = p.draftChains;
    o.chains = chainsAt(p.schedule, 0);
    o.maxDraft = p.maxDraft;
    o.draftWindow = p.draftWindow;
    auto d = SpeculativeDecoder::create(generator, generator.config(), o,
                                        p.sampling);
    if (!d) {
      finish(slot, {}, 0, "error", d.status().message());
      return nullptr;
    }
    a->speculative.emplace(d.take());
  }
  return a;
}

unsigned Scheduler::firstChains(const Active &a) const {
  if (a.params.autoChains && a.startChains)
    return a.startChains;
  return chainsAt(a.params.schedule, 0);
}

unsigned Scheduler::chainsNow(const Active &a) const {
  if (a.params.autoChains)
    return a.autoChains ? a.autoChains : a.params.maxChains;
  return chainsAt(a.params.schedule, a.index);
}

uint64_t Scheduler::prefixTag(const Active &a) const {
  // CoLM-Air's chain-1 prefill (the chain-1 program on all but the last
  // position) is one computation; a prefill of any chain count another,
  // whose blocks serve every chain count up to theirs (PrefixCache).
  return a.params.chain1Prefill ? 1 : 2;
}

bool Scheduler::place(Active &a) {
  const serve::GenerationParams &p = a.params;
  int64_t promptLength = int64_t(p.prompt.size());
  int64_t context = std::min(options.maxContext,
                             promptLength + std::max<int64_t>(p.maxTokens, 1));
  auto seq = generator.newSequence(pool, context);
  if (!seq) {
    finish(a, "error", seq.status().message());
    return true;
  }
  a.prefilled = 0;
  a.ready = false;
  // A cached prefix, when what is left of the prompt still runs as one
  // chunk of more than Generator::kFewRows rows (the bits of a fresh
  // prefill).
  std::vector<int32_t> shared;
  size_t most = 0;
  int64_t least = Generator::kFewRows + 1 + (p.chain1Prefill ? 1 : 0);
  if (options.prefixCaching && promptLength >= 2 * least &&
      !widensOnReplay(a)) {
    std::vector<uint64_t> names = prefixes.blockNames(p.prompt, prefixTag(a));
    most = size_t((promptLength - least) / pool->blockSize());
    shared = prefixes.lookup(names, most, prefillChains(a));
  }
  if (p.autoChains && a.index == 0 && a.startChains == 0) {
    // A new automatic stream starts at the chain count the controller
    // gives the automatic streams now (the widest when there are none), so
    // its prefill's last row and first steps do not run wider than the
    // load allows.
    a.startChains = std::clamp(autoLevel ? autoLevel : p.maxChains, p.minChains,
                               p.maxChains);
    a.autoChains = a.startChains;
  }
  int64_t cols = seq->cache.columnsFor(int(firstChains(a)));
  if (p.chain1Prefill)
    cols = seq->cache.width();
  if (!shared.empty()) {
    Status s = seq->cache.sharePrefix(shared, cols);
    if (!s) {
      finish(a, "error", s.message());
      return true;
    }
    a.prefilled = seq->cache.length();
    seq->tokens.assign(p.prompt.begin(), p.prompt.begin() + a.prefilled);
  }
  // Blocks for the rest of the prompt, the generated tokens a preempted
  // sequence recomputes, and the next token.
  int64_t more = promptLength - a.prefilled + a.index + 1;
  if (!seq->cache.reserve(more)) {
    int64_t missing = seq->cache.blocksFor(seq->cache.length() + more) -
                      int64_t(seq->cache.blockTable().size());
    prefixes.evict(missing - pool->freeBlocks());
    if (!seq->cache.reserve(more))
      return false; // waits for blocks
  }
  prefixes.count(int64_t(most), int64_t(shared.size()));
  {
    std::lock_guard<std::mutex> lock(metricsMutex);
    metrics.prefixQueriedBlocks = prefixes.queriedBlocks();
    metrics.prefixHitBlocks = prefixes.hitBlocks();
  }
  a.seq.emplace(seq.take());
  a.order = ++admissions;
  return true;
}

int Scheduler::prefillChains(const Active &a) const {
  // CoLM-Air's cache is the same for every chain count.
  if (generator.config().kvSharing)
    return 0;
  return int(firstChains(a));
}

bool Scheduler::widensOnReplay(const Active &a) const {
  // CoLM: the replay rewrites the history's keys and values with a wider
  // sub-model's (copying shared blocks; bits a narrower prefill would not
  // give): such a sequence neither shares nor names its prompt's blocks.
  if (generator.config().kvSharing || a.index == 0)
    return false;
  unsigned first = firstChains(a);
  for (unsigned k : a.decodedWith)
    if (k > first)
      return true;
  return false;
}

void Scheduler::registerPrefix(Active &a) {
  const serve::GenerationParams &p = a.params;
  int64_t promptLength = int64_t(p.prompt.size());
  int64_t least = Generator::kFewRows + 1 + (p.chain1Prefill ? 1 : 0);
  // Only prompts long enough to run in chunks of the packed GEMM path (the
  // rows a later prompt's fresh prefill would compute alike); with chain-1
  // prefill the last prompt position comes from the full model: not named.
  if (!options.prefixCaching || promptLength < least || widensOnReplay(a))
    return;
  int64_t covered = promptLength - (p.chain1Prefill ? 1 : 0);
  std::vector<int32_t> head(p.prompt.begin(), p.prompt.begin() + covered);
  std::vector<uint64_t> names = prefixes.blockNames(head, prefixTag(a));
  const std::vector<int32_t> &table = a.seq->cache.blockTable();
  for (size_t i = 0; i < names.size() && i < table.size(); ++i)
    prefixes.insert(names[i], table[i], a.seq->cache.validChains());
}

int64_t Scheduler::prefillChunk(Active &a, int64_t budget) {
  const serve::GenerationParams &p = a.params;
  int64_t promptLength = int64_t(p.prompt.size());
  int64_t remaining = promptLength - a.prefilled;
  int64_t take = Generator::nextPrefillChunk(
      remaining, std::max<int64_t>(1, budget), promptLength, p.chain1Prefill);
  std::vector<int32_t> piece(p.prompt.begin() + a.prefilled,
                             p.prompt.begin() + a.prefilled + take);
  unsigned k = firstChains(a);
  a.producedBy = k;
  if (take < remaining) {
    Status s = generator.prefillPart(*a.seq, piece, k, p.chain1Prefill);
    if (!s)
      a.logits = s;
  } else {
    a.logits = generator.prefill(*a.seq, piece, k, p.chain1Prefill);
  }
  a.prefilled += take;
  {
    std::lock_guard<std::mutex> lock(metricsMutex);
    metrics.countPrompt(take);
    ++metrics.prefillChunks;
  }
  if (a.logits && a.prefilled == promptLength) {
    registerPrefix(a);
    if (a.index > 0) {
      Status s = replayGenerated(a);
      if (!s)
        a.logits = s;
      a.pending = true;
    }
    a.ready = true;
  }
  return take;
}

Status Scheduler::replayGenerated(Active &a) {
  // generated[i] was decoded after it was sampled, with decodedWith[i];
  // extend() gives decode()'s bits up to kFewRows rows.
  int64_t last = a.index - 1; // decoded next, as when it was preempted
  for (int64_t i = 0; i < last;) {
    unsigned k = a.decodedWith[size_t(i)];
    int64_t j = i;
    while (j < last && j - i < Generator::kFewRows &&
           a.decodedWith[size_t(j)] == k)
      ++j;
    std::vector<int32_t> group(a.generated.begin() + i,
                               a.generated.begin() + j);
    COLM_TRY(generator.extend(*a.seq, group, k).status());
    i = j;
  }
  return Status::ok();
}

void Scheduler::preempt(std::unique_ptr<Active> &victim) {
  Active &v = *victim;
  // What it sent stays sent; its cache is recomputed when it resumes.
  if (v.ready && v.index > 0)
    v.pending = true;
  v.seq.reset();
  v.ready = false;
  v.prefilled = 0;
  {
    std::lock_guard<std::mutex> lock(metricsMutex);
    ++metrics.preemptions;
  }
  std::fprintf(stderr,
               "%s: preempted after %lld tokens: the KV cache is "
               "full (resumed when blocks free up)\n",
               v.slot.request->id.c_str(), (long long)v.index);
  // The last admitted waits first: it was preempted first.
  preempted.push_front(std::move(victim));
}

bool Scheduler::makeRoom(Active &a, int64_t positions,
                         std::vector<std::unique_ptr<Active>> &active) {
  return freeBlocksFor(
      a, [&] { return bool(a.seq->cache.reserve(positions)); }, active);
}

bool Scheduler::makeRoomToWiden(Active &a,
                                std::vector<std::unique_ptr<Active>> &active) {
  return freeBlocksFor(
      a, [&] { return pool->freeBlocks() >= a.seq->cache.sharedBlocks(); },
      active);
}

bool Scheduler::freeBlocksFor(Active &a, const std::function<bool()> &fits,
                              std::vector<std::unique_ptr<Active>> &active) {
  for (;;) {
    if (fits())
      return true;
    if (prefixes.evict(1) > 0)
      continue;
    // The sequence admitted last gives its blocks back (itself last).
    std::unique_ptr<Active> *victim = nullptr;
    for (auto &o : active)
      if (o && o->seq && o.get() != &a &&
          (!victim || o->order > (*victim)->order))
        victim = &o;
    if (!victim)
      return false;
    preempt(*victim);
  }
}

std::unique_ptr<Scheduler::Active> *
Scheduler::slotOf(Active *a, std::vector<std::unique_ptr<Active>> &active) {
  for (auto &o : active)
    if (o.get() == a)
      return &o;
  return nullptr;
}

void Scheduler::dropPreempted(std::vector<Active *> &decoding,
                              std::vector<int32_t> &next,
                              std::vector<std::unique_ptr<Active>> &active) {
  std::vector<Active *> still;
  std::vector<int32_t> tokens;
  for (size_t i = 0; i < decoding.size(); ++i) {
    bool alive = false;
    for (auto &o : active)
      alive |= o && o.get() == decoding[i] && o->seq;
    if (alive) {
      still.push_back(decoding[i]);
      tokens.push_back(next[i]);
    }
  }
  decoding.swap(still);
  next.swap(tokens);
  std::erase_if(active, [](const std::unique_ptr<Active> &a) { return !a; });
}

void Scheduler::updateGauges(size_t active) {
  std::lock_guard<std::mutex> lock(metricsMutex);
  metrics.running = int64_t(active);
  {
    std::lock_guard<std::mutex> queue(mutex);
    metrics.waiting = int64_t(waiting.size() + preempted.size());
  }
  metrics.kvBlocksUsed = pool->usedBlocks();
  metrics.kvBlocksFree = pool->freeBlocks();
  metrics.prefixCacheBlocks = prefixes.size();
}

bool Scheduler::emit(Active &a, int32_t token,
                     std::chrono::steady_clock::time_point now) {
  const serve::GenerationParams &p = a.params;
  a.history.push_back(token);
  a.generated.push_back(token);
  ++a.index;
  {
    std::lock_guard<std::mutex> lock(metricsMutex);
    metrics.countGenerated(1);
    ++metrics.chainTokens[a.producedBy];
    if (a.index == 1) {
      metrics.ttft.observe(
          std::chrono::duration<double>(now - a.slot.request->arrived).count());
      a.firstToken = now;
    } else {
      double gap = std::chrono::duration<double>(now - a.lastToken).count();
      metrics.itl.observe(gap);
      if (a.params.tpotTarget > 0) {
        ++metrics.tpotTargetGaps;
        metrics.tpotTargetMet += gap <= a.params.tpotTarget;
      }
    }
  }
  a.lastToken = now;
  bool stopped = a.stop.feed(tokenizer.decode({token}));
  bool length = a.index >= p.maxTokens;
  a.utf8Tail += a.stop.takeReady(stopped || length);
  std::string ready = completeUtf8(a.utf8Tail);
  {
    CompletionRequest &r = *a.slot.request;
    std::lock_guard<std::mutex> lock(r.mutex);
    r.results[a.slot.choice].tokens.push_back(token);
    ++r.results[a.slot.choice].chainTokens[a.producedBy];
    if (!ready.empty()) {
      r.results[a.slot.choice].pieces.push_back(
          {std::move(ready), std::move(a.logprobs), false});
      a.logprobs.clear();
      r.changed.notify_all();
    }
  }
  if (!stopped && !length)
    return false;
  if (a.index > 1) {
    std::lock_guard<std::mutex> lock(metricsMutex);
    metrics.tpot.observe(
        std::chrono::duration<double>(now - a.firstToken).count() /
        double(a.index - 1));
  }
  finish(a, stopped ? "stop" : "length", "");
  return true;
}

Status Scheduler::speculate(Active &a, int32_t next) {
  SpeculativeStats before = a.speculative->stats();
  int64_t budget = a.params.maxTokens - a.index + 1;
  COLM_ASSIGN_OR_RETURN(
      auto tokens,
      a.speculative->round(*a.seq, next, budget, a.sampler, a.history));
  const SpeculativeStats &after = a.speculative->stats();
  {
    std::lock_guard<std::mutex> lock(metricsMutex);
    metrics.speculativeDrafted += after.drafted - before.drafted;
    metrics.speculativeAccepted += after.accepted - before.accepted;
  }
  // `next` and the accepted drafts are in the cache now, from the full
  // model's verify run; the last token is not.
  unsigned k = chainsAt(a.params.schedule, 0);
  a.decodedWith.resize(size_t(a.index - 1));
  a.decodedWith.insert(a.decodedWith.end(), tokens.size(), k);
  a.producedBy = k;
  auto now = std::chrono::steady_clock::now();
  for (int32_t t : tokens)
    if (emit(a, t, now))
      return Status::error(""); // finished
  a.pending = true;
  return Status::ok();
}

void Scheduler::loop() {
  std::vector<std::unique_ptr<Active>> active;
  bool worked = false;
  int64_t vocab = generator.config().vocabSize;
  for (;;) {
    if (active.empty() && preempted.empty() && worked) {
      releaseFreeMemory();
      worked = false;
    }
    std::vector<Slot> arrived;
    if (active.empty())
      lastStepRows.clear(); // an idle wait is no step's time
    {
      std::unique_lock<std::mutex> lock(mutex);
      wake.wait(lock, [&] {
        return stopping || !waiting.empty() || !active.empty() ||
               !preempted.empty();
      });
      if (stopping)
        break;
      // New sequences start (and take blocks) only while there is a slot.
      while (!waiting.empty() &&
             int64_t(active.size() + arrived.size()) < options.maxBatch &&
             preempted.empty()) {
        arrived.push_back(std::move(waiting.front()));
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
    for (auto &a : preempted)
      if (a->slot.request->cancelled) {
        finish(*a, "cancelled", "the client disconnected");
        a.reset();
      }
    std::erase_if(preempted,
                  [](const std::unique_ptr<Active> &a) { return !a; });

    // 1. Admission: preempted sequences first, then new ones, while the
    // pool has their blocks; the first that does not fit waits (and those
    // behind it).
    std::deque<std::unique_ptr<Active>> candidates;
    for (const Slot &slot : arrived)
      if (auto a = start(slot))
        candidates.push_back(std::move(a));
    while (!preempted.empty() && int64_t(active.size()) < options.maxBatch) {
      if (!place(*preempted.front()))
        break;
      if (preempted.front()->seq)
        active.push_back(std::move(preempted.front()));
      preempted.pop_front();
    }
    while (!candidates.empty() && int64_t(active.size()) < options.maxBatch) {
      std::unique_ptr<Active> &a = candidates.front();
      if (!preempted.empty() || !place(*a))
        break;
      if (a->seq)
        active.push_back(std::move(a));
      candidates.pop_front();
    }
    // Started sequences that found no blocks wait, in order, before any
    // later arrival (as preempted ones do, without a cache yet).
    for (auto &a : candidates)
      preempted.push_back(std::move(a));

    // 2. One token for every sequence whose prompt is done.
    std::vector<Active *> decoding;
    std::vector<int32_t> next;
    auto now = std::chrono::steady_clock::now();
    // The step-time model learns the whole period between two steps'
    // tokens (a stream's inter-token gap), not the decode alone.
    if (!lastStepRows.empty())
      stepModel.observe(
          lastStepRows, lastPrefillWork,
          std::chrono::duration<double>(now - lastStepAt).count());
    lastStepAt = now;
    for (auto &a : active) {
      if (!a->ready)
        continue;
      if (a->pending) {
        a->pending = false;
        decoding.push_back(a.get());
        next.push_back(a->generated.back());
        continue;
      }
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
      if (emit(*a, token, now)) {
        a.reset();
        continue;
      }
      decoding.push_back(a.get());
      next.push_back(token);
    }
    std::erase_if(active, [](const std::unique_ptr<Active> &a) { return !a; });
    // Room for one more position in each; a sequence that cannot get it
    // preempts the last admitted (perhaps itself: then it waits too).
    for (size_t i = 0; i < decoding.size(); ++i) {
      Active *a = decoding[i];
      if (!a->seq)
        continue; // preempted for an earlier one
      if (makeRoom(*a, 1, active))
        continue;
      if (int64_t(a->seq->cache.blockTable().size()) >= pool->blocks()) {
        finish(*a, "error",
               "the sequence outgrew the KV cache (" +
                   std::to_string(pool->blocks() * pool->blockSize()) +
                   " positions): raise --kv-cache-mib");
        if (auto *o = slotOf(a, active))
          o->reset();
        continue;
      }
      if (auto *o = slotOf(a, active))
        preempt(*o);
    }
    dropPreempted(decoding, next, active);
    // Decode steps of different sequences are independent. The compiled
    // backends run the sequences at one chain count as one decoding batch
    // (every GEMM reads the weights once for all of them); on the
    // interpreter, they run on all cores.
    // Self-speculative rounds, while few sequences decode (verifying a
    // large batch is compute-bound: speculation would not pay), for those
    // whose cache has room for a round.
    if (int64_t(decoding.size()) <= options.speculativeMaxBatch) {
      std::vector<Active *> plain;
      std::vector<int32_t> plainNext;
      for (size_t i = 0; i < decoding.size(); ++i) {
        Active *a = decoding[i];
        if (!a->speculative || !a->seq->cache.reserve(a->params.maxDraft + 1)) {
          plain.push_back(a);
          plainNext.push_back(next[i]);
          continue;
        }
        Status s = speculate(*a, next[i]);
        if (!s) {
          if (!s.message().empty())
            finish(*a, "error", s.message());
          if (auto *o = slotOf(a, active))
            o->reset();
        }
      }
      decoding.swap(plain);
      next.swap(plainNext);
      std::erase_if(active,
                    [](const std::unique_ptr<Active> &a) { return !a; });
    }
    // "chains": "auto": the chain counts that meet the tightest target
    // with the step-time model's prediction.
    {
      std::vector<ChainController::Stream> streams;
      bool any = false;
      for (Active *a : decoding) {
        ChainController::Stream st;
        st.chains = chainsNow(*a);
        st.automatic = a->params.autoChains;
        st.minChains = a->params.minChains;
        st.maxChains = a->params.maxChains;
        st.tpotTarget = a->params.tpotTarget;
        st.index = a->index;
        st.heldUntil = a->heldUntil;
        any |= st.automatic;
        streams.push_back(st);
      }
      autoLevel = 0;
      if (any) {
        chainControl.adjust(streams, stepModel, lastPrefillWork);
        for (size_t i = 0; i < decoding.size(); ++i)
          if (decoding[i]->params.autoChains) {
            decoding[i]->autoChains = streams[i].chains;
            decoding[i]->heldUntil = streams[i].heldUntil;
            autoLevel = autoLevel ? std::min(autoLevel, streams[i].chains)
                                  : streams[i].chains;
          }
      }
    }
    // CoLM switching up rewrites the history's keys and values, copying
    // the blocks it shares (a cached prefix) first: room for the copies,
    // or an automatic stream stays at the chains its cache holds.
    for (Active *a : decoding) {
      if (!a->seq)
        continue; // preempted for an earlier one
      const KvCache &cache = a->seq->cache;
      if (cache.columnsFor(int(chainsNow(*a))) <= cache.validColumns() ||
          makeRoomToWiden(*a, active))
        continue;
      if (a->params.autoChains &&
          unsigned(cache.validChains()) >= a->params.minChains) {
        a->autoChains = unsigned(cache.validChains());
        continue;
      }
      if (auto *o = slotOf(a, active))
        preempt(*o);
    }
    dropPreempted(decoding, next, active);
    std::vector<int64_t> rows(size_t(generator.config().numChains()), 0);
    std::vector<unsigned> chains;
    for (Active *a : decoding) {
      chains.push_back(chainsNow(*a));
      a->producedBy = chains.back();
      a->decodedWith.resize(size_t(a->index - 1));
      a->decodedWith.push_back(chains.back());
      ++rows[chains.back() - 1];
    }
    auto decodeStart = std::chrono::steady_clock::now();
    if (isCompiled(generator.backend())) {
      std::vector<Sequence *> seqs;
      for (Active *a : decoding)
        seqs.push_back(&*a->seq);
      auto logits = generator.decodeBatch(seqs, next, chains);
      for (size_t i = 0; i < decoding.size(); ++i)
        decoding[i]->logits = std::move(logits[i]);
    } else {
      parallelFor(decoding.size(), [&](size_t i) {
        Active &a = *decoding[i];
        a.logits = generator.decode(*a.seq, next[i], chains[i]);
      });
    }
    if (!decoding.empty())
      decodeSeconds = 0.8 * decodeSeconds +
                      0.2 * std::chrono::duration<double>(
                                std::chrono::steady_clock::now() - decodeStart)
                                .count();

    // 3. Prefill chunks with what is left of the step's budget, in tokens
    // of the full model: --step-tokens less the decodes, or (auto) as many
    // as take half the decode step's measured time, so the streams' steps
    // stay well within twice their idle length (a chunk also slows the
    // next decode step: it evicts the weights from the caches).
    double budget = double(options.stepTokens - int64_t(decoding.size()));
    if (options.stepTokens == 0) {
      budget = decoding.empty() || prefillSecondsPerToken <= 0
                   ? 4096.0
                   : 0.5 * decodeSeconds / prefillSecondsPerToken;
      // Streams with a TPOT target: the chunks get what the aimed step
      // leaves beside the decode rows, and nothing when it leaves nothing,
      // unless a prompt has waited kPrefillPatience (then the least chunk).
      auto at = std::chrono::steady_clock::now();
      double tightest = 0;
      for (Active *d : decoding)
        if (d->params.tpotTarget > 0)
          tightest = tightest > 0 ? std::min(tightest, d->params.tpotTarget)
                                  : d->params.tpotTarget;
      if (tightest > 0 && stepModel.ready() && prefillSecondsPerToken > 0 &&
          !decoding.empty()) {
        double room = ChainController::aimFraction(stepModel) * tightest -
                      stepModel.predict(rows, 0);
        budget = std::min(budget, std::max(room, 0.0) / prefillSecondsPerToken);
        if (budget < 1)
          for (auto &a : active)
            if (!a->ready && a->seq &&
                std::chrono::duration<double>(at - a->slot.request->arrived)
                        .count() > kPrefillPatience)
              budget = 1;
      }
      // A TTFT target ("latency_target") takes what meeting it needs.
      for (auto &a : active) {
        if (a->ready || !a->seq || a->params.ttftTarget <= 0 ||
            prefillSecondsPerToken <= 0 || decoding.empty())
          continue;
        double cost = a->params.chain1Prefill ? chain1Cost : 1.0;
        double left = a->params.ttftTarget - std::chrono::duration<double>(
                                                 at - a->slot.request->arrived)
                                                 .count();
        budget = std::max(
            budget,
            ChainController::ttftBudget(
                double(int64_t(a->params.prompt.size()) - a->prefilled) * cost,
                left, decodeSeconds, prefillSecondsPerToken));
      }
    }
    double prefillWork = 0;
    for (auto &a : active) {
      if (budget <= 0)
        break;
      if (a->ready || !a->seq)
        continue;
      double cost = a->params.chain1Prefill ? chain1Cost : 1.0;
      auto chunkStart = std::chrono::steady_clock::now();
      int64_t ran = prefillChunk(*a, int64_t(budget / cost));
      double seconds = std::chrono::duration<double>(
                           std::chrono::steady_clock::now() - chunkStart)
                           .count();
      double work = double(ran) * cost;
      prefillWork += work;
      budget -= work;
      double perToken = seconds / std::max(work, 1e-9);
      prefillSecondsPerToken =
          prefillSecondsPerToken <= 0
              ? perToken
              : 0.8 * prefillSecondsPerToken + 0.2 * perToken;
    }
    for (auto &a : active)
      if (a && !a->logits) {
        finish(*a, "error", a->logits.status().message());
        a.reset();
      }
    std::erase_if(active, [](const std::unique_ptr<Active> &a) { return !a; });
    // The step's rows and prefill work, for the model (timed at the next
    // step's tokens).
    lastStepRows.clear();
    if (!decoding.empty())
      lastStepRows = rows;
    lastPrefillWork = prefillWork;
    updateGauges(active.size());
  }
  // Shutting down: nobody waits forever.
  for (auto &a : active)
    finish(*a, "error", "the server is shutting down");
  for (auto &a : preempted)
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
