#!/usr/bin/env bash
# A Debian trixie chroot with Swift 6 (Debian's `swiftlang`) for the Linux test of the Swift
# bindings; bookworm has no Swift and the host stays free of it.
#
#   scripts/swift-chroot.sh ensure          # build it once (about 5 min), reuse it after
#   scripts/swift-chroot.sh run DIR CMD...  # run CMD in the chroot with DIR bound at /src
#
# The chroot lives in $RECLORA_SWIFT_CHROOT (default /var/tmp/reclora-swift-chroot), outside
# the clone, so CI reruns on one machine reuse it; a fresh machine builds it. Needs root
# (debootstrap, chroot, bind mounts).
set -euo pipefail
chroot_dir="${RECLORA_SWIFT_CHROOT:-/var/tmp/reclora-swift-chroot}"
mirror="${RECLORA_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
stamp="$chroot_dir/.reclora-swift-ready"
log() { echo "swift-chroot: $*" >&2; }

ensure() {
  if [ -f "$stamp" ] && [ -x "$chroot_dir/usr/bin/swiftc" ]; then
    log "reusing $chroot_dir ($(cat "$stamp"))"
    return
  fi
  command -v debootstrap >/dev/null || {
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
  }
  # A half-built chroot from an interrupted run is rebuilt from scratch; never delete
  # through a bind mount (/dev, the clone) that is still there.
  unmount_all
  if grep -q " $chroot_dir/" /proc/mounts; then
    log "error: something is still mounted under $chroot_dir; not deleting it"
    exit 1
  fi
  rm -rf --one-file-system "$chroot_dir"
  mkdir -p "$(dirname "$chroot_dir")"
  local start=$SECONDS
  log "debootstrap trixie into $chroot_dir"
  debootstrap --variant=minbase --keyring=/usr/share/keyrings/debian-archive-keyring.gpg \
    trixie "$chroot_dir" "$mirror" >"$chroot_dir.debootstrap.log" 2>&1 || {
    tail -20 "$chroot_dir.debootstrap.log" >&2
    exit 1
  }
  mount_all
  trap unmount_all EXIT
  # swiftc links through the C toolchain: libc, libstdc++ and libgcc headers and crt files.
  log "apt-get install swiftlang"
  chroot "$chroot_dir" /usr/bin/env DEBIAN_FRONTEND=noninteractive sh -c \
    'apt-get update -qq && apt-get install -y -qq --no-install-recommends swiftlang libc6-dev \
       libstdc++-14-dev libgcc-14-dev >/dev/null && apt-get clean'
  local version
  version="$(chroot "$chroot_dir" /usr/bin/swift --version 2>/dev/null | head -1)"
  unmount_all
  trap - EXIT
  [ -n "$version" ] || { log "error: swift does not run in the chroot"; exit 1; }
  echo "$version" >"$stamp"
  log "ready in $((SECONDS - start)) s: $(cat "$stamp")"
}

mount_all() {
  mountpoint -q "$chroot_dir/proc" || mount -t proc proc "$chroot_dir/proc"
  mountpoint -q "$chroot_dir/dev" || mount --rbind /dev "$chroot_dir/dev"
  mkdir -p "$chroot_dir/etc"
  cp /etc/resolv.conf "$chroot_dir/etc/resolv.conf" 2>/dev/null || true
}

unmount_all() {
  for m in src dev proc; do
    if [ -d "$chroot_dir/$m" ] && mountpoint -q "$chroot_dir/$m"; then
      umount -R "$chroot_dir/$m" || umount -R -l "$chroot_dir/$m"
    fi
  done
}

run() {
  local src="$1"
  shift
  ensure
  mount_all
  mkdir -p "$chroot_dir/src"
  mount --bind "$src" "$chroot_dir/src"
  trap unmount_all EXIT
  chroot "$chroot_dir" /usr/bin/env -i HOME=/root PATH=/usr/bin:/bin LANG=C.UTF-8 \
    sh -c 'cd /src && "$@"' sh "$@"
}

case "${1:-}" in
  ensure) ensure ;;
  run) shift; run "$@" ;;
  *) echo "usage: $0 ensure | run DIR CMD..." >&2; exit 2 ;;
esac
