//===- ChainController.cpp - Load-adaptive chain counts -------------------===//
#include "runtime/ChainController.h"

#include <algorithm>
#include <limits>

namespace colm {

namespace {
constexpr double kForget = 0.98;
/// The predicted step aims at this fraction of the tightest target, and a
/// chain comes back only while the prediction stays under kRaise of it.
constexpr double kAim = 0.8, kRaise = 0.65;
/// The aim never drops below this fraction, however noisy the steps.
constexpr double kLeast = 0.3;
/// The share of steps the aim keeps within the target.
constexpr double kQuantile = 0.98;
} // namespace

StepTimeModel::StepTimeModel(int numChains)
    : theta(size_t(numChains) + 2, 0.0),
      P(theta.size(), std::vector<double>(theta.size(), 0.0)) {
  for (size_t i = 0; i < P.size(); ++i)
    P[i][i] = 1e3;
}

std::vector<double> StepTimeModel::features(const std::vector<int64_t> &rows,
                                            double prefill) const {
  std::vector<double> x(theta.size(), 0.0);
  x[0] = 1.0;
  for (size_t k = 0; k + 2 < x.size() && k < rows.size(); ++k)
    x[k + 1] = double(rows[k]);
  x.back() = prefill;
  return x;
}

void StepTimeModel::observe(const std::vector<int64_t> &rows, double prefill,
                            double seconds) {
  if (ready() && decodes(rows)) {
    double ratio = seconds / std::max(predict(rows, prefill), 1e-9);
    if (ratios.size() < kSpread)
      ratios.push_back(ratio);
    else
      ratios[nextRatio] = ratio;
    sorted.clear();
    nextRatio = (nextRatio + 1) % kSpread;
  }
  std::vector<double> x = features(rows, prefill);
  size_t d = x.size();
  std::vector<double> Px(d, 0.0);
  for (size_t i = 0; i < d; ++i)
    for (size_t j = 0; j < d; ++j)
      Px[i] += P[i][j] * x[j];
  double denominator = kForget;
  for (size_t i = 0; i < d; ++i)
    denominator += x[i] * Px[i];
  double error = seconds;
  for (size_t i = 0; i < d; ++i)
    error -= theta[i] * x[i];
  for (size_t i = 0; i < d; ++i)
    theta[i] += Px[i] / denominator * error;
  for (size_t i = 0; i < d; ++i)
    for (size_t j = 0; j < d; ++j)
      P[i][j] = (P[i][j] - Px[i] * Px[j] / denominator) / kForget;
  ++samples;
  if (decodes(rows))
    fastest = std::min(fastest, seconds);
}

bool StepTimeModel::decodes(const std::vector<int64_t> &rows) {
  for (int64_t r : rows)
    if (r > 0)
      return true;
  return false;
}

double StepTimeModel::ratioQuantile(double q) const {
  if (ratios.size() < 20)
    return 1.0;
  // Asked for several times a step (the controller, the prefill budget):
  // sorted once per measured step.
  if (sorted.size() != ratios.size()) {
    sorted = ratios;
    std::sort(sorted.begin(), sorted.end());
  }
  return sorted[std::min(sorted.size() - 1, size_t(q * double(sorted.size())))];
}

double StepTimeModel::predict(const std::vector<int64_t> &rows,
                              double prefill) const {
  std::vector<double> x = features(rows, prefill);
  double t = 0;
  for (size_t i = 0; i < x.size(); ++i)
    t += theta[i] * x[i];
  // A fit on noisy steps can extrapolate below zero (say, to one row at a
  // count seen only in larger steps): no decode step is faster than the
  // fastest measured.
  if (decodes(rows) && fastest < std::numeric_limits<double>::infinity())
    t = std::max(t, fastest);
  return std::max(t, 0.0);
}

double ChainController::adjust(std::vector<Stream> &streams,
                               const StepTimeModel &model,
                               double prefill) const {
  if (!model.ready())
    return 0;
  double tightest = std::numeric_limits<double>::infinity();
  for (const Stream &s : streams)
    if (s.automatic && s.tpotTarget > 0)
      tightest = std::min(tightest, s.tpotTarget);
  auto predict = [&] {
    std::vector<int64_t> rows(size_t(chains), 0);
    for (const Stream &s : streams)
      if (s.chains >= 1 && int(s.chains) <= chains)
        ++rows[s.chains - 1];
    return model.predict(rows, prefill);
  };
  double step = predict();
  if (tightest == std::numeric_limits<double>::infinity())
    return step;
  // Aim so that nearly all steps (kQuantile), not their mean, stay within
  // the target.
  double aim = aimFraction(model);
  double raise = aim * kRaise / kAim;
  // A change is held for kHold tokens against moving back; within one
  // decision a stream may move several chains the same way.
  std::vector<char> moved(streams.size(), 0);
  auto movable = [&](const Stream &s) {
    return s.index >= s.heldUntil || moved[size_t(&s - streams.data())];
  };
  // A stream without a target has all the slack there is.
  auto slack = [](const Stream &s) {
    return s.tpotTarget > 0 ? s.tpotTarget
                            : std::numeric_limits<double>::infinity();
  };
  // Too slow: the stream with the most slack gives up a chain first. The
  // prediction aims below the target (steps vary about it).
  while (step > aim * tightest) {
    Stream *pick = nullptr;
    for (Stream &s : streams)
      if (s.automatic && movable(s) && s.chains > s.minChains &&
          (!pick || slack(s) > slack(*pick) ||
           (slack(s) == slack(*pick) && s.chains > pick->chains)))
        pick = &s;
    if (!pick)
      break;
    --pick->chains;
    pick->heldUntil = pick->index + kHold;
    moved[size_t(pick - streams.data())] = 1;
    step = predict();
  }
  for (size_t i = 0; i < streams.size(); ++i)
    if (moved[i])
      return step; // lowered now: nothing rises in the same step

  // Room to spare: the stream with the least slack gets a chain back when
  // the prediction with it stays well under the target.
  for (;;) {
    Stream *pick = nullptr;
    for (Stream &s : streams)
      if (s.automatic && movable(s) && s.chains < s.maxChains &&
          (!pick || slack(s) < slack(*pick) ||
           (slack(s) == slack(*pick) && s.chains < pick->chains)))
        pick = &s;
    if (!pick)
      break;
    ++pick->chains;
    double wider = predict();
    if (wider > raise * tightest) {
      --pick->chains;
      break;
    }
    pick->heldUntil = pick->index + kHold;
    moved[size_t(pick - streams.data())] = 1;
    step = wider;
  }
  return step;
}

double ChainController::aimFraction(const StepTimeModel &model) {
  return std::clamp(1.0 / model.ratioQuantile(kQuantile), kLeast, kAim);
}

double ChainController::ttftBudget(double remaining, double secondsLeft,
                                   double decodeSeconds,
                                   double secondsPerToken) {
  if (remaining <= 0)
    return 0;
  // b * secondsLeft >= remaining * (decodeSeconds + b * secondsPerToken).
  double spare = secondsLeft - remaining * secondsPerToken;
  if (spare <= 0)
    return remaining;
  return std::min(remaining, remaining * decodeSeconds / spare);
}

} // namespace colm
