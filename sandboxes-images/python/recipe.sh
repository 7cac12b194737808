#!/usr/bin/env bash
# The offline local build of sbx/python:local, driven by ensure_sandbox_images (scripts/docker.sh):
# a minimal Debian (debootstrap --variant=minbase, the host's suite, from the host's apt mirror)
# with python3, a non-root user `sandbox` (uid/gid 1000) and /workspace and /outputs owned by it.
# No registry involved. The Dockerfile next to this file builds the same image from
# debian:SUITE-slim where a registry is reachable.
#
#   recipe.sh rootfs OUT.tar   (as root) write the root filesystem to OUT.tar
#                              env: SBX_DEBIAN_SUITE (bookworm), SBX_DEBIAN_MIRROR
#                              (http://deb.debian.org/debian), SBX_DEB_CACHE (debootstrap's
#                              download cache: a rebuild after a recipe change downloads nothing)
#   recipe.sh changes          the image's config, one instruction a line, for `docker import --change`
#
# Changing this file changes the recipe's hash, and so rebuilds the image.
set -euo pipefail

SANDBOX_UID=1000
PACKAGES=python3

changes() {
  cat <<'CHANGES'
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
ENV LANG=C.UTF-8
ENV HOME=/home/sandbox
ENV PYTHONUNBUFFERED=1
ENV PYTHONDONTWRITEBYTECODE=1
USER 1000:1000
WORKDIR /workspace
CMD ["python3"]
LABEL org.opencontainers.image.title=sbx/python
LABEL org.opencontainers.image.description="Debian minbase with python3, user sandbox (1000), /workspace and /outputs"
CHANGES
}

rootfs() {
  local out="$1"
  local suite="${SBX_DEBIAN_SUITE:-bookworm}"
  local mirror="${SBX_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
  [ "$(id -u)" = 0 ] || { echo "recipe.sh rootfs: needs root (debootstrap, chroot)" >&2; exit 1; }
  out="$(cd "$(dirname "$out")" && pwd)/$(basename "$out")"

  # The build tree sits beside OUT (same filesystem, not a nodev/noexec /tmp). Global: the
  # EXIT trap needs it after this function has returned.
  root="$(mktemp -d "$(dirname "$out")/.rootfs-python.XXXXXX")"
  # debootstrap mounts /proc and /sys in the tree; a failed run can leave them mounted.
  unmount_all() {
    local m
    for m in $(awk -v r="$root/" 'index($2, r) == 1 { print $2 }' /proc/mounts | sort -r); do
      umount -l "$m" 2>/dev/null || true
    done
  }
  cleanup() { unmount_all; rm -rf --one-file-system "$root" "$root.log"; }
  trap cleanup EXIT

  local cache=()
  if [ -n "${SBX_DEB_CACHE:-}" ]; then mkdir -p "$SBX_DEB_CACHE"; cache=(--cache-dir="$SBX_DEB_CACHE"); fi
  # --include resolves python3's dependencies. Quiet unless it fails.
  if ! debootstrap --variant=minbase --include="$PACKAGES" "${cache[@]}" \
      --arch="$(dpkg --print-architecture)" "$suite" "$root" "$mirror" >"$root.log" 2>&1; then
    tail -30 "$root.log" >&2
    cp "$root.log" "$out.debootstrap.log"
    echo "debootstrap failed; its full log: $out.debootstrap.log" >&2
    exit 1
  fi
  rm -f "$root.log"

  chroot "$root" groupadd --gid "$SANDBOX_UID" sandbox
  chroot "$root" useradd --uid "$SANDBOX_UID" --gid "$SANDBOX_UID" --create-home \
    --shell /bin/bash sandbox
  install -d -o "$SANDBOX_UID" -g "$SANDBOX_UID" -m 0755 "$root/workspace" "$root/outputs"

  # Slimming: apt's lists and caches, docs (but the copyright files), man pages, translations,
  # logs. The .pyc files stay: with --read-only, Python could not write them back.
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/var/cache/debconf/*-old \
    "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/* \
    "$root"/var/log/* "$root"/tmp/* "$root"/var/tmp/*
  find "$root/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
  find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
  # Docker provides /dev, /proc, /sys, /etc/hostname, /etc/hosts and /etc/resolv.conf.
  unmount_all
  rm -rf --one-file-system "$root"/dev/* "$root"/proc/* "$root"/sys/*
  : >"$root/etc/machine-id"

  tar --numeric-owner -C "$root" -cf "$out" .
}

case "${1:-}" in
  rootfs) [ $# -eq 2 ] || { echo "usage: $0 rootfs OUT.tar" >&2; exit 2; }; rootfs "$2" ;;
  changes) changes ;;
  *) echo "usage: $0 rootfs OUT.tar | changes" >&2; exit 2 ;;
esac
