#!/usr/bin/env bash
# Builds libreclora_ffi.so for arm64-v8a, armeabi-v7a and x86_64 with cargo-ndk into
# reclora/src/main/jniLibs, linked for 16 KB pages, and generates the Kotlin bindings
# (android flavour) into reclora/build/generated/uniffi from the unstripped host library.
#
# Needs the Android NDK (ANDROID_NDK_HOME, r27 or newer) and `cargo install cargo-ndk`.
# Without them only the bindings are generated, and the script says so.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
cd "$root"

# 1. Bindings, from the host build: never from a stripped library (bindgen reads the
#    metadata symbols that stripping removes).
cargo build --release --locked --workspace
out="$here/reclora/build/generated/uniffi"
rm -rf "$out"
"$target_dir/release/uniffi-bindgen" generate --library "$target_dir/release/libreclora_ffi.so" \
  --language kotlin --config "$here/uniffi-android.toml" --out-dir "$out" --no-format
echo "build-rust: Kotlin bindings in $out" >&2

# 2. The device libraries.
if [ -z "${ANDROID_NDK_HOME:-}" ] || ! command -v cargo-ndk >/dev/null; then
  echo "build-rust: skipped the device libraries: needs ANDROID_NDK_HOME and cargo-ndk" >&2
  exit 0
fi
rustup target add aarch64-linux-android armv7-linux-androideabi x86_64-linux-android
# 16 KB pages (Android 15+ devices): every LOAD segment aligned to 16384.
export RUSTFLAGS="${RUSTFLAGS:-} -C link-arg=-Wl,-z,max-page-size=16384"
cargo ndk -t arm64-v8a -t armeabi-v7a -t x86_64 -o "$here/reclora/src/main/jniLibs" \
  build --release --locked -p reclora-ffi --lib
readelf="$(find "$ANDROID_NDK_HOME/toolchains/llvm/prebuilt" -name llvm-readelf | head -1)"
for lib in "$here"/reclora/src/main/jniLibs/*/libreclora_ffi.so; do
  if "$readelf" -lW "$lib" | awk '$1 == "LOAD" && $NF != "0x4000" { bad = 1 } END { exit bad }'; then
    echo "build-rust: $lib: LOAD segments aligned to 16 KB" >&2
  else
    echo "build-rust: error: $lib is not aligned for 16 KB pages" >&2
    exit 1
  fi
done
