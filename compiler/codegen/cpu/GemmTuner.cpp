//===- GemmTuner.cpp - Measure chain GEMM knobs on this CPU ---------------===//

#include "compiler/codegen/cpu/GemmTuner.h"

#include "runtime/Median.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>

namespace colm::codegen::cpu {
namespace {

double now() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

/// The multiple of mr nearest to `target` (at least mr).
int mcNear(int target, int mr) {
  return mr * std::max(1, (target + mr / 2) / mr);
}

struct Operands {
  std::vector<float> a, b, c0, c;
  ColmGemmArgs args{};
};

Operands makeOperands(const ChainGemmSpec &s, int64_t dynamicSize) {
  Operands o;
  int64_t M = s.m < 0 ? dynamicSize : s.m, K = s.k < 0 ? dynamicSize : s.k;
  int64_t N = s.n;
  std::mt19937 rng(12345);
  std::normal_distribution<float> normal;
  o.a.resize(size_t(M * K));
  o.b.resize(size_t(K * N));
  o.c0.resize(size_t(M * N));
  for (std::vector<float> *v : {&o.a, &o.b, &o.c0})
    for (float &x : *v)
      x = normal(rng);
  // c0 is what a kernel must overwrite, add to, or leave alone: starting
  // every check from it compares the untouched elements too.
  o.c = o.c0;
  o.args = {o.a.data(),
            o.b.data(),
            o.c.data(),
            M,
            N,
            K,
            s.aTransposed ? M : K,
            s.bTransposed ? K : N,
            N};
  // A grouped GEMM's products side by side in b and c.
  setContiguousGroups(s, o.args);
  return o;
}

} // namespace

std::vector<GemmKnobs> gemmCandidates(const VectorIsa &isa) {
  GemmKnobs def = defaultKnobs(isa);
  // Tiles: nr of 2 or 4 vectors, mr from a few row counts. Two FMA ports
  // with a latency of about 4 want ~8 independent accumulators; keep tiles
  // with at least 3/8 of the registers as accumulators, the fullest first.
  struct Tile {
    int mr, nr, acc, order = 0;
  };
  std::vector<Tile> tiles;
  for (int nv : {2, 4}) {
    int nr = nv * isa.lanes;
    if (nr % 8 != 0 || nr > 64)
      continue;
    for (int mr : {4, 6, 8, 12, 14}) {
      GemmKnobs k = def;
      k.mr = mr;
      k.nr = nr;
      if (!checkKnobsFit(k, isa).isOk() || mr * nv * 8 < isa.registers * 3)
        continue;
      if (mr == def.mr && nr == def.nr)
        continue; // the default tile goes first, below
      tiles.push_back({mr, nr, mr * nv, 0});
    }
  }
  // Fullest first; on a tie, the narrower tile (listed first) first. (No
  // std::stable_sort: libstdc++ 12's warns under clang 19.)
  for (size_t i = 0; i < tiles.size(); ++i)
    tiles[i].order = int(i);
  std::sort(tiles.begin(), tiles.end(), [](const Tile &x, const Tile &y) {
    return x.acc != y.acc ? x.acc > y.acc : x.order < y.order;
  });
  tiles.insert(tiles.begin(), {def.mr, def.nr, 0, 0});
  if (tiles.size() > 4)
    tiles.resize(4);
  // Blockings: the default's, a deep reduction with few rows (the hand
  // sweep's winner for weight grads), a shallow one with many rows, and a
  // deep one with the default's rows. mc * kc floats of A stay in L2.
  const std::pair<int, int> blockings[] = {
      {256, 96}, {384, 48}, {128, 128}, {384, 96}};
  std::vector<GemmKnobs> out = {def};
  for (const Tile &t : tiles)
    for (auto [kc, mc] : blockings) {
      GemmKnobs k{t.mr, t.nr, kc, mcNear(mc, t.mr)};
      if (std::find(out.begin(), out.end(), k) == out.end())
        out.push_back(k);
    }
  return out;
}

std::string describeKnobs(const GemmKnobs &k) {
  return std::to_string(k.mr) + "x" + std::to_string(k.nr) + ", kc " +
         std::to_string(k.kc) + ", mc " + std::to_string(k.mc);
}

TunedKernel TuneResult::record(const ChainGemmSpec &spec,
                               const std::string &label,
                               int64_t dynamicSize) const {
  TunedKernel k;
  k.shapeKey = spec.shapeKey();
  k.label = label;
  k.knobs = best;
  k.defaults = defaults;
  k.ms = bestMs;
  k.defaultMs = defaultMs;
  k.dynamicSize = dynamicSize;
  k.date = utcTimestamp();
  return k;
}

Result<TuneResult> tuneChainGemm(const ChainGemmSpec &spec, int64_t dynamicSize,
                                 CpuJit &jit, ThreadPool &pool,
                                 const TuneOptions &options) {
  if (dynamicSize < 1)
    return Status::error("tuning " + spec.name() +
                         ": the dynamic size must be positive");
  if (options.repeats < 1)
    return Status::error("tuning " + spec.name() +
                         ": at least one repeat is needed");
  VectorIsa isa = hostVectorIsa();
  GemmKnobs def = defaultKnobs(isa);
  std::vector<GemmKnobs> knobs =
      options.candidates.empty() ? gemmCandidates(isa) : options.candidates;
  // The defaults are always measured, first: the result says what tuning
  // gained over them, and they are the reference of the bit check.
  auto it = std::find(knobs.begin(), knobs.end(), def);
  if (it != knobs.end())
    knobs.erase(it);
  knobs.insert(knobs.begin(), def);
  if (options.maxCandidates > 0 && knobs.size() > options.maxCandidates)
    knobs.resize(options.maxCandidates);

  std::vector<ChainGemmSpec> specs;
  std::vector<KernelSource> sources;
  for (const GemmKnobs &k : knobs) {
    ChainGemmSpec s = spec;
    s.knobs = k;
    COLM_TRY(validateChainGemm(s));
    COLM_TRY(checkKnobsFit(k, isa).withContext(s.name()));
    sources.push_back({s.name(), renderChainGemm(s, isa)});
    specs.push_back(std::move(s));
  }

  TuneResult result;
  result.defaults = def;
  double t0 = now();
  COLM_ASSIGN_OR_RETURN(auto libs, jit.compile(sources));
  result.compileSeconds = now() - t0;
  std::vector<ColmKernelFn> fns;
  for (size_t i = 0; i < specs.size(); ++i) {
    COLM_ASSIGN_OR_RETURN(void *sym,
                          libs[i]->symbol(chainGemmSymbol(specs[i])));
    fns.push_back(reinterpret_cast<ColmKernelFn>(sym));
  }

  t0 = now();
  Operands o = makeOperands(spec, dynamicSize);
  // Knobs never change the numbers (one FMA chain per element, ascending):
  // a candidate that disagrees with the first in one bit is a renderer bug.
  std::vector<float> reference;
  for (size_t i = 0; i < fns.size(); ++i) {
    // Copied into place: o.args.c keeps pointing at o.c's buffer.
    std::copy(o.c0.begin(), o.c0.end(), o.c.begin());
    pool.launch(fns[i], &o.args);
    if (i == 0) {
      reference = o.c;
      continue;
    }
    if (std::memcmp(o.c.data(), reference.data(),
                    reference.size() * sizeof(float)) != 0) {
      size_t at = 0;
      while (std::memcmp(&o.c[at], &reference[at], sizeof(float)) == 0)
        ++at;
      return Status::error("internal error: chain GEMM " + specs[i].name() +
                           " differs from " + specs[0].name() + " at element " +
                           std::to_string(at) + " (" + std::to_string(o.c[at]) +
                           " vs " + std::to_string(reference[at]) +
                           "): every knob must give the same bits");
    }
  }

  // Warm-up, which also sizes each candidate's samples.
  std::vector<int64_t> launches(fns.size(), 1);
  for (size_t i = 0; i < fns.size(); ++i) {
    int64_t n = 0;
    double start = now(), elapsed = 0;
    do {
      pool.launch(fns[i], &o.args);
      ++n;
      elapsed = now() - start;
    } while (elapsed < options.warmupSeconds);
    double perLaunch = std::max(elapsed / double(n), 1e-7);
    launches[i] = std::max<int64_t>(
        1, int64_t(std::ceil(options.minSampleSeconds / perLaunch)));
  }
  // Interleaved rounds: a burst of load from a neighbour lands on one sample
  // of each candidate, not on all samples of one.
  result.timings.resize(fns.size());
  for (size_t i = 0; i < fns.size(); ++i)
    result.timings[i].knobs = knobs[i];
  for (int r = 0; r < options.repeats; ++r)
    for (size_t i = 0; i < fns.size(); ++i) {
      double start = now();
      for (int64_t n = 0; n < launches[i]; ++n)
        pool.launch(fns[i], &o.args);
      result.timings[i].samples.push_back((now() - start) * 1e3 /
                                          double(launches[i]));
    }
  size_t best = 0;
  for (size_t i = 0; i < fns.size(); ++i) {
    result.timings[i].ms = median(result.timings[i].samples);
    // Strictly faster only: on a tie the defaults (first) stay.
    if (result.timings[i].ms < result.timings[best].ms)
      best = i;
  }
  result.best = knobs[best];
  result.bestMs = result.timings[best].ms;
  result.defaultMs = result.timings[0].ms;
  result.measureSeconds = now() - t0;
  return result;
}

GemmKnobs chooseKnobs(const ChainGemmSpec &spec, const VectorIsa &isa,
                      const TuningCache *cache, bool *tuned) {
  if (tuned)
    *tuned = false;
  if (cache)
    if (std::optional<GemmKnobs> k = cache->lookup(spec.shapeKey())) {
      ChainGemmSpec s = spec;
      s.knobs = *k;
      Status st = validateChainGemm(s);
      if (st)
        st = checkKnobsFit(*k, isa);
      if (st) {
        if (tuned)
          *tuned = true;
        return *k;
      }
      // A hand-edited or stale file: the defaults are always correct.
      std::fprintf(stderr,
                   "colm: warning: tuned knobs in %s do not suit %s (%s); "
                   "using the defaults\n",
                   cache->path().c_str(), spec.name().c_str(),
                   st.message().c_str());
    }
  return defaultKnobs(isa);
}

} // namespace colm::codegen::cpu
