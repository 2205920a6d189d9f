//===- Generator.cpp - prefill, decode and chain switching ------*- C++ -*-===//
#include "compiler/Generator.h"

#include "compiler/BuildColm.h"
#include "compiler/Pipeline.h"

#include <chrono>

using namespace mlir;

namespace colm {

namespace {

/// buildColmStep sliced to k chains and proven causal.
Result<OwningOpRef<ModuleOp>> compileStep(MLIRContext &context,
                                          const ModelConfig &config, unsigned k,
                                          bool withLogits) {
  auto built = buildColmStep(context, config, withLogits);
  if (!built)
    return built.status();
  OwningOpRef<ModuleOp> module = built.take();
  COLM_TRY(sliceAndVerify(*module, config, k));
  return module;
}

double secondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
      .count();
}

/// The first block of a window's recent part (0: the window is the whole
/// history of `past` positions).
int64_t firstRecentBlock(int64_t past, const AttentionWindow &w,
                         int64_t *sinkBlocks) {
  int64_t bs = KvPool::kBlockSize;
  *sinkBlocks = (std::max<int64_t>(w.sink, 0) + bs - 1) / bs;
  if (w.recent <= 0)
    return 0;
  int64_t first = std::max<int64_t>(0, past - w.recent) / bs;
  return first > *sinkBlocks ? first : 0;
}

/// The history positions a window reads, in order.
std::vector<int64_t> windowPositions(int64_t past, const AttentionWindow &w) {
  int64_t sinkBlocks = 0, first = firstRecentBlock(past, w, &sinkBlocks);
  std::vector<int64_t> seen;
  for (int64_t p = 0; p < past; ++p)
    if (first == 0 || p < sinkBlocks * KvPool::kBlockSize ||
        p >= first * KvPool::kBlockSize)
      seen.push_back(p);
  return seen;
}

} // namespace

Result<std::unique_ptr<Generator>>
Generator::create(MLIRContext &context, const Model &model, Backend backend) {
  std::unique_ptr<Generator> g(new Generator(context, model, backend));
  for (int k = 1; k <= model.config.numChains(); ++k) {
    COLM_ASSIGN_OR_RETURN(auto module,
                          compileStep(context, model.config, k, true));
    Program &p = g->steps[k];
    p.module = std::move(module);
    p.func = p.module->lookupSymbol<func::FuncOp>("step");
  }
  if (model.config.kvSharing) {
    COLM_ASSIGN_OR_RETURN(auto module,
                          compileStep(context, model.config, 1, false));
    g->keysOnly.module = std::move(module);
    g->keysOnly.func = g->keysOnly.module->lookupSymbol<func::FuncOp>("step");
  }
  return g;
}

int64_t Generator::nextPrefillChunk(int64_t remaining, int64_t budget,
                                    int64_t promptLength, bool chain1Prefill) {
  int64_t least = kFewRows + 1 + (chain1Prefill ? 1 : 0);
  if (promptLength < least || remaining <= budget)
    return remaining;
  // Every chunk of a long prompt has at least `least` rows, the last one
  // included.
  int64_t chunk = std::max(budget, least);
  if (remaining - chunk < least)
    chunk = remaining - least >= least ? remaining - least : remaining;
  return chunk;
}

Result<Sequence> Generator::newSequence(int64_t maxContext) const {
  COLM_ASSIGN_OR_RETURN(KvCache cache,
                        KvCache::create(model.config, maxContext));
  return Sequence{std::move(cache), {}};
}

Result<Sequence> Generator::newSequence(std::shared_ptr<KvPool> pool,
                                        int64_t maxContext) const {
  COLM_ASSIGN_OR_RETURN(KvCache cache,
                        KvCache::create(std::move(pool), maxContext));
  return Sequence{std::move(cache), {}};
}

double Generator::chain1PrefillCost() const {
  if (!keysOnly.module)
    return 1.0;
  double full = double(multipliedWeights(*steps.rbegin()->second.module));
  double chain1 = double(multipliedWeights(*keysOnly.module));
  return full > 0 ? chain1 / full : 1.0;
}

Result<std::vector<HostTensor>>
Generator::run(const Program &program, const Sequence &seq,
               const std::vector<int32_t> &tokens, int64_t start, int64_t cols,
               bool usePast, const AttentionWindow &window) const {
  std::vector<HostTensor> args{HostTensor::tokens(tokens)};
  std::vector<int32_t> positions;
  for (size_t i = 0; i < tokens.size(); ++i)
    positions.push_back(static_cast<int32_t>(start + i));
  args.push_back(HostTensor::tokens(positions));
  int64_t past = usePast ? seq.cache.length() : 0;
  if (isCompiled(engine))
    return runCpu(program, seq, tokens, start, cols, past, window);
  // The interpreter reads the window's positions of the history.
  std::vector<int64_t> seen = windowPositions(past, window);
  for (int l = 0; l < seq.cache.numLayers(); ++l) {
    for (bool keys : {true, false}) {
      HostTensor t = HostTensor::floats({int64_t(seen.size()), cols});
      if (past) {
        COLM_ASSIGN_OR_RETURN(std::vector<float> rows,
                              keys ? seq.cache.keys(l, cols)
                                   : seq.cache.values(l, cols));
        for (size_t i = 0; i < seen.size(); ++i)
          std::copy(rows.begin() + seen[i] * cols,
                    rows.begin() + (seen[i] + 1) * cols,
                    t.data.begin() + int64_t(i) * cols);
      }
      args.push_back(std::move(t));
    }
  }
  DiagnosticCapture capture(context);
  InterpretOptions options;
  options.paramCache = &paramCache;
  auto results = interpret(program.func, args, model.params, options);
  if (failed(results))
    return capture.status("the decoding step failed");
  return std::move(*results);
}

namespace {

int64_t roundUpToPowerOfTwo(int64_t n, int64_t least) {
  int64_t p = least;
  while (p < n)
    p *= 2;
  return p;
}

/// The paged cache's sizes for a program planned for `maxPast` cached
/// positions: any pool (its rows are bound, never planned), the block
/// table of maxPast positions. `suffix` names a decoding batch's sequence.
void pagedSizes(codegen::LoweringOptions &options, const ModelConfig &config,
                int64_t maxPast, const std::string &suffix) {
  options.kvBlockSize = KvPool::kBlockSize;
  options.kvCacheWidth = config.kvWidth();
  options.dynamicSizes.push_back(
      {"cache_rows" + suffix,
       KvPool::kMaxBytes / (int64_t(sizeof(float)) * config.kvWidth())});
  options.dynamicSizes.push_back(
      {"cache_blocks" + suffix,
       (maxPast + KvPool::kBlockSize - 1) / KvPool::kBlockSize});
}

/// What a run's attention reads of a cache: `past` positions through
/// `blocks` entries of `table` (the cache's own block table, in place, or
/// a draft's window of it, held in `window`). Executors keep the pointers
/// they are bound: a view outlives the run that reads it.
struct CacheView {
  const KvPool *pool = nullptr;
  const int32_t *table = nullptr;
  int64_t blocks = 0, past = 0;
  std::vector<int32_t> window;

  CacheView() = default;
  CacheView(const CacheView &) = delete;
  CacheView(CacheView &&) = default; // the window's buffer moves along
};

CacheView wholeCache(const KvCache &cache, int64_t past) {
  CacheView v;
  v.pool = &cache.pool();
  v.table = cache.blockTable().data();
  v.blocks = cache.blocksFor(past);
  v.past = past;
  return v;
}

CacheView windowView(const KvCache &cache, int64_t past,
                     const AttentionWindow &w) {
  int64_t sinkBlocks = 0, first = firstRecentBlock(past, w, &sinkBlocks);
  if (first == 0)
    return wholeCache(cache, past);
  const std::vector<int32_t> &t = cache.blockTable();
  CacheView v;
  v.pool = &cache.pool();
  v.window.assign(t.begin(), t.begin() + sinkBlocks);
  v.window.insert(v.window.end(), t.begin() + first,
                  t.begin() + cache.blocksFor(past));
  v.table = v.window.data();
  v.blocks = int64_t(v.window.size());
  v.past = (sinkBlocks - first) * KvPool::kBlockSize + past;
  return v;
}

/// The pool rows a run over `view` binds: up to the end of the highest
/// block it uses (a device backend copies what is bound at every run; a
/// fresh pool hands out blocks in order, so that is about the history).
int64_t boundRows(const CacheView &view) {
  int64_t highest = -1;
  for (int64_t b = 0; b < view.blocks; ++b)
    highest = std::max<int64_t>(highest, view.table[b]);
  return (highest + 1) * view.pool->blockSize();
}

/// Binds the view's pool for the program's cached arguments (2, 3, ...:
/// each layer's keys and values) and its block table; `suffix` (".s<i>")
/// names a decoding batch's sequence. The sizes come from
/// pagedSizeValues().
Status bindPaged(Executor &e, const CacheView &view,
                 const std::string &suffix) {
  const KvPool &pool = *view.pool;
  COLM_TRY(e.bind("blocks" + suffix, view.table, view.blocks * 4));
  int64_t bytes = boundRows(view) * pool.width() * int64_t(sizeof(float));
  for (int l = 0; l < pool.numLayers(); ++l) {
    COLM_TRY(e.bind("arg" + std::to_string(2 + 2 * l) + suffix, pool.keys(l),
                    bytes));
    COLM_TRY(e.bind("arg" + std::to_string(3 + 2 * l) + suffix, pool.values(l),
                    bytes));
  }
  return Status::ok();
}

void pagedSizeValues(std::map<std::string, int64_t> &sizes,
                     const CacheView &view, const std::string &suffix) {
  sizes["cache_rows" + suffix] = boundRows(view);
  sizes["cache_blocks" + suffix] = view.blocks;
}

} // namespace

// Planned for sizes in powers of two: a longer prompt or cache compiles again
// (the kernels come from the cache), a shorter one reuses the plan. The
// caller holds the program's mutex.
Status Generator::compileCpu(const Program &program, int64_t n,
                             int64_t past) const {
  CpuStep &cpu = *program.cpu;
  mlir::func::FuncOp func = program.func;
  if (!cpu.compiled || n > cpu.maxTokens || past > cpu.maxPast) {
    codegen::LoweringOptions options;
    int64_t maxTokens = roundUpToPowerOfTwo(std::max(n, cpu.maxTokens), 16);
    int64_t maxPast = roundUpToPowerOfTwo(std::max(past, cpu.maxPast), 256);
    options.dynamicSizes = {{"tokens", maxTokens}, {"past", maxPast}};
    pagedSizes(options, model.config, maxPast, "");
    // The weights stay fixed while a generator holds them: with
    // --precision bf16 they are bound as bf16, half the bytes per token.
    options.bf16Weights = true;
    options.argumentSizes = {"tokens", "tokens"};
    for (int64_t i = 2; i < func.getNumArguments(); ++i)
      options.argumentSizes.push_back("past");
    COLM_ASSIGN_OR_RETURN(CompiledFunction f,
                          compileForCpu(func, options, engine));
    cpu.compiled = std::make_unique<CompiledFunction>(std::move(f));
    cpu.maxTokens = maxTokens;
    cpu.maxPast = maxPast;
    COLM_TRY(bindShared(program, cpu));
    cpu.compiled->executor->setProfiling(profiling);
  }
  return Status::ok();
}

std::shared_ptr<Generator::CpuStep> Generator::batchSlot(const Program &program,
                                                         int64_t n) const {
  std::lock_guard<std::mutex> lock(*program.batchesMutex);
  std::shared_ptr<CpuStep> &slot = program.batches[n];
  if (!slot)
    slot = std::make_shared<CpuStep>();
  return slot;
}

Status Generator::bindShared(const Program &program, CpuStep &cpu) const {
  std::lock_guard<std::mutex> lock(*program.batchesMutex);
  BoundParams &shared = *program.params;
  bool first = shared.bound.empty();
  Status bound = first
                     ? bindParams(*cpu.compiled->executor, model.params, shared)
                     : bindBoundParams(*cpu.compiled->executor, shared);
  if (!bound) {
    // Planned (and bound) again on the next call; a binding other steps
    // use stays.
    cpu.compiled.reset();
    if (first)
      shared = BoundParams();
  }
  return bound;
}

Status Generator::compileBatch(const Program &program, CpuStep &cpu, int64_t n,
                               int64_t past) const {
  if (cpu.compiled && past <= cpu.maxPast)
    return Status::ok();
  codegen::LoweringOptions options;
  int64_t maxPast = roundUpToPowerOfTwo(std::max(past, cpu.maxPast), 256);
  options.sequenceLength = n;
  options.bf16Weights = true;
  std::string all;
  for (int64_t s = 0; s < n; ++s) {
    std::string name = "past" + std::to_string(s);
    options.dynamicSizes.push_back({name, maxPast});
    options.decodePast.push_back(name);
    pagedSizes(options, model.config, maxPast, std::to_string(s));
    all += (s ? "+" : "") + name;
  }
  mlir::func::FuncOp func = program.func;
  options.argumentSizes = {"", ""};
  for (int64_t i = 2; i < func.getNumArguments(); ++i)
    options.argumentSizes.push_back(all);
  COLM_ASSIGN_OR_RETURN(CompiledFunction f,
                        compileForCpu(func, options, engine));
  cpu.compiled = std::make_unique<CompiledFunction>(std::move(f));
  cpu.maxTokens = n;
  cpu.maxPast = maxPast;
  COLM_TRY(bindShared(program, cpu));
  cpu.compiled->executor->setProfiling(profiling);
  return Status::ok();
}

Status
Generator::decodeCpuBatch(const Program &program,
                          const std::vector<Sequence *> &seqs,
                          const std::vector<int32_t> &tokens, int64_t cols,
                          std::vector<std::vector<float>> &logits) const {
  int64_t n = static_cast<int64_t>(seqs.size());
  // Batches are planned for 2, 4, 8, ... sequences; the rows past n decode
  // token 0 at position 0 with nothing cached, and are dropped.
  int64_t planned = roundUpToPowerOfTwo(n, 2);
  int64_t longest = 0;
  for (Sequence *seq : seqs)
    longest = std::max(longest, seq->cache.length());
  std::shared_ptr<CpuStep> step = batchSlot(program, planned);
  std::lock_guard<std::mutex> lock(step->mutex);
  COLM_TRY(compileBatch(program, *step, planned, longest));
  Executor &e = *step->compiled->executor;
  std::map<std::string, int64_t> sizes;
  std::vector<int32_t> ids(planned, 0), positions(planned, 0);
  // The rows past n read the first sequence's pool with no position.
  for (int64_t s = 0; s < planned; ++s) {
    const KvCache &c = seqs[std::min(s, n - 1)]->cache;
    int64_t past = s < n ? c.length() : 0;
    sizes["past" + std::to_string(s)] = past;
    pagedSizeValues(sizes, wholeCache(c, past), std::to_string(s));
  }
  for (int64_t s = 0; s < n; ++s) {
    ids[s] = tokens[s];
    positions[s] = static_cast<int32_t>(seqs[s]->cache.length());
  }
  COLM_TRY(e.setSizes(sizes));
  COLM_TRY(e.bind("arg0", ids.data(), planned * 4));
  COLM_TRY(e.bind("arg1", positions.data(), planned * 4));
  // Each sequence's cache in place: the attention reads its pool through
  // its block table (the sub-model's leading columns of each row).
  int layers = seqs[0]->cache.numLayers();
  for (int64_t s = 0; s < planned; ++s) {
    const KvCache &c = seqs[std::min(s, n - 1)]->cache;
    COLM_TRY(bindPaged(e, wholeCache(c, s < n ? c.length() : 0),
                       ".s" + std::to_string(s)));
  }
  COLM_TRY(e.run());
  mlir::func::FuncOp func = program.func;
  std::vector<const float *> results;
  int64_t vocab = 0;
  for (unsigned i = 0; i < func.getNumResults(); ++i) {
    auto attr = func.getResultAttrOfType<StringAttr>(i, "chain.output");
    std::string name = attr ? attr.str() : "result" + std::to_string(i);
    COLM_ASSIGN_OR_RETURN(const void *data, e.output(name));
    results.push_back(static_cast<const float *>(data));
    if (i == 0) {
      COLM_ASSIGN_OR_RETURN(std::vector<int64_t> shape, e.shapeOf(name));
      vocab = shape.back();
    }
  }
  logits.assign(n, {});
  for (int64_t s = 0; s < n; ++s) {
    logits[s].assign(results[0] + s * vocab, results[0] + (s + 1) * vocab);
    std::vector<std::vector<float>> k, v;
    for (int l = 0; l < layers; ++l) {
      k.emplace_back(results[1 + 2 * l] + s * cols,
                     results[1 + 2 * l] + (s + 1) * cols);
      v.emplace_back(results[2 + 2 * l] + s * cols,
                     results[2 + 2 * l] + (s + 1) * cols);
    }
    COLM_TRY(seqs[s]->cache.appendPositions(1, k, v, cols));
    seqs[s]->tokens.push_back(tokens[s]);
  }
  return Status::ok();
}

std::vector<Result<std::vector<float>>> Generator::decodeBatch(
    const std::vector<Sequence *> &seqs, const std::vector<int32_t> &tokens,
    const std::vector<unsigned> &chains, GenerationStats *stats) const {
  size_t n = seqs.size();
  std::vector<Result<std::vector<float>>> out(
      n, Status::error("internal error: not decoded"));
  if (tokens.size() != n || chains.size() != n) {
    for (auto &r : out)
      r = Status::error("internal error: decodeBatch needs a token and a "
                        "chain count per sequence");
    return out;
  }
  // Sequences that can share a decoding batch, by chain count; the rest
  // (and every sequence on the reference backend) decode one by one.
  std::map<unsigned, std::vector<size_t>> groups;
  for (size_t i = 0; i < n; ++i) {
    unsigned k = chains[i];
    const KvCache &c = seqs[i]->cache;
    bool batchable = isCompiled(engine) && steps.count(k) && tokens[i] >= 0 &&
                     tokens[i] < model.config.vocabSize && c.remaining() >= 1 &&
                     c.columnsFor(static_cast<int>(k)) <= c.validColumns();
    if (batchable)
      groups[k].push_back(i);
    else
      out[i] = decode(*seqs[i], tokens[i], k, stats);
  }
  for (auto &[k, members] : groups) {
    for (size_t first = 0; first < members.size(); first += kMaxDecodeBatch) {
      size_t last = std::min(members.size(), first + kMaxDecodeBatch);
      if (last - first == 1) {
        size_t i = members[first];
        out[i] = decode(*seqs[i], tokens[i], k, stats);
        continue;
      }
      std::vector<Sequence *> batch;
      std::vector<int32_t> batchTokens;
      for (size_t j = first; j < last; ++j) {
        batch.push_back(seqs[members[j]]);
        batchTokens.push_back(tokens[members[j]]);
      }
      auto t0 = std::chrono::steady_clock::now();
      std::vector<std::vector<float>> logits;
      int64_t cols = batch[0]->cache.columnsFor(static_cast<int>(k));
      Status s = decodeCpuBatch(steps.at(k), batch, batchTokens, cols, logits);
      for (size_t j = first; j < last; ++j) {
        if (s)
          out[members[j]] = std::move(logits[j - first]);
        else
          out[members[j]] = s;
      }
      if (stats && s) {
        stats->decodeSeconds += secondsSince(t0);
        stats->decodeTokens += static_cast<int64_t>(last - first);
      }
    }
  }
  return out;
}

std::vector<const Generator::Program *> Generator::programs() const {
  std::vector<const Program *> all;
  for (const auto &[k, p] : steps)
    all.push_back(&p);
  if (keysOnly.module)
    all.push_back(&keysOnly);
  return all;
}

std::vector<std::shared_ptr<Generator::CpuStep>> Generator::cpuSteps() const {
  std::vector<std::shared_ptr<CpuStep>> all;
  for (const Program *p : programs()) {
    all.push_back(p->cpu);
    std::lock_guard<std::mutex> lock(*p->batchesMutex);
    for (const auto &[n, step] : p->batches)
      all.push_back(step);
  }
  return all;
}

void Generator::setProfiling(bool on) const {
  profiling = on;
  for (const auto &step : cpuSteps()) {
    std::lock_guard<std::mutex> lock(step->mutex);
    if (step->compiled)
      step->compiled->executor->setProfiling(on);
  }
}

std::vector<LaunchProfile> Generator::profile() const {
  std::vector<LaunchProfile> all;
  for (const auto &step : cpuSteps()) {
    std::lock_guard<std::mutex> lock(step->mutex);
    if (step->compiled) {
      const auto &launches = step->compiled->executor->profile();
      all.insert(all.end(), launches.begin(), launches.end());
    }
  }
  return all;
}

void Generator::resetProfile() const {
  for (const auto &step : cpuSteps()) {
    std::lock_guard<std::mutex> lock(step->mutex);
    if (step->compiled)
      step->compiled->executor->resetProfile();
  }
}

Status Generator::reserve(int64_t maxTokens, int64_t maxPast,
                          int64_t maxBatch) const {
  if (!isCompiled(engine))
    return Status::ok();
  for (const Program *p : programs()) {
    {
      std::lock_guard<std::mutex> lock(p->cpu->mutex);
      COLM_TRY(compileCpu(*p, maxTokens, maxPast));
    }
    if (p == &keysOnly)
      continue;
    for (int64_t n = 2; n <= std::min(maxBatch, kMaxDecodeBatch); n *= 2) {
      std::shared_ptr<CpuStep> step = batchSlot(*p, n);
      std::lock_guard<std::mutex> lock(step->mutex);
      COLM_TRY(compileBatch(*p, *step, n, maxPast));
    }
  }
  return Status::ok();
}

int64_t Generator::reservedBytes() const {
  int64_t total = 0;
  for (const auto &step : cpuSteps()) {
    std::lock_guard<std::mutex> lock(step->mutex);
    if (step->compiled)
      total += step->compiled->kernels.program.arenaBytes;
  }
  return total;
}

Result<std::vector<HostTensor>>
Generator::runCpu(const Program &program, const Sequence &seq,
                  const std::vector<int32_t> &tokens, int64_t start,
                  int64_t cols, int64_t past,
                  const AttentionWindow &window) const {
  CpuStep &cpu = *program.cpu;
  mlir::func::FuncOp func = program.func;
  std::lock_guard<std::mutex> lock(cpu.mutex);
  int64_t n = static_cast<int64_t>(tokens.size());
  COLM_TRY(compileCpu(program, n, past));
  Executor &e = *cpu.compiled->executor;
  CacheView view = windowView(seq.cache, past, window);
  std::map<std::string, int64_t> sizes{{"tokens", n}, {"past", view.past}};
  pagedSizeValues(sizes, view, "");
  COLM_TRY(e.setSizes(sizes));
  std::vector<int32_t> positions;
  for (int64_t i = 0; i < n; ++i)
    positions.push_back(static_cast<int32_t>(start + i));
  COLM_TRY(e.bind("arg0", tokens.data(), n * 4));
  COLM_TRY(e.bind("arg1", positions.data(), n * 4));
  // The cache in place: the attention reads the pool through the block
  // table (the sub-model's leading columns of each row).
  COLM_TRY(bindPaged(e, view, ""));
  COLM_TRY(e.run());
  std::vector<HostTensor> results;
  for (unsigned i = 0; i < func.getNumResults(); ++i) {
    auto attr = func.getResultAttrOfType<StringAttr>(i, "chain.output");
    std::string name = attr ? attr.str() : "result" + std::to_string(i);
    COLM_ASSIGN_OR_RETURN(const void *data, e.output(name));
    COLM_ASSIGN_OR_RETURN(std::vector<int64_t> shape, e.shapeOf(name));
    HostTensor t = HostTensor::floats(shape);
    const float *f = static_cast<const float *>(data);
    for (size_t j = 0; j < t.data.size(); ++j)
      t.data[j] = f[j];
    results.push_back(std::move(t));
  }
  return results;
}

Status Generator::appendNew(Sequence &seq,
                            const std::vector<HostTensor> &results,
                            size_t first, int64_t rows, int64_t cols) const {
  std::vector<std::vector<float>> k, v;
  for (int l = 0; l < seq.cache.numLayers(); ++l) {
    k.push_back(results[first + 2 * l].toFloat());
    v.push_back(results[first + 2 * l + 1].toFloat());
  }
  return seq.cache.appendPositions(rows, k, v, cols);
}

Result<std::vector<float>>
Generator::prefill(Sequence &seq, const std::vector<int32_t> &prompt,
                   unsigned k, bool chain1Prefill,
                   GenerationStats *stats) const {
  if (prompt.empty())
    return Status::error("the prompt is empty");
  COLM_TRY(checkChains(k));
  if (chain1Prefill && !model.config.kvSharing)
    return Status::error("chain-1 prefill needs CoLM-Air (kv_sharing): a "
                         "CoLM's keys and values need every chain");
  if (seq.cache.length() + static_cast<int64_t>(prompt.size()) >
      seq.cache.maxContext())
    return Status::error(
        "the prompt has " +
        countOf(static_cast<int64_t>(prompt.size()), "token") +
        " but the context holds " +
        std::to_string(seq.cache.maxContext() - seq.cache.length()) +
        " more (raise --max-context)");
  auto t0 = std::chrono::steady_clock::now();
  std::vector<float> logits;
  if (chain1Prefill && prompt.size() > 1) {
    // Every key and value of CoLM-Air comes from chain 1: the chain-1
    // program fills the cache for all but the last position.
    std::vector<int32_t> head(prompt.begin(), prompt.end() - 1);
    int64_t cols = seq.cache.width();
    COLM_ASSIGN_OR_RETURN(
        auto results, run(keysOnly, seq, head, seq.cache.length(), cols, true));
    COLM_TRY(appendNew(seq, results, 0, head.size(), cols));
    seq.tokens.insert(seq.tokens.end(), head.begin(), head.end());
    if (stats) {
      stats->prefillSeconds += secondsSince(t0);
      stats->prefillTokens += head.size();
    }
    auto t1 = std::chrono::steady_clock::now();
    COLM_ASSIGN_OR_RETURN(logits, decode(seq, prompt.back(), k, nullptr));
    if (stats) {
      stats->prefillSeconds += secondsSince(t1);
      stats->prefillTokens += 1;
    }
    return logits;
  }
  int64_t cols = seq.cache.columnsFor(static_cast<int>(k));
  if (seq.cache.length() && cols > seq.cache.validColumns())
    return Status::error("internal error: prefill after a narrower history");
  COLM_ASSIGN_OR_RETURN(HostTensor all, append(seq, prompt, k));
  int64_t vocab = all.shape[1];
  logits.assign(all.data.end() - vocab, all.data.end());
  if (stats) {
    stats->prefillSeconds += secondsSince(t0);
    stats->prefillTokens += prompt.size();
  }
  return logits;
}

Status Generator::checkChains(unsigned k) const {
  if (!steps.count(k))
    return Status::error("chains " + std::to_string(k) + " is outside 1.." +
                         std::to_string(model.config.numChains()));
  return Status::ok();
}

Status Generator::checkRoom(const Sequence &seq, int64_t tokens) const {
  if (seq.cache.remaining() < tokens)
    return Status::error(
        countOf(tokens, "token") + " do not fit: the context holds " +
        std::to_string(seq.cache.remaining()) + " more (raise --max-context)");
  return Status::ok();
}

Status Generator::prefillPart(Sequence &seq, const std::vector<int32_t> &tokens,
                              unsigned k, bool chain1Prefill,
                              GenerationStats *stats) const {
  if (tokens.empty())
    return Status::ok();
  COLM_TRY(checkChains(k));
  if (chain1Prefill && !model.config.kvSharing)
    return Status::error("chain-1 prefill needs CoLM-Air (kv_sharing)");
  COLM_TRY(checkRoom(seq, int64_t(tokens.size())));
  auto t0 = std::chrono::steady_clock::now();
  if (chain1Prefill) {
    int64_t cols = seq.cache.width();
    COLM_ASSIGN_OR_RETURN(auto results, run(keysOnly, seq, tokens,
                                            seq.cache.length(), cols, true));
    COLM_TRY(appendNew(seq, results, 0, int64_t(tokens.size()), cols));
    seq.tokens.insert(seq.tokens.end(), tokens.begin(), tokens.end());
  } else {
    if (seq.cache.length() &&
        seq.cache.columnsFor(int(k)) > seq.cache.validColumns())
      return Status::error("internal error: prefill after a narrower history");
    COLM_TRY(append(seq, tokens, k).status());
  }
  if (stats) {
    stats->prefillSeconds += secondsSince(t0);
    stats->prefillTokens += int64_t(tokens.size());
  }
  return Status::ok();
}

Result<std::vector<float>>
Generator::decode(Sequence &seq, int32_t token, unsigned k,
                  GenerationStats *stats, const AttentionWindow &window) const {
  COLM_TRY(checkChains(k));
  if (token < 0 || token >= model.config.vocabSize)
    return Status::error("token id " + std::to_string(token) +
                         " is outside the vocabulary");
  if (seq.cache.remaining() < 1)
    return Status::error(
        "the context is full: " + std::to_string(seq.cache.maxContext()) +
        " positions (raise --max-context)");
  COLM_TRY(widenHistory(seq, k, stats));
  auto t0 = std::chrono::steady_clock::now();
  COLM_ASSIGN_OR_RETURN(HostTensor logits, append(seq, {token}, k, window));
  if (stats) {
    stats->decodeSeconds += secondsSince(t0);
    stats->decodeTokens += 1;
  }
  return logits.toFloat();
}

Result<HostTensor> Generator::append(Sequence &seq,
                                     const std::vector<int32_t> &tokens,
                                     unsigned k,
                                     const AttentionWindow &window) const {
  int64_t cols = seq.cache.columnsFor(static_cast<int>(k));
  COLM_ASSIGN_OR_RETURN(
      auto results,
      run(steps.at(k), seq, tokens, seq.cache.length(), cols, true, window));
  COLM_TRY(appendNew(seq, results, 1, int64_t(tokens.size()), cols));
  seq.tokens.insert(seq.tokens.end(), tokens.begin(), tokens.end());
  return std::move(results[0]);
}

Status Generator::widenHistory(Sequence &seq, unsigned k,
                               GenerationStats *stats) const {
  int64_t cols = seq.cache.columnsFor(static_cast<int>(k));
  if (cols <= seq.cache.validColumns())
    return Status::ok();
  // CoLM switching up: the wider sub-model's keys and values for the whole
  // history, from the tokens (chain j needs the hidden states of 1..j).
  auto t0 = std::chrono::steady_clock::now();
  COLM_ASSIGN_OR_RETURN(auto results,
                        run(steps.at(k), seq, seq.tokens, 0, cols, false));
  std::vector<std::vector<float>> kk, vv;
  for (int l = 0; l < seq.cache.numLayers(); ++l) {
    kk.push_back(results[1 + 2 * l].toFloat());
    vv.push_back(results[2 + 2 * l].toFloat());
  }
  COLM_TRY(seq.cache.overwriteHistory(kk, vv, cols));
  if (stats) {
    stats->recomputeSeconds += secondsSince(t0);
    stats->recomputedTokens += int64_t(seq.tokens.size());
  }
  return Status::ok();
}

Result<std::vector<std::vector<float>>>
Generator::extend(Sequence &seq, const std::vector<int32_t> &tokens, unsigned k,
                  GenerationStats *stats) const {
  if (tokens.empty())
    return Status::error("no tokens to append");
  COLM_TRY(checkChains(k));
  for (size_t i = 0; i < tokens.size(); ++i)
    if (tokens[i] < 0 || tokens[i] >= model.config.vocabSize)
      return Status::error("token id " + std::to_string(tokens[i]) +
                           " at position " + std::to_string(i) +
                           " is outside the vocabulary");
  COLM_TRY(checkRoom(seq, int64_t(tokens.size())));
  COLM_TRY(widenHistory(seq, k, stats));
  auto t0 = std::chrono::steady_clock::now();
  COLM_ASSIGN_OR_RETURN(HostTensor all, append(seq, tokens, k));
  int64_t vocab = all.shape[1];
  std::vector<std::vector<float>> logits;
  for (size_t i = 0; i < tokens.size(); ++i)
    logits.emplace_back(all.data.begin() + int64_t(i) * vocab,
                        all.data.begin() + int64_t(i + 1) * vocab);
  if (stats) {
    stats->decodeSeconds += secondsSince(t0);
    stats->decodeTokens += int64_t(tokens.size());
  }
  return logits;
}

void Generator::truncate(Sequence &seq, int64_t length) const {
  length = std::clamp<int64_t>(length, 0, int64_t(seq.tokens.size()));
  seq.cache.truncate(length);
  seq.tokens.resize(size_t(length));
}

} // namespace colm
