#!/usr/bin/env bash
# Side-by-side throughput/latency/CPU of scaler-rs, the Python scaler_scheduler 2.9.0 and the bare
# forwarder, all driven by the same load generator in one run. The scheduler under test is pinned to
# CPU 0 and the load generator to CPU 1 (taskset), so "scheduler CPU per task" is its own cost.
#   TASKS (default 200000) for scaler-rs and the forwarder; PY_TASKS (default 20000) for Python,
#   which is ~100x slower per task.  WORKERS (default 2), CLIENTS (default 1), BASE (default 27000: the
#   first of the ports used, BASE..BASE+11).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="$(scripts/python-env.sh | tail -1)"
cargo build --release --bins -q
TASKS=${TASKS:-200000}; PY_TASKS=${PY_TASKS:-20000}; WORKERS=${WORKERS:-2}; CLIENTS=${CLIENTS:-1}
BASE=${BASE:-27000}
OUT=$(mktemp -d)
BENCH="taskset -c 1 target/release/scaler-rs-bench"
pids=()
cleanup() { for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done; sleep 0.5; for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }

run() { # name, port, pid, tasks, window
    local name=$1 port=$2 pid=$3 tasks=$4 window=$5
    $BENCH --scheduler "tcp://127.0.0.1:$port" --clients "$CLIENTS" --workers "$WORKERS" --tasks "$tasks" \
        --window "$window" --scheduler-pid "$pid" --json > "$OUT/$name-$window.json"
    echo "$name window=$window: $(cat "$OUT/$name-$window.json")" >&2
}

# Python's object storage server, shared by the Python scheduler and the forwarder runs.
"$VENV/bin/scaler_object_storage_server" "tcp://127.0.0.1:$((BASE + 9))" > "$OUT/oss.log" 2>&1 & pids+=($!)
wait_port $((BASE + 9))

taskset -c 0 target/release/scaler-rs "tcp://127.0.0.1:$BASE" --metrics-address "tcp://127.0.0.1:$((BASE + 11))" \
    --logging-level WARNING > "$OUT/rs.log" 2>&1 & RS=$!; pids+=($RS)
wait_port $BASE
run scaler-rs $BASE $RS "$TASKS" 1000
# The scheduler's own time per socket read (decode, handle, route: what it adds to each hop beyond the
# socket calls every router makes) and per event-loop turn (socket calls included), from its metrics
# histograms, over the window-1 run only, where one read carries one message.
scrape() { python3 -c 'import sys,urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode())' "http://127.0.0.1:$((BASE + 11))/metrics"; }
scrape > "$OUT/metrics-before.txt"
run scaler-rs $BASE $RS 5000 1
scrape > "$OUT/metrics-after.txt"

taskset -c 0 target/release/scaler-rs-forwarder "tcp://127.0.0.1:$((BASE + 3))" --object-storage-address "tcp://127.0.0.1:$((BASE + 9))" > "$OUT/fw.log" 2>&1 & FW=$!; pids+=($FW)
wait_port $((BASE + 3))
run forwarder $((BASE + 3)) $FW "$TASKS" 1000
run forwarder $((BASE + 3)) $FW 5000 1

taskset -c 0 "$VENV/bin/scaler_scheduler" "tcp://127.0.0.1:$((BASE + 5))" --object-storage-address "tcp://127.0.0.1:$((BASE + 9))" \
    --logging-level WARNING > "$OUT/py.log" 2>&1 & PY=$!; pids+=($PY)
wait_port $((BASE + 5))
sleep 2
run python $((BASE + 5)) $PY "$PY_TASKS" 1000
run python $((BASE + 5)) $PY 2000 1

RSS=$(target/release/scaler-rs-bench --measure-queued-rss 1000000)
python3 - "$OUT" "$RSS" <<'PY'
import json, sys, os
out, rss = sys.argv[1], sys.argv[2]
r = lambda n: json.load(open(os.path.join(out, n)))
rows = [("scaler-rs", "scaler-rs"), ("Python scaler_scheduler 2.9.0", "python"), ("bare forwarder", "forwarder")]
fw = r("forwarder-1000.json")["tasks_per_second"]
print("| scheduler | tasks | tasks/s (window 1000) | % of forwarder | sched CPU µs/task | p50 / p99 / p99.9 µs (window 1) |")
print("|---|---|---|---|---|---|")
for label, key in rows:
    a, b = r(f"{key}-1000.json"), r(f"{key}-1.json")
    cpu = a["scheduler_cpu_us_per_task"]
    print(f"| {label} | {a['completed']} | {a['tasks_per_second']:.0f} | {100*a['tasks_per_second']/fw:.0f}% | {cpu if cpu is not None else 'n/a'} | "
          f"{b['latency_us']['p50']:.0f} / {b['latency_us']['p99']:.0f} / {b['latency_us']['p999']:.0f} |")
rs, py = r("scaler-rs-1000.json")["scheduler_cpu_us_per_task"], r("python-1000.json")["scheduler_cpu_us_per_task"]
if rs and py:
    print(f"\nScheduler CPU per task, Python / scaler-rs: **{py/rs:.0f}x**")
print(f"\nMemory: {rss}")
def hist(name, metric):
    h = {}
    for line in open(os.path.join(out, name)):
        if line.startswith(metric + "_bucket"):
            le = line.split('le="')[1].split('"')[0]
            h[le] = int(line.split()[-1])
    return h
for metric, what, upto in [("scaler_processing_seconds", "reads processed (decode + handle + route, no socket calls)", 0.0001),
                           ("scaler_loop_seconds", "event-loop turns (socket calls included)", 0.0001)]:
    before, after = hist("metrics-before.txt", metric), hist("metrics-after.txt", metric)
    n = after["+Inf"] - before["+Inf"]
    shares = ", ".join(f"<= {float(le) * 1e6:.0f} µs: {100 * (after[le] - before[le]) / n:.2f}%"
                       for le in after if le != "+Inf" and float(le) <= upto)
    print(f"\nscaler-rs {what} during the window-1 run: {n}; {shares}")
PY
