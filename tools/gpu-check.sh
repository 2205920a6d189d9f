#!/usr/bin/env bash
# The prepared GPU check of issue 9, in three modes:
#
#   tools/gpu-check.sh prepare    here (the dev machine, full build): writes
#                                 gpu-check-cases/ (ignored by git; carry it):
#                                 the check and bench cases, cubins for sm_90
#   tools/gpu-check.sh run        on the GPU machine (the device tool runs it
#                                 in the repo root with gpu-check-cases
#                                 carried): builds the runtime-only runner
#                                 (no LLVM there), probes the mma/ldmatrix
#                                 fragment layouts and warp collectives on
#                                 the hardware against what the emulator
#                                 gives, runs the correctness cases against
#                                 the emulator's outputs, the benchmarks with
#                                 per-kernel profiles, and PyTorch's cuBLAS
#                                 and SDPA yardsticks; results under $OUT
#                                 (summary.txt first). Sized for 8 minutes.
#   tools/gpu-check.sh selftest   here, no GPU: the run's runner on the
#                                 tests' fake driver with the kernels'
#                                 emulator builds (what CI runs)
#
# For example, with the device tool: prepare here, then
#   run(command="bash tools/gpu-check.sh run", carry=["gpu-check-cases"],
#       timeout_s=540)
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-}
build=${COLM_BUILD_DIR:-build}

case "$mode" in
prepare)
  ninja -C "$build" colm-gpu-prepare colm-gpu-check >/dev/null
  rm -rf gpu-check-cases
  "$build/bin/colm-gpu-prepare" gpu-check-cases --bench --arch "${CUDA_ARCH:-sm_90}"
  du -sh gpu-check-cases
  echo "gpu-check: now run 'bash tools/gpu-check.sh run' on the GPU with gpu-check-cases carried"
  ;;
run)
  out=${OUT:-/tmp/gpu-check-out}
  mkdir -p "$out"
  [ -d gpu-check-cases ] || { echo "gpu-check: no gpu-check-cases (run 'prepare' first and carry it)" >&2; exit 2; }
  start=$SECONDS
  (nvidia-smi -L; nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv) > "$out/device.txt" 2>&1 || true
  cat "$out/device.txt"
  # The runner, with the runtime alone.
  timeout 180 cmake -S . -B /tmp/colm-rt -G Ninja -DCOLM_RUNTIME_ONLY=ON \
    -DCMAKE_BUILD_TYPE=Release > "$out/build.txt" 2>&1
  timeout 240 ninja -C /tmp/colm-rt colm-gpu-check >> "$out/build.txt" 2>&1 || { tail -30 "$out/build.txt"; exit 1; }
  echo "gpu-check: runner built in $((SECONDS - start)) s"
  # The hardware against the emulator's twins.
  status=0
  timeout 120 nvcc -std=c++17 -arch=native -I. -o /tmp/colm-probe tools/gpu-check/probe.cu > "$out/probe.txt" 2>&1 &&
    timeout 60 /tmp/colm-probe >> "$out/probe.txt" 2>&1 || status=1
  cat "$out/probe.txt"
  # The NCCL gradient exchange of --backend cuda --distributed (one rank).
  timeout 60 /tmp/colm-rt/bin/colm-gpu-check --nccl 2>&1 | tee "$out/nccl.txt" || status=1
  # Correctness, then the benchmarks with profiles.
  timeout 300 /tmp/colm-rt/bin/colm-gpu-check gpu-check-cases --profile \
    --json "$out/results.json" 2>&1 | tee "$out/check.txt" || status=1
  # Decode again with CUDA graphs (COLM_CUDA_GRAPHS=1): whether they help.
  COLM_CUDA_GRAPHS=1 timeout 120 /tmp/colm-rt/bin/colm-gpu-check gpu-check-cases \
    --only bench-air-decode --json "$out/graphs.json" 2>&1 | tee "$out/graphs.txt" || true
  timeout 120 python3 tools/gpu-check/anchor.py --json "$out/anchor.json" 2>&1 | tee "$out/anchor.txt" || true
  peak=${PEAK_TFLOPS:-989}
  python3 tools/gpu-check/summarize.py "$out/results.json" "$out/anchor.json" "$peak" "$out/graphs.json" | tee "$out/summary.txt" || true
  echo "gpu-check: done in $((SECONDS - start)) s (status $status)"
  exit $status
  ;;
selftest)
  [ -n "${COLM_GPU_CHECK_NO_BUILD:-}" ] ||
    ninja -C "$build" colm-gpu-prepare colm-gpu-check colm-fake-cuda-driver >/dev/null
  dir=$(mktemp -d)
  trap 'rm -rf "$dir"' EXIT
  "$build/bin/colm-gpu-prepare" "$dir" --sim
  COLM_CUDA_DRIVER="$(cd "$build" && pwd)/lib/libcolm-fake-cuda-driver.so" \
    "$build/bin/colm-gpu-check" "$dir" --json "$dir/results.json"
  python3 tools/gpu-check/summarize.py "$dir/results.json"
  if [ -e "$build/lib/libcolm-fake-nccl.so" ]; then
    COLM_CUDA_DRIVER="$(cd "$build" && pwd)/lib/libcolm-fake-cuda-driver.so" \
      COLM_NCCL="$(cd "$build" && pwd)/lib/libcolm-fake-nccl.so" \
      "$build/bin/colm-gpu-check" --nccl
  fi
  ;;
*)
  sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
  ;;
esac
