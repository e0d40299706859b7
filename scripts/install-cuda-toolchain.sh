#!/usr/bin/env bash
# What `--features cuda` needs, from PyPI instead of GitHub (docs/cuda.md):
#   - LLVM 23 as static libraries with NVPTX and an llvm-config (mlc-llvm-static), laid
#     where tracel-llvm-bundler looks, with its sentinel, so its build script skips the
#     GitHub download that these machines cannot reach;
#   - libdevice.10.bc (nvidia-cuda-nvcc-cu12), which cubecl links into kernels at run time
#     on a machine without a CUDA toolkit (point CUDA_PATH at it).
# Installs into the git-ignored .cuda-toolchain/ (or $RECLORA_CUDA_TOOLCHAIN). Idempotent.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${RECLORA_CUDA_TOOLCHAIN:-$root/.cuda-toolchain}"
PINS=(
  "mlc-llvm-static==23.1.1.post0"
  "mlc-llvm-static-extra-targets==23.1.1.post0"
  "nvidia-cuda-nvcc-cu12==12.9.86"
)
# The bundle name tracel-llvm-bundler 23.1.0-4 expects (its src/config.rs: llvm_path).
BUNDLE="tracel-llvm-23.1.0-4"

log() { echo "install-cuda-toolchain: $*" >&2; }
die() { log "error: $*"; exit 1; }

command -v python3 >/dev/null || die "python3 is required (for pip)"

site="$dest/site"
stamp="$dest/.installed"
want="$(printf '%s\n' "${PINS[@]}")"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  log "wheels already in $site"
else
  log "installing ${PINS[*]} into $site"
  rm -rf "$site"
  mkdir -p "$dest"
  # --no-deps: the wheels are data (libraries, bitcode); nothing of theirs is imported.
  python3 -m pip install --quiet --no-deps --no-compile --target "$site" "${PINS[@]}"
  printf '%s\n' "${PINS[@]}" >"$stamp"
fi

llvm="$site/mlc_llvm_static/static"
[ -x "$llvm/bin/llvm-config" ] || die "no $llvm/bin/llvm-config after the install"
[ -f "$llvm/lib/libLLVMNVPTXCodeGen.a" ] || die "no NVPTX libraries in $llvm/lib"
version="$("$llvm/bin/llvm-config" --version)"
case "$version" in
  23.*) ;;
  *) die "$llvm/bin/llvm-config reports LLVM $version, expected 23" ;;
esac

# dirs::data_local_dir() on Linux, as the bundler reads it.
data="${XDG_DATA_HOME:-$HOME/.local/share}"
link="$data/tracel/$BUNDLE"
mkdir -p "$data/tracel"
if [ -L "$link" ]; then
  if [ "$(readlink -f "$link")" != "$(readlink -f "$llvm")" ]; then
    ln -sfn "$llvm" "$link"
    log "relinked $link -> $llvm"
  else
    log "$link already links to $llvm"
  fi
elif [ -e "$link" ]; then
  # A real bundle (the bundler's own download): use it as it is.
  log "$link is a real folder, left as it is"
else
  ln -s "$llvm" "$link"
  log "linked $link -> $llvm"
fi
sentinel="$link/.tracel-llvm-installed"
if [ -e "$sentinel" ]; then
  log "sentinel $sentinel already there"
else
  touch "$sentinel"
  log "created sentinel $sentinel"
fi

cuda="$site/nvidia/cuda_nvcc"
[ -f "$cuda/nvvm/libdevice/libdevice.10.bc" ] || die "no libdevice.10.bc under $cuda"
log "LLVM $version ready; build with: cargo build --release --workspace --features cuda"
log "at run time without a CUDA toolkit: export CUDA_PATH=$cuda"
