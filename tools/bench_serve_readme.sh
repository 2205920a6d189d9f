#!/usr/bin/env bash
# The serving tables and plot of the README, in one run:
#   bash tools/bench_serve_readme.sh MODEL_DIR [OUT_DIR]
# Starts `colm serve` on 127.0.0.1 for each configuration and drives it with
# tools/bench_serve.py; writes OUT_DIR/*.txt (the reports), *.json and
# load.svg (latency against offered load).
set -euo pipefail
model=${1:?usage: bench_serve_readme.sh MODEL_DIR [OUT_DIR]}
out=${2:-serve-bench}
here=$(cd "$(dirname "$0")" && pwd)
colm=${COLM:-$here/../build/bin/colm}
port=${PORT:-8127}
mkdir -p "$out"
bench() { /usr/bin/python3 "$here/bench_serve.py" --url "http://127.0.0.1:$port" "$@"; }
serve() {
  "$colm" serve --model "$model" --port "$port" --max-context 2048 --max-batch 16 "$@" \
    >"$out/server.log" 2>&1 &
  server=$!
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "the server did not start: $(tail -3 "$out/server.log")" >&2
  exit 1
}
stop() { kill "$server"; wait "$server" 2>/dev/null || true; }

serve
# Random prompts at fixed chain counts and "auto" (TPOT target 3.5 ms: an overload for the full model).
for chains in 1 2 3 auto; do
  bench --num-prompts 48 --concurrency 16 --input-len 128 --output-len 96 \
    --chains "$chains" --field 'latency_target={"tpot_ms": 3.5}' \
    --ttft-target 1000 --tpot-target 3.5 --json "$out/random-$chains.json" \
    | tee "$out/random-$chains.txt"
done
# Latency against Poisson load, the full model.
bench --num-prompts 48 --input-len 128 --output-len 96 --chains 3 \
  --request-rates 2,4,8,16,32 --ttft-target 1000 --tpot-target 3.5 \
  --json "$out/load.json" --plot "$out/load.svg" | tee "$out/load.txt"
# Each with CoLM-Air's chain-1 prefill (the default), then with full
# prefill ("-full").
full='prefill_chains="all"'
# A long prompt arriving while 4 streams decode.
for suffix in "" -full; do
  bench --num-prompts 4 --input-len 32 --range-ratio 0 --output-len 1000 \
    --interrupt-len 2000 --interrupt-after 0.5 ${suffix:+--interrupt-field "$full"} \
    | tee "$out/long-prefill$suffix.txt"
done
# A 1024-token shared prefix, with the prefix cache (then without).
prefixes() {
  for suffix in "" -full; do
    bench --workload shared-prefix --prefix-len 1024 --num-prompts 16 --concurrency 1 \
      --input-len 64 --range-ratio 0 --output-len 16 ${suffix:+--field "$full"} \
      | tee "$out/prefix-$1$suffix.txt"
  done
}
prefixes cached
stop
serve --no-prefix-cache
prefixes uncached
stop
