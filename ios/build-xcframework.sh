#!/usr/bin/env bash
# Builds RecloraFFI.xcframework (device arm64, simulator arm64 + x86_64) from reclora-ffi's
# staticlib, and generates the Swift bindings into Sources/Reclora/Generated. Needs macOS
# with Xcode; untested in this repository's CI, which has no Apple SDK (see
# docs/bindings.md).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
cd "$root"

if [ "$(uname)" != "Darwin" ] || ! command -v xcodebuild >/dev/null; then
  echo "build-xcframework: skipped: needs macOS with Xcode (xcodebuild)" >&2
  exit 0
fi
targets=(aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios)
rustup target add "${targets[@]}"
export IPHONEOS_DEPLOYMENT_TARGET=15.0
for target in "${targets[@]}"; do
  cargo build --release --locked -p reclora-ffi --lib --target "$target"
done

# Bindings from the unstripped host library: the metadata symbols bindgen reads are gone
# after stripping.
cargo build --release --locked -p reclora-ffi -p uniffi-bindgen
host_lib="$target_dir/release/libreclora_ffi.dylib"
generated="$here/Sources/Reclora/Generated"
headers="$target_dir/xcframework-headers"
rm -rf "$generated" "$headers"
mkdir -p "$generated" "$headers"
"$target_dir/release/uniffi-bindgen" generate --library "$host_lib" --language swift \
  --out-dir "$generated"
mv "$generated/RecloraFFI.h" "$headers/"
mv "$generated/RecloraFFI.modulemap" "$headers/module.modulemap"

# One fat simulator library (arm64 + x86_64), then the framework.
sim="$target_dir/ios-sim-universal"
mkdir -p "$sim"
lipo -create \
  "$target_dir/aarch64-apple-ios-sim/release/libreclora_ffi.a" \
  "$target_dir/x86_64-apple-ios/release/libreclora_ffi.a" \
  -output "$sim/libreclora_ffi.a"
rm -rf "$here/RecloraFFI.xcframework"
xcodebuild -create-xcframework \
  -library "$target_dir/aarch64-apple-ios/release/libreclora_ffi.a" -headers "$headers" \
  -library "$sim/libreclora_ffi.a" -headers "$headers" \
  -output "$here/RecloraFFI.xcframework"
echo "build-xcframework: wrote $here/RecloraFFI.xcframework"
