#!/usr/bin/env bash
# Installs the peers' dependencies into a git-ignored venv (default .venv-peers/ at the
# repository root; VENV overrides). llama-cpp-python builds llama.cpp from source with the
# machine's native flags (AVX-512, VNNI, …); on 2 cores that takes a while.
#
# usage: scripts/bench/peers/setup-venv.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
venv="${VENV:-$root/.venv-peers}"
python3 -m venv "$venv"
"$venv/bin/pip" install --upgrade pip
"$venv/bin/pip" install numpy gguf cmake torch transformers peft accelerate safetensors
CMAKE_ARGS="-DGGML_NATIVE=ON" nice -n 10 "$venv/bin/pip" install llama-cpp-python
echo "peers' venv: $venv"
