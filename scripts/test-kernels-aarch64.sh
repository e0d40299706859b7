#!/usr/bin/env bash
# The CPU kernels' tests (core/kernels, no burn) built for aarch64-unknown-linux-gnu and run
# under `qemu-aarch64 -cpu max`, which has NEON, the dot-product and the int8 matrix multiply
# extensions: every aarch64 path (neon, neon-dotprod with `sdot`, neon-i8mm with `smmla`) is
# checked against the portable one, and the run fails unless all three are detected.
# Installs what is missing (the rustup target; Debian's cross gcc, its libc and qemu-user).
# A target folder of its own (CARGO_TARGET_DIR/aarch64-kernels) keeps the host build intact.
#
# usage: scripts/test-kernels-aarch64.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
log() { echo "test-kernels-aarch64: $*" >&2; }
start=$(date +%s)

target=aarch64-unknown-linux-gnu
rustup target list --installed 2>/dev/null | grep -qx "$target" || rustup target add "$target"
missing=()
command -v aarch64-linux-gnu-gcc >/dev/null || missing+=(gcc-aarch64-linux-gnu)
[ -d /usr/aarch64-linux-gnu/lib ] || missing+=(libc6-dev-arm64-cross)
command -v qemu-aarch64 >/dev/null || missing+=(qemu-user)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
  log "installed ${missing[*]}"
fi

export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -cpu max -L /usr/aarch64-linux-gnu"
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}/aarch64-kernels"
# The kernels crate alone: its own feature set, its own folder, no burn.
export RECLORA_QGEMM_EXPECT=neon,neon-dotprod,neon-i8mm
cargo test --release --locked -p reclora-kernels --target "$target"
log "passed in $(( $(date +%s) - start )) s (qemu-aarch64 -cpu max: $RECLORA_QGEMM_EXPECT)"
