//===- ChainController.h - Load-adaptive chain counts -----------*- C++ -*-===//
//
// A Chain-of-Model server can trade quality for speed per request at any
// token: a request that asks for "chains": "auto" runs at the widest
// sub-model its latency target allows. The scheduler predicts each step's
// time from a model fitted to the steps it measured, linear in the rows it
// decodes at each chain count and the prefill work it does
// (StepTimeModel), and before each step ChainController lowers the chain
// count of the automatic stream with the most slack while the prediction
// exceeds the aim: 80% of the tightest time-per-token target, or less
// where the measured steps' 98th percentile runs further above the
// prediction (a target is met token by token, not on average). Never below
// a stream's minimum, holding each change for several tokens; while the
// prediction with one more chain stays under 65/80 of the aim, chain
// counts rise again. A prefilling request with a TTFT target gets the
// prefill budget per step that meets it (ttftBudget), at the decoding
// streams' expense.
// Streams with a fixed chain count are never changed. No MLIR, no I/O:
// the policy alone, so it is tested alone.
//
//===----------------------------------------------------------------------===//
#ifndef COLM_RUNTIME_CHAINCONTROLLER_H
#define COLM_RUNTIME_CHAINCONTROLLER_H

#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace colm {

/// Step seconds ~ c0 + sum_k c_k * rows_k + c_p * prefill, fitted by
/// recursive least squares with exponential forgetting (recent steps
/// count more: the machine's load changes).
class StepTimeModel {
public:
  explicit StepTimeModel(int numChains);
  /// A measured step: rows decoded at each chain count (index k - 1), the
  /// prefill work (tokens of the full model) and its seconds.
  void observe(const std::vector<int64_t> &rows, double prefill,
               double seconds);
  /// The fitted time, and never below the fastest step measured that
  /// decoded rows (when `rows` decodes any).
  double predict(const std::vector<int64_t> &rows, double prefill) const;
  /// The q-quantile of measured over predicted time for the last kSpread
  /// steps measured once the model was ready (1 until 20 are).
  double ratioQuantile(double q) const;
  static constexpr size_t kSpread = 256;
  /// Enough steps seen for predictions to mean something.
  bool ready() const { return samples >= 2 * int64_t(theta.size()); }
  int64_t observed() const { return samples; }

private:
  std::vector<double> features(const std::vector<int64_t> &rows,
                               double prefill) const;
  std::vector<double> theta;
  static bool decodes(const std::vector<int64_t> &rows);
  std::vector<std::vector<double>> P;
  int64_t samples = 0;
  double fastest = std::numeric_limits<double>::infinity();
  std::vector<double> ratios;         // a ring of kSpread
  mutable std::vector<double> sorted; // ratios sorted (empty: not yet)
  size_t nextRatio = 0;
};

class ChainController {
public:
  struct Stream {
    /// The chain count it decodes with now (changed by adjust()).
    unsigned chains = 1;
    bool automatic = false;
    unsigned minChains = 1, maxChains = 1;
    /// Seconds per output token it asks for (0: none).
    double tpotTarget = 0;
    /// Tokens generated so far, and the first token at which its chain
    /// count may change again.
    int64_t index = 0, heldUntil = 0;
  };
  /// Tokens a change is held for.
  static constexpr int64_t kHold = 8;

  explicit ChainController(int numChains) : chains(numChains) {}
  /// Adjusts the automatic streams' chain counts for the next step, given
  /// the prefill work planned beside it; returns the predicted step time
  /// (0 when the model is not ready: nothing changes then).
  double adjust(std::vector<Stream> &streams, const StepTimeModel &model,
                double prefill) const;

  /// The fraction of the tightest TPOT target a step is aimed at: 80%, or
  /// less where measured steps run further above their prediction.
  static double aimFraction(const StepTimeModel &model);

  /// The prefill work per step (tokens of the full model) that finishes
  /// `remaining` tokens of work within `secondsLeft` of a TTFT target when
  /// each step also decodes for `decodeSeconds` and prefill costs
  /// `secondsPerToken`: b with b * steps >= remaining, steps = secondsLeft /
  /// (decodeSeconds + b * secondsPerToken). All of it when the target
  /// cannot be met (or has passed): the sooner the better then.
  static double ttftBudget(double remaining, double secondsLeft,
                           double decodeSeconds, double secondsPerToken);

private:
  int chains;
};

} // namespace colm

#endif // COLM_RUNTIME_CHAINCONTROLLER_H
