#!/usr/bin/env bash
# Instructions per core task cycle (callgrind, counted only inside the scheduler's decode + handle), for
# growing worker counts and queue depths: the noise-free check that per-task work stays flat.
#   CYCLES (default 20000) cycles per point.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --example core_cycles -q
CYCLES=${CYCLES:-20000}
OUT=$(mktemp -d)
echo "| workers | slots each | queued | instructions per cycle |"
echo "|---|---|---|---|"
while read -r W S Q; do
    valgrind --tool=callgrind --toggle-collect='*scheduler_step*' --callgrind-out-file="$OUT/cg" \
        target/release/examples/core_cycles "$W" "$S" "$Q" "$CYCLES" > /dev/null 2>&1
    IR=$(callgrind_annotate "$OUT/cg" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
    echo "| $W | $S | $Q | $((IR / CYCLES)) |"
done <<'GRID'
1 10000 0
100 100 0
10000 1 0
1 10 1
1 10 1000
1 10 100000
1 10 1000000
GRID
