//===- Optimizer.cpp - SGD and AdamW as PyTorch defines them --------------===//

#include "runtime/Optimizer.h"

#include "runtime/Parallel.h"

#include <cmath>

namespace colm {
namespace {

// The update of entries [0, n): branch-free (an entry whose mask is 0
// keeps its values), so that it vectorises, and compiled for the widest
// vectors the CPU has (the runtime is built for baseline x86-64 otherwise).
// Division and square root round exactly in every ISA, and contraction is
// off, so every clone gives the same bits.
#pragma clang fp contract(off)
#if defined(__x86_64__) && defined(__clang__)
#define COLM_VECTOR_CLONES                                                     \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define COLM_VECTOR_CLONES
#endif

COLM_VECTOR_CLONES
void adamWUpdate(float *__restrict pd, const float *__restrict gd,
                 float *__restrict ma, float *__restrict va,
                 const uint8_t *__restrict mask, size_t n,
                 const UpdateScalars &k) {
  const double lr = k.lr, wd = k.wd, scale = k.scale, b1 = k.beta1,
               b2 = k.beta2, eps = k.eps, bc1 = k.bc1, bc2 = k.bc2;
  for (size_t j = 0; j < n; ++j) {
    double pj = pd[j];
    double gj = static_cast<double>(gd[j]) * scale;
    pj -= lr * wd * pj;
    float m = static_cast<float>(b1 * ma[j] + (1.0 - b1) * gj);
    float v = static_cast<float>(b2 * va[j] + (1.0 - b2) * gj * gj);
    double mHat = m / bc1;
    double vHat = v / bc2;
    pj -= lr * mHat / (std::sqrt(vHat) + eps);
    bool keep = mask[j] != 0;
    ma[j] = keep ? m : ma[j];
    va[j] = keep ? v : va[j];
    pd[j] = keep ? static_cast<float>(pj) : pd[j];
  }
}

COLM_VECTOR_CLONES
void sgdUpdate(float *__restrict pd, const float *__restrict gd,
               const uint8_t *__restrict mask, size_t n,
               const UpdateScalars &k) {
  const double lr = k.lr, wd = k.wd, scale = k.scale;
  for (size_t j = 0; j < n; ++j) {
    double pj = pd[j];
    double gj = static_cast<double>(gd[j]) * scale;
    float next = static_cast<float>(pj - lr * (gj + wd * pj));
    pd[j] = mask[j] ? next : pd[j];
  }
}
#pragma clang fp contract(on)

} // namespace

void updateShard(OptimizerConfig::Kind kind, float *params, const float *grads,
                 float *expAvg, float *expAvgSq, size_t n,
                 const UpdateScalars &u) {
  // The masked loops above with every entry trainable: the same bits.
  static const std::vector<uint8_t> ones(size_t(1) << 16, 1);
  for (size_t b = 0; b < n; b += ones.size()) {
    size_t m = std::min(ones.size(), n - b);
    if (kind == OptimizerConfig::Sgd)
      sgdUpdate(params + b, grads + b, ones.data(), m, u);
    else
      adamWUpdate(params + b, grads + b, expAvg + b, expAvgSq + b, ones.data(),
                  m, u);
  }
}

const char *optimizerKindName(OptimizerConfig::Kind kind) {
  return kind == OptimizerConfig::Sgd ? "sgd" : "adamw";
}

const char *scheduleName(OptimizerConfig::Schedule schedule) {
  return schedule == OptimizerConfig::Constant ? "constant" : "cosine";
}

Result<OptimizerConfig::Kind> parseOptimizerKind(std::string_view name) {
  if (name == "sgd")
    return OptimizerConfig::Sgd;
  if (name == "adamw")
    return OptimizerConfig::AdamW;
  return Status::error("unknown optimizer '" + std::string(name) +
                       "' (expected sgd or adamw)");
}

Result<OptimizerConfig::Schedule> parseSchedule(std::string_view name) {
  if (name == "constant")
    return OptimizerConfig::Constant;
  if (name == "cosine")
    return OptimizerConfig::Cosine;
  return Status::error("unknown learning-rate schedule '" + std::string(name) +
                       "' (expected constant or cosine)");
}

static std::string num(double d) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", d);
  return buf;
}

Status validateOptimizerConfig(const OptimizerConfig &c) {
  auto check = [](bool ok, const char *flag, double v, const char *what) {
    if (ok)
      return Status::ok();
    return Status::error(std::string(flag) + " must be " + what + ", got " +
                         num(v));
  };
  COLM_TRY(check(std::isfinite(c.lr) && c.lr >= 0, "--lr", c.lr,
                 "a finite non-negative number"));
  COLM_TRY(check(c.beta1 >= 0 && c.beta1 < 1, "--beta1", c.beta1, "in [0, 1)"));
  COLM_TRY(check(c.beta2 >= 0 && c.beta2 < 1, "--beta2", c.beta2, "in [0, 1)"));
  COLM_TRY(check(std::isfinite(c.eps) && c.eps >= 0, "--eps", c.eps,
                 "a finite non-negative number"));
  // AdamW divides by sqrt(v) + eps, and v stays 0 for an entry whose
  // gradient has always been 0: eps 0 would make it 0/0.
  if (c.kind == OptimizerConfig::AdamW && !(c.eps > 0))
    return Status::error("--eps must be positive for AdamW, got " + num(c.eps) +
                         ": with --eps 0 an entry whose gradient is 0 divides "
                         "0 by 0");
  COLM_TRY(check(std::isfinite(c.weightDecay) && c.weightDecay >= 0,
                 "--weight-decay", c.weightDecay,
                 "a finite non-negative number"));
  COLM_TRY(check(std::isfinite(c.clipGradNorm) && c.clipGradNorm >= 0,
                 "--clip-grad-norm", c.clipGradNorm,
                 "a finite non-negative number (0 turns clipping off)"));
  COLM_TRY(check(c.minLrRatio >= 0 && c.minLrRatio <= 1, "the minimum lr ratio",
                 c.minLrRatio, "in [0, 1]"));
  if (c.warmup < 0)
    return Status::error("--warmup must be non-negative, got " +
                         std::to_string(c.warmup));
  if (c.schedule == OptimizerConfig::Cosine && c.totalSteps < 1)
    return Status::error("the cosine schedule needs the total step count "
                         "(--steps) to be positive, got " +
                         std::to_string(c.totalSteps));
  return Status::ok();
}

double learningRate(const OptimizerConfig &c, int64_t step) {
  if (c.warmup > 0 && step <= c.warmup)
    return c.lr * static_cast<double>(step) / static_cast<double>(c.warmup);
  if (c.schedule == OptimizerConfig::Constant)
    return c.lr;
  double lrMin = c.lr * c.minLrRatio;
  double p = 1.0;
  if (c.totalSteps > c.warmup)
    p = std::min(1.0, static_cast<double>(step - c.warmup) /
                          static_cast<double>(c.totalSteps - c.warmup));
  return lrMin + (c.lr - lrMin) * (1.0 + std::cos(M_PI * p)) / 2.0;
}

std::vector<uint8_t> trainableMask(const ModelConfig &cfg,
                                   const ParamSpec &spec, int frozenChains) {
  int64_t numel = 1;
  for (int64_t d : spec.shape)
    numel *= d;
  std::vector<uint8_t> mask(static_cast<size_t>(numel), 0);
  switch (spec.kind) {
  case ParamKind::Dense:
    // CoLM-Air k/v projections belong to chain 1.
    if (frozenChains < 1)
      mask.assign(mask.size(), 1);
    break;
  case ParamKind::Gain: {
    int64_t d = spec.shape[0];
    for (int64_t i = cfg.prefixWidth(d, frozenChains); i < d; ++i)
      mask[i] = 1;
    break;
  }
  case ParamKind::ChainedColumns: {
    int64_t rows = spec.shape[0], d = spec.shape[1];
    int64_t begin = cfg.prefixWidth(d, frozenChains);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = begin; c < d; ++c)
        mask[r * d + c] = 1;
    break;
  }
  case ParamKind::ChainLinear: {
    int64_t out = spec.shape[0], in = spec.shape[1];
    for (int i = frozenChains + 1; i <= cfg.numChains(); ++i) {
      int64_t colEnd = cfg.prefixWidth(in, i); // on or below the diagonal
      for (int64_t r = cfg.prefixWidth(out, i - 1); r < cfg.prefixWidth(out, i);
           ++r)
        for (int64_t c = 0; c < colEnd; ++c)
          mask[r * in + c] = 1;
    }
    break;
  }
  }
  return mask;
}

Result<Optimizer> Optimizer::create(const OptimizerConfig &config,
                                    const ModelConfig &modelConfig,
                                    const TensorMap &params, int frozenChains) {
  COLM_TRY(validateOptimizerConfig(config));
  COLM_TRY(validateConfig(modelConfig));
  if (frozenChains < 0 || frozenChains >= modelConfig.numChains())
    return Status::error(
        "--freeze-chains " + std::to_string(frozenChains) +
        " is out of range: the model has " +
        countOf(modelConfig.numChains(), "chain") + " " +
        formatChains(modelConfig.chains) + ", so at most " +
        std::to_string(modelConfig.numChains() - 1) +
        " can be frozen (freezing all of them leaves nothing to train)");
  COLM_TRY(checkParams(modelConfig, params, "optimizer parameters"));
  return Optimizer(config, modelConfig, params, frozenChains);
}

Optimizer::Optimizer(const OptimizerConfig &config,
                     const ModelConfig &modelConfig, const TensorMap &params,
                     int frozenChains)
    : cfg(config), frozen(frozenChains) {
  (void)params;
  for (const ParamSpec &spec : modelParams(modelConfig)) {
    Slot s;
    s.name = spec.name;
    s.shape = spec.shape;
    s.decay = spec.shape.size() == 2;
    s.mask = trainableMask(modelConfig, spec, frozenChains);
    for (uint8_t m : s.mask)
      s.anyTrainable |= m != 0;
    if (cfg.kind == OptimizerConfig::AdamW) {
      s.expAvg.assign(s.mask.size(), 0.0f);
      s.expAvgSq.assign(s.mask.size(), 0.0f);
    }
    slots.push_back(std::move(s));
  }
}

const Optimizer::Slot *Optimizer::findSlot(const std::string &name) const {
  for (const Slot &s : slots)
    if (s.name == name)
      return &s;
  return nullptr;
}

const std::vector<uint8_t> &Optimizer::mask(const std::string &name) const {
  static const std::vector<uint8_t> empty;
  const Slot *s = findSlot(name);
  return s ? s->mask : empty;
}

Result<StepStats> Optimizer::step(TensorMap &params, const TensorMap &grads,
                                  int64_t step) {
  // Check everything before changing anything.
  std::vector<const Tensor *> g(slots.size(), nullptr);
  std::vector<Tensor *> p(slots.size(), nullptr);
  for (size_t i = 0; i < slots.size(); ++i) {
    const Slot &s = slots[i];
    auto pit = params.find(s.name);
    if (pit == params.end())
      return Status::error("optimizer step: missing parameter '" + s.name +
                           "'");
    if (pit->second.shape != s.shape ||
        pit->second.data.size() != s.mask.size())
      return Status::error("optimizer step: parameter '" + s.name +
                           "' has shape " + formatShape(pit->second.shape) +
                           ", expected " + formatShape(s.shape));
    p[i] = &pit->second;
    auto git = grads.find(s.name);
    if (git == grads.end()) {
      if (s.anyTrainable)
        return Status::error("optimizer step: no gradient for trainable "
                             "parameter '" +
                             s.name + "'");
      continue;
    }
    if (git->second.shape != s.shape ||
        git->second.data.size() != s.mask.size())
      return Status::error("optimizer step: gradient of '" + s.name +
                           "' has shape " + formatShape(git->second.shape) +
                           ", expected " + formatShape(s.shape));
    g[i] = &git->second;
  }

  // Fixed chunks, each summed in order and the partial sums added in
  // chunk order: the same bits whatever the number of threads.
  struct Chunk {
    size_t slot, begin, end;
  };
  constexpr size_t kChunk = size_t(1) << 16;
  std::vector<Chunk> chunks;
  for (size_t i = 0; i < slots.size(); ++i)
    if (g[i])
      for (size_t b = 0; b < g[i]->data.size(); b += kChunk)
        chunks.push_back({i, b, std::min(g[i]->data.size(), b + kChunk)});
  std::vector<double> partial(chunks.size(), 0.0);
  parallelFor(chunks.size(), [&](size_t c) {
    const Chunk &k = chunks[c];
    const std::vector<uint8_t> &mask = slots[k.slot].mask;
    const std::vector<float> &gd = g[k.slot]->data;
    double sum = 0;
    for (size_t j = k.begin; j < k.end; ++j)
      if (mask[j]) {
        double x = gd[j];
        sum += x * x;
      }
    partial[c] = sum;
  });
  StepStats stats;
  double sumSq = 0;
  for (double v : partial)
    sumSq += v;
  stats.gradNorm = std::sqrt(sumSq);
  if (!std::isfinite(stats.gradNorm))
    return Status::error("optimizer step " + std::to_string(step) +
                         ": the gradient norm is " + num(stats.gradNorm) +
                         "; parameters were not updated");
  double scale = clipScale(cfg, stats.gradNorm, &stats.clipped);
  double lr = learningRate(cfg, step);
  stats.lr = lr;
  ++steps;
  double t = static_cast<double>(steps);
  double bc1 = 1.0 - std::pow(cfg.beta1, t);
  double bc2 = 1.0 - std::pow(cfg.beta2, t);

  // Every entry is updated on its own: chunks run on all cores.
  parallelFor(chunks.size(), [&](size_t c) {
    const Chunk &k = chunks[c];
    Slot &s = slots[k.slot];
    UpdateScalars u{lr,        s.decay ? cfg.weightDecay : 0.0,
                    scale,     cfg.beta1,
                    cfg.beta2, cfg.eps,
                    bc1,       bc2};
    float *pd = p[k.slot]->data.data() + k.begin;
    const float *gd = g[k.slot]->data.data() + k.begin;
    const uint8_t *mask = s.mask.data() + k.begin;
    size_t n = k.end - k.begin;
    if (cfg.kind == OptimizerConfig::Sgd)
      sgdUpdate(pd, gd, mask, n, u);
    else
      adamWUpdate(pd, gd, s.expAvg.data() + k.begin,
                  s.expAvgSq.data() + k.begin, mask, n, u);
  });
  return stats;
}

double clipScale(const OptimizerConfig &config, double norm, bool *clipped) {
  *clipped = false;
  if (config.clipGradNorm <= 0)
    return 1.0;
  double coef = config.clipGradNorm / (norm + 1e-6);
  if (coef >= 1.0)
    return 1.0;
  *clipped = true;
  return coef;
}

Tensor stepCountTensor(int64_t steps) {
  Tensor t({2});
  t.data[0] = static_cast<float>(steps >> 24);
  t.data[1] = static_cast<float>(steps & 0xFFFFFF);
  return t;
}

TensorMap Optimizer::stateTensors() const {
  TensorMap state;
  state.emplace("step", stepCountTensor(steps));
  if (cfg.kind != OptimizerConfig::AdamW)
    return state;
  for (const Slot &s : slots) {
    Tensor m(s.shape), v(s.shape);
    m.data = s.expAvg;
    v.data = s.expAvgSq;
    state.emplace("exp_avg." + s.name, std::move(m));
    state.emplace("exp_avg_sq." + s.name, std::move(v));
  }
  return state;
}

Status Optimizer::loadState(const TensorMap &state) {
  const char *kind = optimizerKindName(cfg.kind);
  auto stepIt = state.find("step");
  if (stepIt == state.end())
    return Status::error("optimizer state: missing tensor 'step'");
  const Tensor &st = stepIt->second;
  if (st.shape != std::vector<int64_t>{2} || st.data.size() != 2)
    return Status::error("optimizer state: tensor 'step' has shape " +
                         formatShape(st.shape) + ", expected [2]");
  double hi = st.data[0], lo = st.data[1];
  if (!(hi >= 0 && lo >= 0 && lo < 16777216.0 && hi < 16777216.0) ||
      hi != std::floor(hi) || lo != std::floor(lo))
    return Status::error("optimizer state: tensor 'step' does not hold a "
                         "step count");
  std::vector<std::pair<std::vector<float> *, const Tensor *>> moves;
  size_t expected = 1;
  if (cfg.kind == OptimizerConfig::AdamW) {
    for (Slot &s : slots) {
      std::pair<const char *, std::vector<float> *> moments[] = {
          {"exp_avg.", &s.expAvg}, {"exp_avg_sq.", &s.expAvgSq}};
      for (auto [prefix, dst] : moments) {
        std::string name = prefix + s.name;
        auto it = state.find(name);
        if (it == state.end())
          return Status::error(
              "optimizer state: missing tensor '" + name + "' (the " + kind +
              " moment of parameter '" + s.name +
              "'); was the checkpoint written by another optimizer?");
        if (it->second.shape != s.shape ||
            it->second.data.size() != s.mask.size())
          return Status::error("optimizer state: tensor '" + name +
                               "' has shape " + formatShape(it->second.shape) +
                               ", expected " + formatShape(s.shape) +
                               " (the shape of parameter '" + s.name + "')");
        COLM_TRY(checkFinite(name, it->second)
                     .withContext("optimizer state (a diverged run?)"));
        moves.push_back({dst, &it->second});
        ++expected;
      }
    }
  }
  if (state.size() != expected) {
    for (const auto &[name, t] : state) {
      bool known = name == "step";
      if (cfg.kind == OptimizerConfig::AdamW)
        for (const char *prefix : {"exp_avg.", "exp_avg_sq."})
          if (name.rfind(prefix, 0) == 0 &&
              findSlot(name.substr(std::string(prefix).size())))
            known = true;
      if (!known)
        return Status::error(
            "optimizer state: unexpected tensor '" + name + "' (shape " +
            formatShape(t.shape) + ") for the " + kind +
            " optimizer; was the checkpoint written by another optimizer "
            "or model?");
    }
  }
  for (auto &[dst, src] : moves)
    *dst = src->data;
  steps = static_cast<int64_t>(hi) * 16777216 + static_cast<int64_t>(lo);
  return Status::ok();
}

} // namespace colm
