#!/usr/bin/env bash
# Overhead of the Lanner probe on two syscall loops, pinned to CPU 0 with the consumer on CPU 1.
#
#   sensor/bench/overhead.sh [SECONDS-PER-RUN] [ROUNDS]      (root; default 3 s, 2 rounds)
#
# Loops (bench/loop.c):   getppid  a syscall no rule needs: only the cost of having syscall hooks at all
#                         open     open/read/close of /etc/hostname: one openat record per iteration
# Configurations, interleaved in every round so drift in the machine hits all of them alike:
#   none     nothing attached
#   empty    Lanner's hooks (tp_btf sched_*, sys_exit_* per syscall, sys_enter_execveat) with empty programs
#   rawtp    the alternative design: one raw_tracepoint/sys_exit program filtering on the syscall id (empty)
#   lanner   sensor/build/lanner.bpf.o, drained in a loop by bench-loader (C, same libbpf calls as BPFProbe)
# Prints ops/s, the ratio to `none` of the same round, and for lanner the records, drops and consumer CPU.
# Then one profiling run per loop with kernel.bpf_stats_enabled=1: the kernel's own count of time spent
# in each Lanner program (ns per run; the stats add ~20-40 ns per run themselves).
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-3}
ROUNDS=${2:-2}
[ "$(id -u)" -eq 0 ] || { echo "overhead.sh: run as root" >&2; exit 1; }
[ -d /sys/kernel/tracing/events ] || mount -t tracefs nodev /sys/kernel/tracing
make -s bench
B=build
OUT=$(mktemp)
ERR=$(mktemp)
LOADER=
cleanup() {
	[ -z "$LOADER" ] || kill -INT "$LOADER" 2>/dev/null || true
	rm -f "$OUT" "$ERR" "${ROWS:-}"
}
trap cleanup EXIT

# run MODE CONFIG -> "ops loader-summary"
run() {
	local mode=$1 cfg=$2 args=()
	case $cfg in
	none) echo "$(taskset -c 0 $B/bench-loop "$mode" "$SECS") -"; return ;;
	empty) args=($B/empty.bpf.o --skip rawtp) ;;
	rawtp) args=($B/empty.bpf.o --only rawtp) ;;
	lanner) args=($B/lanner.bpf.o) ;;
	esac
	: >"$ERR"
	taskset -c 1 $B/bench-loader "${args[@]}" >"$OUT" 2>"$ERR" &
	local lp=$! i=0
	LOADER=$lp
	until grep -q attached "$ERR"; do
		sleep 0.05
		i=$((i + 1))
		if [ $i -gt 200 ] || ! kill -0 $lp 2>/dev/null; then cat "$ERR" >&2; exit 1; fi
	done
	local ops
	ops=$(taskset -c 0 $B/bench-loop "$mode" "$SECS")
	kill -INT $lp
	wait $lp
	LOADER=
	echo "$ops $(tail -1 "$OUT")"
}

ROWS=$(mktemp)
printf "%-8s %-7s %-6s %12s %7s  %s\n" round loop config ops/s ratio "lanner: records, drops, consumer CPU"
for r in $(seq 1 "$ROUNDS"); do
	for mode in getppid open; do
		base=
		for cfg in none empty rawtp lanner; do
			set -- $(run "$mode" "$cfg")
			ops=$1
			shift
			[ -n "$base" ] || base=$ops
			ratio=$(awk -v a="$ops" -v b="$base" 'BEGIN { printf "%.2f", a / b }')
			extra=
			if [ "$cfg" = lanner ]; then
				extra=$(echo "$*" | awk -v s="$SECS" '{
					for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
					printf "records=%s ringbuf_full=%s busy=%s consumer_cpu=%.1f%%", v["records"], v["ringbuf_full"], v["scratch_busy"], 100 * v["cpu_s"] / s }')
			fi
			printf "%-8s %-7s %-6s %12s %7s  %s\n" "$r" "$mode" "$cfg" "$ops" "$ratio" "$extra"
			echo "$mode $cfg $ops $ratio" >>"$ROWS"
		done
	done
done

echo
echo "medians over $ROUNDS rounds (ratio = median of the per-round ratios)"
for mode in getppid open; do
	for cfg in none empty rawtp lanner; do
		awk -v m="$mode" -v c="$cfg" '$1 == m && $2 == c { print $3, $4 }' "$ROWS" | sort -n -k1 | awk '{ o[NR] = $1 } END { printf "%s ", o[int((NR + 1) / 2)] }'
		awk -v m="$mode" -v c="$cfg" '$1 == m && $2 == c { print $4 }' "$ROWS" | sort -n | awk -v m="$mode" -v c="$cfg" '{ r[NR] = $1 } END { printf "%-7s %-6s ratio %s\n", m, c, r[int((NR + 1) / 2)] }'
	done
done

echo
echo "per-program cost (kernel.bpf_stats_enabled=1)"
prev=$(sysctl -n kernel.bpf_stats_enabled)
sysctl -qw kernel.bpf_stats_enabled=1
trap 'sysctl -qw kernel.bpf_stats_enabled="$prev"; cleanup' EXIT
for mode in getppid open; do
	: >"$ERR"
	taskset -c 1 $B/bench-loader $B/lanner.bpf.o --stats >"$OUT" 2>"$ERR" &
	lp=$!
	LOADER=$lp
	until grep -q attached "$ERR"; do sleep 0.05; done
	ops=$(taskset -c 0 $B/bench-loop "$mode" "$SECS")
	kill -INT $lp
	wait $lp
	LOADER=
	echo "  $mode loop: $ops ops/s"
	grep "ns/run" "$ERR"
done
sysctl -qw kernel.bpf_stats_enabled="$prev"
