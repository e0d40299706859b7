#!/usr/bin/env bash
# reclora-bench on aarch64 under emulation: a plain aarch64-unknown-linux-gnu build (no wgpu)
# run with `qemu-aarch64 -cpu max` (NEON, sdot, i8mm): it starts, refuses bad input, and
# scores one small request of a real bundle in both gate modes, its JSON report read back by
# the host build. Timings under emulation mean nothing: the script prints none.
# Not part of scripts/test.sh: the cross build is a full burn build (about 40 min on 2 cores).
#
# usage: scripts/bench/qemu-aarch64.sh BUNDLE REPLAY
# env:   CARGO_TARGET_DIR (a target folder of its own is best), OUT (results folder),
#        HOST_BENCH (the host's reclora-bench, to read the reports back; default: built here)
# needs: rustup target add aarch64-unknown-linux-gnu;
#        apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bundle="$1"; replay="$2"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
out="${OUT:-$root/runs/qemu-aarch64}"
mkdir -p "$out"
log() { echo "qemu-aarch64: $*" >&2; }

export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
export AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
start=$SECONDS
(cd "$root" && nice -n 10 cargo build --release --locked --target aarch64-unknown-linux-gnu \
  -p reclora-bench --no-default-features --bin reclora-bench)
log "cross build: $((SECONDS - start)) s"
bin="$target_dir/aarch64-unknown-linux-gnu/release/reclora-bench"
file "$bin" | grep -q "ARM aarch64" || { log "error: $bin is not an aarch64 executable"; exit 1; }
emu=(qemu-aarch64 -cpu max -L /usr/aarch64-linux-gnu "$bin")

"${emu[@]}" --version
status=0
"${emu[@]}" --bundle "$out/no-such-bundle" --replay "$replay" 2>"$out/bad.txt" || status=$?
[ "$status" = 1 ] && grep -q "no bundle at" "$out/bad.txt" ||
  { log "error: a missing bundle gave status $status: $(cat "$out/bad.txt")"; exit 1; }
log "a missing bundle: status 1, $(head -1 "$out/bad.txt")"

for mode in per-sample per-user; do
  "${emu[@]}" --bundle "$bundle" --replay "$replay" --threads 2 --candidates 4 --requests 1 \
    --warmup 0 --gate-mode "$mode" --prefill-tokens 0 --scores --quiet \
    --json "$out/aarch64-$mode.json" >/dev/null
done
# The same requests on the host: the two builds must score alike (kernels differ, so
# summation orders do; 1e-3 is far above that and far below any real disagreement).
host="${HOST_BENCH:-$target_dir/release/reclora-bench}"
[ -x "$host" ] || (cd "$root" && cargo build --release --locked --workspace)
for mode in per-sample per-user; do
  "$host" --bundle "$bundle" --replay "$replay" --threads 2 --candidates 4 --requests 1 \
    --warmup 0 --gate-mode "$mode" --prefill-tokens 0 --scores --quiet \
    --json "$out/host-$mode.json" >/dev/null
  "$host" --compare "$out/host-$mode.json" "$out/aarch64-$mode.json" >/dev/null
done
python3 - "$out" <<'EOF'
import json, sys
for mode in ("per-sample", "per-user"):
    r = json.load(open(f"{sys.argv[1]}/aarch64-{mode}.json"))
    h = json.load(open(f"{sys.argv[1]}/host-{mode}.json"))
    scores = r["scores"]
    assert r["machine"]["arch"] == "aarch64", r["machine"]
    assert len(scores) == 4 and all(0.0 <= s <= 1.0 for s in scores), scores
    diff = max(abs(a - b) for a, b in zip(scores, h["scores"]))
    print(f"aarch64 {mode}: ISA {' '.join(r['machine']['isa'])}, P(yes) "
          f"{' '.join(f'{s:.4f}' for s in scores)}, max |ΔP| vs {h['machine']['arch']} {diff:.2e}")
    assert diff < 1e-3, f"{mode}: aarch64 and host scores differ by {diff}"
EOF
log "ok: starts, refuses bad input, scores (reports in $out; timings not reported)"
