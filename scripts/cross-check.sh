#!/usr/bin/env bash
# Cross builds of reclora-ffi's staticlib for aarch64-linux-android and aarch64-apple-ios.
# Each target is built when `rustup target add` succeeds and skipped with a message when
# it does not. Not part of scripts/test.sh: each target is a full burn build (about 40 min
# on 2 cores).
#
# C dependencies (tokenizers' oniguruma) need the target's C compiler: the NDK's clang
# (ANDROID_NDK_HOME) or Xcode's. Without the NDK, Android's C code is compiled with
# Debian's aarch64-linux-gnu-gcc as a stand-in, which checks that everything compiles for
# the target but does not make a shippable archive (docs/bindings.md). Without Xcode the
# iOS build stops at the first C dependency, and the script says so.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
status=0
log() { echo "cross-check: $*" >&2; }

build() { # strict|lenient, target, then env assignments for the C toolchain
  local mode="$1" target="$2"
  shift 2
  if ! rustup target add "$target" >/dev/null 2>&1; then
    log "$target: skipped: rustup target add failed (no network or no such target)"
    return 0
  fi
  local start=$SECONDS
  if env "$@" nice -n 10 cargo build --release --locked -p reclora-ffi --lib --target "$target"; then
    local lib="$CARGO_TARGET_DIR/$target/release/libreclora_ffi.a"
    log "$target: built $lib ($(du -h "$lib" | cut -f1)) in $((SECONDS - start)) s"
  elif [ "$mode" = lenient ]; then
    log "$target: did not build without the platform SDK (above); not verifiable here"
  else
    log "$target: build failed after $((SECONDS - start)) s"
    status=1
  fi
}

if [ -n "${ANDROID_NDK_HOME:-}" ]; then
  ndk_bin="$(echo "$ANDROID_NDK_HOME"/toolchains/llvm/prebuilt/*/bin)"
  build strict aarch64-linux-android CC_aarch64_linux_android="$ndk_bin/aarch64-linux-android24-clang" \
    AR_aarch64_linux_android="$ndk_bin/llvm-ar"
elif command -v aarch64-linux-gnu-gcc >/dev/null; then
  log "aarch64-linux-android: no NDK; C dependencies compiled with aarch64-linux-gnu-gcc (stand-in, not shippable)"
  build strict aarch64-linux-android CC_aarch64_linux_android=aarch64-linux-gnu-gcc \
    AR_aarch64_linux_android=aarch64-linux-gnu-ar
else
  log "aarch64-linux-android: skipped: no NDK and no aarch64 C compiler (apt-get install gcc-aarch64-linux-gnu)"
fi

if [ "$(uname)" = "Darwin" ] && command -v xcrun >/dev/null; then
  build strict aarch64-apple-ios
else
  log "aarch64-apple-ios: no Apple SDK here: C dependencies cannot compile; trying anyway"
  build lenient aarch64-apple-ios
fi
exit "$status"
