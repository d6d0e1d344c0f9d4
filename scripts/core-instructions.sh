#!/usr/bin/env bash
# Instructions per core task cycle (callgrind, counted only inside the scheduler's decode + handle), for
# growing worker counts and queue depths: the noise-free check that per-task work stays flat.
#   scripts/core-instructions.sh                  this checkout's examples/core_cycles (built first)
#   scripts/core-instructions.sh BIN [BIN...]     core_cycles binaries of other builds, a column each
#                                                 (e.g. one built from another commit with CARGO_TARGET_DIR)
#   CYCLES (default 20000) cycles per point; ROWS (default all 7) the first rows of the grid only;
#   REPEAT (default 1) runs per point, the median shown: the core's map keys are seeded from the OS
#   per run, so a point moves by a few tens of instructions from run to run (probe lengths).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -eq 0 ]; then
    cargo build --release --example core_cycles -q
    set -- target/release/examples/core_cycles
fi
CYCLES=${CYCLES:-20000}
REPEAT=${REPEAT:-1}
ROWS=${ROWS:-7}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
head="| workers | slots each | queued |"
rule="|---|---|---|"
for bin in "$@"; do
    head="$head instructions per cycle ($bin) |"
    rule="$rule---|"
done
echo "$head"
echo "$rule"
while read -r W S Q; do
    row="| $W | $S | $Q |"
    for bin in "$@"; do
        runs=()
        for _ in $(seq 1 "$REPEAT"); do
            valgrind --tool=callgrind --toggle-collect='*scheduler_step*' --callgrind-out-file="$OUT/cg" \
                "$bin" "$W" "$S" "$Q" "$CYCLES" > /dev/null 2>&1
            IR=$(callgrind_annotate "$OUT/cg" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
            runs+=("$((IR / CYCLES))")
        done
        row="$row $(printf '%s\n' "${runs[@]}" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }') |"
    done
    echo "$row"
done < <(head -n "$ROWS" <<'GRID'
1 10000 0
100 100 0
10000 1 0
1 10 1
1 10 1000
1 10 100000
1 10 1000000
GRID
)
