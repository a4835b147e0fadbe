#!/usr/bin/env bash
# Alert query latency over 10 million stored alerts (docs/BENCHMARKS.md, "Alert queries").
#
#   bench/queries.sh            # first run generates bench/data/alerts-10m.db (~8 GB, 8-15 min), later runs reuse it
#
# 1. lanner-querybench: every query shape in-process (median and max of 7 runs after a warm-up), plus storing
#    100,000 alerts through commit and deleting them through retention on a scratch file.
# 2. The CLI as a user runs it (process start, open, query, print), on the file and through a running collector
#    (`serve` on the same file, retention off so the generated data stays), median of 5 runs each.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product lanner-querybench >/dev/null
swift build -c release --product lanner-collector >/dev/null
BIN=$(swift build -c release --show-bin-path)
DB=bench/data/alerts-10m.db

"$BIN/lanner-querybench" --db "$DB" --runs 7 --ingest 100000

WORK=$(mktemp -d)
trap 'kill "$SERVE" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT
head -c 24 /dev/urandom | base64 | tr -d '\n=/+' > "$WORK/token"
chmod 600 "$WORK/token"
printf 'retention:\n  max_age: 0s\n  max_rows: 0\n' > "$WORK/collector.yaml"
"$BIN/lanner-collector" serve --listen 127.0.0.1:0 --db "$DB" --token-file "$WORK/token" --config "$WORK/collector.yaml" \
    --rules rules/ > "$WORK/serve.log" 2>&1 &
SERVE=$!
for _ in $(seq 100); do grep -q "listening on" "$WORK/serve.log" && break; sleep 0.1; done
PORT=$(sed -n 's/.*127\.0\.0\.1:\([0-9]*\) (h2c).*/\1/p' "$WORK/serve.log" | head -1)
[ -n "$PORT" ] || { cat "$WORK/serve.log"; exit 1; }

# median wall time in ms of 5 runs of "$@"
median_ms() {
    local times=()
    for _ in 1 2 3 4 5; do
        local t0 t1
        t0=$(date +%s%N)
        "$@" > /dev/null
        t1=$(date +%s%N)
        times+=($(( (t1 - t0) / 1000000 )))
    done
    printf '%s\n' "${times[@]}" | sort -n | sed -n 3p
}

set -f   # the commands below hold glob characters meant for --rule
echo
printf '%-70s %8s %10s\n' "CLI command (median of 5, ms)" "--db" "--collector"
while IFS= read -r line; do
    [ -n "$line" ] || continue
    # shellcheck disable=SC2206
    args=($line)
    local_ms=$(median_ms "$BIN/lanner-collector" "${args[@]}" --db "$DB")
    remote_ms=$(median_ms "$BIN/lanner-collector" "${args[@]}" --collector "http://127.0.0.1:$PORT" --token-file "$WORK/token")
    printf '%-70s %8s %10s\n' "${args[*]}" "$local_ms" "$remote_ms"
done <<'EOF'
alerts list
alerts list --host web-03 --priority error
alerts list --rule Write* --since 2026-11-24T00:00:00Z
alerts list --search shadow --host web-02 --json
alerts list --tag aws --output-fields id,time,host,proc.name,fd.name
alerts list --limit 10000 --json
alerts show 5000000
alerts stats
alerts stats --since 2026-11-30T00:00:00Z --by rule --top 5
sensors
EOF
