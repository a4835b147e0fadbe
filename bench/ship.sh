#!/usr/bin/env bash
# Events per second one sensor's userspace path ships with zero drops, into a real `lanner-collector serve`
# (rules evaluated, alerts and the batch ledger committed to SQLite), or into lanner-bench's in-process sink.
#   bench/ship.sh [SECONDS] [RULES...]       (release build: make build; default 10 s, rules/)
# Prints lanner-bench ship's result for: the sink, the collector with compression, the collector without.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(swift build -c release --show-bin-path)
SECONDS_=${1:-10}
shift || true
RULES=("${@:-rules}")
WORK=$(mktemp -d)
trap 'kill -INT $COLLECTOR 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT
(umask 077; head -c 24 /dev/urandom | base64 > "$WORK/token")
MIX=bench/fixtures/mix.lcap.zst

echo "== in-process sink (decode + acknowledge): the sensor side alone"
"$BIN/lanner-bench" ship --capture $MIX --seconds "$SECONDS_"

args=()
for r in "${RULES[@]}"; do args+=(--rules "$r"); done
for mode in compressed uncompressed; do
    rm -f "$WORK"/db*
    "$BIN/lanner-collector" serve --listen 127.0.0.1:0 --db "$WORK/db" "${args[@]}" --token-file "$WORK/token" -v 2>"$WORK/collector.log" &
    COLLECTOR=$!
    until grep -q "listening on" "$WORK/collector.log"; do sleep 0.1; done
    PORT=$(grep -o '127.0.0.1:[0-9]*' "$WORK/collector.log" | head -1 | cut -d: -f2)
    echo "== lanner-collector serve (${RULES[*]}), $mode"
    flag=(); [ $mode = uncompressed ] && flag=(--no-compress)
    "$BIN/lanner-bench" ship --capture $MIX --seconds "$SECONDS_" --collector "http://127.0.0.1:$PORT" --token-file "$WORK/token" "${flag[@]}"
    kill -INT $COLLECTOR; wait $COLLECTOR || true
    grep "stopped after" "$WORK/collector.log"
done
