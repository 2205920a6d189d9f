#!/usr/bin/env bash
# colm developer entry point: install, build, run the main job, run the tests.
#   tools/dev.sh main    install what is missing, build, run `colm demo`
#   tools/dev.sh test    install what is missing, build, run every test
#   tools/dev.sh build   build only (configures on first use)
#   tools/dev.sh setup   install the Debian packages only
#   tools/dev.sh docs    build, then refresh docs/ from the .td files
# COLM_BUILD_DIR (default build) chooses the build directory.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${COLM_BUILD_DIR:-build}
jobs=$(nproc)

setup() { bash tools/setup.sh; }

build() {
  if [ ! -f "$build_dir/build.ninja" ]; then
    cmake -S . -B "$build_dir" -G Ninja \
      -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_C_COMPILER=clang-19 -DCMAKE_CXX_COMPILER=clang++-19 \
      -DCMAKE_EXE_LINKER_FLAGS=-fuse-ld=lld \
      -DMLIR_DIR=/usr/lib/llvm-19/lib/cmake/mlir \
      -DPython3_EXECUTABLE=/usr/bin/python3
  fi
  cmake --build "$build_dir" -j "$jobs"
}

case "${1:-}" in
  setup) setup ;;
  build) setup; build ;;
  main)
    setup; build
    colm="$build_dir/bin/colm"
    "$colm" demo --out "$build_dir/colm-demo" --force
    # Train a small CoLM-Air on the Brown corpus with the multi-chain loss.
    data="${COLM_CACHE_DIR:-$HOME/.cache/colm}/data"
    out="$build_dir/brown"
    rm -rf "$out"
    "$colm" init --config examples/configs/brown-air.json --out "$out/init"
    "$colm" train --model "$out/init" --data "$data/brown-train.txt" \
      --val "$data/brown-val.txt" --eval-every 60 --steps "${COLM_MAIN_STEPS:-480}" \
      --batch 8 --seq 128 --optimizer adamw --lr 3e-3 --schedule cosine \
      --warmup 20 --chain-loss all --save "$out/model" --log "$out/train.jsonl"
    "$colm" eval --model "$out/model" --data "$data/brown-val.txt" --seq 128 \
      --max-batches 16
    ;;
  test)
    setup; build
    ctest --test-dir "$build_dir" --output-on-failure -j "$jobs"
    ;;
  docs)
    setup; build
    cp "$build_dir/dialect/ChainDialect.md" docs/chain-dialect.md
    cp "$build_dir/dialect/KernelDialect.md" docs/kernel-dialect.md
    cp "$build_dir/passes/ChainPasses.md" docs/chain-passes.md
    ;;
  *)
    sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
