#!/usr/bin/env bash
# The sensor's cost on syscalls, against the floor and against no monitor (issue 4, goals 1, 2, 3, 5):
#
#   sudo bench/sensor-overhead.sh [SECONDS-PER-RUN] [ROUNDS]     (after `make build`; default 5 s, 5 rounds)
#
# Everything is in sensor/bench/overhead.sh (configurations, what each column means); results and their
# reading in docs/BENCHMARKS.md, "Sensor overhead".
exec "$(dirname "$0")/../sensor/bench/overhead.sh" "$@"
