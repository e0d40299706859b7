#!/usr/bin/env bash
# Installs the peers' dependencies into a git-ignored venv (default .venv-peers/ at the
# repository root; VENV overrides). llama-cpp-python builds llama.cpp from source with the
# machine's native flags (AVX-512, VNNI, …) but without AMX: on some AMX machines (this
# project's 2-core Xeon among them) ggml's AMX matmul segfaults in the first quantized
# decode (ggml-org/llama.cpp#20824; llama-cpp-python 0.3.36 crashed on every Q8_0, Q4_0 and
# Q4_1 prompt here, F32 ran), so the peer runs its AVX-512/VNNI kernels and repacking.
# On 2 cores the build takes a while.
#
# usage: scripts/bench/peers/setup-venv.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
venv="${VENV:-$root/.venv-peers}"
python3 -m venv "$venv"
"$venv/bin/pip" install --upgrade pip
"$venv/bin/pip" install numpy gguf cmake torch transformers peft accelerate safetensors
no_amx="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
CMAKE_ARGS="-DGGML_NATIVE=ON -DCMAKE_C_FLAGS='$no_amx' -DCMAKE_CXX_FLAGS='$no_amx'" \
  nice -n 10 "$venv/bin/pip" install --no-cache-dir llama-cpp-python==0.3.36
echo "peers' venv: $venv"
