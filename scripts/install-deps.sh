#!/usr/bin/env bash
# Installs the Debian packages Lanner needs to build, test and run. Idempotent:
# does nothing when every package is already present. Needs root (or sudo).
set -euo pipefail
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
# install_missing [APT-OPTION...] -- PACKAGE...: apt-get installs those not installed yet (nothing when all are).
install_missing() {
  local opts=() missing=() p
  while [ "$1" != "--" ]; do opts+=("$1"); shift; done; shift
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${opts[@]}" "${missing[@]}" >/dev/null
}
install_missing --no-install-recommends -- clang llvm libbpf-dev bpftool libnghttp2-dev libsqlite3-dev libyaml-dev pkg-config \
  make gcc libc6-dev linux-libc-dev libelf-dev zlib1g-dev nghttp2-client libzstd-dev zstd
# Containers for the container tests and lanner-eventgen's container actions: podman (with its recommends, as
# tested), runc, and a static busybox to build the local test image from.
install_missing -- podman runc busybox-static
# Two host quirks of this kind of machine (../shared/notes/containers.md): crun cannot run on its hybrid cgroup
# layout, so podman uses runc; and podman's default rlimits (1048576) exceed the hard limits root has here, so
# containers get the host's own. A drop-in, so the distribution's containers.conf stays as it is.
if [ "$(id -u)" -eq 0 ] && command -v podman >/dev/null; then
  nofile=$(ulimit -Hn); nproc=$(ulimit -Hu)
  [ "$nofile" = unlimited ] && nofile=1048576
  if [ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ]; then nproc=32768; fi
  conf=/etc/containers/containers.conf.d/50-lanner.conf
  want=$(printf '%s
' "# Written by Lanner's scripts/install-deps.sh (runc: crun fails on hybrid cgroups here;" \
    "# rlimits within the host's hard limits)." "[containers]" \
    "default_ulimits = [\"nofile=$nofile:$nofile\", \"nproc=$nproc:$nproc\"]" "[engine]" "runtime = \"runc\"")
  if [ "$(cat "$conf" 2>/dev/null)" != "$want" ]; then
    mkdir -p "$(dirname "$conf")"
    printf '%s\n' "$want" > "$conf"
    echo "install-deps: wrote $conf (podman: runc, rlimits nofile=$nofile nproc=$nproc)"
  fi
fi
# tracefs is where syscall tracepoints live; mount it when the kernel has not.
if [ ! -d /sys/kernel/tracing/events ] && [ "$(id -u)" -eq 0 ]; then
  mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true
fi
