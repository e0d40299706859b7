#!/usr/bin/env bash
# The project's test command: installs what the tests need, fetches the real assets,
# checks formatting, then runs every test in release mode (one build profile).
#
#   scripts/test.sh              the suite once (what CI runs)
#   scripts/test.sh --repeat N   the suite N times with the default parallelism and N times
#                                with --test-threads=1; fails unless every run passes and
#                                every test prints the same numbers in all 2N runs
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

repeat=0
while [ $# -gt 0 ]; do
  case "$1" in
    --repeat) [ $# -ge 2 ] || { echo "test.sh: --repeat needs a count" >&2; exit 2; }
              repeat="$2"; shift 2 ;;
    --repeat=*) repeat="${1#--repeat=}"; shift ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "test.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done
case "$repeat" in
  ''|*[!0-9]*) echo "test.sh: --repeat takes a whole number, got '$repeat'" >&2; exit 2 ;;
esac

scripts/install-system-deps.sh
scripts/fetch-assets.sh
cargo fmt --all -- --check
if [ "$repeat" -eq 0 ]; then
  cargo test --release --workspace --locked
else
  scripts/check-determinism.sh "$repeat"
fi
# The cuda feature still compiles (LLVM 23 from PyPI, docs/cuda.md); no GPU needed.
scripts/install-cuda-toolchain.sh
cargo check --release --workspace --features cuda --locked
# The kernels' NEON, sdot and smmla paths under qemu-aarch64 (docs/perf.md, issue 14).
scripts/test-kernels-aarch64.sh
# Kotlin, Swift and Python against the host library (docs/bindings.md).
scripts/test-bindings.sh
