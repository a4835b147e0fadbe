#!/usr/bin/env bash
# Events per second one sensor's userspace path (Batcher → zstd → Spool → Uploader over h2c, the sensor's own code)
# ships with zero drops, into: lanner-bench's in-process sink (decode + acknowledge: the sensor side alone), a real
# `lanner-collector serve` with its default rules/ (ingest: decode, host state, 4 rules, SQLite commit per batch), and
# one with rules/ plus Falco's three rule files (the whole pipeline with 77 rules running).
#   bench/ship.sh [SECONDS] [ROUNDS] [RATE] [CAPTURE]      (after make build; default 10 s, 3 rounds, 1000000/s,
#                                                        bench/fixtures/live.lcap.zst)
# Each round runs every target twice: "max" (the producer waits when half the 64 MiB spool is unacknowledged, so
# nothing is dropped and the rate is the most the path sustains) and "paced" (RATE events/s offered as the capture
# thread would, a full spool drops and counts). A paced run passes when nothing was dropped, the collector stored
# every event shipped, and the backlog stayed small (acknowledged within a second of the end).
# Prints one line per run and the medians; the load average is printed before and after (the machine is shared).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(swift build -c release --show-bin-path)
SECS=${1:-10}
ROUNDS=${2:-3}
RATE=${3:-1000000}
MIX=${4:-bench/fixtures/live.lcap.zst}
WORK=$(mktemp -d)
COLLECTOR=
RUNS=0
trap '[ -n "$COLLECTOR" ] && kill -INT $COLLECTOR 2>/dev/null; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT
(umask 077; head -c 24 /dev/urandom | base64 > "$WORK/token")
FALCO=../shared/peer/falco-rules
[ -d $FALCO ] || { echo "ship.sh: $FALCO not found (Falco's rules, for the whole-pipeline target)" >&2; exit 1; }

field() { grep -o "\"$1\":[0-9.]*" <<<"$2" | head -1 | cut -d: -f2; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'; }

start_collector() {   # start_collector RULES...
    local args=()
    for r in "$@"; do args+=(--rules "$r"); done
    rm -f "$WORK"/db*
    LOG=$WORK/collector.$((++RUNS)).log   # a new file per run: never read the previous collector's port
    "$BIN/lanner-collector" serve --listen 127.0.0.1:0 --db "$WORK/db" "${args[@]}" --token-file "$WORK/token" 2>"$LOG" &
    COLLECTOR=$!
    until grep -q "listening on" "$LOG" 2>/dev/null; do
        kill -0 $COLLECTOR 2>/dev/null || { cat "$LOG" >&2; exit 1; }
        sleep 0.1
    done
    PORT=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$LOG" | grep -o '[0-9]*$')
}
stop_collector() {   # sets STORED (the events the collector stored) and CCPU (its CPU seconds)
    CCPU=$(awk -v hz=$(getconf CLK_TCK) '{printf "%.2f", ($14 + $15) / hz}' /proc/$COLLECTOR/stat)
    # Its busy threads: the HTTP/2 event loop (receive, decompress, check), and the ingest thread (host state, rules,
    # SQLite): the rest (the main thread only waits for signals).
    H2CPU=0
    for t in /proc/$COLLECTOR/task/*; do
        [ "$(cat $t/comm)" = lanner-h2 ] && H2CPU=$(awk -v hz=$(getconf CLK_TCK) '{printf "%.2f", ($14 + $15) / hz}' $t/stat)
    done
    INGCPU=$(awk "BEGIN{printf \"%.2f\", $CCPU - $H2CPU}")
    kill -INT $COLLECTOR; wait $COLLECTOR || true; COLLECTOR=
    STORED=$(grep -o "stopped after [0-9]* batches, [0-9]* events" "$LOG" | grep -o '[0-9]* events' | cut -d' ' -f1)
}

run() {   # run TARGET MODE ROUND
    local target=$1 mode=$2 rate=0 out stored=- ccpu=0 h2cpu=0 ingcpu=0
    [ "$mode" = paced ] && rate=$RATE
    case $target in
        sink) out=$("$BIN/lanner-bench" ship --capture "$MIX" --seconds "$SECS" --rate $rate --json) ;;
        rules) start_collector rules ;;
        falco) start_collector rules $FALCO ;;
    esac
    if [ "$target" != sink ]; then
        out=$("$BIN/lanner-bench" ship --capture "$MIX" --seconds "$SECS" --rate $rate --json \
              --collector "http://127.0.0.1:$PORT" --token-file "$WORK/token")
        stop_collector
        stored=$STORED ccpu=$CCPU h2cpu=$H2CPU ingcpu=$INGCPU
    else
        stored=$(field received_by_sink "$out")
    fi
    local eps=$(field events_per_second "$out") shipped=$(field shipped "$out") dropped=$(field dropped "$out")
    local drain=$(field drain_seconds "$out") pend=$(field max_pending_batches "$out") bpe=$(field wire_bytes_per_event "$out")
    local scpu=$(field process_cpu_seconds "$out")
    local sns=$(awk "BEGIN{printf \"%.0f\", $scpu / $shipped * 1e9}") cns=$(awk "BEGIN{printf \"%.0f\", $ccpu / $shipped * 1e9}")
    local h2ns=$(awk "BEGIN{printf \"%.0f\", $h2cpu / $shipped * 1e9}") ingns=$(awk "BEGIN{printf \"%.0f\", $ingcpu / $shipped * 1e9}")
    local verdict=ok
    [ "$dropped" = 0 ] && [ "$stored" = "$shipped" ] || verdict=FAIL
    # Paced: the backlog drained within a second, and the producer kept up with the offered rate (within 1%).
    [ "$mode" = paced ] && awk "BEGIN{exit !($drain > 1.0 || $(field produced "$out") < 0.99 * $RATE * $SECS)}" && verdict=FAIL
    printf '%-5s %-5s #%s: %8s ev/s  shipped %9s  stored %9s  dropped %s  backlog ≤ %4s batches  drain %5.2f s  %5.2f B/ev  CPU ns/ev sensor %4s collector %4s (h2 %3s ingest %4s)  %s\n' \
        "$target" "$mode" "$3" "$eps" "$shipped" "$stored" "$dropped" "$pend" "$drain" "$bpe" "$sns" "$cns" "$h2ns" "$ingns" "$verdict"
    echo "$target $mode $eps $verdict $sns $cns $h2ns $ingns" >> "$WORK/results"
}

echo "lanner-bench ship: $MIX, $SECS s per run, $ROUNDS rounds, paced at $RATE events/s; $(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq 1 "$ROUNDS"); do
    for target in ${TARGETS:-sink rules falco}; do
        for mode in max paced; do run $target $mode $round; done
    done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "medians (events/s; paced runs: passed/total):"
for target in ${TARGETS:-sink rules falco}; do
    maxm=$(awk -v t=$target '$1==t && $2=="max" {print $3}' "$WORK/results" | median)
    pm=$(awk -v t=$target '$1==t && $2=="paced" {print $3}' "$WORK/results" | median)
    ok=$(awk -v t=$target '$1==t && $2=="paced" && $4=="ok"' "$WORK/results" | wc -l)
    sn=$(awk -v t=$target '$1==t {print $5}' "$WORK/results" | median)
    cn=$(awk -v t=$target '$1==t {print $6}' "$WORK/results" | median)
    hn=$(awk -v t=$target '$1==t {print $7}' "$WORK/results" | median)
    in=$(awk -v t=$target '$1==t {print $8}' "$WORK/results" | median)
    col="collector $cn (h2 $hn, ingest $in)"
    [ $target = sink ] && col="(the sink decodes in the same process)"
    printf '  %-6s max %9s   paced at %s: %9s, %s/%s with zero drops;  CPU ns/event: sensor %s, %s\n' \
        $target "$maxm" "$RATE" "$pm" "$ok" "$ROUNDS" "$sn" "$col"
done
