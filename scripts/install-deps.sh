#!/usr/bin/env bash
# Installs the Debian packages Lanner needs to build, test and run. Idempotent:
# does nothing when every package is already present. Needs root (or sudo).
set -euo pipefail
PKGS=(clang llvm libbpf-dev bpftool libnghttp2-dev libsqlite3-dev libyaml-dev pkg-config make gcc libc6-dev linux-libc-dev
      libelf-dev zlib1g-dev nghttp2-client libzstd-dev zstd)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# tracefs is where syscall tracepoints live; mount it when the kernel has not.
if [ ! -d /sys/kernel/tracing/events ] && [ "$(id -u)" -eq 0 ]; then
  mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true
fi
