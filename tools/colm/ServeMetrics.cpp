//===- ServeMetrics.cpp - colm serve's counters for /metrics --------------===//
#include "tools/colm/ServeMetrics.h"

#include <cmath>
#include <cstdio>

namespace colm::cli {

namespace {

constexpr double kWindowSeconds = 10.0;

std::string number(double v) {
  if (std::isinf(v))
    return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

void header(std::string &out, const std::string &name, const char *type,
            const char *help) {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

void scalar(std::string &out, const std::string &name, const char *type,
            const char *help, double value) {
  header(out, name, type, help);
  out += name + " " + number(value) + "\n";
}

void histogram(std::string &out, const std::string &name, const char *help,
               const Histogram &h) {
  header(out, name, "histogram", help);
  int64_t cumulative = 0;
  for (size_t i = 0; i < h.bounds.size(); ++i) {
    cumulative += h.counts[i];
    out += name + "_bucket{le=\"" + number(h.bounds[i]) + "\"} " +
           std::to_string(cumulative) + "\n";
  }
  out += name + "_bucket{le=\"+Inf\"} " + std::to_string(h.count) + "\n";
  out += name + "_sum " + number(h.sum) + "\n";
  out += name + "_count " + std::to_string(h.count) + "\n";
}

std::vector<double> latencyBounds() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
          0.25,  0.5,    1,     2.5,  5,     10,   30};
}

} // namespace

void Histogram::observe(double value) {
  for (size_t i = 0; i < bounds.size(); ++i)
    if (value <= bounds[i]) {
      ++counts[i];
      break;
    }
  sum += value;
  ++count;
}

ServeMetrics::ServeMetrics()
    : ttft(latencyBounds()), tpot(latencyBounds()), itl(latencyBounds()) {}

void ServeMetrics::note(std::deque<std::pair<Clock::time_point, int64_t>> &w,
                        int64_t tokens) {
  Clock::time_point now = Clock::now();
  w.push_back({now, tokens});
  while (!w.empty() &&
         std::chrono::duration<double>(now - w.front().first).count() >
             kWindowSeconds)
    w.pop_front();
}

void ServeMetrics::countPrompt(int64_t tokens) {
  promptTokens += tokens;
  note(promptWindow, tokens);
}

void ServeMetrics::countGenerated(int64_t tokens) {
  generationTokens += tokens;
  note(generatedWindow, tokens);
}

double ServeMetrics::rate(bool prompt) const {
  const auto &w = prompt ? promptWindow : generatedWindow;
  Clock::time_point now = Clock::now();
  int64_t total = 0;
  for (const auto &[t, n] : w)
    if (std::chrono::duration<double>(now - t).count() <= kWindowSeconds)
      total += n;
  return double(total) / kWindowSeconds;
}

std::string ServeMetrics::prometheus() const {
  std::string out;
  scalar(out, "colm_requests_running", "gauge",
         "Sequences being prefilled or decoded.", double(running));
  scalar(out, "colm_requests_waiting", "gauge",
         "Sequences waiting for a slot or KV cache blocks (preempted ones "
         "included).",
         double(waiting));
  scalar(out, "colm_requests_total", "counter",
         "Sequences started (each choice of a request is one).",
         double(requests));
  scalar(out, "colm_prompt_tokens_total", "counter",
         "Prompt tokens prefilled (cached prefixes not counted).",
         double(promptTokens));
  scalar(out, "colm_generation_tokens_total", "counter", "Tokens generated.",
         double(generationTokens));
  scalar(out, "colm_prompt_tokens_per_second", "gauge",
         "Prompt tokens prefilled per second over the last 10 seconds.",
         rate(true));
  scalar(out, "colm_generation_tokens_per_second", "gauge",
         "Tokens generated per second over the last 10 seconds.", rate(false));
  scalar(out, "colm_kv_cache_blocks_used", "gauge",
         "KV cache blocks held by sequences or the prefix cache.",
         double(kvBlocksUsed));
  scalar(out, "colm_kv_cache_blocks_free", "gauge", "Free KV cache blocks.",
         double(kvBlocksFree));
  scalar(out, "colm_kv_cache_block_positions", "gauge",
         "Positions per KV cache block.", double(kvBlockSize));
  scalar(out, "colm_prefix_cache_blocks", "gauge",
         "Blocks the prefix cache names.", double(prefixCacheBlocks));
  scalar(out, "colm_prefix_cache_queried_blocks_total", "counter",
         "Full prompt blocks looked up in the prefix cache.",
         double(prefixQueriedBlocks));
  scalar(out, "colm_prefix_cache_hit_blocks_total", "counter",
         "Full prompt blocks found in the prefix cache.",
         double(prefixHitBlocks));
  scalar(out, "colm_prefix_cache_hit_rate", "gauge",
         "Hit blocks over queried blocks since the start.",
         prefixQueriedBlocks
             ? double(prefixHitBlocks) / double(prefixQueriedBlocks)
             : 0.0);
  scalar(out, "colm_preemptions_total", "counter",
         "Sequences preempted for KV cache blocks (resumed later).",
         double(preemptions));
  scalar(out, "colm_prefill_chunks_total", "counter",
         "Prefill chunks run (a long prompt runs in several).",
         double(prefillChunks));
  scalar(out, "colm_speculative_drafted_tokens_total", "counter",
         "Tokens drafted by self-speculative decoding.",
         double(speculativeDrafted));
  scalar(out, "colm_speculative_accepted_tokens_total", "counter",
         "Drafted tokens the full model accepted.",
         double(speculativeAccepted));
  scalar(out, "colm_speculative_acceptance_rate", "gauge",
         "Accepted over drafted tokens since the start.",
         speculativeDrafted
             ? double(speculativeAccepted) / double(speculativeDrafted)
             : 0.0);
  scalar(out, "colm_tpot_target_tokens_total", "counter",
         "Inter-token gaps of sequences with a TPOT target (latency_target).",
         double(tpotTargetGaps));
  scalar(out, "colm_tpot_target_met_tokens_total", "counter",
         "Of those, the gaps within their sequence's TPOT target.",
         double(tpotTargetMet));
  header(out, "colm_generation_tokens_by_chains_total", "counter",
         "Tokens generated, by the chain count of the sub-model that "
         "produced them.");
  for (const auto &[k, n] : chainTokens)
    out += "colm_generation_tokens_by_chains_total{chains=\"" +
           std::to_string(k) + "\"} " + std::to_string(n) + "\n";
  histogram(out, "colm_time_to_first_token_seconds",
            "From a request's arrival to its first token.", ttft);
  histogram(out, "colm_time_per_output_token_seconds",
            "A finished sequence's time after its first token over its "
            "later tokens.",
            tpot);
  histogram(out, "colm_inter_token_latency_seconds",
            "Between consecutive tokens of a sequence.", itl);
  return out;
}

} // namespace colm::cli
