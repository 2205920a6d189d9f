//===- Sampling.cpp - Next-token sampling and stop strings ----------------===//

#include "runtime/Sampling.h"

#include <algorithm>
#include <cctype>
#include <cfloat>
#include <cmath>
#include <limits>
#include <string_view>

namespace colm {

Status validateSamplingConfig(const SamplingConfig &config) {
  if (!config.greedy &&
      !(std::isfinite(config.temperature) && config.temperature > 0))
    return Status::error("--temperature must be > 0 (use --greedy for "
                         "argmax), got " +
                         std::to_string(config.temperature));
  if (config.topK < 0)
    return Status::error("--top-k must be >= 0 (0 = off), got " +
                         std::to_string(config.topK));
  if (!(config.topP > 0 && config.topP <= 1))
    return Status::error("--top-p must be in (0, 1], got " +
                         std::to_string(config.topP));
  if (!(std::isfinite(config.repetitionPenalty) &&
        config.repetitionPenalty > 0))
    return Status::error("--repetition-penalty must be > 0 (1 = off), got " +
                         std::to_string(config.repetitionPenalty));
  return Status::ok();
}

void applyRepetitionPenalty(double *logits, int64_t vocab,
                            const std::vector<int32_t> &history,
                            double penalty) {
  if (penalty == 1.0)
    return;
  std::vector<bool> seen(static_cast<size_t>(vocab), false);
  for (int32_t id : history) {
    if (id < 0 || id >= vocab || seen[id])
      continue;
    seen[id] = true;
    double &x = logits[id];
    x = x > 0 ? x / penalty : x * penalty;
  }
}

TokenSampler::TokenSampler(SamplingConfig config)
    : cfg(config), rng(config.seed) {}

int32_t TokenSampler::sample(const float *logits, int64_t vocab,
                             const std::vector<int32_t> &history) {
  size_t kept = 0;
  double keptMass = 0;
  int32_t best = prepare(logits, vocab, history, &kept, &keptMass);
  if (best >= 0)
    return best; // greedy (or nothing to draw from): no draw
  return draw(kept, keptMass, rng.uniform());
}

int32_t TokenSampler::draw(size_t kept, double keptMass, double u) const {
  u *= keptMass;
  double acc = 0;
  for (size_t i = 0; i < kept; ++i) {
    acc += work[order[i]];
    if (u < acc)
      return order[i];
  }
  return order[kept - 1];
}

std::vector<double> TokenSampler::peekUniforms(int64_t n) const {
  Random copy = rng;
  std::vector<double> u;
  for (int64_t i = 0; i < n; ++i)
    u.push_back(copy.uniform());
  return u;
}

void TokenSampler::advance(int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    rng.uniform();
}

std::vector<double>
TokenSampler::distribution(const float *logits, int64_t vocab,
                           const std::vector<int32_t> &history) {
  std::vector<double> p(static_cast<size_t>(vocab), 0.0);
  size_t kept = 0;
  double keptMass = 0;
  int32_t best = prepare(logits, vocab, history, &kept, &keptMass);
  if (best >= 0) {
    p[size_t(best)] = 1.0;
    return p;
  }
  for (size_t i = 0; i < kept; ++i)
    p[size_t(order[i])] = work[order[i]] / keptMass;
  return p;
}

int32_t TokenSampler::sampleWith(const float *logits, int64_t vocab,
                                 const std::vector<int32_t> &history,
                                 double u) {
  size_t kept = 0;
  double keptMass = 0;
  int32_t best = prepare(logits, vocab, history, &kept, &keptMass);
  if (best >= 0)
    return best;
  return draw(kept, keptMass, u);
}

int32_t TokenSampler::prepare(const float *logits, int64_t vocab,
                              const std::vector<int32_t> &history,
                              size_t *keptOut, double *massOut) {
  assert(vocab >= 1 && "sampling from an empty vocabulary");
  constexpr double kNegInf = -std::numeric_limits<double>::infinity();
  work.resize(static_cast<size_t>(vocab));
  for (int64_t i = 0; i < vocab; ++i)
    work[i] = std::isnan(logits[i]) ? kNegInf : static_cast<double>(logits[i]);
  applyRepetitionPenalty(work.data(), vocab, history, cfg.repetitionPenalty);

  if (cfg.greedy) {
    int64_t best = 0;
    for (int64_t i = 1; i < vocab; ++i)
      if (work[i] > work[best])
        best = i;
    return static_cast<int32_t>(best);
  }

  // Candidates: tokens with a finite (or +inf) logit, in id order.
  order.clear();
  for (int64_t i = 0; i < vocab; ++i) {
    if (work[i] == kNegInf)
      continue;
    // +inf (or an overflow by the temperature) becomes the largest double, so
    // the softmax below stays finite and such tokens share the mass.
    work[i] = std::min(work[i] / cfg.temperature, DBL_MAX);
    order.push_back(static_cast<int32_t>(i));
  }
  if (order.empty())
    return 0; // no finite logit: the lowest id

  // A strict total order (probability, then id), so sorting is deterministic.
  auto before = [&](int32_t a, int32_t b) {
    return work[a] > work[b] || (work[a] == work[b] && a < b);
  };
  if (cfg.topK > 0 && cfg.topK < static_cast<int64_t>(order.size())) {
    std::partial_sort(order.begin(), order.begin() + cfg.topK, order.end(),
                      before);
    order.resize(static_cast<size_t>(cfg.topK));
  } else if (cfg.topP < 1.0) {
    std::sort(order.begin(), order.end(), before);
  }

  double maxLogit = kNegInf;
  for (int32_t id : order)
    maxLogit = std::max(maxLogit, work[id]);
  double total = 0;
  for (int32_t id : order) {
    work[id] = std::exp(work[id] - maxLogit);
    total += work[id];
  }

  size_t kept = order.size();
  double keptMass = total;
  if (cfg.topP < 1.0) {
    // `order` is sorted by probability here (top-k sorts its prefix).
    double cum = 0;
    for (size_t i = 0; i < order.size(); ++i) {
      cum += work[order[i]];
      if (cum >= cfg.topP * total) {
        kept = i + 1;
        keptMass = cum;
        break;
      }
    }
  }

  *keptOut = kept;
  *massOut = keptMass;
  return -1;
}

StopChecker::StopChecker(std::vector<std::string> stopStrings) {
  for (std::string &s : stopStrings) {
    if (s.empty())
      continue;
    maxStop = std::max(maxStop, s.size());
    stops.push_back(std::move(s));
  }
}

bool StopChecker::feed(const std::string &newText) {
  if (hit)
    return true;
  size_t old = buffer.size();
  buffer += newText;
  if (stops.empty())
    return false;
  // A new occurrence ends after `old`, so it starts after old - maxStop.
  size_t from = old >= maxStop ? old - maxStop + 1 : 0;
  size_t first = std::string::npos;
  for (const std::string &s : stops)
    first = std::min(first, buffer.find(s, from));
  if (first != std::string::npos) {
    hit = true;
    cut = first;
  }
  return hit;
}

std::string StopChecker::text() const {
  return hit ? buffer.substr(0, cut) : buffer;
}

std::string StopChecker::takeReady(bool final) {
  size_t end = buffer.size();
  if (hit) {
    end = cut;
  } else if (!final) {
    // Hold back the longest suffix that is a proper prefix of a stop string.
    for (size_t start = buffer.size() >= maxStop ? buffer.size() - maxStop + 1
                                                 : 0;
         start < buffer.size(); ++start) {
      std::string_view tail(buffer.data() + start, buffer.size() - start);
      bool prefix =
          std::any_of(stops.begin(), stops.end(), [&](const std::string &s) {
            return s.size() > tail.size() &&
                   s.compare(0, tail.size(), tail) == 0;
          });
      if (prefix) {
        end = start;
        break;
      }
    }
  }
  end = std::max(end, taken);
  std::string out = buffer.substr(taken, end - taken);
  taken = end;
  return out;
}

Result<ChainSchedule> parseChainSchedule(std::string_view spec,
                                         unsigned numChains,
                                         const std::string &what) {
  ChainSchedule schedule;
  auto bad = [&](std::string_view item) {
    return Status::error(what + ": '" + std::string(item) +
                         "' is not INDEX:CHAINS with CHAINS in 1.." +
                         std::to_string(numChains));
  };
  size_t pos = 0;
  while (pos <= spec.size()) {
    size_t comma = spec.find(',', pos);
    std::string_view item = spec.substr(pos, comma == std::string_view::npos
                                                 ? std::string_view::npos
                                                 : comma - pos);
    size_t colon = item.find(':');
    if (colon == std::string_view::npos || colon == 0 ||
        colon + 1 == item.size() || colon > 18 || item.size() - colon > 11)
      return bad(item);
    int64_t index = 0, chains = 0;
    for (size_t i = 0; i < colon; ++i) {
      if (!std::isdigit(static_cast<unsigned char>(item[i])))
        return bad(item);
      index = index * 10 + (item[i] - '0');
    }
    for (size_t i = colon + 1; i < item.size(); ++i) {
      if (!std::isdigit(static_cast<unsigned char>(item[i])))
        return bad(item);
      chains = chains * 10 + (item[i] - '0');
    }
    if (chains < 1 || chains > static_cast<int64_t>(numChains))
      return bad(item);
    if (!schedule.empty() && index <= schedule.back().first)
      return Status::error(what +
                           ": token indices must increase, "
                           "got " +
                           std::to_string(index) + " after " +
                           std::to_string(schedule.back().first));
    schedule.push_back({index, static_cast<unsigned>(chains)});
    if (comma == std::string_view::npos)
      break;
    pos = comma + 1;
  }
  if (schedule.empty() || schedule.front().first != 0)
    return Status::error(what + " must start at token 0 (\"0:K,...\")");
  return schedule;
}

unsigned chainsAt(const ChainSchedule &schedule, int64_t index) {
  unsigned k = schedule.front().second;
  for (auto [from, chains] : schedule)
    if (index >= from)
      k = chains;
  return k;
}

} // namespace colm
