#!/usr/bin/env bash
# The project's test command: installs what the tests need, fetches the real assets,
# checks formatting, then runs every test in release mode (one build profile).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/install-system-deps.sh
scripts/fetch-assets.sh
cargo fmt --all -- --check
cargo test --release --workspace --locked
# Kotlin, Swift and Python against the host library (docs/bindings.md).
scripts/test-bindings.sh
