#!/usr/bin/env bash
# Records a capture of real activity on this machine with lanner-sensor -w, for the benchmarks (docs/BENCHMARKS.md).
#   sudo bench/record-mix.sh mix  [BIN_DIR]   bench/fixtures/mix.lcap: offline sensor (its default event types),
#                                             100 ms flushes; package-tree scans, archive reads, short shell
#                                             pipelines, interpreters, local connects (the rules benchmark's input)
#   sudo bench/record-mix.sh live [BIN_DIR]   bench/fixtures/live.lcap: the sensor shipping to a real collector that
#                                             runs rules/ and Falco's rules (so it captures the event types those
#                                             rules ask for), default batching (256 KiB / 200 ms); lanner-eventgen
#                                             all, a real build (sensor/ copied to a temporary directory: clang BPF
#                                             object, gcc tools), git over this repository, shell work, python
# BIN_DIR defaults to the release build. Everything else running on the machine meanwhile is captured too: that is
# the point (real activity), so two recordings are never identical; a synthetic loop someone else runs meanwhile is
# not, and `lanner-bench wire --exclude-comm NAME --write OUT` takes its records out (docs/BENCHMARKS.md). Compress
# the result with `zstd -19 FILE -o bench/fixtures/NAME.lcap.zst` before committing (readers take .lcap.zst).
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=${1:-mix}
BIN=${2:-$(swift build -c release --show-bin-path)}
case $MODE in mix|live) ;; *) echo "usage: bench/record-mix.sh mix|live [BIN_DIR]" >&2; exit 2 ;; esac
OUT=bench/fixtures/$MODE.lcap
STATE=$(mktemp -d)
PIDS=()
cleanup() {
    for ((i=${#PIDS[@]}-1; i>=0; i--)); do kill -INT "${PIDS[$i]}" 2>/dev/null || true; wait "${PIDS[$i]}" 2>/dev/null || true; done
    rm -rf "$STATE"
}
trap cleanup EXIT
wait_for() {   # wait_for FILE PATTERN
    local deadline=$((SECONDS + 60))
    until grep -q "$2" "$1" 2>/dev/null; do
        [ $SECONDS -lt $deadline ] || { echo "record-mix: timed out waiting for '$2' in $1" >&2; cat "$1" >&2; exit 1; }
        sleep 0.1
    done
}

if [ "$MODE" = mix ]; then
    "$BIN/lanner-sensor" --offline -w "$OUT.tmp" --state-dir "$STATE" --hostname bench-host --flush-ms 100 -v 2>"$STATE/sensor.log" &
    PIDS+=($!)
else
    (umask 077; head -c 24 /dev/urandom | base64 > "$STATE/token")
    rules=(--rules rules)
    [ -d ../shared/peer/falco-rules ] && rules+=(--rules ../shared/peer/falco-rules)
    "$BIN/lanner-collector" serve --listen 127.0.0.1:0 --db "$STATE/db" "${rules[@]}" --token-file "$STATE/token" 2>"$STATE/collector.log" &
    PIDS+=($!)
    wait_for "$STATE/collector.log" "listening on"
    PORT=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$STATE/collector.log" | grep -o '[0-9]*$')
    "$BIN/lanner-sensor" --collector "http://127.0.0.1:$PORT" --token-file "$STATE/token" -w "$OUT.tmp" \
        --state-dir "$STATE/sensor" --hostname bench-host -v 2>"$STATE/sensor.log" &
    PIDS+=($!)
fi
wait_for "$STATE/sensor.log" "attached"
[ "$MODE" = live ] && wait_for "$STATE/sensor.log" "collector's interest"
sleep 0.5

shell_work() {   # $1: iterations of the small pipelines
    find /usr/share/doc -maxdepth 3 -type f -name '*.gz' | head -400 | xargs -r zcat >/dev/null 2>&1 || true
    tar cf /dev/null /usr/share/man/man1 2>/dev/null || true
    for i in $(seq 1 "$1"); do
        sh -c 'cat /etc/hostname >/dev/null; ls /tmp >/dev/null; grep -c root /etc/passwd >/dev/null' || true
    done
    for i in $(seq 1 40); do python3 -c 'import json, os; json.dumps(dict(os.environ))' || true; done
    for i in $(seq 1 60); do (exec 3<>/dev/tcp/127.0.0.1/9) 2>/dev/null || true; done
    for i in $(seq 1 30); do stat /etc/ssh/sshd_config /etc/shadow >/dev/null 2>&1 || true; head -c 64 /etc/shadow >/dev/null || true; done
}
build_work() {   # a real build: the eBPF object and the C tools, in a copy of sensor/
    local dir=$STATE/build
    mkdir -p "$dir"
    cp -r sensor "$dir/sensor"
    cp -r proto "$dir/proto"
    rm -rf "$dir/sensor/build"
    make -s -C "$dir/sensor" all check test-tools bench >/dev/null 2>&1 || echo "record-mix: the build workload failed (still recorded)" >&2
}
git_work() {
    git log --stat -n 300 >/dev/null
    git status --short >/dev/null
    git grep -c Batcher >/dev/null || true
    git diff HEAD~5 --stat >/dev/null 2>&1 || true
}

if [ "$MODE" = mix ]; then
    shell_work 150
else
    "$BIN/lanner-eventgen" all >/dev/null
    build_work
    git_work
    shell_work 50
    "$BIN/lanner-eventgen" all >/dev/null
fi
sleep 0.5
kill -INT "${PIDS[-1]}"
wait "${PIDS[-1]}" || true
unset 'PIDS[-1]'
mv "$OUT.tmp" "$OUT"
grep "captured=" "$STATE/sensor.log" | tail -1
[ "$MODE" = live ] && { kill -INT "${PIDS[0]}"; wait "${PIDS[0]}" || true; PIDS=(); grep "stopped after" "$STATE/collector.log" || true; }
ls -la "$OUT"
