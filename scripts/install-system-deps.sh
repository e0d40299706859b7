#!/usr/bin/env bash
# System packages the tests need: software Vulkan (lavapipe) for the wgpu backend, and a
# TrueType font for `report`'s chart. Idempotent; installs only what is missing.
set -euo pipefail
missing=()
ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1 || missing+=(mesa-vulkan-drivers libvulkan1)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-system-deps: lavapipe and fonts already installed" >&2
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "install-system-deps: error: no apt-get; install ${missing[*]} by hand" >&2
  exit 1
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
  "${missing[@]}" >/dev/null
echo "install-system-deps: installed ${missing[*]}" >&2
