#!/usr/bin/env bash
# Instructions the scheduler executes per task under the real Scaler 2.9.0 client and 2 native workers
# (embedded object storage, so the storage server's work for the client's and workers' objects counts too),
# for one or more scheduler binaries, interleaved. Wall-clock figures with real peers swing by 2x on this
# machine; instruction counts under callgrind do not, so this is the A/B check for a change to the work a
# real deployment pays per task. Each run: 200 warm-up tasks, then client.map and client.submit of TASKS
# no-op tasks and LATENCY_TASKS one at a time (scripts/real_peer_bench.py); "per task" divides the whole
# process's instructions (start-up included) by all of those tasks.
#   scripts/real-peer-instructions.sh BIN [BIN...]      TASKS (1000)  LATENCY_TASKS (200)  ROUNDS (1)
#   KIND=rs+oss: the scheduler with 2.9.0's external object storage server instead (the forwarder's
#   arrangement), so only the scheduler's own work is counted.
#   KEEP=1 keeps the callgrind files (their directory is printed).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: $0 SCHEDULER_BIN [SCHEDULER_BIN...]" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install -y valgrind)" >&2; exit 2; }
VENV="$(scripts/python-env.sh | tail -1)"
TASKS=${TASKS:-1000}
LATENCY_TASKS=${LATENCY_TASKS:-200}
ROUNDS=${ROUNDS:-1}
KIND=${KIND:-rs}
OUT=$(mktemp -d)
[ -n "${KEEP:-}" ] || trap 'rm -rf "$OUT"' EXIT
TASKS_PER_RUN=$((200 + 2 * TASKS + LATENCY_TASKS))

measure() { # BIN LABEL -> prints instructions
    local bin=$1 label=$2 cg wrap
    cg="$OUT/$label.cg"
    # The harness starts "COMMAND address options..."; this wrapper puts callgrind in front and execs,
    # so the harness's pid (and its SIGINT at the end) is the scheduler's under valgrind.
    wrap="$OUT/$label.sh"
    printf '#!/bin/sh\nexec valgrind --tool=callgrind --callgrind-out-file=%s %s "$@"\n' "$cg" "$(realpath "$bin")" > "$wrap"
    chmod +x "$wrap"
    "$VENV/bin/python" scripts/real_peer_bench.py --venv "$VENV" --tasks "$TASKS" \
        --latency-tasks "$LATENCY_TASKS" --scheduler "$label=$KIND:$wrap" > "$OUT/$label.bench" 2>&1 \
        || { echo "harness failed against $bin:" >&2; tail -20 "$OUT/$label.bench" >&2; exit 1; }
    for _ in $(seq 1 100); do [ -s "$cg" ] && break; sleep 0.1; done
    callgrind_annotate "$cg" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }'
}

. scripts/instructions-table.sh
instructions_table "$@"
[ -z "${KEEP:-}" ] || echo "callgrind files: $OUT (r<round>b<binary index>.cg)"
