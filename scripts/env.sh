# shellcheck shell=bash
# Environment shared by the build/test scripts. Source it: `. scripts/env.sh`.
# worker-build would download wasm-bindgen, wasm-opt and esbuild from the internet; we
# point it at pinned local copies instead (cargo-installed wasm-bindgen, npm binaryen and
# esbuild from worker/package-lock.json), so builds work offline and reproducibly.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ROOT
export PATH="$HOME/.cargo/bin:$PATH"
export WASM_BINDGEN_BIN="${WASM_BINDGEN_BIN:-$HOME/.cargo/bin/wasm-bindgen}"
export WASM_OPT_BIN="${WASM_OPT_BIN:-$ROOT/worker/node_modules/binaryen/bin/wasm-opt}"
export ESBUILD_BIN="${ESBUILD_BIN:-$ROOT/worker/node_modules/@esbuild/linux-x64/bin/esbuild}"
export WRANGLER_SEND_METRICS=false
export WRANGLER_LOG="${WRANGLER_LOG:-warn}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
WORKER_BUILD_VERSION=0.8.7
export WORKER_BUILD_VERSION

# The wasm-bindgen version the lockfile resolved: the CLI must match it exactly.
wasm_bindgen_lock_version() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$ROOT/Cargo.lock"
}

# Prints "== title" and remembers when the step started.
step() {
  STEP_NAME="$1"
  STEP_START=$(date +%s)
  printf '\n== %s\n' "$STEP_NAME"
}
step_done() {
  printf -- '-- %s: %ss\n' "$STEP_NAME" "$(( $(date +%s) - STEP_START ))"
}
export PYENV="$ROOT/target/pyenv"
