#!/usr/bin/env bash
# The demo: lanner-collector, lanner-sensor and lanner-eventgen on this machine, then the stored alerts.
# Usage: scripts/demo.sh BIN_DIR   (make demo passes the release build's directory)
set -euo pipefail
BIN=${1:?usage: scripts/demo.sh BIN_DIR}
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "demo: run as root (eBPF needs it): sudo make demo" >&2; exit 1; }

STATE=state/demo
mkdir -p "$STATE"
rm -f "$STATE"/lanner.db* "$STATE"/*.log
umask 077
head -c 32 /dev/urandom | base64 | tr -d '\n=/+' > "$STATE/token"
PORT=${LANNER_DEMO_PORT:-7601}
PIDS=()

cleanup() {
    local rc=$?
    # Newest first: the sensor flushes to a collector that is still up.
    for ((i=${#PIDS[@]}-1; i>=0; i--)); do
        local pid=${PIDS[$i]}
        kill -INT "$pid" 2>/dev/null || continue
        for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null && echo "demo: process $pid did not stop on SIGINT; killed" >&2
        wait "$pid" 2>/dev/null || true
    done
    if [ $rc -eq 130 ]; then
        echo "demo: interrupted; everything it started is stopped (logs: $STATE/collector.log, $STATE/sensor.log)" >&2
    elif [ $rc -ne 0 ]; then
        echo "demo: failed (exit $rc); logs:" >&2
        tail -n 20 "$STATE"/collector.log "$STATE"/sensor.log 2>/dev/null >&2 || true
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_for() {   # wait_for SECONDS FILE PATTERN
    local deadline=$((SECONDS + $1))
    until grep -q "$3" "$2" 2>/dev/null; do
        [ $SECONDS -lt $deadline ] || { echo "demo: timed out waiting for '$3' in $2" >&2; return 1; }
        sleep 0.1
    done
}

echo "==> starting lanner-collector on 127.0.0.1:$PORT (database $STATE/lanner.db)"
"$BIN/lanner-collector" serve --listen "127.0.0.1:$PORT" --db "$STATE/lanner.db" --rules rules/ \
    --token-file "$STATE/token" -v >"$STATE/collector.log" 2>&1 &
PIDS+=($!)
wait_for 20 "$STATE/collector.log" "listening on"

echo "==> starting lanner-sensor"
"$BIN/lanner-sensor" --collector "http://127.0.0.1:$PORT" --token-file "$STATE/token" --state-dir "$STATE/sensor" \
    -v >"$STATE/sensor.log" 2>&1 &
PIDS+=($!)
wait_for 30 "$STATE/sensor.log" "eBPF programs attached"
sleep 1
START=$(date +%s)

echo "==> running lanner-eventgen all"
"$BIN/lanner-eventgen" all

echo "==> waiting for the collector to store the alerts"
expected=4
deadline=$((SECONDS + 60))
while :; do
    n=$("$BIN/lanner-collector" alerts list --db "$STATE/lanner.db" --since "$START" --json --limit 0 \
        | grep -c -E '"rule":"(Sensitive file opened for reading by untrusted program|File written below a binary directory|Shell spawned by an unexpected parent|Outbound connection by a program that has no business on the network)"' || true)
    [ "$n" -ge $expected ] && break
    [ $SECONDS -lt $deadline ] || { echo "demo: only $n of $expected expected alerts arrived" >&2; exit 1; }
    sleep 0.5
done

echo "==> lanner-collector alerts --since $START"
"$BIN/lanner-collector" alerts list --db "$STATE/lanner.db" --since "$START"
echo "==> stopping; sensor and collector counters:"
trap - EXIT
for ((i=${#PIDS[@]}-1; i>=0; i--)); do
    kill -INT "${PIDS[$i]}" 2>/dev/null || true
    wait "${PIDS[$i]}" 2>/dev/null || true
done
PIDS=()
grep -hE "captured=|stopped after" "$STATE/sensor.log" "$STATE/collector.log" | tail -n 2
