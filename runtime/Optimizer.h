//===- Optimizer.h - SGD and AdamW as PyTorch defines them ------*- C++ -*-===//
//
// Parameters are float32; every update is computed in double per element and
// rounded to float once when stored. Weight decay applies only to matrices
// (rank-2 parameters: linears, embedding, lm_head), never to norm gains.
//
// Which entries train (spec/colm.md section 4): entries above the chain
// diagonal of a chain linear never do (their gradient is zero by
// construction; skipping them keeps them exactly zero under weight decay and
// Adam), and with `frozenChains` = f > 0 no entry that belongs to an output
// chain <= f changes at all: rows of those chains in chain linears, their
// columns of embed_tokens and lm_head, their norm-gain entries and, with
// kv_sharing, the whole dense k/v projections (owned by chain 1).
//
//===----------------------------------------------------------------------===//

#ifndef COLM_RUNTIME_OPTIMIZER_H
#define COLM_RUNTIME_OPTIMIZER_H

#include "runtime/Config.h"
#include "runtime/Model.h"
#include "runtime/Safetensors.h"
#include "runtime/Status.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace colm {

struct OptimizerConfig {
  enum Kind { Sgd, AdamW };
  enum Schedule { Constant, Cosine };

  Kind kind = AdamW;
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weightDecay = 0.0;
  /// Global gradient-norm clipping threshold; 0 turns clipping off.
  double clipGradNorm = 0.0;
  Schedule schedule = Constant;
  /// Linear warm-up steps (both schedules).
  int64_t warmup = 0;
  /// The run's total step count (the end of the cosine decay).
  int64_t totalSteps = 0;
  /// Cosine decays to lr * minLrRatio.
  double minLrRatio = 0.0;
};

/// "sgd" / "adamw" and "constant" / "cosine" (the flag spellings).
const char *optimizerKindName(OptimizerConfig::Kind kind);
const char *scheduleName(OptimizerConfig::Schedule schedule);
Result<OptimizerConfig::Kind> parseOptimizerKind(std::string_view name);
Result<OptimizerConfig::Schedule> parseSchedule(std::string_view name);

/// Checks ranges: lr >= 0, 0 <= beta < 1, eps >= 0, weight decay >= 0,
/// clip >= 0, warmup >= 0, minLrRatio in [0, 1], totalSteps >= 1 for cosine
/// (all finite). The message names the flag at fault.
Status validateOptimizerConfig(const OptimizerConfig &config);

/// The learning rate of step `step` (1-based), with W = warmup,
/// N = totalSteps, lr_min = lr * minLrRatio:
///   step <= W:            lr * step / W        (linear warm-up, both
///                                               schedules; step W gets lr)
///   constant, step > W:   lr
///   cosine,   step > W:   lr_min + (lr - lr_min) * (1 + cos(pi * p)) / 2
///                         with p = min(1, (step - W) / (N - W))
///                         (p = 1 when N <= W), so step N gets lr_min.
double learningRate(const OptimizerConfig &config, int64_t step);

/// One byte per entry of the parameter `spec` (row-major): 1 when the entry
/// trains, 0 when it is above the chain diagonal or belongs to a frozen
/// output chain 1..frozenChains.
std::vector<uint8_t> trainableMask(const ModelConfig &config,
                                   const ParamSpec &spec, int frozenChains);

/// The factor that gradient-norm clipping scales every gradient by, 1 when
/// `config` does not clip or `norm` is within its threshold
/// (torch.nn.utils.clip_grad_norm_: clip / (norm + 1e-6) when below 1).
double clipScale(const OptimizerConfig &config, double norm, bool *clipped);

/// The per-step scalars of an update: learning rate, weight decay (0 for
/// gains), clipping factor, AdamW's betas and eps, and its bias corrections
/// 1 - beta^t.
struct UpdateScalars {
  double lr, wd, scale, beta1, beta2, eps, bc1, bc2;
};

/// Optimizer::step's update of `n` trainable entries, bit for bit, for a
/// shard of the parameters (data-parallel training updates each rank's
/// slice): `expAvg` and `expAvgSq` are AdamW's moments of those entries
/// (unused by SGD).
void updateShard(OptimizerConfig::Kind kind, float *params, const float *grads,
                 float *expAvg, float *expAvgSq, size_t n,
                 const UpdateScalars &u);

/// The "step" tensor of an optimizer's checkpoint state: [2] floats, the
/// count being t[0] * 2^24 + t[1] (exact below 2^48).
Tensor stepCountTensor(int64_t steps);

struct StepStats {
  /// The learning rate used.
  double lr = 0;
  /// Global norm of the trainable gradient entries, before clipping.
  double gradNorm = 0;
  /// Whether clipping scaled the gradients.
  bool clipped = false;
};

class Optimizer {
public:
  /// Validates the arguments (optimizer config, frozenChains in [0, n-1],
  /// params matching the model config) and builds an optimizer with zero
  /// state.
  static Result<Optimizer> create(const OptimizerConfig &config,
                                  const ModelConfig &modelConfig,
                                  const TensorMap &params, int frozenChains);
  /// The same without validation: the arguments must be valid.
  Optimizer(const OptimizerConfig &config, const ModelConfig &modelConfig,
            const TensorMap &params, int frozenChains);

  /// One update of `params` from `grads`, exactly as PyTorch defines it
  /// (values computed in double per element, stored as float):
  ///  1. norm = sqrt(sum g^2) over the trainable entries; if clipGradNorm > 0
  ///     every gradient is scaled by min(1, clip / (norm + 1e-6))
  ///     (torch.nn.utils.clip_grad_norm_).
  ///  2. lr = learningRate(config, step); `step` is 1-based.
  ///  3. SGD (torch.optim.SGD, no momentum): p -= lr * (g + wd * p).
  ///     AdamW (torch.optim.AdamW), with t the optimizer's own step count
  ///     after this step: p -= lr * wd * p; m = b1*m + (1-b1)*g;
  ///     v = b2*v + (1-b2)*g^2 (m, v stored as float);
  ///     p -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps).
  ///  wd is weightDecay for rank-2 parameters and 0 for gains; entries that
  ///  do not train (trainableMask) are not touched at all.
  /// A parameter without a gradient is an error unless none of its entries
  /// trains. A non-finite gradient norm is an error and leaves `params` and
  /// the state unchanged.
  Result<StepStats> step(TensorMap &params, const TensorMap &grads,
                         int64_t step);

  const OptimizerConfig &config() const { return cfg; }
  int frozenChains() const { return frozen; }
  /// Optimizer steps taken so far (AdamW's bias-correction t).
  int64_t stepCount() const { return steps; }
  /// The trainable mask of a parameter (see trainableMask()).
  const std::vector<uint8_t> &mask(const std::string &name) const;

  /// The state as tensors, for checkpoints: "step" ([2] floats: the step
  /// count is step[0] * 2^24 + step[1], exact below 2^48) and, for AdamW,
  /// "exp_avg.<param>" and "exp_avg_sq.<param>" for every parameter.
  TensorMap stateTensors() const;
  /// Restores stateTensors(); the error names a missing, mis-shaped or
  /// unexpected tensor.
  Status loadState(const TensorMap &state);

private:
  struct Slot {
    std::string name;
    std::vector<int64_t> shape;
    bool decay = false;
    bool anyTrainable = false;
    std::vector<uint8_t> mask;
    std::vector<float> expAvg, expAvgSq;
  };
  const Slot *findSlot(const std::string &name) const;

  OptimizerConfig cfg;
  int frozen = 0;
  int64_t steps = 0;
  std::vector<Slot> slots;
};

} // namespace colm

#endif // COLM_RUNTIME_OPTIMIZER_H
