#!/usr/bin/env bash
# Overhead of the Lanner sensor on syscall loops, in one run (docs/BENCHMARKS.md has the results):
#
#   sensor/bench/overhead.sh [SECONDS-PER-RUN] [ROUNDS]      (root; default 3 s, 3 rounds)
#
# The interest is the default ruleset's: SyscallFields.stateEvents (execve, execveat, the clone family,
# procexit) plus open, openat, openat2, creat, connect -- BPFProbe.defaultInterest, bench-loader's
# "--interest default".
#
# Loops (bench/loop.c):   getppid  a syscall no rule needs: what having syscall hooks at all costs
#                         open     open/read/close of /etc/hostname: one openat record per iteration
#
# 1. Interleaved rounds, loop pinned to CPU 0, C consumer (bench-loader, BPFProbe's libbpf calls) on CPU 1:
#      none    nothing attached
#      floor   empty programs with Lanner's names on exactly the hooks Lanner attaches for the interest
#              (build/empty.bpf.o, generated from lanner.bpf.c): no tracepoint-based sensor goes below it
#      rawtp   the other strategy: lifecycle hooks plus raw_tracepoint sys_enter and sys_exit programs that
#              test a per-syscall bitmap (bench/rawtp.bpf.c), i.e. every syscall runs two programs
#      lanner  build/lanner.bpf.o with the interest
#    Ratios are against `none` of the same round; medians over the rounds; lanner / floor is the goal figure
#    (getppid >= 0.95, open >= 0.9).
# 2. The Swift sensor itself (.build/release/lanner-sensor --offline -w /dev/null): the open loop on CPU 0
#    (sensor unpinned), then on both cores at once (max load; drops must be 0): ops/s against `none`, records,
#    kernel and userspace drops, sensor CPU per million records, peak RSS (VmHWM).
# 3. One profiling run per loop with kernel.bpf_stats_enabled=1: ns per run of each Lanner program (the stats
#    add ~20-40 ns per run themselves).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(cd .. && pwd)
SECS=${1:-3}
ROUNDS=${2:-3}
[ "$(id -u)" -eq 0 ] || { echo "overhead.sh: run as root" >&2; exit 1; }
[ -d /sys/kernel/tracing/events ] || mount -t tracefs nodev /sys/kernel/tracing
make -s bench
SENSOR=${LANNER_SENSOR_BIN:-$REPO/.build/release/lanner-sensor}
if [ -z "${LANNER_SENSOR_BIN:-}" ]; then
	(cd "$REPO" && swift build -c release --product lanner-sensor >/dev/null)
fi
B=build
OUT=$(mktemp)
ERR=$(mktemp)
ROWS=$(mktemp)
SDIR=$(mktemp -d)
LOADER=
SENSOR_PID=
prev_stats=$(sysctl -n kernel.bpf_stats_enabled)
cleanup() {
	[ -z "$LOADER" ] || kill -INT "$LOADER" 2>/dev/null || true
	[ -z "$SENSOR_PID" ] || kill -INT "$SENSOR_PID" 2>/dev/null || true
	sysctl -qw kernel.bpf_stats_enabled="$prev_stats"
	rm -rf "$OUT" "$ERR" "$ROWS" "$SDIR"
}
trap cleanup EXIT
sysctl -qw kernel.bpf_stats_enabled=0

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "-" }'; }

wait_for() { # FILE PATTERN PID
	local i=0
	until grep -q "$2" "$1"; do
		sleep 0.05
		i=$((i + 1))
		if [ $i -gt 400 ] || ! kill -0 "$3" 2>/dev/null; then cat "$1" >&2; exit 1; fi
	done
}

# run MODE CONFIG -> "ops loader-summary"
run() {
	local mode=$1 cfg=$2 args=()
	case $cfg in
	none) echo "$(taskset -c 0 $B/bench-loop "$mode" "$SECS") -"; return ;;
	floor) args=($B/empty.bpf.o --interest default) ;;
	rawtp) args=($B/rawtp.bpf.o) ;;
	lanner) args=($B/lanner.bpf.o --interest default) ;;
	esac
	: >"$ERR"
	taskset -c 1 $B/bench-loader "${args[@]}" >"$OUT" 2>"$ERR" &
	local lp=$!
	LOADER=$lp
	wait_for "$ERR" "programs attached" $lp
	local ops
	ops=$(taskset -c 0 $B/bench-loop "$mode" "$SECS")
	kill -INT $lp
	wait $lp
	LOADER=
	echo "$ops $(tail -1 "$OUT")"
}

echo "== 1. syscall loops, interest = default ruleset's (stateEvents + open, openat, openat2, creat, connect)"
printf "%-6s %-8s %-7s %12s %7s  %s\n" round loop config ops/s ratio "lanner: records, drops, consumer CPU"
for r in $(seq 1 "$ROUNDS"); do
	for mode in getppid open; do
		base=
		for cfg in none floor rawtp lanner; do
			set -- $(run "$mode" "$cfg")
			ops=$1
			shift
			[ -n "$base" ] || base=$ops
			ratio=$(awk -v a="$ops" -v b="$base" 'BEGIN { printf "%.3f", a / b }')
			extra=
			if [ "$cfg" = lanner ]; then
				extra=$(echo "$*" | awk -v s="$SECS" '{
					for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
					printf "records=%s ringbuf_full=%s busy=%s consumer_cpu=%.1f%%", v["records"], v["ringbuf_full"], v["scratch_busy"], 100 * v["cpu_s"] / s }')
			fi
			printf "%-6s %-8s %-7s %12s %7s  %s\n" "$r" "$mode" "$cfg" "$ops" "$ratio" "$extra"
			echo "$mode $cfg $ops $ratio" >>"$ROWS"
		done
	done
done
echo
echo "medians over $ROUNDS rounds (ratio = median of the per-round ratios to none)"
for mode in getppid open; do
	for cfg in none floor rawtp lanner; do
		ops=$(awk -v m="$mode" -v c="$cfg" '$1 == m && $2 == c { print $3 }' "$ROWS" | median)
		ratio=$(awk -v m="$mode" -v c="$cfg" '$1 == m && $2 == c { print $4 }' "$ROWS" | median)
		printf "  %-8s %-7s %12s ops/s  ratio %s\n" "$mode" "$cfg" "$ops" "$ratio"
	done
	# lanner / floor per round, then the median
	lf=$(awk -v m="$mode" '$1 == m && $2 == "floor" { f[++nf] = $3 } $1 == m && $2 == "lanner" { l[++nl] = $3 }
		END { for (i = 1; i <= nl; i++) print l[i] / f[i] }' "$ROWS" | median)
	rf=$(awk -v m="$mode" '$1 == m && $2 == "floor" { f[++nf] = $3 } $1 == m && $2 == "rawtp" { l[++nl] = $3 }
		END { for (i = 1; i <= nl; i++) print l[i] / f[i] }' "$ROWS" | median)
	goal=0.95
	[ "$mode" = open ] && goal=0.9
	printf "  %-8s lanner/floor %.3f (goal >= %s)   rawtp/floor %.3f\n" "$mode" "$lf" "$goal" "$rf"
done

# sensor_run CORES -> prints one line; the Swift sensor, offline, drained into /dev/null
sensor_run() {
	local cores=$1 log=$SDIR/log
	: >"$log"
	"$SENSOR" --offline -w /dev/null -v --state-dir "$SDIR" --bpf-object "$B/lanner.bpf.o" >"$log" 2>&1 &
	SENSOR_PID=$!
	wait_for "$log" "programs attached" $SENSOR_PID
	sleep 0.5 # the /proc snapshot at start is not part of the measurement
	local t0 t1 ops a b
	t0=$(awk '{ print $14 + $15 }' /proc/$SENSOR_PID/stat)
	if [ "$cores" = 1 ]; then
		ops=$(taskset -c 0 $B/bench-loop open "$SECS")
	else
		taskset -c 0 $B/bench-loop open "$SECS" >"$SDIR/a" &
		a=$!
		b=$(taskset -c 1 $B/bench-loop open "$SECS")
		wait $a
		ops=$(($(cat "$SDIR/a") + b))
	fi
	t1=$(awk '{ print $14 + $15 }' /proc/$SENSOR_PID/stat)
	local hwm
	hwm=$(awk '/VmHWM/ { print $2 }' /proc/$SENSOR_PID/status)
	kill -INT $SENSOR_PID
	wait $SENSOR_PID || true
	SENSOR_PID=
	local hz
	hz=$(getconf CLK_TCK)
	awk -v ops="$ops" -v t="$((t1 - t0))" -v hz="$hz" -v hwm="$hwm" -v secs="$SECS" '
		/captured=/ { for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[2] != "") v[kv[1]] = kv[2] } }
		END { printf "%s %s %s %s %.3f %.1f\n", ops, v["captured"], v["dropped"], v["read_failures"], t / hz, hwm / 1024 }' "$log"
}

echo
echo "== 2. the Swift sensor (release, offline into /dev/null, unpinned), open loop"
printf "%-26s %12s %7s %10s %6s %11s %14s %9s\n" run ops/s ratio records drops cpu_s cpu_s/M_recs rss_MiB
for r in $(seq 1 "$ROUNDS"); do
	n1=$(taskset -c 0 $B/bench-loop open "$SECS")
	set -- $(sensor_run 1)
	printf "%-26s %12s %7.3f %10s %6s %11s %14.3f %9s\n" "round $r, loop on CPU 0" "$1" "$(awk -v a="$1" -v b="$n1" 'BEGIN { print a / b }')" \
		"$2" "$3" "$5" "$(awk -v c="$5" -v n="$2" 'BEGIN { print n ? c / n * 1e6 : 0 }')" "$6"
	taskset -c 0 $B/bench-loop open "$SECS" >"$SDIR/na" &
	na=$!
	nb=$(taskset -c 1 $B/bench-loop open "$SECS")
	wait $na
	n2=$(($(cat "$SDIR/na") + nb))
	set -- $(sensor_run 2)
	printf "%-26s %12s %7.3f %10s %6s %11s %14.3f %9s\n" "round $r, loops on CPU 0+1" "$1" "$(awk -v a="$1" -v b="$n2" 'BEGIN { print a / b }')" \
		"$2" "$3" "$5" "$(awk -v c="$5" -v n="$2" 'BEGIN { print n ? c / n * 1e6 : 0 }')" "$6"
done

echo
echo "== 3. per-program cost (kernel.bpf_stats_enabled=1)"
sysctl -qw kernel.bpf_stats_enabled=1
for mode in getppid open; do
	: >"$ERR"
	taskset -c 1 $B/bench-loader $B/lanner.bpf.o --interest default --stats >"$OUT" 2>"$ERR" &
	lp=$!
	LOADER=$lp
	wait_for "$ERR" "programs attached" $lp
	ops=$(taskset -c 0 $B/bench-loop "$mode" "$SECS")
	kill -INT $lp
	wait $lp
	LOADER=
	echo "  $mode loop: $ops ops/s"
	grep "ns/run" "$ERR"
done
sysctl -qw kernel.bpf_stats_enabled=0
