#!/usr/bin/env bash
# Records bench/fixtures/mix.lcap: a realistic mix of what a server does (package-tree scans, archive reads,
# short shell pipelines, interpreters starting, local network connections), captured by lanner-sensor -w.
#   sudo bench/record-mix.sh [BIN_DIR]     (default: the debug build)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-$(swift build --show-bin-path)}
OUT=bench/fixtures/mix.lcap
STATE=$(mktemp -d)
"$BIN/lanner-sensor" --offline -w "$OUT.tmp" --state-dir "$STATE" --hostname bench-host --flush-ms 100 -v 2>"$STATE/log" &
SENSOR=$!
until grep -q "attached" "$STATE/log"; do sleep 0.1; done
sleep 0.5
workload() {
    find /usr/share/doc -maxdepth 3 -type f -name '*.gz' | head -400 | xargs -r zcat >/dev/null 2>&1 || true
    tar cf /dev/null /usr/share/man/man1 2>/dev/null || true
    for i in $(seq 1 150); do
        sh -c 'cat /etc/hostname >/dev/null; ls /tmp >/dev/null; grep -c root /etc/passwd >/dev/null' || true
    done
    for i in $(seq 1 40); do python3 -c 'import json, os; json.dumps(dict(os.environ))' || true; done
    for i in $(seq 1 60); do (exec 3<>/dev/tcp/127.0.0.1/9) 2>/dev/null || true; done
    for i in $(seq 1 30); do stat /etc/ssh/sshd_config /etc/shadow >/dev/null 2>&1 || true; head -c 64 /etc/shadow >/dev/null || true; done
}
workload
sleep 0.5
kill -INT $SENSOR
wait $SENSOR || true
mv "$OUT.tmp" "$OUT"
grep "captured=" "$STATE/log" | tail -1
ls -la "$OUT"
rm -rf "$STATE"
