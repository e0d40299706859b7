#!/usr/bin/env bash
# The bindings tests: Kotlin on the host JVM, Swift on Linux (in a Debian trixie chroot)
# and Python with pytest, each running the same scenario against the host libreclora_ffi
# and a tiny real bundle whose Rust results reclora-ffi-fixture writes. Each language
# prints `N passed, N failed`; so does the total at the end.
#
# Downloads and the chroot are cached outside the clone ($RECLORA_BINDINGS_CACHE, default
# /var/tmp/reclora-bindings; $RECLORA_SWIFT_CHROOT), so a rerun on one machine reuses them
# and a fresh machine builds them (about 3 minutes). Needs root for apt-get and the chroot.
# RECLORA_BINDINGS_LANGS="kotlin python swift" picks languages.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
target="$CARGO_TARGET_DIR/release"
cache="${RECLORA_BINDINGS_CACHE:-/var/tmp/reclora-bindings}"
langs="${RECLORA_BINDINGS_LANGS:-kotlin python swift}"
kotlin_version=2.4.20
work="$CARGO_TARGET_DIR/bindings"
start=$SECONDS
log() { echo "test-bindings: $*" >&2; }
timed() { log "$1 done at $((SECONDS - start)) s"; }
mkdir -p "$cache"

# System packages: JNA and kotlinx-coroutines (with atomicfu) for the JVM, pytest.
missing=()
[ -f /usr/share/java/jna.jar ] || missing+=(libjna-java)
[ -f /usr/share/java/kotlinx-coroutines-core.jar ] || missing+=(libkotlinx-coroutines-java)
[ -f /usr/share/java/atomicfu.jar ] || missing+=(libkotlinx-atomicfu-java)
/usr/bin/python3 -c 'import pytest' 2>/dev/null || missing+=(python3-pytest)
command -v java >/dev/null || missing+=(default-jre-headless)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if [ ${#missing[@]} -gt 0 ]; then
  log "apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
kotlinc="$cache/kotlin-compiler-$kotlin_version/bin/kotlinc"
if [ ! -x "$kotlinc" ]; then
  log "npm pack kotlin-compiler@$kotlin_version"
  rm -rf "$cache/kotlin-compiler-$kotlin_version" "$cache/package"
  (cd "$cache" && npm pack --silent "kotlin-compiler@$kotlin_version" >/dev/null &&
    tar xzf "kotlin-compiler-$kotlin_version.tgz" && rm "kotlin-compiler-$kotlin_version.tgz" &&
    mv package "kotlin-compiler-$kotlin_version")
fi
timed "dependencies"

# The README's examples are the files the tests compile, verbatim.
/usr/bin/python3 - <<'PY'
import re, sys
readme = open("README.md").read()
for lang, path in [("kotlin", "android/host-tests/src/UsageExample.kt"),
                   ("swift", "ios/Tests/RecloraTests/UsageExample.swift")]:
    blocks = re.findall(r"```" + lang + r"\n(.*?)```", readme, re.S)
    if not blocks or blocks[0] not in open(path).read():
        sys.exit(f"test-bindings: README's {lang} example is not the code of {path}")
    print(f"test-bindings: README's {lang} example ({blocks[0].count(chr(10))} lines) is {path}'s",
          file=sys.stderr)
PY

# The host library with the test hook, the fixture writer and the bindgen CLI.
cargo build --release --workspace --locked --features reclora-ffi/test-hooks
timed "cargo build"
rm -rf "$work"
mkdir -p "$work"
"$target/reclora-ffi-fixture" "$work/fixture"
lib="$target/libreclora_ffi.so"
bindgen() { "$target/uniffi-bindgen" generate --library "$lib" --no-format "$@"; }

results=()
failed_langs=()
record() { # language, log file
  local line
  line="$(grep -E '^[a-z]+: [0-9]+ passed, [0-9]+ failed' "$2" | tail -1 || true)"
  results+=("${line:-$1: no result line}")
}

run_kotlin() {
  local out="$work/kotlin" lib_dir="$cache/kotlin-compiler-$kotlin_version/lib"
  bindgen --language kotlin --out-dir "$out/jvm" || return
  bindgen --language kotlin --config android/uniffi-android.toml --out-dir "$out/android" || return
  local cp="/usr/share/java/jna.jar:/usr/share/java/kotlinx-coroutines-core.jar"
  local test_cp="$cp:$lib_dir/kotlin-test.jar"
  # The android flavour (android.system.SystemCleaner on API 34+), against stubs of the
  # Android classes it names: a compile check only.
  "$kotlinc" -nowarn -cp "$cp" -d "$out/android.jar" \
    $(find "$out/android" -name '*.kt') android/host-tests/android-stubs \
    android/reclora/src/main/kotlin || return
  timed "kotlin android flavour compiled"
  "$kotlinc" -nowarn -cp "$test_cp" -d "$out/tests.jar" \
    $(find "$out/jvm" -name '*.kt') android/reclora/src/main/kotlin android/host-tests/src || return
  timed "kotlin compiled"
  java -Djna.library.path="$target" \
    -cp "$out/tests.jar:$test_cp:/usr/share/java/atomicfu.jar:$lib_dir/kotlin-stdlib.jar" \
    dev.reclora.test.HostTestsKt "$work/fixture"
}

run_python() {
  local out="$work/python"
  bindgen --language python --out-dir "$out" || return
  cp "$lib" "$out/" || return
  RECLORA_PYTHON_BINDINGS="$out" RECLORA_FIXTURE="$work/fixture" \
    /usr/bin/python3 -m pytest -q -p no:cacheprovider ffi/python 2>&1 |
    tee "$out/pytest.log"
  local status=${PIPESTATUS[0]}
  # pytest's own summary line, as `python: N passed, N failed`.
  local passed failed
  passed="$(grep -oE '[0-9]+ passed' "$out/pytest.log" | tail -1 | cut -d' ' -f1)"
  failed="$(grep -oE '[0-9]+ failed' "$out/pytest.log" | tail -1 | cut -d' ' -f1)"
  echo "python: ${passed:-0} passed, ${failed:-0} failed"
  return "$status"
}

run_swift() {
  scripts/swift-chroot.sh ensure || return
  timed "swift chroot"
  local linux="ios/.build-linux" generated="ios/Sources/Reclora/Generated"
  rm -rf "$linux" "$generated"
  mkdir -p "$linux/RecloraFFI" "$linux/lib" "$generated"
  bindgen --language swift --out-dir "$linux/bindings" || return
  mv "$linux/bindings/Reclora.swift" "$generated/" || return
  cp "$linux/bindings/RecloraFFI.h" "$linux/RecloraFFI/"
  cat >"$linux/RecloraFFI/module.modulemap" <<'MAP'
module RecloraFFI {
    header "RecloraFFI.h"
    link "reclora_ffi"
    export *
}
MAP
  cp "$lib" "$linux/lib/"
  cp -r "$work/fixture" "$linux/fixture"
  # The chroot sees this clone at /src.
  # The package builds in Swift 5 mode (tools 5.9); the library target (bindings and
  # wrapper) is also built in Swift 6 language mode, for its strict Sendable checks.
  scripts/swift-chroot.sh run "$root" bash -o pipefail -c '
    cd ios && L=/src/ios/.build-linux/lib &&
    swift build --target Reclora --scratch-path .build/swift6 -Xswiftc -swift-version \
      -Xswiftc 6 -Xlinker -L$L 2>&1 | tail -3 &&
    swift build --build-tests -Xlinker -L$L 2>&1 | tail -3 &&
    LD_LIBRARY_PATH=$L RECLORA_FIXTURE=/src/ios/.build-linux/fixture \
      swift test --skip-build --disable-swift-testing 2>&1' | tee "$work/swift.log"
  local status=${PIPESTATUS[0]}
  local executed failures
  executed="$(grep -oE 'Executed [0-9]+ tests?, with [0-9]+ failures?' "$work/swift.log" | tail -1 || true)"
  if [ -n "$executed" ]; then
    local n f
    n="$(echo "$executed" | awk '{print $2}')"
    f="$(echo "$executed" | awk '{print $5}')"
    echo "swift: $((n - f)) passed, $f failed"
  fi
  return "$status"
}

for lang in $langs; do
  log "$lang"
  if "run_$lang" 2>&1 | tee "$work/$lang.out"; then :; else failed_langs+=("$lang"); fi
  record "$lang" "$work/$lang.out"
  timed "$lang"
done

total_passed=0
total_failed=0
for line in "${results[@]}"; do
  echo "$line"
  if [[ "$line" =~ ([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
    total_passed=$((total_passed + BASH_REMATCH[1]))
    total_failed=$((total_failed + BASH_REMATCH[2]))
  else
    total_failed=$((total_failed + 1))
  fi
done
log "finished in $((SECONDS - start)) s"
if [ ${#failed_langs[@]} -gt 0 ]; then
  log "failed: ${failed_langs[*]}"
  total_failed=$((total_failed > 0 ? total_failed : 1))
fi
echo "bindings: $total_passed passed, $total_failed failed"
[ "$total_failed" -eq 0 ] && [ ${#failed_langs[@]} -eq 0 ]
