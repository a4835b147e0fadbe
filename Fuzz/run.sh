#!/usr/bin/env bash
# Builds the fuzz targets and runs each for SECONDS (default 30) over its corpus; a crash fails the run and
# leaves the input in Fuzz/FailCases/. Usage: Fuzz/run.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p FailCases
SECS=${1:-30}
swift build -c debug 2>&1 | tail -n 3
BIN=$(swift build -c debug --show-bin-path)
status=0
for t in FuzzConditionParser:conditions FuzzRuleLoader:rules; do
    name=${t%%:*}; corpus=Corpus/${t##*:}
    mkdir -p "$corpus.work"
    cp -n "$corpus"/* "$corpus.work"/ 2>/dev/null || true
    echo "==> $name for ${SECS}s"
    if "$BIN/$name" -max_total_time="$SECS" -timeout=5 -rss_limit_mb=2048 -max_len=4096 \
            -artifact_prefix=FailCases/"$name"- "$corpus.work" > "FailCases/$name.log" 2>&1; then
        tail -n 1 "FailCases/$name.log"
    else
        status=1
        echo "$name FAILED; input and log in Fuzz/FailCases/:"; tail -n 40 "FailCases/$name.log"
    fi
    rm -rf "$corpus.work"
done
exit $status
