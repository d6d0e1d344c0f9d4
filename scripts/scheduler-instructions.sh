#!/usr/bin/env bash
# Instructions the whole scheduler executes per task (callgrind over the binary, transport included),
# for one or more scheduler binaries in one run, so a change is compared against a reference binary
# under the same load generator and the same valgrind. Instruction counts barely move with machine load,
# unlike wall-clock figures, so this is the check for "did this change make the scheduler do more work".
#   scripts/scheduler-instructions.sh BIN [BIN...]
#   TASKS (default 30000), WORKERS (2), WINDOW (1000), ROUNDS (1): each round measures every binary once.
#   BENCH: the load generator (default target/release/scaler-rs-bench, built if missing).
#   SETTLE (3): seconds between the load's end and the scheduler's stop (its clients' objects are deleted
#   in between; SETTLE=0 measures without that, as before 2026-12-02).
#   KEEP=1 keeps the callgrind files (their directory is printed) for callgrind_annotate diffs.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: $0 SCHEDULER_BIN [SCHEDULER_BIN...]" >&2; exit 2; }
TASKS=${TASKS:-30000}
WORKERS=${WORKERS:-2}
WINDOW=${WINDOW:-1000}
ROUNDS=${ROUNDS:-1}
SETTLE=${SETTLE:-3}
BENCH=${BENCH:-target/release/scaler-rs-bench}
[ -x "$BENCH" ] || cargo build --release --bin scaler-rs-bench -q
OUT=$(mktemp -d)
SCHED_PID=
cleanup() {
    [ -n "$SCHED_PID" ] && kill "$SCHED_PID" 2>/dev/null || true
    [ -n "${KEEP:-}" ] || rm -rf "$OUT"
}
trap cleanup EXIT

# A port whose three neighbours (scheduler, embedded storage, monitor) are free right now.
free_port() {
    local p
    while :; do
        p=$((20000 + RANDOM % 20000))
        if ! (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null && ! (exec 3<>/dev/tcp/127.0.0.1/$((p + 1))) 2>/dev/null \
            && ! (exec 3<>/dev/tcp/127.0.0.1/$((p + 2))) 2>/dev/null; then
            echo "$p"
            return
        fi
    done
}

measure() { # BIN LABEL -> prints instructions
    local bin=$1 label=$2 port cg
    port=$(free_port)
    cg="$OUT/$label.cg"
    valgrind --tool=callgrind --callgrind-out-file="$cg" "$bin" "tcp://127.0.0.1:$port" \
        > "$OUT/$label.log" 2>&1 &
    SCHED_PID=$!
    for _ in $(seq 1 600); do
        (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break
        sleep 0.1
    done
    "$BENCH" --scheduler "tcp://127.0.0.1:$port" --workers "$WORKERS" --tasks "$TASKS" --window "$WINDOW" \
        > "$OUT/$label.bench" 2>&1 || { echo "bench failed against $bin:" >&2; cat "$OUT/$label.bench" >&2; exit 1; }
    # The load generator's clients leave at its end, and the scheduler then deletes their objects (one
    # per task, on every worker and in the storage): real per-task work, which a stop right away cut
    # off in some runs and not in others (10,4xx vs ~13,400 per task). Let it finish first.
    sleep "$SETTLE"
    kill -TERM "$SCHED_PID"
    wait "$SCHED_PID" || true
    SCHED_PID=
    callgrind_annotate "$cg" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }'
}

TASKS_PER_RUN=$TASKS
. scripts/instructions-table.sh
instructions_table "$@"
[ -z "${KEEP:-}" ] || echo "callgrind files: $OUT (r<round>b<binary index>.cg)"
