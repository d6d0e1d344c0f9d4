#!/usr/bin/env bash
# Interleaved A/B of scaler-rs binaries under the native load generator (the same load as
# scripts/bench-compare.sh's throughput row): for each round, each binary in turn serves
# `scaler-rs-bench --workers WORKERS --tasks TASKS --window 1000`, the scheduler pinned to CPU 0 and the
# load to CPU 1, plus the bare forwarder as the yardstick. Prints one row per run: tasks/s, the
# scheduler's CPU per task (utime+stime from /proc) and the rate as a share of the forwarder's in
# the same round.
#   usage: scripts/native-ab.sh NAME=BINARY [NAME=BINARY ...]    (ROUNDS 3, TASKS 200000, WORKERS 2, BASE 27100)
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { sed -n 2,9p "$0"; exit 2; }
VENV="$(scripts/python-env.sh | tail -1)"
cargo build --release --bins -q
ROUNDS=${ROUNDS:-3}; TASKS=${TASKS:-200000}; WORKERS=${WORKERS:-2}; BASE=${BASE:-27100}
OUT=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done; sleep 0.3; for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
"$VENV/bin/scaler_object_storage_server" "tcp://127.0.0.1:$((BASE + 9))" > "$OUT/oss.log" 2>&1 & pids+=($!)
wait_port $((BASE + 9))

one() { # name, command..., -> prints the bench's JSON
    local name=$1; shift
    "$@" > "$OUT/$name.log" 2>&1 & local pid=$!
    wait_port $BASE
    taskset -c 1 target/release/scaler-rs-bench --scheduler "tcp://127.0.0.1:$BASE" --workers "$WORKERS" \
        --tasks "$TASKS" --window 1000 --scheduler-pid "$pid" --json
    # The forwarder does not handle SIGINT; the bench has read the scheduler's CPU time already.
    kill -KILL "$pid"; wait "$pid" 2>/dev/null || true
}

echo "| round | scheduler | tasks/s | sched CPU µs/task | % of forwarder |"
echo "|---|---|---|---|---|"
for r in $(seq "$ROUNDS"); do
    fw=$(one forwarder taskset -c 0 target/release/scaler-rs-forwarder "tcp://127.0.0.1:$BASE" \
        --object-storage-address "tcp://127.0.0.1:$((BASE + 9))")
    fw_rate=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["tasks_per_second"])' "$fw")
    for spec in forwarder "$@"; do
        if [ "$spec" = forwarder ]; then json=$fw; name=forwarder; else
            name=${spec%%=*}; bin=${spec#*=}
            json=$(one "$name" taskset -c 0 "$bin" "tcp://127.0.0.1:$BASE" --logging-level WARNING)
        fi
        python3 -c 'import json,sys; j=json.loads(sys.argv[3]); fw=float(sys.argv[4]); rate=j["tasks_per_second"]
print("| %s | %s | %.0f | %.2f | %.0f%% |" % (sys.argv[1], sys.argv[2], rate, j["scheduler_cpu_us_per_task"], 100 * rate / fw))' \
            "$r" "$name" "$json" "$fw_rate"
    done
done
