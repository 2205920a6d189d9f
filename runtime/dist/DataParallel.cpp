//===- DataParallel.cpp - Data-parallel training with sharded AdamW -------===//
#include "runtime/dist/DataParallel.h"

#include "runtime/Model.h"

#include <algorithm>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstring>

namespace colm::dist {

std::map<std::string, int64_t> gradientReadiness(const Program &program) {
  auto root = [&](int b) {
    return program.buffers[size_t(b)].isView()
               ? program.buffers[size_t(b)].viewOf
               : b;
  };
  // The last launch touching each buffer's memory (views count as their
  // buffer).
  std::vector<int64_t> last(program.buffers.size(), -1);
  for (size_t l = 0; l < program.launches.size(); ++l) {
    const ProgramLaunch &launch = program.launches[l];
    for (int z : launch.zero)
      last[size_t(root(z))] = int64_t(l);
    for (const ProgramArg &a : launch.args)
      if (a.kind == ProgramArg::Kind::Pointer && a.buffer >= 0)
        last[size_t(root(a.buffer))] = int64_t(l);
  }
  std::map<std::string, int64_t> ready;
  for (size_t b = 0; b < program.buffers.size(); ++b) {
    const ProgramBuffer &buffer = program.buffers[b];
    if (buffer.role == BufferRole::Output && buffer.name.rfind("grad.", 0) == 0)
      ready[buffer.name.substr(5)] = last[size_t(root(int(b)))];
  }
  return ready;
}

std::vector<std::string> gradientOrder(const Program &program) {
  std::vector<std::pair<int64_t, std::string>> ready;
  for (auto &[name, launch] : gradientReadiness(program))
    ready.push_back({launch, name});
  std::sort(ready.begin(), ready.end());
  std::vector<std::string> order;
  for (auto &[launch, name] : ready)
    order.push_back(name);
  return order;
}

std::pair<int64_t, int64_t> rowsOf(int64_t rows, int rank, int ranks) {
  // The first rows % ranks ranks take one more.
  int64_t q = rows / ranks, extra = rows % ranks;
  auto start = [&](int64_t r) { return r * q + std::min<int64_t>(r, extra); };
  return {start(rank), start(rank + 1)};
}

namespace {

/// Buckets in flight at once (each holds a staging buffer).
constexpr size_t kStagingBuffers = 4;

/// FNV-1a, folded into two 32-bit halves that a double sums exactly.
struct Fingerprint {
  uint64_t h = 1469598103934665603ull;
  void add(const void *data, size_t bytes) {
    const auto *p = static_cast<const uint8_t *>(data);
    for (size_t i = 0; i < bytes; ++i)
      h = (h ^ p[i]) * 1099511628211ull;
  }
  template <class T> void add(const T &v) { add(&v, sizeof v); }
};

std::string rankList(const std::vector<int> &ranks) {
  std::string s = ranks.size() == 1 ? "rank " : "ranks ";
  for (size_t i = 0; i < ranks.size(); ++i)
    s += (i ? ", " : "") + std::to_string(ranks[i]);
  return s;
}

} // namespace

Status checkSameStart(Communicator &c, const OptimizerConfig &config,
                      int frozenChains, const ModelConfig &model,
                      const TensorMap &weights) {
  int n = c.size(), me = c.rank();
  // The same weights and settings everywhere.
  Fingerprint f;
  f.add(int64_t(weights.size()));
  f.add(frozenChains);
  f.add(config.kind);
  for (double v : {config.lr, config.beta1, config.beta2, config.eps,
                   config.weightDecay, config.clipGradNorm, config.minLrRatio})
    f.add(v);
  f.add(config.schedule);
  f.add(config.warmup);
  f.add(config.totalSteps);
  for (const ParamSpec &spec : modelParams(model)) {
    auto it = weights.find(spec.name);
    if (it == weights.end())
      return Status::error("data-parallel training: no parameter '" +
                           spec.name + "'");
    f.add(it->second.data.data(), it->second.data.size() * sizeof(float));
  }
  std::vector<double> prints(size_t(2 * n), 0.0);
  prints[size_t(2 * me)] = double(f.h >> 32);
  prints[size_t(2 * me + 1)] = double(f.h & 0xffffffffull);
  COLM_TRY(c.allReduceSumNow(prints.data(), int64_t(prints.size()),
                             "the check that every rank starts alike"));
  std::vector<int> differ;
  for (int r = 1; r < n; ++r)
    if (prints[size_t(2 * r)] != prints[0] ||
        prints[size_t(2 * r + 1)] != prints[1])
      differ.push_back(r);
  if (!differ.empty())
    return Status::error(
        rankList(differ) +
        " started from other weights or settings than "
        "rank 0: every rank must load the same model or checkpoint with the "
        "same flags");

  return Status::ok();
}

Status agreeOnLoss(Communicator &comm, const std::string &what, double weight,
                   double &loss, std::map<unsigned, double> &subModelLoss,
                   std::vector<double> &extra) {
  int n = comm.size();
  std::vector<double> v = extra;
  v.push_back(loss * weight);
  for (auto &[k, ce] : subModelLoss)
    v.push_back(ce * weight);
  size_t flags = v.size();
  v.resize(flags + size_t(n), 0.0);
  v[flags + size_t(comm.rank())] = std::isfinite(loss) ? 0.0 : 1.0;
  COLM_TRY(comm.allReduceSumNow(v.data(), int64_t(v.size()), what));
  std::vector<int> bad;
  for (int r = 0; r < n; ++r)
    if (v[flags + size_t(r)] != 0)
      bad.push_back(r);
  if (!bad.empty())
    return Status::error("the batch of " + rankList(bad) +
                         " gave a non-finite loss");
  size_t at = 0;
  for (double &x : extra)
    x = v[at++];
  loss = v[at++];
  for (auto &[k, ce] : subModelLoss)
    ce = v[at++];
  return Status::ok();
}

Result<std::unique_ptr<DataParallel>> DataParallel::create(
    std::shared_ptr<Communicator> comm, const OptimizerConfig &config,
    const ModelConfig &model, int frozenChains, const TensorMap &weights,
    const std::vector<std::string> &order, const DataParallelOptions &options) {
  if (options.bucketBytes < 4)
    return Status::error("the bucket size must be at least one float");
  std::unique_ptr<DataParallel> dp(new DataParallel);
  dp->comm = std::move(comm);
  dp->cfg = config;
  dp->modelConfig = model;
  dp->frozen = frozenChains;
  Communicator &c = *dp->comm;
  int n = c.size(), me = c.rank();

  // Every parameter with a trainable entry, its runs of trainable entries.
  std::vector<Param> all;
  for (const ParamSpec &spec : modelParams(model)) {
    dp->stateShapes.push_back({spec.name, spec.shape});
    std::vector<uint8_t> mask = trainableMask(model, spec, frozenChains);
    Param p;
    p.name = spec.name;
    p.shape = spec.shape;
    p.decay = spec.shape.size() == 2;
    for (int64_t i = 0; i < int64_t(mask.size());) {
      if (!mask[size_t(i)]) {
        ++i;
        continue;
      }
      int64_t j = i;
      while (j < int64_t(mask.size()) && mask[size_t(j)])
        ++j;
      p.segments.push_back({i, j - i, 0});
      i = j;
    }
    if (!p.segments.empty())
      all.push_back(std::move(p));
  }
  // Rank 0's order: those named first, the rest in model order.
  std::vector<int32_t> perm;
  std::vector<bool> taken(all.size(), false);
  for (const std::string &name : order)
    for (size_t i = 0; i < all.size(); ++i)
      if (!taken[i] && all[i].name == name) {
        perm.push_back(int32_t(i));
        taken[i] = true;
      }
  for (size_t i = 0; i < all.size(); ++i)
    if (!taken[i])
      perm.push_back(int32_t(i));
  COLM_TRY(c.broadcastNow(perm.data(), int64_t(perm.size() * 4), 0,
                          "the order of the gradients"));

  COLM_TRY(checkSameStart(c, config, frozenChains, model, weights));

  for (int32_t i : perm) {
    Param p = std::move(all[size_t(i)]);
    p.flatBegin = dp->total;
    for (Segment &s : p.segments) {
      s.flat = dp->total;
      dp->total += s.length;
    }
    p.flatEnd = dp->total;
    dp->params.push_back(std::move(p));
  }
  for (int r = 0; r <= n; ++r)
    dp->sliceStarts.push_back(dp->total * r / n);
  dp->sliceBegin = dp->sliceStarts[size_t(me)];
  dp->sliceEnd = dp->sliceStarts[size_t(me + 1)];
  // Buckets: whole parameters, about bucketBytes each.
  int64_t perBucket = options.bucketBytes / 4;
  for (size_t i = 0; i < dp->params.size(); ++i) {
    if (dp->buckets.empty() ||
        dp->buckets.back().flatEnd - dp->buckets.back().flatBegin >=
            perBucket) {
      Bucket b;
      b.flatBegin = b.flatEnd = dp->params[i].flatBegin;
      dp->buckets.push_back(b);
    }
    Bucket &b = dp->buckets.back();
    b.params.push_back(i);
    b.flatEnd = dp->params[i].flatEnd;
  }
  for (Bucket &b : dp->buckets)
    for (int r = 0; r < n; ++r)
      b.counts.push_back(std::max<int64_t>(
          0, std::min(b.flatEnd, dp->sliceStarts[size_t(r + 1)]) -
                 std::max(b.flatBegin, dp->sliceStarts[size_t(r)])));
  int64_t slice = dp->sliceEnd - dp->sliceBegin;
  // A few buckets' staging buffers, not the whole vector: the memory a
  // rank adds is its slices and these.
  int64_t largest = 0;
  for (const Bucket &b : dp->buckets)
    largest = std::max(largest, b.flatEnd - b.flatBegin);
  dp->staging.assign(kStagingBuffers, std::vector<float>(size_t(largest)));
  for (size_t i = 0; i < kStagingBuffers; ++i)
    dp->freeBuffers.push_back(i);
  dp->grad.assign(size_t(slice), 0.0f);
  dp->updated.assign(size_t(slice), 0.0f);
  if (config.kind == OptimizerConfig::AdamW) {
    dp->expAvg.assign(size_t(slice), 0.0f);
    dp->expAvgSq.assign(size_t(slice), 0.0f);
  }
  return dp;
}

std::vector<int64_t> DataParallel::sliceCounts() const {
  std::vector<int64_t> counts;
  for (size_t r = 0; r + 1 < sliceStarts.size(); ++r)
    counts.push_back(sliceStarts[r + 1] - sliceStarts[r]);
  return counts;
}

Status DataParallel::fail(const std::string &message) {
  failedCollective = true;
  return Status::error(message);
}

void DataParallel::beginStep(int64_t step, int64_t localRows,
                             int64_t globalRows) {
  currentStep = step;
  weight = double(localRows) / double(globalRows);
  nextBucket = 0;
  exchange = ExchangeStats{};
  pendingError = Status::ok();
}

Result<size_t> DataParallel::takeBuffer() {
  if (freeBuffers.empty())
    COLM_TRY(retireOldest());
  size_t b = freeBuffers.back();
  freeBuffers.pop_back();
  return b;
}

Status DataParallel::retireOldest() {
  InFlight f = inFlight.front();
  inFlight.pop_front();
  COLM_TRY(waitFor(f.request));
  freeBuffers.push_back(f.buffer);
  if (!f.gather)
    return Status::ok();
  // Every rank's updated entries of the bucket, into the weights.
  const Bucket &k = buckets[f.bucket];
  const float *from = staging[f.buffer].data() - k.flatBegin;
  for (size_t i : k.params) {
    Param &p = params[i];
    float *w = gatherInto->at(p.name).data.data();
    for (const Segment &s : p.segments)
      std::memcpy(w + s.begin, from + s.flat, size_t(s.length) * sizeof(float));
    for (int64_t j = p.flatBegin; j < p.flatEnd && nonFinite.empty(); ++j)
      if (!std::isfinite(from[j]))
        nonFinite = p.name;
  }
  return Status::ok();
}

void DataParallel::pack(float *bucket, const Param &p, const float *g) {
  float w = float(weight);
  for (const Segment &s : p.segments) {
    float *dst = bucket + s.flat;
    const float *src = g + s.begin;
    if (weight == 1.0)
      std::memcpy(dst, src, size_t(s.length) * sizeof(float));
    else
      for (int64_t j = 0; j < s.length; ++j)
        dst[j] = src[j] * w;
  }
}

Status DataParallel::startBucket(
    size_t b, const std::function<Result<const float *>(size_t)> &gradient) {
  Bucket &k = buckets[b];
  Result<size_t> buffer = takeBuffer();
  if (!buffer)
    return fail(buffer.status().message());
  float *send = staging[*buffer].data();
  for (size_t i : k.params) {
    Result<const float *> g = gradient(i);
    if (!g)
      return fail(g.status().message());
    pack(send - k.flatBegin, params[i], *g);
  }
  float *recv = grad.data() + (std::max(k.flatBegin, sliceBegin) - sliceBegin);
  if (k.counts[size_t(rank())] == 0)
    recv = grad.data();
  Result<Communicator::Request> r =
      comm->reduceScatterSum(send, recv, k.counts,
                             "gradient bucket " + std::to_string(b + 1) +
                                 " of " + std::to_string(buckets.size()) +
                                 " of step " + std::to_string(currentStep));
  if (!r)
    return fail(r.status().message());
  inFlight.push_back({b, *buffer, *r, false});
  return Status::ok();
}

void DataParallel::launchFinished(const Executor &e, size_t launch) {
  if (!pendingError.isOk())
    return;
  const Program &program = e.program();
  if (readinessOf != &program) {
    std::map<std::string, int64_t> ready = gradientReadiness(program);
    readyAfter.assign(buckets.size(), 0);
    for (size_t b = 0; b < buckets.size(); ++b)
      for (size_t i : buckets[b].params) {
        auto it = ready.find(params[i].name);
        readyAfter[b] =
            std::max(readyAfter[b], it == ready.end() ? INT64_MAX : it->second);
      }
    readinessOf = &program;
  }
  while (nextBucket < buckets.size() &&
         readyAfter[nextBucket] <= int64_t(launch)) {
    auto fromExecutor = [&](size_t i) -> Result<const float *> {
      COLM_ASSIGN_OR_RETURN(const void *g, const_cast<Executor &>(e).output(
                                               "grad." + params[i].name));
      return static_cast<const float *>(g);
    };
    if (Status s = startBucket(nextBucket, fromExecutor); !s) {
      pendingError = s;
      return;
    }
    ++exchange.overlapped;
    ++nextBucket;
  }
  comm->progress();
}

Status DataParallel::waitFor(Communicator::Request r) {
  auto t0 = std::chrono::steady_clock::now();
  Status s = comm->wait(r);
  exchange.waitSeconds +=
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
  if (!s)
    return fail(s.message());
  return s;
}

Result<StepStats>
DataParallel::finishStep(TensorMap &weights, const TensorMap &grads,
                         double &loss,
                         std::map<unsigned, double> &subModelLoss) {
  COLM_TRY(pendingError);
  std::string stepName = "step " + std::to_string(currentStep);
  auto fromGrads = [&](size_t i) -> Result<const float *> {
    auto it = grads.find(params[i].name);
    if (it == grads.end() ||
        int64_t(it->second.data.size()) <
            params[i].segments.back().begin + params[i].segments.back().length)
      return Status::error("no gradient for trainable parameter '" +
                           params[i].name + "'");
    return it->second.data.data();
  };
  for (; nextBucket < buckets.size(); ++nextBucket)
    COLM_TRY(startBucket(nextBucket, fromGrads));
  while (!inFlight.empty())
    COLM_TRY(retireOldest());

  // One all-reduce: the squared norm, the loss and each sub-model's, and
  // every rank's bad-batch flag.
  double sumSq = 0;
  constexpr size_t kChunk = size_t(1) << 16;
  for (size_t b = 0; b < grad.size(); b += kChunk) {
    double s = 0;
    for (size_t j = b; j < std::min(grad.size(), b + kChunk); ++j)
      s += double(grad[j]) * double(grad[j]);
    sumSq += s;
  }
  std::vector<double> norm{sumSq};
  {
    Status agreed =
        agreeOnLoss(*comm, "the loss and gradient norm of " + stepName, weight,
                    loss, subModelLoss, norm);
    if (!agreed && !comm->healthy())
      return fail(agreed.message());
    COLM_TRY(agreed);
  }
  StepStats stats;
  stats.gradNorm = std::sqrt(norm[0]);
  if (!std::isfinite(stats.gradNorm))
    return Status::error("the gradient norm is " +
                         std::to_string(stats.gradNorm) +
                         "; parameters were not updated");
  double scale = clipScale(cfg, stats.gradNorm, &stats.clipped);
  stats.lr = learningRate(cfg, currentStep);
  ++steps;
  double t = double(steps);
  double bc1 = 1.0 - std::pow(cfg.beta1, t);
  double bc2 = 1.0 - std::pow(cfg.beta2, t);

  // Bucket by bucket: this rank's part of the slice updated, then every
  // rank's parts all-gathered into the weights while the next bucket's
  // update runs.
  gatherInto = &weights;
  nonFinite.clear();
  bool adam = cfg.kind == OptimizerConfig::AdamW;
  for (size_t b = 0; b < buckets.size(); ++b) {
    const Bucket &k = buckets[b];
    for (size_t i : k.params) {
      const Param &p = params[i];
      int64_t lo = std::max(p.flatBegin, sliceBegin),
              hi = std::min(p.flatEnd, sliceEnd);
      if (lo >= hi)
        continue;
      const float *w = weights.at(p.name).data.data();
      for (const Segment &s : p.segments) {
        int64_t a = std::max(s.flat, lo), e = std::min(s.flat + s.length, hi);
        for (int64_t j = a; j < e; ++j)
          updated[size_t(j - sliceBegin)] = w[s.begin + (j - s.flat)];
      }
      UpdateScalars u{stats.lr,  p.decay ? cfg.weightDecay : 0.0,
                      scale,     cfg.beta1,
                      cfg.beta2, cfg.eps,
                      bc1,       bc2};
      size_t o = size_t(lo - sliceBegin);
      updateShard(cfg.kind, updated.data() + o, grad.data() + o,
                  adam ? expAvg.data() + o : nullptr,
                  adam ? expAvgSq.data() + o : nullptr, size_t(hi - lo), u);
    }
    Result<size_t> buffer = takeBuffer();
    if (!buffer)
      return fail(buffer.status().message());
    const float *mine =
        updated.data() + (std::max(k.flatBegin, sliceBegin) - sliceBegin);
    if (k.counts[size_t(rank())] == 0)
      mine = updated.data();
    Result<Communicator::Request> r =
        comm->allGather(mine, staging[*buffer].data(), k.counts,
                        "the updated parameters of bucket " +
                            std::to_string(b + 1) + " of " + stepName);
    if (!r)
      return fail(r.status().message());
    inFlight.push_back({b, *buffer, *r, true});
    comm->progress();
  }
  while (!inFlight.empty())
    COLM_TRY(retireOldest());
  if (!nonFinite.empty())
    return Status::error("the update made " + nonFinite +
                         " non-finite (is --lr too large?)");
  return stats;
}

Result<TensorMap> DataParallel::stateTensors() {
  TensorMap state;
  state.emplace("step", stepCountTensor(steps));
  if (cfg.kind != OptimizerConfig::AdamW)
    return rank() == 0 ? state : TensorMap{};
  std::vector<float> m, v;
  if (rank() == 0) {
    m.assign(size_t(total), 0.0f);
    v.assign(size_t(total), 0.0f);
  }
  std::vector<int64_t> counts = sliceCounts();
  for (auto [mine, all, what] :
       {std::tuple{expAvg.data(), m.data(), "AdamW's first moments"},
        std::tuple{expAvgSq.data(), v.data(), "AdamW's second moments"}}) {
    Result<Communicator::Request> r =
        comm->gather(mine, all, counts, 0, std::string("gathering ") + what);
    if (!r)
      return fail(r.status().message());
    COLM_TRY(waitFor(*r));
  }
  if (rank() != 0)
    return TensorMap{};
  for (const auto &[name, shape] : stateShapes) {
    state.emplace("exp_avg." + name, Tensor(shape));
    state.emplace("exp_avg_sq." + name, Tensor(shape));
  }
  for (const Param &p : params) {
    float *dm = state.at("exp_avg." + p.name).data.data();
    float *dv = state.at("exp_avg_sq." + p.name).data.data();
    for (const Segment &s : p.segments) {
      std::memcpy(dm + s.begin, m.data() + s.flat,
                  size_t(s.length) * sizeof(float));
      std::memcpy(dv + s.begin, v.data() + s.flat,
                  size_t(s.length) * sizeof(float));
    }
  }
  return state;
}

Status DataParallel::loadState(const TensorMap &state) {
  // The single-process optimizer checks the tensors (names, shapes,
  // finiteness, the step count).
  TensorMap none;
  Optimizer check(cfg, modelConfig, none, frozen);
  COLM_TRY(check.loadState(state));
  steps = check.stepCount();
  if (cfg.kind != OptimizerConfig::AdamW)
    return Status::ok();
  for (const Param &p : params) {
    const float *m = state.at("exp_avg." + p.name).data.data();
    const float *v = state.at("exp_avg_sq." + p.name).data.data();
    for (const Segment &s : p.segments) {
      int64_t a = std::max(s.flat, sliceBegin),
              e = std::min(s.flat + s.length, sliceEnd);
      for (int64_t j = a; j < e; ++j) {
        expAvg[size_t(j - sliceBegin)] = m[s.begin + (j - s.flat)];
        expAvgSq[size_t(j - sliceBegin)] = v[s.begin + (j - s.flat)];
      }
    }
  }
  return Status::ok();
}

} // namespace colm::dist
