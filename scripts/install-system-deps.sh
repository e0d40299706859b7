#!/usr/bin/env bash
# System packages the tests need: software Vulkan (lavapipe) for the wgpu backend.
# Idempotent; does nothing when the Vulkan ICD is already installed.
set -euo pipefail
if ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1; then
  echo "install-system-deps: lavapipe already installed" >&2
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "install-system-deps: error: no apt-get; install Mesa's lavapipe Vulkan driver by hand" >&2
  exit 1
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
  mesa-vulkan-drivers libvulkan1 >/dev/null
echo "install-system-deps: lavapipe installed" >&2
